"""Trained checkpoints with provenance: weights that a training script in the repository made.

A chapter whose miniature cannot become competent within its 60 s build trains by script, and at
every build evaluates the weights that the script shipped (issue 10). This module is the mechanism:

- :class:`TrainingRun` records one checkpoint's training (log, times, hardware, code hashes) and
  writes ``<name>.pt`` plus its entry in the chapter's ``manifest.json``;
- :func:`load` gives a chapter the model back, after checking the file against the manifest;
- :func:`manifest`, :func:`training_log` give the provenance and the curves to plot;
- :func:`retrain_requested`, :func:`retrain` retrain in place (``PAPER_DAILY_RETRAIN=1``, e.g. in Colab);
- :func:`parse_args`, :func:`steps_to_run`, :func:`round_fp16_`, :func:`report` are what training
  scripts call; :func:`check_files`, :func:`check_fresh`, :func:`smoke_compare`, :func:`compare_heldout`
  are what the tests and ``scripts/train/check.py`` call.

Layout
------
``utils/weights/<chapter>/<name>.pt``: a ``state_dict`` whose floating tensors are stored as float16
(integer tensors, e.g. BatchNorm's ``num_batches_tracked``, are kept). ``utils/weights/<chapter>/manifest.json``::

    {"chapter": ..., "script": "scripts/train/<chapter>.py", "checkpoints": {name: entry, ...}}

An entry holds ``script``, ``command`` (the command that retrains this checkpoint), ``args`` (the
checkpoint's configuration), ``seed``, ``steps``, ``samples_seen``, ``wall_s``, ``cpu_s``,
``hardware`` (``platform``, ``cpu``, ``torch_threads``, ``device``), ``torch``, ``python``,
``commit`` (git HEAD of the repository at training time, ``None`` without git) and ``dirty`` (True when
one of the ``code_files`` differed from HEAD), ``code_files`` (repository-relative paths; the
chapter's script is always the first) and ``code_sha256`` (:func:`code_sha256` of them), ``sha256`` and
``bytes`` of the ``.pt``, ``log`` (a list of ``{"step": int, "loss": float, ...}``) and ``heldout``
(named floats measured at the end). Logged and held-out numbers are rounded to 6 significant digits.

Conventions for training scripts
--------------------------------
``python scripts/train/<chapter>.py [--out DIR] [--only NAME ...] [--smoke N]``

- One script per chapter trains every checkpoint the chapter loads (all arms and seeds), at most
  20 CPU-minutes in all on the 2-core machine; ``--only`` trains some of them (the others stay in the
  manifest); ``--out`` writes to another folder (default ``utils/weights/<chapter>``).
- Deterministic: ``utils.repro.seed_everything(seed)`` before each checkpoint, seeded
  ``torch.Generator`` objects for data, ``torch.set_num_threads(1)`` unless measured otherwise, step
  budgets (never time budgets). The device is ``utils.repro.get_device()`` (CUDA when present).
  Ship weights trained on the CPU: the smoke test replays the first steps on the CPU.
- ``SMOKE_STEPS = N`` at module level, sized so that ``--smoke N`` takes about 5 s for the whole
  script. ``--smoke N`` trains each selected checkpoint for its first N steps only (with everything
  else, learning-rate schedules included, set up as for the full run: use :func:`steps_to_run`), into a
  temporary folder, and prints one JSON line ``{"name": [[step, loss], ...]}`` of its log rows with
  step <= N (:func:`report` does it). Log at step 1 or early enough that such rows exist.
- Evaluate the held-out numbers on the weights as they will be loaded: call :func:`round_fp16_` on the
  model before measuring them.
- ``HELDOUT_TOLERANCE = {"metric": abs_tol}`` (optional, module level) widens the tolerance of
  ``scripts/train/check.py`` for a held-out number (default: 2 % relative or 0.02 absolute, whichever
  is larger).

A skeleton::

    SMOKE_STEPS = 20
    CHECKPOINTS = {f"srresnet_s{s}": dict(arm="srresnet", seed=s, steps=3000, lr=1e-3) for s in range(3)}

    def main(argv=None):
        args = parse_args(argv, names=list(CHECKPOINTS))
        entries = {}
        for name in args.names:
            cfg = CHECKPOINTS[name]
            torch.set_num_threads(1)
            seed_everything(cfg["seed"])
            run = TrainingRun("srgan", name, seed=cfg["seed"], args=cfg,
                              code_files=["utils/sr_models.py"], out_dir=args.out)
            ...  # model, optimiser and schedule for cfg["steps"] steps
            for step in range(1, steps_to_run(cfg["steps"], args) + 1):
                ...
                if step == 1 or step % 25 == 0:
                    run.log(step, loss=loss.item())
            round_fp16_(model)
            heldout = {} if args.smoke else {"psnr": evaluate(model)}
            entries[name] = run.finish(model, steps=step, samples_seen=step * batch, heldout=heldout)
        report(args, entries)
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import io
import json
import math
import numbers
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = [
    "WEIGHTS_ROOT",
    "REPO_ROOT",
    "RETRAIN_ENV",
    "MANIFEST_NAME",
    "TrainingRun",
    "load",
    "manifest",
    "training_log",
    "retrain_requested",
    "retrain",
    "code_sha256",
    "file_sha256",
    "parse_args",
    "steps_to_run",
    "round_fp16_",
    "report",
    "train_command",
    "script_path",
    "script_constant",
    "chapters_with_weights",
    "training_scripts",
    "check_files",
    "check_fresh",
    "smoke_compare",
    "heldout_tolerance",
    "compare_heldout",
]

#: the folder of the shipped weights (``utils/weights``); a chapter's files are in ``WEIGHTS_ROOT / chapter``
WEIGHTS_ROOT = Path(__file__).resolve().parent / "weights"
#: the repository root: the parent of ``utils/`` (in Colab the whole repository is cloned)
REPO_ROOT = Path(__file__).resolve().parents[1]
#: environment variable that asks chapters to retrain instead of loading the shipped weights
RETRAIN_ENV = "PAPER_DAILY_RETRAIN"
MANIFEST_NAME = "manifest.json"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_CHAPTER_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_FP16_MAX = 65504.0


# ----------------------------------------------------------------------------------------------
# validation helpers


def _check_chapter(chapter, func: str) -> str:
    if not isinstance(chapter, str) or not _CHAPTER_RE.match(chapter):
        raise ValueError(
            f"{func}: chapter must be a chapter slug (lower case letters, digits and underscores, "
            f"e.g. 'srgan'), got {chapter!r}"
        )
    return chapter


def _check_name(name, func: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"{func}: checkpoint name must be letters, digits, '_' or '-' (no extension), got {name!r}"
        )
    return name


def _check_int(value, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_module(model, func: str):
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{func}: model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _as_dir(path, name: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a path (str or pathlib.Path), got {type(path).__name__}")
    return Path(path)


def _round6(value: float) -> float:
    return float(f"{value:.6g}")


def _number(value, what: str) -> float:
    """A finite float from a Python/NumPy number or a one-element tensor, rounded to 6 significant digits."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"{what}: expected a number, got a tensor of shape {tuple(value.shape)}")
            value = value.detach().cpu().item()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    if hasattr(value, "item") and not isinstance(value, numbers.Real):  # NumPy scalars
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what}: expected a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    return _round6(value)


