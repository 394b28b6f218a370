"""Trained checkpoints with provenance (utils.checkpoints, scripts/train/): shipped files, staleness,
smoke replays of every training script, size limits, and the mechanism itself on a tiny synthetic script."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from utils import checkpoints as ck
from utils.repro import NONDETERMINISTIC_CUDA_WARNING, seed_everything

ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000
CHAPTER_LIMIT_BYTES = 3 * MB
TOTAL_LIMIT_BYTES = 30 * MB
#: relative tolerance of the smoke replay against the shipped log (CPU, 1 thread, deterministic;
#: logged numbers carry 6 significant digits, i.e. a rounding error below 5e-6)
SMOKE_RTOL = 1e-4


# ----------------------------------------------------------------------------------------------
# what the repository ships


@pytest.mark.parametrize("chapter", ck.chapters_with_weights())
def test_shipped_files_match_their_manifest(chapter):
    problems = ck.check_files(chapter)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", ck.chapters_with_weights())
def test_shipped_checkpoints_are_not_stale(chapter):
    problems = ck.check_fresh(chapter)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", ck.chapters_with_weights())
def test_shipped_manifest_is_complete_and_its_script_exists(chapter):
    man = ck.manifest(chapter)
    assert man["script"] == f"scripts/train/{chapter}.py"
    assert (ROOT / man["script"]).is_file(), f"{man['script']} is missing; the weights of {chapter} cannot be retrained"
    keys = {"script", "args", "seed", "steps", "samples_seen", "wall_s", "cpu_s", "hardware", "torch", "commit",
            "dirty", "code_files", "code_sha256", "sha256", "bytes", "log", "heldout"}
    for name, e in man["checkpoints"].items():
        assert keys <= set(e), f"{chapter}/{name}: manifest entry lacks {sorted(keys - set(e))}"
        assert e["log"] and all("step" in r and "loss" in r for r in e["log"]), f"{chapter}/{name}: empty or bad log"
        assert e["heldout"], f"{chapter}/{name}: no held-out numbers"


def test_every_weights_folder_has_a_manifest():
    for folder in sorted(p for p in ck.WEIGHTS_ROOT.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        assert (folder / ck.MANIFEST_NAME).is_file() or not any(folder.glob("*.pt")), (
            f"{folder} holds weights but no {ck.MANIFEST_NAME}; train with: python scripts/train/{folder.name}.py")


@pytest.mark.parametrize("chapter", ck.training_scripts())
def test_training_script_smoke_run_reproduces_the_logged_losses(chapter):
    n = ck.script_constant(ck.script_path(chapter), "SMOKE_STEPS")
    assert isinstance(n, int) and n >= 1, f"scripts/train/{chapter}.py must define SMOKE_STEPS = N (about 5 s of training)"
    result = ck.smoke_compare(chapter, n, rtol=SMOKE_RTOL)
    assert result and all(result.values())


def test_weights_size_limits():
    total = sum(p.stat().st_size for p in ck.WEIGHTS_ROOT.rglob("*") if p.is_file())
    assert total <= TOTAL_LIMIT_BYTES, f"utils/weights holds {total / MB:.1f} MB, over the {TOTAL_LIMIT_BYTES / MB:.0f} MB limit"
    for folder in (p for p in ck.WEIGHTS_ROOT.iterdir() if p.is_dir()):
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert size <= CHAPTER_LIMIT_BYTES, f"{folder.name}: {size / MB:.2f} MB of weights, over the 3 MB limit per chapter"


# ----------------------------------------------------------------------------------------------
# the mechanism on a tiny synthetic model


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).mean(dim=(2, 3)))


def _train_tiny(tmp_path, name="a", seed=0, steps=5, heldout=None):
    torch.manual_seed(seed)
    model = Tiny()
    run = ck.TrainingRun("toy", name, seed=seed, args={"lr": 0.1, "steps": steps}, code_files=["utils/checkpoints.py"],
                         out_dir=tmp_path)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        x = torch.randn(8, 1, 6, 6, generator=gen)
        loss = (model(x) - x.mean(dim=(1, 2, 3))[:, None]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log(step, loss=loss.item(), lr=0.1)
    ck.round_fp16_(model)
    entry = run.finish(model, steps=steps, samples_seen=8 * steps, heldout=heldout or {"mse": 0.25})
    return model, entry


def test_training_run_writes_fp16_weights_and_a_full_manifest(tmp_path):
    model, entry = _train_tiny(tmp_path)
    raw = torch.load(tmp_path / "a.pt", weights_only=True)
    assert set(raw) >= {ck.PACKED_KEY, ck.LAYOUT_KEY} and raw[ck.PACKED_KEY].dtype == torch.float16  # one packed tensor
    state = ck._unpack(raw)
    assert state["conv.weight"].dtype == torch.float16
    assert state["bn.num_batches_tracked"].dtype == torch.int64 and int(state["bn.num_batches_tracked"]) == 5
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["chapter"] == "toy" and man["script"] == "scripts/train/toy.py"
    assert man["checkpoints"]["a"] == entry
    assert entry["sha256"] == ck.file_sha256(tmp_path / "a.pt") and entry["bytes"] == (tmp_path / "a.pt").stat().st_size
    assert entry["code_files"] == ["utils/checkpoints.py"]
    assert entry["code_sha256"] == ck.code_sha256(["utils/checkpoints.py"])
    assert entry["steps"] == 5 and entry["samples_seen"] == 40 and entry["seed"] == 0
    assert entry["hardware"]["device"] == "cpu" and entry["hardware"]["torch_threads"] == torch.get_num_threads()
    assert {"platform", "cpu"} <= set(entry["hardware"]) and entry["torch"] == torch.__version__
    assert entry["wall_s"] >= 0 and entry["cpu_s"] >= 0 and entry["command"] == "python scripts/train/toy.py --only a"
    assert isinstance(entry["commit"], (str, type(None))) and entry["dirty"] in (True, False, None)
    assert [r["step"] for r in entry["log"]] == [1, 2, 3, 4, 5]
    assert all(r["loss"] == float(f"{r['loss']:.6g}") and r["lr"] == 0.1 for r in entry["log"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "manifest.json"]  # no temporary or lock files


def test_manifest_merges_runs_and_load_returns_the_shipped_model(tmp_path):
    trained, _ = _train_tiny(tmp_path, "a", seed=0)
    _train_tiny(tmp_path, "b", seed=1, heldout={"mse": 0.5, "psnr": 30.0})
    man = ck.manifest("toy", tmp_path)
    assert list(man["checkpoints"]) == ["a", "b"]
    _, again = _train_tiny(tmp_path, "a", seed=0, steps=3)  # retraining one checkpoint keeps the other
    assert ck.manifest("toy", tmp_path)["checkpoints"]["a"]["steps"] == 3
    assert ck.manifest("toy", tmp_path)["checkpoints"]["b"]["heldout"] == {"mse": 0.5, "psnr": 30.0}
    _train_tiny(tmp_path, "a", seed=0)
    fresh = Tiny().double().train()
    model, entry = ck.load("toy", "a", fresh, weights_dir=tmp_path)
    assert model is fresh and not model.training and entry["heldout"] == {"mse": 0.25}
    assert model.conv.weight.dtype == torch.float64
    for (k, v), w in zip(trained.state_dict().items(), model.state_dict().values()):
        assert torch.equal(v.double() if v.is_floating_point() else v, w), k  # round_fp16_ made them identical
    assert ck.training_log("toy", "a", weights_dir=tmp_path) == entry["log"]
    assert ck.check_files("toy", tmp_path) == []
    assert ck.check_fresh("toy", tmp_path) == []


def test_load_errors_name_the_training_command(tmp_path):
    _train_tiny(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape("python scripts/train/toy.py")):
        ck.load("toy", "a", Tiny(), weights_dir=tmp_path / "nowhere")
    with pytest.raises(ValueError, match=re.escape("python scripts/train/toy.py --only zzz")):
        ck.load("toy", "zzz", Tiny(), weights_dir=tmp_path)
    with pytest.raises(ValueError, match="does not fit this model.*python scripts/train/toy.py"):
        ck.load("toy", "a", torch.nn.Linear(2, 2), weights_dir=tmp_path)
    pt = tmp_path / "a.pt"
    data = bytearray(pt.read_bytes())
    data[-100] ^= 0xFF  # tampered file
    pt.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"does not match its manifest.*python scripts/train/toy.py --only a"):
        ck.load("toy", "a", Tiny(), weights_dir=tmp_path)
    assert "does not match" in ck.check_files("toy", tmp_path)[0]
    pt.unlink()  # missing file
    with pytest.raises(FileNotFoundError, match=r"a.pt is missing.*python scripts/train/toy.py --only a"):
        ck.load("toy", "a", Tiny(), weights_dir=tmp_path)
    assert "missing" in ck.check_files("toy", tmp_path)[0]
    torch.save({}, tmp_path / "stray.pt")
    assert any("stray.pt is not in the manifest" in p for p in ck.check_files("toy", tmp_path))
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable manifest"):
        ck.manifest("toy", tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"chapter": "other", "checkpoints": {}}))
    with pytest.raises(ValueError, match="belongs to chapter 'other'"):
        ck.manifest("toy", tmp_path)


def test_code_hash_and_staleness(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "REPO_ROOT", tmp_path)
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "checkpoints.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    h = ck.code_sha256(["utils/checkpoints.py", "b.py"])
    assert h != ck.code_sha256(["b.py", "utils/checkpoints.py"])
    assert h == ck.code_sha256([Path("utils/checkpoints.py"), "b.py"])
    out = tmp_path / "w"
    _train_tiny(out)
    assert ck.check_fresh("toy", out) == []
    (tmp_path / "utils" / "checkpoints.py").write_text("x = 2\n")
    problems = ck.check_fresh("toy", out)
    assert len(problems) == 1 and "stale" in problems[0] and "python scripts/train/toy.py" in problems[0]
    (tmp_path / "utils" / "checkpoints.py").unlink()
    assert "cannot be hashed" in ck.check_fresh("toy", out)[0]


def test_training_run_adds_the_chapters_script_to_its_code_files(tmp_path, monkeypatch):
    monkeypatch.setattr(ck, "REPO_ROOT", tmp_path)
    (tmp_path / "scripts" / "train").mkdir(parents=True)
    (tmp_path / "scripts" / "train" / "toy.py").write_text("pass\n")
    (tmp_path / "m.py").write_text("pass\n")
    run = ck.TrainingRun("toy", "a", seed=0, args={}, code_files=["m.py"], out_dir=tmp_path / "w")
    assert run.code_files == ["scripts/train/toy.py", "m.py"]
    assert run.commit is None  # not a git repository


def test_hash_helpers_and_constants(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    assert ck.file_sha256(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    s = tmp_path / "s.py"
    s.write_text("SMOKE_STEPS = 12\nHELDOUT_TOLERANCE: dict = {'psnr': 0.1}\nOTHER = len([])\n")
    assert ck.script_constant(s, "SMOKE_STEPS") == 12
    assert ck.script_constant(s, "HELDOUT_TOLERANCE") == {"psnr": 0.1}
    assert ck.script_constant(s, "MISSING", default=3) == 3
    with pytest.raises(ValueError, match="must be a literal"):
        ck.script_constant(s, "OTHER")
    assert ck.train_command("srgan") == "python scripts/train/srgan.py"
    assert ck.heldout_tolerance("psnr", 30.0) == pytest.approx(0.6)
    assert ck.heldout_tolerance("ssim", 0.5) == pytest.approx(0.02)
    assert ck.heldout_tolerance("psnr", 30.0, {"psnr": 0.05}) == 0.05
    assert ck.heldout_tolerance("psnr", 30.0, {"psnr": 0.05, "b/psnr": 0.3}, "b") == 0.3


def test_compare_heldout():
    def man(**held):
        return {"checkpoints": {n: {"heldout": h, "sha256": "x"} for n, h in held.items()}}
    rows, ok = ck.compare_heldout(man(a={"psnr": 30.0}), man(a={"psnr": 30.5}))
    assert ok and rows[0]["diff"] == pytest.approx(0.5) and rows[0]["tol"] == pytest.approx(0.6)
    rows, ok = ck.compare_heldout(man(a={"psnr": 30.0}), man(a={"psnr": 30.5}), {"psnr": 0.1})
    assert not ok
    _, ok = ck.compare_heldout(man(a={"psnr": 30.0}), man(a={"psnr": 30.0, "ssim": 0.9}))
    assert not ok  # a metric missing from the shipped manifest
    _, ok = ck.compare_heldout(man(a={"psnr": 30.0}, b={"psnr": 1.0}), man(a={"psnr": 30.0}))
    assert not ok  # a shipped checkpoint that the full retraining did not produce
    _, ok = ck.compare_heldout(man(a={"psnr": 30.0}, b={"psnr": 1.0}), man(a={"psnr": 30.0}), partial=True)
    assert ok


def test_retrain_requested(monkeypatch):
    monkeypatch.delenv(ck.RETRAIN_ENV, raising=False)
    assert ck.retrain_requested() is False and ck.retrain_requested(True) is True
    monkeypatch.setenv(ck.RETRAIN_ENV, "1")
    assert ck.retrain_requested() is True and ck.retrain_requested(False) is True
    monkeypatch.setenv(ck.RETRAIN_ENV, "0")
    assert ck.retrain_requested() is False
    monkeypatch.setenv(ck.RETRAIN_ENV, "yes")
    with pytest.raises(ValueError, match="PAPER_DAILY_RETRAIN must be 0 or 1"):
        ck.retrain_requested()
    monkeypatch.delenv(ck.RETRAIN_ENV)
    with pytest.raises(TypeError, match="flag must be True, False or None"):
        ck.retrain_requested(1)


def test_parse_args():
    a = ck.parse_args([], names=["x", "y"])
    assert a.out is None and a.only is None and a.smoke is None and a.names == ["x", "y"]
    a = ck.parse_args(["--only", "y", "--out", "d"], names=["x", "y"])
    assert a.names == ["y"] and a.out == Path("d")
    a = ck.parse_args(["--smoke", "3", "--lr", "0.5"], extra={"--lr": dict(type=float, default=1.0)})
    assert a.smoke == 3 and a.lr == 0.5 and a.out.is_dir() and a.names is None
    os.rmdir(a.out)
    a = ck.parse_args(["--k", "2"], extra=lambda p: p.add_argument("--k", type=int))
    assert a.k == 2
    assert ck.steps_to_run(100, ck.parse_args([])) == 100
    assert ck.steps_to_run(100, ck.parse_args(["--smoke", "7", "--out", "d"])) == 7
    assert ck.steps_to_run(5, ck.parse_args(["--smoke", "7", "--out", "d"])) == 5
    for argv in (["--only", "z"], ["--smoke", "0"], ["--only", "../x"]):
        with pytest.raises(SystemExit):
            ck.parse_args(argv, names=["x", "y"])


@pytest.mark.parametrize("call, err, match", [
    (lambda: ck.TrainingRun("Bad Name", "a", seed=0, args={}, code_files=["utils/checkpoints.py"]), ValueError, "chapter slug"),
    (lambda: ck.TrainingRun("toy", "a.pt", seed=0, args={}, code_files=["utils/checkpoints.py"]), ValueError, "no extension"),
    (lambda: ck.TrainingRun("toy", "a", seed=-1, args={}, code_files=["utils/checkpoints.py"]), ValueError, "seed"),
    (lambda: ck.TrainingRun("toy", "a", seed=True, args={}, code_files=["utils/checkpoints.py"]), TypeError, "seed"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args=[1], code_files=["utils/checkpoints.py"]), TypeError, "args must be a dict"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args={"f": object()}, code_files=["utils/checkpoints.py"]), ValueError, "JSON"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args={"f": float("nan")}, code_files=["utils/checkpoints.py"]), ValueError, "JSON"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args={}, code_files="utils/checkpoints.py"), TypeError, "list of repository-relative"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args={}, code_files=[]), ValueError, "at least one"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args={}, code_files=["/etc/passwd"]), ValueError, "relative"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args={}, code_files=["../x.py"]), ValueError, "relative"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args={}, code_files=["nope.py"]), FileNotFoundError, "not a file"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args={}, code_files=["utils/checkpoints.py"] * 2), ValueError, "twice"),
    (lambda: ck.TrainingRun("toy", "a", seed=0, args={}, code_files=["utils/checkpoints.py"], out_dir=3), TypeError, "path"),
    (lambda: ck.load("toy", "a", "model"), TypeError, "torch.nn.Module"),
    (lambda: ck.load("toy", "a", Tiny(), device=0), TypeError, "device"),
    (lambda: ck.load("toy", "", Tiny()), ValueError, "checkpoint name"),
    (lambda: ck.manifest("toy/../x"), ValueError, "chapter slug"),
    (lambda: ck.manifest("no_such_chapter"), FileNotFoundError, r"python scripts/train/no_such_chapter\.py"),
    (lambda: ck.training_log("no_such_chapter", "a"), FileNotFoundError, r"python scripts/train/no_such_chapter\.py"),
    (lambda: ck.code_sha256("a.py"), TypeError, "list"),
    (lambda: ck.code_sha256([1]), TypeError, "str or pathlib.Path"),
    (lambda: ck.file_sha256("/no/such/file"), FileNotFoundError, "no file"),
    (lambda: ck.file_sha256(None), TypeError, "path"),
    (lambda: ck.retrain("no_such_chapter"), FileNotFoundError, "no training script"),
    (lambda: ck.retrain("toy", only=[]), TypeError, "only"),
    (lambda: ck.smoke_compare("no_such_chapter"), FileNotFoundError, "no training script"),
    (lambda: ck.parse_args(names="ab"), TypeError, "names"),
    (lambda: ck.parse_args("--smoke 3"), TypeError, "argv"),
    (lambda: ck.parse_args([], extra=3), TypeError, "extra"),
    (lambda: ck.steps_to_run(0, None), ValueError, "full_steps"),
    (lambda: ck.report(None, {"a": 1}), TypeError, "entries"),
    (lambda: ck.round_fp16_(3), TypeError, "torch.nn.Module"),
    (lambda: ck.heldout_tolerance("m", 1.0, {"m": -1}), ValueError, "HELDOUT_TOLERANCE"),
    (lambda: ck.compare_heldout({}, {"checkpoints": {}}), TypeError, "manifest dict"),
])
def test_public_functions_reject_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_log_and_finish_reject_bad_input(tmp_path):
    run = ck.TrainingRun("toy", "a", seed=0, args={}, code_files=["utils/checkpoints.py"], out_dir=tmp_path)
    with pytest.raises(ValueError, match="needs loss"):
        run.log(1, psnr=3.0)
    with pytest.raises(TypeError, match="step"):
        run.log(1.5, loss=1.0)
    with pytest.raises(ValueError, match="finite"):
        run.log(1, loss=float("inf"))
    with pytest.raises(TypeError, match="real number"):
        run.log(1, loss="1.0")
    with pytest.raises(ValueError, match="shape"):
        run.log(1, loss=torch.ones(2))
    run.log(2, loss=torch.tensor(0.5))
    with pytest.raises(ValueError, match="steps must increase"):
        run.log(2, loss=1.0)
    model = Tiny()
    with pytest.raises(TypeError, match="torch.nn.Module"):
        run.finish("m", steps=2, samples_seen=1, heldout={})
    with pytest.raises(ValueError, match="steps"):
        run.finish(model, steps=0, samples_seen=1, heldout={})
    with pytest.raises(ValueError, match="log goes to step 2"):
        run.finish(model, steps=1, samples_seen=1, heldout={})
    with pytest.raises(TypeError, match="heldout"):
        run.finish(model, steps=2, samples_seen=1, heldout=[1.0])
    with pytest.raises(ValueError, match="finite"):
        run.finish(model, steps=2, samples_seen=1, heldout={"psnr": float("nan")})
    with torch.no_grad():
        model.head.bias.fill_(1e6)
    with pytest.raises(ValueError, match="float16"):
        run.finish(model, steps=2, samples_seen=1, heldout={})
    assert not (tmp_path / "a.pt").exists()
    with torch.no_grad():
        model.head.bias.fill_(0.0)
    run.finish(model, steps=2, samples_seen=2, heldout={})
    with pytest.raises(RuntimeError, match="already finished"):
        run.finish(model, steps=2, samples_seen=2, heldout={})
    with pytest.raises(RuntimeError, match="already finished"):
        run.log(3, loss=1.0)


# ----------------------------------------------------------------------------------------------
# end to end: a synthetic training script in tmp_path, trained, loaded, smoke-replayed, checked

TOY_SCRIPT = '''
"""A synthetic training script following the conventions of scripts/train/ (tests only)."""
import math

import torch

from utils.checkpoints import TrainingRun, parse_args, report, round_fp16_, steps_to_run
from utils.repro import seed_everything

SMOKE_STEPS = 6
HELDOUT_TOLERANCE = {"mse": 1e-6}
CHECKPOINTS = {f"lin_s{s}": dict(seed=s, steps=40, lr=0.1) for s in (0, 1)}


def main(argv=None):
    args = parse_args(argv, names=list(CHECKPOINTS))
    if args.out is None:
        raise SystemExit("tests pass --out")
    entries = {}
    for name in args.names:
        cfg = CHECKPOINTS[name]
        torch.set_num_threads(1)
        seed_everything(cfg["seed"])
        gen = torch.Generator().manual_seed(cfg["seed"])
        run = TrainingRun("toy_e2e", name, seed=cfg["seed"], args=cfg, code_files=["utils/checkpoints.py"],
                          out_dir=args.out)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        w = torch.tensor([[1.0], [-2.0], [0.5], [0.0]])
        for step in range(1, steps_to_run(cfg["steps"], args) + 1):
            x = torch.randn(16, 4, generator=gen)
            loss = (model(x) - x @ w).pow(2).mean()
            model.zero_grad()
            loss.backward()
            lr = cfg["lr"] * 0.5 * (1 + math.cos(math.pi * (step - 1) / cfg["steps"]))  # schedule of the full run
            with torch.no_grad():  # plain SGD by hand: torch.optim's first import costs seconds
                for p in model.parameters():
                    p -= lr * p.grad
            if step == 1 or step % 3 == 0:
                run.log(step, loss=loss.item(), lr=lr)
        round_fp16_(model)
        heldout = {}
        if not args.smoke:
            xt = torch.randn(256, 4, generator=torch.Generator().manual_seed(99))
            with torch.no_grad():
                heldout = {"mse": (model(xt) - xt @ w).pow(2).mean().item()}
        entries[name] = run.finish(model, steps=step, samples_seen=16 * step, heldout=heldout)
    report(args, entries)


if __name__ == "__main__":
    main()
'''


def _toy_model():
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def test_end_to_end_with_a_synthetic_training_script(tmp_path, monkeypatch, capsys):
    script = tmp_path / "toy_e2e.py"
    script.write_text(textwrap.dedent(TOY_SCRIPT))
    spec = importlib.util.spec_from_file_location("toy_e2e", script)
    toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy)
    shipped = tmp_path / "shipped"
    threads = torch.get_num_threads()
    try:
        toy.main(["--out", str(shipped)])  # the full training, in this process (a subprocess costs seconds)
    finally:
        torch.set_num_threads(threads)
    assert "lin_s0: 40 steps" in capsys.readouterr().out
    man = ck.manifest("toy_e2e", shipped)
    assert sorted(man["checkpoints"]) == ["lin_s0", "lin_s1"]
    assert ck.check_files("toy_e2e", shipped) == [] and ck.check_fresh("toy_e2e", shipped) == []
    model, entry = ck.load("toy_e2e", "lin_s1", _toy_model(), weights_dir=shipped)
    assert entry["steps"] == 40 and entry["heldout"]["mse"] < 1.0 and not model.training
    assert entry["hardware"]["torch_threads"] == 1

    real_run, printed = ck._run_streaming, []

    def spy(cmd, **kw):
        printed[:] = real_run(cmd, **kw)
        return printed

    monkeypatch.setattr(ck, "_run_streaming", spy)
    replay = ck.smoke_compare("toy_e2e", weights_dir=shipped, script=script)  # SMOKE_STEPS = 6: steps 1, 3, 6
    assert {n: [r[0] for r in rows] for n, rows in replay.items()} == {"lin_s0": [1, 3, 6], "lin_s1": [1, 3, 6]}
    assert all(r[1] == r[2] for rows in replay.values() for r in rows)
    assert set(json.loads(printed[-1])) == {"lin_s0", "lin_s1"}  # the JSON line is the last one

    def replay_with(factor, name="lin_s0", step=3):  # the replay as if the code now gave another loss there
        out = json.loads(printed[-1])
        out[name] = [[s_, v * factor if s_ == step else v] for s_, v in out[name]]
        monkeypatch.setattr(ck, "_run_streaming", lambda cmd, **kw: printed[:-1] + [json.dumps(out) + "\n"])

    replay_with(1 + 3e-5)
    ck.smoke_compare("toy_e2e", weights_dir=shipped, script=script)  # within rtol 1e-4
    replay_with(1 + 1e-3)
    with pytest.raises(ValueError, match=r"(?s)^((?!lin_s1).)*lin_s0: losses differ beyond rtol.*python scripts/train/toy_e2e.py"):
        ck.smoke_compare("toy_e2e", weights_dir=shipped, script=script)
    monkeypatch.setattr(ck, "_run_streaming", lambda cmd, **kw: ["training...\n", json.dumps({"lin_s0": []}) + "\n"])
    with pytest.raises(ValueError, match="the script trains"):
        ck.smoke_compare("toy_e2e", weights_dir=shipped, script=script)
    monkeypatch.setattr(ck, "_run_streaming", lambda cmd, **kw: ["no json here\n"])
    with pytest.raises(ValueError, match="printed no JSON line"):
        ck.smoke_compare("toy_e2e", weights_dir=shipped, script=script)
    monkeypatch.setattr(ck, "_run_streaming", real_run)

    # check.py: a shipped manifest whose lin_s0 held-out number was altered; lin_s1's is untouched
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    man = json.loads((shipped / "manifest.json").read_text())
    man["checkpoints"]["lin_s0"]["heldout"]["mse"] += 0.01
    (tampered / "manifest.json").write_text(json.dumps(man))
    spec = importlib.util.spec_from_file_location("train_check", ROOT / "scripts" / "train" / "check.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    capsys.readouterr()
    assert check.main(["toy_e2e"], script=script, weights_dir=tampered) == 1  # retrains both, in a subprocess
    out = capsys.readouterr().out
    assert re.search(r"lin_s1\s+mse\s+\S+\s+\S+\s+0\s+1e-06\s+yes", out), out  # HELDOUT_TOLERANCE of the script
    assert re.search(r"lin_s0\s+mse\s+\S+\s+\S+\s+-0\.01\s+1e-06\s+NO", out), out
    assert "bit-identical weights: 2 of 2" in out and "MISMATCH" in out
    rows, ok = ck.compare_heldout(ck.manifest("toy_e2e", shipped), ck.manifest("toy_e2e", shipped))
    assert ok and "NO" not in check.table(rows, man, man)


# ----------------------------------------------------------------------------------------------
# deterministic mode: strict on the CPU, warn-only with exactly one warning filtered on CUDA


def _nondeterministic_cpu_op():
    torch.zeros(4).put_(torch.tensor([1, 2]), torch.tensor([1.0, 2.0]), accumulate=False)


def test_cpu_deterministic_mode_is_unchanged_and_strict(monkeypatch):
    monkeypatch.delenv("PAPER_DAILY_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
        _nondeterministic_cpu_op()


def test_cuda_deterministic_mode_warns_only_and_filters_exactly_that_warning(monkeypatch):
    monkeypatch.delenv("PAPER_DAILY_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            seed_everything(0)
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.is_deterministic_algorithms_warn_only_enabled()
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"]
            warnings.warn("reflection_pad2d_backward_cuda does not have a deterministic implementation, but you set "
                          "'torch.use_deterministic_algorithms(True, warn_only=True)'. You can file an issue ...",
                          UserWarning)  # filtered: no error
            _nondeterministic_cpu_op()  # torch's own warning (warn_only on) matches the filter too
            with pytest.raises(UserWarning, match="something else"):
                warnings.warn("something else", UserWarning)
            seed_everything(0)
            n = sum(1 for f in warnings.filters if f[1] is not None and f[1].pattern == NONDETERMINISTIC_CUDA_WARNING)
            assert n == 1  # seeding again does not pile up filters
        monkeypatch.setenv("PAPER_DAILY_DEVICE", "cpu")  # CUDA visible but the CPU pinned: strict as before
        seed_everything(0)
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        seed_everything(0)
    assert not torch.is_deterministic_algorithms_warn_only_enabled()


def test_packing_keeps_every_value_and_stores_shared_weights_once():
    shared = torch.nn.Conv2d(3, 4, 3)
    model = torch.nn.Sequential(shared, torch.nn.ReLU(), shared, torch.nn.Conv2d(4, 2, 1))
    state = ck._fp16_state(model)
    assert len(state) == 6  # the shared convolution appears under two names in the state dict...
    packed = ck._pack(state)
    assert packed[ck.PACKED_KEY].numel() == sum(p.numel() for p in model.parameters())  # ...and is stored once
    back = ck._unpack(packed)
    assert set(back) == set(state)
    for k in state:
        assert torch.equal(back[k], state[k]) and back[k].dtype == state[k].dtype
    bad = dict(packed, **{ck.PACKED_KEY: packed[ck.PACKED_KEY][:-1]})
    with pytest.raises(ValueError, match="layout covers"):
        ck._unpack(bad)
