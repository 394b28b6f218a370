"""Repeatable numbers: seeding, deterministic algorithms, device choice and a timer."""
from __future__ import annotations

import os
import random
import time
import warnings

import numpy as np

__all__ = ["seed_everything", "get_device", "Timer", "weights_sha256", "seed_shift", "SEED_ENV",
           "NONDETERMINISTIC_CUDA_WARNING"]

#: environment variable that shifts every seed a chapter uses (default 0)
SEED_ENV = "PAPER_DAILY_SEED"

#: regular expression of the one warning that deterministic mode on CUDA silences (see seed_everything)
NONDETERMINISTIC_CUDA_WARNING = (
    r".* does not have a deterministic implementation, but you set "
    r"'torch\.use_deterministic_algorithms\(True, warn_only=True\)'"
)


def _cuda_in_use() -> bool:
    """True when torch sees a CUDA device and ``PAPER_DAILY_DEVICE`` does not pin the CPU."""
    import torch

    return torch.cuda.is_available() and os.environ.get("PAPER_DAILY_DEVICE") != "cpu"


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> int:
    """Seed Python, NumPy and torch, and ask torch for deterministic algorithms.

    Call it at the top of every chapter (``utils.setup_chapter`` does) and again before each
    training run whose result is registered, so that a run does not depend on what ran before.
    Returns ``seed``.

    On the CPU, ``torch.use_deterministic_algorithms(True)`` is strict: an op without a deterministic
    implementation raises. On CUDA (a device is visible and ``PAPER_DAILY_DEVICE`` is not ``cpu``)
    several backward passes the book uses have no deterministic kernel (reflection padding,
    bilinear/bicubic ``interpolate``, adaptive average pooling, ``grid_sample``), so there the mode is
    ``warn_only=True``: every op that has a deterministic kernel uses it (cuDNN convolutions, cuBLAS
    with ``CUBLAS_WORKSPACE_CONFIG``), the few that have none run nondeterministically (their atomic
    additions may sum in a different order, so CUDA runs can differ in the last bits), and exactly
    their warning (:data:`NONDETERMINISTIC_CUDA_WARNING`, a ``UserWarning``) is filtered so that the
    strict build does not fail on it. The CPU is the reference for shipped numbers.
    """
    import torch

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed_everything: seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this for deterministic matrix products on CUDA; harmless on the CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        if _cuda_in_use():
            torch.use_deterministic_algorithms(True, warn_only=True)
            warnings.filterwarnings("ignore", message=NONDETERMINISTIC_CUDA_WARNING, category=UserWarning)
        else:
            torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
    return seed


def get_device(prefer: str | None = None):
    """Return ``torch.device``: CUDA when available (or ``prefer`` if given), else the CPU.

    The environment variable ``PAPER_DAILY_DEVICE`` (``cpu`` or ``cuda``) overrides the choice;
    the book build sets nothing, so a machine with a GPU uses it.
    """
    import torch

    choice = prefer or os.environ.get("PAPER_DAILY_DEVICE")
    if choice is not None:
        if choice not in ("cpu", "cuda"):
            raise ValueError(f"get_device: expected 'cpu' or 'cuda', got {choice!r}")
        if choice == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("get_device: 'cuda' was asked for but torch sees no CUDA device")
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_shift() -> int:
    """The shift ``PAPER_DAILY_SEED`` adds to every seed of a chapter (0 when unset).

    ``utils.setup_chapter`` and :meth:`utils.claims.Claims.seeds` apply it, so that
    ``PAPER_DAILY_SEED=3`` re-runs the whole book with other initialisations, data orders and test sets.
    """
    raw = os.environ.get(SEED_ENV, "0").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{SEED_ENV} must be a non-negative integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{SEED_ENV} must be a non-negative integer, got {raw!r}")
    return value


def weights_sha256(module) -> str:
    """sha256 of a network's weights (its ``state_dict``: names, shapes, dtypes and values, in order).

    Used to prove that the network judging a finding is not one that any arm trained against
    (:meth:`utils.claims.Claims.finding`). The hash does not depend on the device.
    """
    import hashlib

    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"weights_sha256: expected a torch.nn.Module, got {type(module).__name__}")
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class Timer:
    """Wall-clock timer usable as a context manager: ``with Timer() as t: ...; t.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start: float | None = None

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start

    def __repr__(self) -> str:
        return f"Timer({self.seconds:.3f} s)"