def train_command(chapter: str, only: str | None = None) -> str:
    """The command that (re)trains a chapter's checkpoints (or one of them): ``python scripts/train/<chapter>.py``."""
    _check_chapter(chapter, "train_command")
    cmd = f"python scripts/train/{chapter}.py"
    if only is not None:
        cmd += f" --only {_check_name(only, 'train_command')}"
    return cmd


def script_path(chapter: str) -> Path:
    """``<repo>/scripts/train/<chapter>.py`` (it may not exist)."""
    return REPO_ROOT / "scripts" / "train" / f"{_check_chapter(chapter, 'script_path')}.py"


def _chapter_dir(chapter: str, weights_dir, func: str) -> Path:
    _check_chapter(chapter, func)
    if weights_dir is None:
        return WEIGHTS_ROOT / chapter
    return _as_dir(weights_dir, f"{func}: weights_dir")


# ----------------------------------------------------------------------------------------------
# hashes and provenance


def file_sha256(path) -> str:
    """sha256 (hex) of a file's bytes."""
    p = _as_dir(path, "file_sha256: path")
    if not p.is_file():
        raise FileNotFoundError(f"file_sha256: no file at {p}")
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _relative_files(files, func: str) -> list[str]:
    if isinstance(files, (str, os.PathLike)) or not isinstance(files, (list, tuple)):
        raise TypeError(f"{func}: files must be a list of repository-relative paths, got {type(files).__name__}")
    if not files:
        raise ValueError(f"{func}: files must name at least one file")
    out = []
    for f in files:
        if not isinstance(f, (str, os.PathLike)):
            raise TypeError(f"{func}: each file must be a str or pathlib.Path, got {f!r}")
        p = Path(f)
        if p.is_absolute() or ".." in p.parts:
            raise ValueError(f"{func}: files must be relative to the repository root ({REPO_ROOT}) without '..', got {f!r}")
        if not (REPO_ROOT / p).is_file():
            raise FileNotFoundError(f"{func}: {p.as_posix()} is not a file in the repository ({REPO_ROOT})")
        out.append(p.as_posix())
    if len(set(out)) != len(out):
        raise ValueError(f"{func}: files are listed twice: {out}")
    return out


