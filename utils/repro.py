"""Repeatable numbers: seeding, deterministic algorithms, device choice and a timer."""
from __future__ import annotations

import os
import random
import time

import numpy as np

__all__ = ["seed_everything", "get_device", "Timer"]


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> int:
    """Seed Python, NumPy and torch, and ask torch for deterministic algorithms.

    Call it at the top of every chapter (``utils.setup_chapter`` does) and again before each
    training run whose result is registered, so that a run does not depend on what ran before.
    Returns ``seed``.
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
