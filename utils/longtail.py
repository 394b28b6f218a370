"""Long-tailed data and the samplers and schedules of BBN (Zhou et al., CVPR 2020). Taught in chapters/bbn.md."""
from __future__ import annotations

import math

import numpy as np
import torch

from .checks import check_choice, check_positive

__all__ = ["long_tail_counts", "long_tailed_split", "class_weights", "ClassSampler", "cumulative_alpha", "SCHEDULES",
           "shifted_digit_sets", "digit_trunk", "digit_block", "DigitNet", "BilateralBranchNet", "train_end_to_end", "train_bbn",
           "METHOD_SAMPLER"]


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


# ------------------------------------------------------------------ the miniature of chapters/bbn.md
def shifted_digit_sets(counts, *, n_test: int = 60, n_probe: int = 20, canvas: int = 9, noise: float = 0.1, seed: int = 0) -> dict:
    """Long-tailed, shifted, noisy digits from scikit-learn's 8x8 set (chapters/bbn.md).

    Each image is a digit at a random offset in a ``canvas`` x ``canvas`` frame, at a random contrast in
    [0.6, 1], plus Gaussian noise of standard deviation ``noise``. Per class, ``n_test`` digits go to the
    balanced test set, ``n_probe`` others to a balanced probe set, and the training set draws ``counts[c]``
    images from the remaining digits (cycling through them, with fresh offsets and noise, when a class needs
    more images than it has digits). Returns ``{"train": (X, y), "test": (X, y), "probe": (X, y)}`` with
    float32 tensors (n, 1, canvas, canvas) and int64 labels.
    """
    from .data import load_digits

    counts = [int(c) for c in counts]
    if len(counts) != 10 or min(counts) < 1:
        raise ValueError(f"shifted_digit_sets: expected 10 positive class counts, got {counts}")
    check_positive(n_test, "n_test", integer=True)
    check_positive(n_probe, "n_probe", integer=True)
    check_positive(noise, "noise", allow_zero=True)
    if not isinstance(canvas, int) or canvas < 8:
        raise ValueError(f"shifted_digit_sets: canvas must be an integer >= 8, got {canvas!r}")
    digits, labels = load_digits()
    rng = np.random.default_rng(seed)

    def place(base):
        out = np.zeros((len(base), canvas, canvas))
        dy, dx = rng.integers(0, canvas - 7, len(base)), rng.integers(0, canvas - 7, len(base))
        for i, img in enumerate(base):
            out[i, dy[i] : dy[i] + 8, dx[i] : dx[i] + 8] = img * rng.uniform(0.6, 1.0)
        return out + noise * rng.standard_normal(out.shape)

    parts = {"train": ([], []), "test": ([], []), "probe": ([], [])}
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        pool = idx[n_test + n_probe :]
        if len(pool) < 1:
            raise ValueError(f"shifted_digit_sets: class {c} has no digits left for training")
        for name, chosen in [("test", idx[:n_test]), ("probe", idx[n_test : n_test + n_probe]), ("train", np.resize(pool, counts[c]))]:
            parts[name][0].append(place(digits[chosen]))
            parts[name][1].extend([c] * len(chosen))
    return {k: (torch.tensor(np.concatenate(x)[:, None], dtype=torch.float32), torch.tensor(y)) for k, (x, y) in parts.items()}