def code_sha256(files) -> str:
    """One sha256 over repository files, in the order given.

    ``files`` are paths relative to the repository root. For each file the hash takes its relative
    path, its length and its bytes, so renaming, reordering or editing a file changes the hash.
    """
    rel = _relative_files(files, "code_sha256")
    h = hashlib.sha256()
    for f in rel:
        data = (REPO_ROOT / f).read_bytes()
        h.update(f"{f}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


def _commit_and_dirty(files: list[str]) -> tuple[str | None, bool | None]:
    head = _git("rev-parse", "HEAD")
    if head is None:
        return None, None
    status = _git("status", "--porcelain", "--", *files)
    return head.strip(), (None if status is None else bool(status.strip()))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ----------------------------------------------------------------------------------------------
# writing


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(folder: Path):
    """An exclusive lock while a folder's manifest is read, merged and written (two scripts may finish at once).

    The lock file lives in the temporary directory, so that nothing but weights and manifests lands in
    ``utils/weights``.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS
        yield
        return
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"paper-daily-manifest-{key}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _fp16_state(model) -> dict:
    import torch

    state, seen = {}, {}
    for key, t in model.state_dict().items():
        ident = (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype) if t.numel() else None
        if ident in seen:  # a weight the model shares between two places (e.g. MIRNet's DAUs): stored once
            state[key] = state[seen[ident]]
            continue
        if ident is not None:
            seen[ident] = key
        t = t.detach().cpu()
        if torch.is_floating_point(t):
            if t.numel() and not bool(torch.isfinite(t).all()):
                raise ValueError(f"TrainingRun.finish: {key} holds NaN or infinite values; the run diverged")
            if t.numel() and float(t.abs().max()) > _FP16_MAX:
                raise ValueError(
                    f"TrainingRun.finish: {key} has values up to {float(t.abs().max()):.4g}, beyond float16's "
                    f"range ({_FP16_MAX}); it cannot be stored in float16"
                )
            t = t.to(torch.float16)
        elif torch.is_complex(t):
            raise TypeError(f"TrainingRun.finish: {key} is complex ({t.dtype}); only real tensors can be stored")
        state[key] = t.clone().contiguous()
    return state


#: keys of a packed checkpoint: all float16 tensors concatenated into one, and their names and shapes in order
PACKED_KEY, LAYOUT_KEY = "__packed_float16__", "__layout__"


def _pack(state: dict) -> dict:
    """One float16 tensor for all floating tensors of ``state`` (plus their names and shapes), others as they are.

    A file of many small tensors spends most of its bytes on the archive's per-tensor records (a 84 k-parameter
    MIRNet: 265 kB unpacked, about 170 kB packed); packing keeps the chapters within their 3 MB."""
    import torch

    out, layout, parts, first = {}, [], [], {}
    for k, t in state.items():
        if t.dtype != torch.float16:
            out[k] = t
            continue
        ident = (tuple(t.shape), hashlib.sha256(t.contiguous().view(torch.int16).numpy().tobytes()).hexdigest()) if t.numel() else None
        if ident in first:  # the same values under a second name (a shared weight): stored once
            layout.append([k, list(t.shape), first[ident]])
            continue
        if ident is not None:
            first[ident] = k
        layout.append([k, list(t.shape)])
        parts.append(t.reshape(-1))
    out[LAYOUT_KEY] = layout
    out[PACKED_KEY] = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float16)
    return out


def _unpack(state: dict) -> dict:
    """Inverse of :func:`_pack`; a checkpoint saved unpacked (earlier files) is returned as it is."""
    if PACKED_KEY not in state:
        return state
    flat, layout = state[PACKED_KEY], state[LAYOUT_KEY]
    total = sum(math.prod(int(d) for d in shape) for _, shape, *alias in layout if not alias)
    if total != flat.numel():
        raise ValueError(f"a packed checkpoint's layout covers {total} values but it holds {flat.numel()}")
    out, i = {k: t for k, t in state.items() if k not in (PACKED_KEY, LAYOUT_KEY)}, 0
    for name, shape, *alias in layout:
        if alias:
            out[name] = out[alias[0]]
            continue
        n = 1
        for d in shape:
            n *= int(d)
        out[name] = flat[i : i + n].reshape(shape).clone()
        i += n
    return out


def repack(chapter: str, weights_dir=None) -> list[str]:
    """Rewrite a chapter's unpacked ``.pt`` files packed (same values), updating their sha256 and bytes in the manifest.

    The weights, logs and held-out numbers are unchanged; only the file format is. Returns the names repacked."""
    import torch

    folder = _chapter_dir(chapter, weights_dir, "repack")
    path = folder / MANIFEST_NAME
    man = _read_manifest(path, chapter)
    done = []
    for name, entry in man["checkpoints"].items():
        f = folder / f"{name}.pt"
        if file_sha256(f) != entry.get("sha256"):
            raise ValueError(f"repack: {f} does not match its manifest; retrain with: {train_command(chapter, name)}")
        state = torch.load(f, map_location="cpu", weights_only=True)
        if PACKED_KEY in state:
            continue
        buf = io.BytesIO()
        torch.save(_pack(state), buf)
        _atomic_write_bytes(f, buf.getvalue())
        entry["sha256"], entry["bytes"] = file_sha256(f), f.stat().st_size
        done.append(name)
    _atomic_write_bytes(path, (json.dumps(man, indent=1) + "\n").encode())
    return done


def round_fp16_(model):
    """Round a model's floating parameters and buffers to float16 precision, in place (dtype kept).

    Call it before measuring the held-out numbers, so that they are those of the weights that
    :func:`load` gives back (which are stored in float16). Returns ``model``.
    """
    import torch

    _check_module(model, "round_fp16_")
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if torch.is_floating_point(t):
                t.copy_(t.to(torch.float16).to(t.dtype))
    return model


class TrainingRun:
    """Records the training of one checkpoint and writes it with its provenance.

    ``TrainingRun(chapter, name, *, seed, args, code_files, out_dir=None)`` starts the wall and CPU
    clocks; :meth:`log` appends a row of the training log; :meth:`finish` writes ``<name>.pt``
    (float16) and merges the entry into ``<out_dir or utils/weights/<chapter>>/manifest.json``.

    ``args`` is the checkpoint's configuration (a JSON-serialisable dict); ``code_files`` are the
    repository-relative files whose code the training runs (the chapter's script is added first
    when it exists); their hash makes the checkpoint *stale* when any of them changes.
    """

    def __init__(self, chapter: str, name: str, *, seed: int, args: dict, code_files, out_dir=None):
        import torch

        self.chapter = _check_chapter(chapter, "TrainingRun")
        self.name = _check_name(name, "TrainingRun")
        self.seed = _check_int(seed, "TrainingRun: seed")
        if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
            raise TypeError(f"TrainingRun: args must be a dict with str keys, got {type(args).__name__}")
        try:
            self.args = json.loads(json.dumps(args, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise ValueError(f"TrainingRun: args must be JSON-serialisable with finite numbers ({e})") from None
        files = _relative_files(code_files, "TrainingRun: code_files")
        script = f"scripts/train/{chapter}.py"
        if (REPO_ROOT / script).is_file() and script not in files:
            files = [script, *files]
        self.code_files = files
        self.code_sha256 = code_sha256(files)
        self.commit, self.dirty = _commit_and_dirty(files)
        self.out_dir = _chapter_dir(chapter, out_dir, "TrainingRun: out_dir")
        self.torch_threads = torch.get_num_threads()
        self.rows: list[dict] = []
        self.finished = False
        self._t0, self._c0 = time.perf_counter(), time.process_time()

    def log(self, step: int, **values) -> dict:
        """Append ``{"step": step, "loss": ..., **values}`` (numbers rounded to 6 significant digits).

        ``loss`` is required; steps must increase from row to row. Returns the row.
        """
        if self.finished:
            raise RuntimeError(f"TrainingRun.log: {self.name} is already finished")
        step = _check_int(step, "TrainingRun.log: step")
        if self.rows and step <= self.rows[-1]["step"]:
            raise ValueError(f"TrainingRun.log: steps must increase, got {step} after {self.rows[-1]['step']}")
        if "loss" not in values:
            raise ValueError("TrainingRun.log: a row needs loss=..., e.g. run.log(step, loss=loss.item())")
        row = {"step": step}
        for key, v in values.items():
            row[key] = _number(v, f"TrainingRun.log: {key}")
        self.rows.append(row)
        return row

    def finish(self, model, *, steps: int, samples_seen: int, heldout: dict) -> dict:
        """Write ``<name>.pt`` and its manifest entry (atomically); return the entry."""
        import torch

        if self.finished:
            raise RuntimeError(f"TrainingRun.finish: {self.name} is already finished")
        _check_module(model, "TrainingRun.finish")
        steps = _check_int(steps, "TrainingRun.finish: steps", minimum=1)
        samples_seen = _check_int(samples_seen, "TrainingRun.finish: samples_seen")
        if not isinstance(heldout, dict) or not all(isinstance(k, str) for k in heldout):
            raise TypeError(f"TrainingRun.finish: heldout must be a dict of named numbers, got {type(heldout).__name__}")
        held = {k: _number(v, f"TrainingRun.finish: heldout[{k!r}]") for k, v in heldout.items()}
        if self.rows and self.rows[-1]["step"] > steps:
            raise ValueError(f"TrainingRun.finish: steps={steps} but the log goes to step {self.rows[-1]['step']}")
        state = _fp16_state(model)
        first = next(iter(list(model.parameters()) + list(model.buffers())), None)
        device = first.device if first is not None else torch.device("cpu")
        wall_s, cpu_s = time.perf_counter() - self._t0, time.process_time() - self._c0

        buf = io.BytesIO()
        torch.save(_pack(state), buf)
        data = buf.getvalue()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        hardware = {
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "torch_threads": self.torch_threads,
            "device": device.type,
        }
        if device.type == "cuda":
            hardware["gpu"] = torch.cuda.get_device_name(device)
        entry = {
            "script": f"scripts/train/{self.chapter}.py",
            "command": train_command(self.chapter, self.name),
            "args": self.args,
            "seed": self.seed,
            "steps": steps,
            "samples_seen": samples_seen,
            "wall_s": round(wall_s, 2),
            "cpu_s": round(cpu_s, 2),
            "hardware": hardware,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "commit": self.commit,
            "dirty": self.dirty,
            "code_files": self.code_files,
            "code_sha256": self.code_sha256,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "log": [dict(r) for r in self.rows],
            "heldout": held,
        }
        with _locked(self.out_dir):
            _atomic_write_bytes(self.out_dir / f"{self.name}.pt", data)
            path = self.out_dir / MANIFEST_NAME
            if path.is_file():
                man = _read_manifest(path, self.chapter)
            else:
                man = {"chapter": self.chapter, "script": f"scripts/train/{self.chapter}.py", "checkpoints": {}}
            man["checkpoints"][self.name] = entry
            man["checkpoints"] = dict(sorted(man["checkpoints"].items()))
            _atomic_write_bytes(path, (json.dumps(man, indent=1) + "\n").encode())
        self.finished = True
        return entry


# ----------------------------------------------------------------------------------------------
# reading


def _read_manifest(path: Path, chapter: str) -> dict:
    try:
        man = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable manifest ({e}); retrain with: {train_command(chapter)}") from None
    if not isinstance(man, dict) or not isinstance(man.get("checkpoints"), dict):
        raise ValueError(f"{path} has no 'checkpoints' table; retrain with: {train_command(chapter)}")
    if man.get("chapter") != chapter:
        raise ValueError(f"{path} belongs to chapter {man.get('chapter')!r}, not {chapter!r}")
    return man


def manifest(chapter: str, weights_dir=None) -> dict:
    """The chapter's ``manifest.json`` (from ``weights_dir`` or ``utils/weights/<chapter>``)."""
    folder = _chapter_dir(chapter, weights_dir, "manifest")
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"manifest: no {MANIFEST_NAME} for chapter {chapter!r} in {folder}; "
            f"train its checkpoints with: {train_command(chapter)}"
        )
    return _read_manifest(path, chapter)


