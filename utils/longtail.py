"""Long-tailed data and the samplers and schedules of BBN (Zhou et al., CVPR 2020). Taught in chapters/bbn.md."""
from __future__ import annotations

import math

import numpy as np
import torch

from .checks import check_choice, check_positive

__all__ = ["long_tail_counts", "long_tailed_split", "class_weights", "ClassSampler", "cumulative_alpha", "SCHEDULES"]


def long_tail_counts(n_max: int, imbalance_ratio: float, n_classes: int) -> list[int]:
    """Exponential profile of the long-tailed benchmarks: n_i = int(n_max * IR^(-i/(C-1))), i = 0..C-1.

    As in BBN's ``imbalance_cifar.py``; e.g. (5000, 50, 10) gives 5000, 3237, 2096, ..., 100.
    """
    check_positive(n_max, "n_max", integer=True)
    check_positive(imbalance_ratio, "imbalance_ratio")
    check_positive(n_classes, "n_classes", integer=True)
    if imbalance_ratio < 1:
        raise ValueError(f"long_tail_counts: imbalance_ratio must be >= 1, got {imbalance_ratio}")
    if n_classes < 2:
        raise ValueError(f"long_tail_counts: need at least 2 classes, got {n_classes}")
    return [max(1, int(n_max * imbalance_ratio ** (-i / (n_classes - 1)))) for i in range(n_classes)]


def long_tailed_split(labels: np.ndarray, counts, n_test_per_class: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a long-tailed training set (``counts[c]`` samples of class c) and a balanced test set.

    Test samples are drawn first (``n_test_per_class`` per class), so training and test never share a sample.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(counts) != len(classes):
        raise ValueError(f"long_tailed_split: {len(counts)} counts for {len(classes)} classes")
    check_positive(n_test_per_class, "n_test_per_class", integer=True)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c, n in zip(classes, counts):
        idx = rng.permutation(np.flatnonzero(labels == c))
        if len(idx) < n + n_test_per_class:
            raise ValueError(f"long_tailed_split: class {c} has {len(idx)} samples, needs {n} + {n_test_per_class}")
        test.append(idx[:n_test_per_class])
        train.append(idx[n_test_per_class : n_test_per_class + n])
    return np.concatenate(train), np.concatenate(test)


def class_weights(counts) -> torch.Tensor:
    """Re-weighting (RW): w_c proportional to 1/N_c, normalised so that the weights sum to the number of classes."""
    n = torch.as_tensor(counts, dtype=torch.float32)
    if n.ndim != 1 or (n <= 0).any():
        raise ValueError(f"class_weights: expected positive class counts, got {counts}")
    w = 1.0 / n
    return w * len(n) / w.sum()


class ClassSampler:
    """Draws minibatches by first picking a class, then a uniform sample of that class.

    ``mode="instance"``: ordinary uniform sampling over samples (P_c proportional to N_c).
    ``mode="balanced"``: re-sampling (RS), every class equally likely (P_c = 1/C).
    ``mode="reversed"``: BBN's reversed sampler, P_c proportional to N_max / N_c.
    """

    def __init__(self, labels, mode: str = "instance", *, seed: int = 0):
        check_choice(mode, "mode", ("instance", "balanced", "reversed"))
        self.labels = np.asarray(labels)
        self.classes, counts = np.unique(self.labels, return_counts=True)
        self.by_class = [np.flatnonzero(self.labels == c) for c in self.classes]
        if mode == "instance":
            p = counts / counts.sum()
        elif mode == "balanced":
            p = np.full(len(counts), 1 / len(counts))
        else:
            w = counts.max() / counts
            p = w / w.sum()
        self.class_prob = p
        self.mode = mode
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size: int) -> np.ndarray:
        """Indices (into ``labels``) of one minibatch."""
        check_positive(batch_size, "batch_size", integer=True)
        if self.mode == "instance":
            return self.rng.integers(0, len(self.labels), batch_size)
        cls = self.rng.choice(len(self.classes), size=batch_size, p=self.class_prob)
        return np.array([self.by_class[c][self.rng.integers(len(self.by_class[c]))] for c in cls])


SCHEDULES = ("parabolic decay", "linear decay", "cosine decay", "fixed 0.5", "parabolic increase")


def cumulative_alpha(progress: float, schedule: str = "parabolic decay") -> float:
    """BBN's cumulative-learning weight alpha as a function of training progress T/T_max in [0, 1].

    The default is the paper's eq. (4): alpha = 1 - (T/T_max)^2 (parabolic decay). The others are the
    alternatives in the official code: 1 - T/T_max, cos(pi/2 * T/T_max), 0.5, and (T/T_max)^2.
    """
    check_choice(schedule, "schedule", SCHEDULES)
    if isinstance(progress, bool) or not isinstance(progress, (int, float)) or not 0 <= progress <= 1:
        raise ValueError(f"cumulative_alpha: progress must be a number in [0, 1], got {progress!r}")
    t = float(progress)
    return {
        "parabolic decay": 1 - t**2,
        "linear decay": 1 - t,
        "cosine decay": math.cos(math.pi / 2 * t),
        "fixed 0.5": 0.5,
        "parabolic increase": t**2,
    }[schedule]