def digit_trunk(canvas: int = 9) -> torch.nn.Module:
    """The shared representation: two stride-2 3x3 convolutions (8, 16 channels), each with batch
    normalisation and ReLU (as in the paper's ResNets), flattened."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Flatten())


def digit_block(features: int = 64, canvas: int = 9) -> torch.nn.Module:
    """The last block of the representation: fully connected to ``features`` units, batch normalisation, ReLU.

    Without the normalisation, BBN's branches lost most of their units to dead ReLUs and three of its runs
    collapsed late in training (test error 40-55 % on one seed, chapters/bbn.md)."""
    from torch import nn

    side = (canvas + 3) // 4
    return nn.Sequential(nn.Linear(16 * side * side, features), nn.BatchNorm1d(features), nn.ReLU())


class DigitNet(torch.nn.Module):
    """Representation (trunk + last block) and a linear classifier, trained end to end with CE, RW or RS."""

    def __init__(self, features: int = 64, n_classes: int = 10, canvas: int = 9):
        super().__init__()
        self.representation = torch.nn.Sequential(digit_trunk(canvas), digit_block(features, canvas))
        self.classifier = torch.nn.Linear(features, n_classes)

    def forward(self, x):
        return self.classifier(self.representation(x))


class BilateralBranchNet(torch.nn.Module):
    """BBN: a shared trunk, a conventional and a re-balancing last block, one classifier on
    ``2 [alpha f_c ; (1 - alpha) f_r]`` (eq. (3) of the paper). At test time alpha = 0.5 and both branches
    see the same image."""

    def __init__(self, features: int = 64, n_classes: int = 10, canvas: int = 9):
        super().__init__()
        self.shared = digit_trunk(canvas)
        self.conventional = digit_block(features, canvas)
        self.rebalancing = digit_block(features, canvas)
        self.classifier = torch.nn.Linear(2 * features, n_classes)
        self.features = features

    def branch_features(self, x_conv, x_rebal=None):
        x_rebal = x_conv if x_rebal is None else x_rebal
        return self.conventional(self.shared(x_conv)), self.rebalancing(self.shared(x_rebal))

    def forward(self, x_conv, x_rebal=None, alpha: float = 0.5):
        f_c, f_r = self.branch_features(x_conv, x_rebal)
        return self.classifier(2 * torch.cat([alpha * f_c, (1 - alpha) * f_r], dim=1))


METHOD_SAMPLER = {"CE": "instance", "RW": "instance", "RS": "balanced"}


def train_end_to_end(method: str, X, y, counts, *, seed: int, steps: int, batch: int = 64, lr: float = 3e-3, log=None,
                     stop: int | None = None) -> DigitNet:
    """Train a :class:`DigitNet` with CE (natural sampler), RW (class weights 1/N_c) or RS (balanced sampler).

    Adam (weight decay 5e-4, learning rate decayed to 0 along a cosine), ``steps`` steps of ``batch`` samples. ``log(step, loss)`` is called at step 1
    and every 25 steps. ``stop`` ends training early (smoke tests), with the schedules of the full ``steps``.
    """
    import torch.nn.functional as F

    from .repro import seed_everything

    check_choice(method, "method", tuple(METHOD_SAMPLER))
    check_positive(steps, "steps", integer=True)
    seed_everything(seed)
    net = DigitNet(canvas=X.shape[-1])
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / steps)))  # cosine decay to 0
    weights = class_weights(counts) if method == "RW" else None
    sampler = ClassSampler(y.numpy(), METHOD_SAMPLER[method], seed=seed)
    for step in range(1, (stop or steps) + 1):
        i = sampler.sample(batch)
        loss = F.cross_entropy(net(X[i]), y[i], weight=weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log is not None and (step == 1 or step % 25 == 0 or step == steps):
            log(step, loss.item())
    return net


def train_bbn(schedule: str, X, y, *, seed: int, steps: int, batch: int = 64, lr: float = 3e-3, sampler: str = "reversed", log=None,
              stop: int | None = None) -> BilateralBranchNet:
    """Train BBN with cumulative learning: alpha(T) from :func:`cumulative_alpha`, loss
    ``alpha CE(z, y_c) + (1 - alpha) CE(z, y_r)``; each branch gets ``batch // 2`` samples per step, so that
    BBN sees as many samples as a baseline with ``batch`` (the paper gives each branch a full batch).
    ``sampler``: the re-balancing branch's sampler, ``"reversed"`` (the paper's) or ``"balanced"``.
    """
    import torch.nn.functional as F

    from .repro import seed_everything

    check_choice(schedule, "schedule", SCHEDULES)
    check_choice(sampler, "sampler", ("reversed", "balanced"))
    check_positive(steps, "steps", integer=True)
    if batch < 2:
        raise ValueError(f"train_bbn: batch must be at least 2 (split between the branches), got {batch}")
    seed_everything(seed)
    net = BilateralBranchNet(canvas=X.shape[-1])
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / steps)))  # cosine decay to 0
    natural, rebal = ClassSampler(y.numpy(), "instance", seed=seed), ClassSampler(y.numpy(), sampler, seed=seed + 1)
    for step in range(1, (stop or steps) + 1):
        alpha = cumulative_alpha((step - 1) / max(steps - 1, 1), schedule)
        i_c, i_r = natural.sample(batch // 2), rebal.sample(batch // 2)
        z = net(X[i_c], X[i_r], alpha)
        loss = alpha * F.cross_entropy(z, y[i_c]) + (1 - alpha) * F.cross_entropy(z, y[i_r])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log is not None and (step == 1 or step % 25 == 0 or step == steps):
            log(step, loss.item())
    return net