def _entry(chapter: str, name: str, weights_dir, func: str) -> tuple[dict, Path]:
    _check_name(name, func)
    man = manifest(chapter, weights_dir)
    folder = _chapter_dir(chapter, weights_dir, func)
    if name not in man["checkpoints"]:
        have = ", ".join(man["checkpoints"]) or "none"
        raise ValueError(
            f"{func}: checkpoint {name!r} is not in {folder / MANIFEST_NAME} (it has: {have}); "
            f"train it with: {train_command(chapter, name)}"
        )
    return man["checkpoints"][name], folder


def training_log(chapter: str, name: str, weights_dir=None) -> list[dict]:
    """The training log of a shipped checkpoint: ``[{"step": ..., "loss": ..., ...}, ...]`` (a copy)."""
    entry, _ = _entry(chapter, name, weights_dir, "training_log")
    return [dict(row) for row in entry["log"]]


def load(chapter: str, name: str, model, *, weights_dir=None, device="cpu"):
    """Load checkpoint ``name`` of ``chapter`` into ``model``; return ``(model, entry)``.

    Checks that the file exists and that its sha256 is the manifest's, loads it with
    ``torch.load(weights_only=True)``, casts each tensor to the dtype of the model's, loads it
    strictly, moves the model to ``device`` and puts it in eval mode. A missing manifest or file
    raises ``FileNotFoundError``, a hash or architecture mismatch ``ValueError``; both name the
    training command.
    """
    import torch

    _check_module(model, "load")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"load: device must be a str or torch.device, got {type(device).__name__}")
    device = torch.device(device)
    entry, folder = _entry(chapter, name, weights_dir, "load")
    path = folder / f"{name}.pt"
    cmd = train_command(chapter, name)
    if not path.is_file():
        raise FileNotFoundError(f"load: {path} is missing (the manifest lists it); retrain it with: {cmd}")
    digest = file_sha256(path)
    if digest != entry.get("sha256"):
        raise ValueError(
            f"load: {path} does not match its manifest (sha256 {digest[:12]}... instead of "
            f"{str(entry.get('sha256'))[:12]}...); the file was changed or belongs to another run. Retrain with: {cmd}"
        )
    state = _unpack(torch.load(path, map_location="cpu", weights_only=True))
    target = model.state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in target.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = [f"missing {missing}" if missing else "", f"unexpected {unexpected}" if unexpected else "",
                 f"shapes differ ({'; '.join(shapes)})" if shapes else ""]
        raise ValueError(
            f"load: {name} does not fit this model ({', '.join(p for p in parts if p)}); "
            f"was the architecture changed? Retrain with: {cmd}"
        )
    state = {k: state[k].to(dtype=v.dtype) for k, v in target.items()}
    model.load_state_dict(state, strict=True)
    model.to(device)
    model.eval()
    return model, entry


