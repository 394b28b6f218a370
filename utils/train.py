"""A small, honest training loop: a step budget (and optional time budget), loss history, device choice."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .checks import check_positive

__all__ = ["TrainResult", "train", "batches", "count_parameters"]


@dataclass
class TrainResult:
    """What a call to :func:`train` did: losses per step, steps done, seconds spent, and why it stopped."""

    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    stopped_by: str = "steps"

    @property
    def final_loss(self) -> float:
        """Mean of the last 10% of the recorded losses (less noisy than the last one)."""
        if not self.losses:
            raise ValueError("TrainResult.final_loss: no step was run")
        k = max(1, len(self.losses) // 10)
        return float(sum(self.losses[-k:]) / k)


def count_parameters(model) -> int:
    """Number of trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def batches(tensors, batch_size: int, *, seed: int = 0, device=None) -> Iterable:
    """Endless seeded minibatches from tensors that share their first dimension.

    Each epoch is a fresh permutation drawn from a ``torch.Generator`` seeded with ``seed``;
    yields tuples of tensors moved to ``device``.
    """
    import torch

    tensors = tuple(tensors)
    if not tensors:
        raise ValueError("batches: expected at least one tensor")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"batches: tensors must share their first dimension, got {[tuple(t.shape) for t in tensors]}")
    check_positive(batch_size, "batch_size", integer=True)
    if batch_size > n:
        raise ValueError(f"batches: batch_size {batch_size} is larger than the data ({n} samples)")
    g = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(n, generator=g)
        for i in range(0, n - batch_size + 1, batch_size):
            idx = perm[i : i + batch_size]
            yield tuple(t[idx].to(device) if device is not None else t[idx] for t in tensors)


def train(
    step_fn: Callable[[int], float],
    steps: int,
    *,
    max_seconds: float | None = None,
    log_every: int = 0,
    name: str = "",
) -> TrainResult:
    """Call ``step_fn(step)`` for ``steps`` steps (or until ``max_seconds`` pass) and record its losses.

    ``step_fn`` does one optimisation step and returns the loss as a float. A time budget makes
    results depend on the machine's speed, so chapters whose numbers are registered use a step
    budget only; ``max_seconds`` is a safety net. Non-finite losses stop training with an error.
    """
    import math

    check_positive(steps, "steps", integer=True)
    if max_seconds is not None:
        check_positive(max_seconds, "max_seconds")
    res = TrainResult()
    start = time.perf_counter()
    for step in range(steps):
        loss = float(step_fn(step))
        if not math.isfinite(loss):
            raise FloatingPointError(f"train{(' ' + name) if name else ''}: loss became {loss} at step {step}")
        res.losses.append(loss)
        res.steps = step + 1
        if log_every and (step + 1) % log_every == 0:
            print(f"{name} step {step + 1}/{steps}: loss {loss:.4f}")
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            res.stopped_by = "time"
            break
    res.seconds = time.perf_counter() - start
    return res