# ----------------------------------------------------------------------------------------------
# retraining


def retrain_requested(flag: bool | None = None) -> bool:
    """True when the notebook's ``flag`` is True or the environment sets ``PAPER_DAILY_RETRAIN=1``."""
    if flag is not None and not isinstance(flag, bool):
        raise TypeError(f"retrain_requested: flag must be True, False or None, got {flag!r}")
    raw = os.environ.get(RETRAIN_ENV, "").strip()
    if raw not in ("", "0", "1"):
        raise ValueError(f"{RETRAIN_ENV} must be 0 or 1 (or unset), got {raw!r}")
    return bool(flag) or raw == "1"


def _check_only(only, func: str) -> list[str] | None:
    if only is None:
        return None
    if isinstance(only, str):
        only = [only]
    if not isinstance(only, (list, tuple)) or not only:
        raise TypeError(f"{func}: only must be a checkpoint name or a non-empty list of them, got {only!r}")
    return [_check_name(n, func) for n in only]


def retrain(chapter: str, *, out_dir=None, only=None, script=None, timeout: float | None = None) -> Path:
    """Run the chapter's training script in a subprocess; return the folder it wrote.

    Runs ``sys.executable <repo>/scripts/train/<chapter>.py --out <dir> [--only ...]`` (``dir`` is a new
    temporary folder unless ``out_dir`` is given), printing its output as it comes; then
    ``load(chapter, name, model, weights_dir=dir)`` loads the new weights. ``script`` replaces the
    script's path (tests).
    """
    _check_chapter(chapter, "retrain")
    names = _check_only(only, "retrain")
    path = script_path(chapter) if script is None else _as_dir(script, "retrain: script")
    if not path.is_file():
        raise FileNotFoundError(
            f"retrain: no training script at {path}; retraining needs the whole repository "
            "(in Colab: git clone it, then run the chapter from the clone)"
        )
    out = Path(tempfile.mkdtemp(prefix=f"paper-daily-{chapter}-")) if out_dir is None else _as_dir(out_dir, "retrain: out_dir")
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(path), "--out", str(out)] + (["--only", *names] if names else [])
    lines = _run_streaming(cmd, timeout=timeout, echo=True)
    if not (out / MANIFEST_NAME).is_file():
        tail = "".join(lines[-20:])
        raise RuntimeError(f"retrain: {path.name} wrote no {MANIFEST_NAME} into {out}; its output ended with:\n{tail}")
    return out


def _run_streaming(cmd: list[str], *, timeout: float | None, echo: bool, env: dict | None = None) -> list[str]:
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in [full_env.get("PYTHONPATH")] if p])
    lines: list[str] = []
    t0 = time.monotonic()
    with subprocess.Popen(cmd, cwd=REPO_ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if echo:
                    print(line, end="", flush=True)
                if timeout is not None and time.monotonic() - t0 > timeout:
                    raise subprocess.TimeoutExpired(cmd, timeout)
            proc.wait(timeout=None if timeout is None else max(1.0, timeout - (time.monotonic() - t0)))
        except BaseException:
            proc.kill()
            raise
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}); its output ended with:\n{''.join(lines[-30:])}")
    return lines


# ----------------------------------------------------------------------------------------------
# what training scripts call


def parse_args(argv=None, extra=None, *, names=None, description: str | None = None) -> argparse.Namespace:
    """Parse a training script's standard arguments: ``[--out DIR] [--only NAME ...] [--smoke N]``.

    ``extra`` adds the script's own options: a callable taking the ``argparse.ArgumentParser``, or a
    dict ``{"--flag": dict(type=..., default=...)}``. ``names`` (the script's checkpoint names) checks
    ``--only`` and sets ``args.names`` to the selected names in order (all without ``--only``).
    With ``--smoke N`` and no ``--out``, ``args.out`` is a new temporary folder; otherwise ``args.out``
    is ``None`` (``utils/weights/<chapter>``) or the given folder.
    """
    if names is not None:
        if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
            raise TypeError(f"parse_args: names must be a non-empty list of checkpoint names, got {names!r}")
        names = [_check_name(n, "parse_args") for n in names]
        if len(set(names)) != len(names):
            raise ValueError(f"parse_args: names are listed twice: {names}")
    if argv is not None and (isinstance(argv, str) or not isinstance(argv, (list, tuple))):
        raise TypeError(f"parse_args: argv must be a list of strings or None, got {argv!r}")
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", type=Path, default=None, help="folder to write into (default utils/weights/<chapter>)")
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME", help="train only these checkpoints")
    ap.add_argument("--smoke", type=int, default=None, metavar="N",
                    help="train each checkpoint's first N steps into a temporary folder and print their log as JSON")
    if extra is not None:
        if callable(extra):
            extra(ap)
        elif isinstance(extra, dict):
            for flag, kwargs in extra.items():
                ap.add_argument(flag, **kwargs)
        else:
            raise TypeError(f"parse_args: extra must be a callable(parser) or a dict of options, got {type(extra).__name__}")
    args = ap.parse_args(argv)
    if args.smoke is not None and args.smoke < 1:
        ap.error(f"--smoke: expected a number of steps >= 1, got {args.smoke}")
    if args.only is not None:
        for n in args.only:
            if not _NAME_RE.match(n):
                ap.error(f"--only: {n!r} is not a checkpoint name")
            if names is not None and n not in names:
                ap.error(f"--only: unknown checkpoint {n!r}; this script trains: {', '.join(names)}")
    args.names = None if names is None else [n for n in names if args.only is None or n in args.only]
    if args.smoke is not None and args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="paper-daily-smoke-"))
    return args


def steps_to_run(full_steps: int, args: argparse.Namespace) -> int:
    """The steps to train now: ``full_steps``, or ``min(full_steps, args.smoke)`` with ``--smoke``."""
    full_steps = _check_int(full_steps, "steps_to_run: full_steps", minimum=1)
    smoke = getattr(args, "smoke", None)
    return full_steps if smoke is None else min(full_steps, smoke)


def report(args: argparse.Namespace, entries: dict) -> None:
    """Print the end of a training script's run.

    With ``--smoke N``: one JSON line ``{"name": [[step, loss], ...]}`` of the log rows with step <= N
    (the tests compare it with the manifest). Otherwise a line per checkpoint with its steps, times
    and held-out numbers.
    """
    if not isinstance(entries, dict) or not all(isinstance(e, dict) and "log" in e for e in entries.values()):
        raise TypeError("report: entries must be a dict {name: entry returned by TrainingRun.finish}")
    smoke = getattr(args, "smoke", None)
    if smoke is not None:
        out = {n: [[r["step"], r["loss"]] for r in e["log"] if r["step"] <= smoke] for n, e in entries.items()}
        print(json.dumps(out), flush=True)
        return
    for n, e in entries.items():
        held = ", ".join(f"{k}={v:.6g}" for k, v in e["heldout"].items())
        print(f"{n}: {e['steps']} steps, {e['wall_s']:.1f} s wall, {e['cpu_s']:.1f} s CPU, "
              f"{e['bytes'] / 1e3:.0f} kB; {held}", flush=True)


# ----------------------------------------------------------------------------------------------
# what the tests and scripts/train/check.py call


def script_constant(path, name: str, default=None):
    """A literal module-level constant (``SMOKE_STEPS``, ``HELDOUT_TOLERANCE``) of a script, read without importing it."""
    p = _as_dir(path, "script_constant: path")
    if not p.is_file():
        raise FileNotFoundError(f"script_constant: no script at {p}")
    for node in ast.parse(p.read_text(), filename=str(p)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value is not None:
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                raise ValueError(f"script_constant: {name} in {p} must be a literal (a number or a dict of numbers)") from None
    return default


def training_scripts() -> list[str]:
    """Chapters that have a training script ``scripts/train/<chapter>.py`` (``check.py`` and ``_*.py`` excluded)."""
    folder = REPO_ROOT / "scripts" / "train"
    return sorted(p.stem for p in folder.glob("*.py") if p.stem != "check" and not p.stem.startswith("_")) if folder.is_dir() else []


def chapters_with_weights() -> list[str]:
    """Chapters with a ``utils/weights/<chapter>/manifest.json``."""
    return sorted(p.parent.name for p in WEIGHTS_ROOT.glob(f"*/{MANIFEST_NAME}"))


def check_files(chapter: str, weights_dir=None) -> list[str]:
    """Problems with a chapter's shipped files: a listed ``.pt`` missing or not matching its sha256 and
    bytes, or a ``.pt`` in the folder that the manifest does not list. Empty when all is well."""
    folder = _chapter_dir(chapter, weights_dir, "check_files")
    man = manifest(chapter, weights_dir)
    problems = []
    for name, e in man["checkpoints"].items():
        p = folder / f"{name}.pt"
        cmd = train_command(chapter, name)
        if not p.is_file():
            problems.append(f"{chapter}/{name}.pt is missing; retrain with: {cmd}")
        elif p.stat().st_size != e.get("bytes") or file_sha256(p) != e.get("sha256"):
            problems.append(f"{chapter}/{name}.pt does not match its manifest's sha256/bytes; retrain with: {cmd}")
    for p in sorted(folder.glob("*.pt")):
        if p.stem not in man["checkpoints"]:
            problems.append(f"{chapter}/{p.name} is not in the manifest; delete it or retrain with: {train_command(chapter)}")
    return problems


def check_fresh(chapter: str, weights_dir=None) -> list[str]:
    """Stale checkpoints: those whose ``code_files`` now hash differently from the manifest's ``code_sha256``."""
    man = manifest(chapter, weights_dir)
    problems = []
    for name, e in man["checkpoints"].items():
        try:
            now = code_sha256(e["code_files"])
        except (FileNotFoundError, ValueError, TypeError) as err:
            problems.append(f"{chapter}/{name}: its code files cannot be hashed ({err}); retrain with: {train_command(chapter)}")
            continue
        if now != e["code_sha256"]:
            problems.append(
                f"{chapter}/{name} is stale: its training code ({', '.join(e['code_files'])}) changed since it was "
                f"trained at commit {str(e.get('commit'))[:10]}; retrain with: {train_command(chapter)}"
            )
    return problems


def smoke_compare(chapter: str, n_steps: int | None = None, rtol: float = 1e-4, *, only=None, weights_dir=None,
                  script=None, timeout: float = 300.0) -> dict:
    """Replay the first ``n_steps`` of every checkpoint (``--smoke``) and compare its losses with the manifest's log.

    ``n_steps`` defaults to the script's ``SMOKE_STEPS``. The script runs on the CPU with one thread
    (``PAPER_DAILY_DEVICE=cpu``, ``OMP_NUM_THREADS=1``). Returns ``{name: [[step, shipped, replayed], ...]}``;
    raises ``ValueError`` naming the retrain command when a loss differs by more than ``rtol`` (relative)
    or a checkpoint has no log row within the first ``n_steps``.
    """
    _check_chapter(chapter, "smoke_compare")
    path = script_path(chapter) if script is None else _as_dir(script, "smoke_compare: script")
    if not path.is_file():
        raise FileNotFoundError(f"smoke_compare: no training script at {path}")
    if n_steps is None:
        n_steps = script_constant(path, "SMOKE_STEPS")
        if n_steps is None:
            raise ValueError(f"smoke_compare: {path.name} defines no SMOKE_STEPS = N (steps for a ~5 s --smoke run)")
    n_steps = _check_int(n_steps, "smoke_compare: n_steps", minimum=1)
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not rtol >= 0:
        raise ValueError(f"smoke_compare: rtol must be a number >= 0, got {rtol!r}")
    names = _check_only(only, "smoke_compare")
    man = manifest(chapter, weights_dir)
    expected = {n: e for n, e in man["checkpoints"].items() if names is None or n in names}
    env = dict(os.environ, PAPER_DAILY_DEVICE="cpu", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory(prefix=f"paper-daily-smoke-{chapter}-") as tmp:
        cmd = [sys.executable, str(path), "--smoke", str(n_steps), "--out", tmp] + (["--only", *names] if names else [])
        lines = _run_streaming(cmd, timeout=timeout, echo=False, env=env)
    replay = None
    for line in reversed(lines):
        if line.lstrip().startswith("{"):
            replay = json.loads(line)
            break
    if not isinstance(replay, dict):
        raise ValueError(f"smoke_compare: {path.name} --smoke {n_steps} printed no JSON line; it printed:\n{''.join(lines[-20:])}")
    cmd_hint = train_command(chapter)
    if set(replay) != set(expected):
        raise ValueError(
            f"smoke_compare: the script trains {sorted(replay)} but the manifest lists {sorted(expected)}; "
            f"retrain with: {cmd_hint}"
        )
    result, problems = {}, []
    for name, e in expected.items():
        shipped = {r["step"]: r["loss"] for r in e["log"] if r["step"] <= n_steps}
        got = {int(s): float(v) for s, v in replay[name]}
        if not shipped:
            problems.append(f"{name}: the manifest logs no step <= {n_steps}; log earlier (e.g. at step 1) or raise SMOKE_STEPS")
            continue
        # a script that logs "the last step" logs step n_steps of the truncated replay too; that row has no
        # counterpart in the full run's log and is not compared. Every other row must match.
        extra = set(got) - set(shipped) - {n_steps}
        if set(shipped) - set(got) or extra:
            problems.append(f"{name}: logged steps differ (manifest {sorted(shipped)}, replay {sorted(got)})")
            continue
        rows = [[s, shipped[s], got[s]] for s in sorted(shipped)]
        result[name] = rows
        bad = [r for r in rows if abs(r[2] - r[1]) > rtol * max(abs(r[1]), 1e-12)]
        if bad:
            hw = e.get("hardware", {})
            problems.append(
                f"{name}: losses differ beyond rtol {rtol:g} at steps {[r[0] for r in bad]} "
                f"(first: manifest {bad[0][1]!r}, replay {bad[0][2]!r}; shipped run used device "
                f"{hw.get('device')!r}, {hw.get('torch_threads')} thread(s), torch {e.get('torch')})"
            )
    if problems:
        raise ValueError(
            f"smoke_compare({chapter!r}): the shipped log does not come from this code:\n  "
            + "\n  ".join(problems) + f"\nretrain with: {cmd_hint}"
        )
    return result


def heldout_tolerance(metric: str, shipped: float, overrides: dict | None = None, checkpoint: str | None = None) -> float:
    """Absolute tolerance for a held-out number: ``overrides["<checkpoint>/<metric>"]`` or ``overrides[metric]``
    when given (a script's ``HELDOUT_TOLERANCE``), else ``max(0.02 * |shipped|, 0.02)``."""
    if overrides is not None and not isinstance(overrides, dict):
        raise TypeError(f"heldout_tolerance: overrides must be a dict {{metric: abs_tol}}, got {type(overrides).__name__}")
    shipped = _number(shipped, "heldout_tolerance: shipped")
    for key in ([f"{checkpoint}/{metric}"] if checkpoint else []) + [metric]:
        if overrides and key in overrides:
            tol = overrides[key]
            if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
                raise ValueError(f"HELDOUT_TOLERANCE[{key!r}] must be a number >= 0, got {tol!r}")
            return float(tol)
    return max(0.02 * abs(shipped), 0.02)


def compare_heldout(shipped: dict, retrained: dict, overrides: dict | None = None, *, partial: bool = False
                    ) -> tuple[list[dict], bool]:
    """Compare the held-out numbers of two manifests (dicts as from :func:`manifest`).

    Returns ``(rows, ok)``: a row per checkpoint and metric with ``shipped``, ``retrained``, ``diff``,
    ``tol`` and ``ok``; a checkpoint or metric present in only one of them is a failed row
    (``partial=True``: shipped checkpoints that were not retrained, as with ``--only``, are skipped).
    """
    for what, m in (("shipped", shipped), ("retrained", retrained)):
        if not isinstance(m, dict) or not isinstance(m.get("checkpoints"), dict):
            raise TypeError(f"compare_heldout: {what} must be a manifest dict with a 'checkpoints' table")
    rows = []
    names = list(retrained["checkpoints"])
    if not partial:
        names += [n for n in shipped["checkpoints"] if n not in retrained["checkpoints"]]
    for name in names:
        new = retrained["checkpoints"].get(name, {}).get("heldout") if name in retrained["checkpoints"] else None
        old = shipped["checkpoints"].get(name, {}).get("heldout") if name in shipped["checkpoints"] else None
        if old is None or new is None:
            rows.append(dict(checkpoint=name, metric="(checkpoint)", shipped=None, retrained=None, diff=None, tol=None, ok=False))
            continue
        for metric in sorted(set(old) | set(new)):
            if metric not in old or metric not in new:
                rows.append(dict(checkpoint=name, metric=metric, shipped=old.get(metric), retrained=new.get(metric),
                                 diff=None, tol=None, ok=False))
                continue
            tol = heldout_tolerance(metric, old[metric], overrides, name)
            diff = new[metric] - old[metric]
            rows.append(dict(checkpoint=name, metric=metric, shipped=old[metric], retrained=new[metric],
                             diff=diff, tol=tol, ok=abs(diff) <= tol + 1e-12))
    return rows, all(r["ok"] for r in rows)
