"""LPIPS (Zhang et al., CVPR 2018) on the book's feature network, and a miniature 2AFC data set.

Taught in the LPIPS chapter (``chapters/lpips.md``). The distance is eq. (1) of the paper:

    d(x, x0) = sum_l 1/(H_l W_l) sum_{h,w} || w_l * ( f^l_hw(x) / ||f^l_hw(x)|| - f^l_hw(x0) / ||f^l_hw(x0)|| ) ||^2

Each tap's activations are unit-normalised along the channels at every position (norm + 1e-10,
as the official code does), the two images' normalised features are subtracted and squared, each
channel is multiplied by a non-negative weight (a 1x1 convolution without bias, its weights
clamped at zero), the result is averaged over space and summed over the taps. ``weights="uniform"``
sets every weight to 1 (the paper's variant without a learned layer); ``weights="learned"`` loads
the weights shipped in ``lpips_weights.pt``, trained by ``scripts/train_lpips.py`` on the training
split of :func:`make_2afc` with :func:`fit_weights` (the paper's "lin" variant: the network is
frozen, only the per-channel weights are learned, through a small ranking network ``G``).

Departures from the paper, stated: the backbone is the book's small ``FeatureNet``
(``utils.features``, taps ``relu1_2 ... relu4_2``, 240 channels), not AlexNet/VGG/SqueezeNet, and
images are RGB in [0, 1] (the official code takes [-1, 1]). The 2AFC judgements are not human: they
follow a stated perceptual principle (see :func:`make_2afc`).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checks import check_choice, check_positive, check_tensor

__all__ = [
    "lpips",
    "layer_distances",
    "unit_normalize",
    "load_weights",
    "make_2afc",
    "two_afc_score",
    "triplet_distances",
    "COMBOS",
    "fit_weights",
    "TAPS",
    "EPS",
    "WEIGHTS_PATH",
    "TRAIN_NAMES",
    "TEST_NAMES",
    "SMALL_CHANGES",
    "VISIBLE_DEGRADATIONS",
    "luma_uint8",
    "vmaf_of_triplets",
    "vmaf_preferences",
    "average_precision",
]

#: the taps of ``utils.features.FeatureNet`` used by LPIPS (16, 32, 64, 128 channels)
TAPS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2")
#: added to the channel norm before dividing, as in the official code
EPS = 1e-10
WEIGHTS_PATH = Path(__file__).resolve().parent / "lpips_weights.pt"
#: source photos of the 2AFC test split; the training split uses the other packaged images
TEST_NAMES = ("chelsea", "rocket", "china", "camera", "grass", "clock")
TRAIN_NAMES = ("astronaut", "coffee", "hubble", "ihc", "flower", "grace_hopper", "moon", "brick", "gravel", "coins", "text")
#: perceptually small changes: global shifts of position, angle, brightness and contrast
SMALL_CHANGES = ("shift", "rotate", "brightness", "contrast")
#: visible degradations: blur, noise, JPEG blocking
VISIBLE_DEGRADATIONS = ("blur", "noise", "jpeg")


def _as_batch(x, name: str) -> torch.Tensor:
    """(N, 3, H, W) float tensor in [0, 1] from a tensor or an (H, W, 3) / (N, H, W, 3) numpy array."""
    if isinstance(x, np.ndarray):
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"{name}: expected a numpy image (H, W, 3) or batch (N, H, W, 3), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name}: expected floats in [0, 1], got dtype {x.dtype}; divide by 255")
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).float()
    check_tensor(x, name, ndim=4, channels=3, min_size=16)
    with torch.no_grad():
        lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if lo < -1e-6 or hi > 1 + 1e-6:
        hint = " (the official LPIPS takes [-1, 1]; this one takes [0, 1]: use (x + 1) / 2)" if lo < 0 else ""
        raise ValueError(f"{name}: expected values in [0, 1], got min {lo:.4g} and max {hi:.4g}{hint}")
    return x


def unit_normalize(f: torch.Tensor) -> torch.Tensor:
    """Divide a feature map (N, C, H, W) by its L2 norm over the channels at every position (+ ``EPS``).

    The normalisation step of LPIPS eq. (1) (chapter ``lpips``).
    """
    check_tensor(f, "f", ndim=4)
    return f / (torch.sqrt((f * f).sum(dim=1, keepdim=True)) + EPS)


def _net(net, device=None):
    from ..features import load_feature_net

    if isinstance(net, str):
        check_choice(net, "net", ("book", "random"))
        return load_feature_net(net) if device is None else load_feature_net(net, device)
    if not isinstance(net, nn.Module):
        raise TypeError(f"net: expected 'book', 'random' or a feature network module, got {type(net).__name__}")
    return net


def layer_distances(x, y, *, net="book", taps=TAPS) -> torch.Tensor:
    """Per-channel terms of LPIPS eq. (1) before weighting: (N, sum of channels) for images ``x``, ``y``.

    Column ``c`` of the result is the spatial mean of the squared difference of the unit-normalised
    activations of channel ``c`` (channels of all ``taps`` concatenated in order). LPIPS with weights
    ``w`` is ``layer_distances(x, y) @ w``. ``x``, ``y``: (N, 3, H, W) tensors or (H, W, 3) numpy
    images in [0, 1], H, W >= 16; gradients flow to them (the network is frozen). Chapter ``lpips``.
    """
    x, y = _as_batch(x, "x"), _as_batch(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    model = _net(net)
    if isinstance(taps, str):
        taps = (taps,)
    fx, fy = model(x, taps), model(y, taps)
    return torch.cat([((unit_normalize(fx[t]) - unit_normalize(fy[t])) ** 2).mean(dim=(2, 3)) for t in taps], dim=1)


def load_weights(kind="learned", *, net="book") -> torch.Tensor:
    """The per-channel LPIPS weights (240,) for ``TAPS``: ``"uniform"`` (all ones) or ``"learned"`` (shipped).

    The shipped file holds a dict ``{tap: tensor (C,)}`` written by ``scripts/train_lpips.py`` and is
    read with ``torch.load(weights_only=True)``. Learned weights exist only for the ``"book"`` net.
    """
    check_choice(kind, "weights", ("learned", "uniform"))
    model = _net(net)
    n = sum(model.channels(t) for t in TAPS) if hasattr(model, "channels") else None
    if kind == "uniform":
        if n is None:
            raise ValueError("weights='uniform' needs a net with a channels(tap) method; pass a weight tensor instead")
        return torch.ones(n)
    if net != "book":
        raise ValueError("weights='learned': the shipped weights were trained for net='book'; pass a weight tensor for other nets")
    if not WEIGHTS_PATH.is_file():
        raise RuntimeError(f"load_weights: {WEIGHTS_PATH} is missing; recreate it with `python scripts/train_lpips.py`")
    return _learned_weights(WEIGHTS_PATH.stat().st_mtime_ns).clone()


@functools.lru_cache(maxsize=2)
def _learned_weights(_mtime: int) -> torch.Tensor:
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    return torch.cat([state[t].float().flatten() for t in TAPS])


def lpips(x, y, weights="learned", *, net="book") -> torch.Tensor | float:
    """LPIPS distance, eq. (1) of Zhang et al. (2018), on the book's feature network (chapter ``lpips``).

    ``x``, ``y``: (N, 3, H, W) tensors in [0, 1] (returns a tensor (N,), differentiable in ``x`` and
    ``y``) or (H, W, 3) numpy images in [0, 1] (returns a float). H, W >= 16. ``weights``:
    ``"learned"`` (the shipped lin weights), ``"uniform"`` (every channel weight 1) or a tensor of
    240 non-negative per-channel weights; negative entries are clamped to 0, as the paper's
    non-negative 1x1 convolution requires. ``net``: ``"book"``, ``"random"`` or a ``FeatureNet``.
    0 for identical images; larger means more different.
    """
    single = isinstance(x, np.ndarray) and x.ndim == 3
    d = layer_distances(x, y, net=net)
    if isinstance(weights, str):
        w = load_weights(weights, net=net)
    elif isinstance(weights, torch.Tensor):
        w = weights
    else:
        raise TypeError(f"weights: expected 'learned', 'uniform' or a tensor of {d.shape[1]} weights, got {type(weights).__name__}")
    if w.ndim != 1 or w.shape[0] != d.shape[1]:
        raise ValueError(f"weights: expected a 1-D tensor of {d.shape[1]} per-channel weights, got shape {tuple(w.shape)}")
    out = d @ w.to(d).clamp(min=0.0)
    return float(out[0]) if single else out


# --------------------------------------------------------------------------------------------
# 2AFC: a miniature of the paper's BAPPS two-alternative forced-choice set, without humans.


def _small_change(crop: np.ndarray, kind: str, rng) -> np.ndarray:
    from scipy.ndimage import rotate, shift

    if kind == "shift":
        r, a = rng.uniform(0.5, 1.0), rng.uniform(0, 2 * np.pi)
        out = np.stack([shift(crop[..., c], (r * np.sin(a), r * np.cos(a)), order=3, mode="reflect") for c in range(3)], -1)
        return np.clip(out, 0, 1)
    if kind == "rotate":
        ang = rng.uniform(1.0, 2.0) * rng.choice([-1, 1])
        return np.clip(rotate(crop, ang, axes=(1, 0), reshape=False, order=3, mode="reflect"), 0, 1)
    if kind == "brightness":
        return np.clip(crop + rng.uniform(0.03, 0.06) * rng.choice([-1, 1]), 0, 1)
    g = 1 + rng.uniform(0.10, 0.20) * rng.choice([-1, 1])  # contrast
    m = crop.mean(axis=(0, 1), keepdims=True)
    return np.clip(m + g * (crop - m), 0, 1)


def _edge_energy(img: np.ndarray) -> float:
    """Mean squared horizontal plus vertical pixel difference: how much a one-pixel move changes ``img``."""
    return float(np.mean(np.diff(img, axis=0) ** 2) + np.mean(np.diff(img, axis=1) ** 2))


def _mse(a, b) -> float:
    return float(np.mean((a - b) ** 2))


_BLUR_GRID = np.round(np.arange(0.6, 4.01, 0.2), 2)
_JPEG_GRID = np.arange(5, 91, 5)


def _visible(ref: np.ndarray, kind: str, limit: float, rng, seed: int):
    """The strongest level of ``kind`` whose MSE against ``ref`` is at most ``limit``; None if not visible."""
    from ..degrade import gaussian_blur, gaussian_noise, jpeg

    if kind == "noise":
        sigma = float(np.sqrt(limit))  # clipping only lowers the MSE
        return (gaussian_noise(ref, sigma, seed=seed), sigma) if sigma >= 0.025 else None
    if kind == "blur":
        make, grid, ok = (lambda s: gaussian_blur(ref, float(s))), _BLUR_GRID, (lambda s: s >= 1.0)
    else:  # jpeg: lower quality is stronger, so search the grid from strong to weak
        make, grid, ok = (lambda q: jpeg(ref, int(q))), _JPEG_GRID[::-1], (lambda q: q <= 40)
    # binary search for the last grid entry (strongest for blur, ordered weak->strong) within the limit
    lo, hi, best = 0, len(grid) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        out = make(grid[mid])
        if _mse(out, ref) <= limit:
            best, lo = (out, float(grid[mid])), mid + 1
        else:
            hi = mid - 1
    if best is None or not ok(best[1]):
        return None
    return best


#: the 12 (small change, visible degradation) pairs, used in turn so every pair is equally frequent
COMBOS = tuple((a, b) for a in SMALL_CHANGES for b in VISIBLE_DEGRADATIONS)


def _control_pair(ref: np.ndarray, kind: str, rng, seed: int):
    """A weak and a strong level of one visible degradation (control triplets)."""
    from ..degrade import gaussian_blur, gaussian_noise, jpeg

    if kind == "noise":
        s = rng.uniform(0.02, 0.04)
        return gaussian_noise(ref, s, seed=seed), gaussian_noise(ref, s * rng.uniform(2, 3), seed=seed + 1)
    if kind == "blur":
        return gaussian_blur(ref, rng.uniform(0.6, 1.0)), gaussian_blur(ref, rng.uniform(2.0, 3.0))
    return jpeg(ref, int(rng.integers(40, 61))), jpeg(ref, int(rng.integers(8, 16)))


def make_2afc(names, n_per_image: int, *, size: int = 64, seed: int = 0, control_fraction: float = 1 / 3) -> dict:
    """Build 2AFC triplets (reference, patch 0, patch 1) from packaged photos (chapter ``lpips``).

    Patches are ``size`` x ``size`` crops of the held-out right quarter of each image in ``names``
    (pixels the book's feature network never trained on). Two kinds of triplet:

    - *principle* triplets: one distortion is a perceptually small global change (``SMALL_CHANGES``:
      a 0.5-1 px sub-pixel shift, a 1-2 degree rotation, a brightness offset of 0.03-0.06, a contrast
      gain of 1 +- 0.10-0.20), the other a visible degradation (``VISIBLE_DEGRADATIONS``: Gaussian
      blur with sigma >= 1 px, Gaussian noise with sigma >= 0.025, JPEG quality <= 40) whose mean
      squared error is *at most* that of the small change (60-100% of it). The judgement follows the
      principle that a change of position, angle or exposure leaves a patch looking like itself,
      while blur, noise and blocking are seen as damage: the small change is judged closer.
      By construction L2 is wrong on every such triplet.
      The 12 (small change, degradation) pairs (``COMBOS``) are used in turn, so each is equally frequent.
    - *control* triplets (``control_fraction`` of them, families in turn): a weak and a strong level
      of one visible degradation (noise sigma 0.02-0.04 against 2-3 times that; blur sigma 0.6-1.0
      against 2-3; JPEG quality 40-60 against 8-15), the strong one with at least 1.5 times the MSE;
      the weaker is judged closer.

    Returns a dict: ``ref``, ``p0``, ``p1`` float32 tensors (N, 3, size, size) in [0, 1];
    ``judge`` float tensor (N,), the fraction of (virtual) observers who judge ``p1`` closer (0 or 1);
    ``kind`` list of N strings (``"shift|noise"``: small change | visible degradation, or
    ``"control:blur"``); ``source`` (N,) index into ``names``.
    """
    from ..data import load_image
    from ..features import holdout_start

    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not names:
        raise ValueError("make_2afc: expected at least one image name")
    check_positive(n_per_image, "n_per_image", integer=True)
    check_positive(size, "size", integer=True)
    if size < 16:
        raise ValueError(f"make_2afc: size must be at least 16 (the feature network's minimum), got {size}")
    if not (0 <= control_fraction <= 1):
        raise ValueError(f"make_2afc: control_fraction must be in [0, 1], got {control_fraction!r}")
    rng = np.random.default_rng(seed)
    pad = 8
    big = size + 2 * pad
    refs, p0s, p1s, judges, kinds, sources = [], [], [], [], [], []
    for idx, name in enumerate(names):
        img = load_image(name, gray=False)
        h, w = img.shape[:2]
        x_lo = holdout_start(w)
        if big > h or big > w - x_lo:
            raise ValueError(f"make_2afc: patch {big}x{big} (size + margin) does not fit the held-out part of {name!r}")
        n_control = int(round(n_per_image * control_fraction))
        plan = [("control", VISIBLE_DEGRADATIONS[(idx + k) % 3]) for k in range(n_control)]
        plan += [COMBOS[(idx * 5 + k) % len(COMBOS)] for k in range(n_per_image - n_control)]
        for item in plan:
            # a (change, degradation) pair that does not fit this image's patches after 40 draws is
            # replaced by the next pair of COMBOS (flat images cannot hide blur under a contrast change)
            if item[0] == "control":
                k = VISIBLE_DEGRADATIONS.index(item[1])
                tries = [("control", VISIBLE_DEGRADATIONS[(k + j) % 3]) for j in range(3)]
            else:
                tries = [COMBOS[(COMBOS.index(item) + j) % len(COMBOS)] for j in range(len(COMBOS))]
            for small, vis in (t for t in tries for _ in range(40)):
                y0, x0 = rng.integers(0, h - big + 1), rng.integers(x_lo, w - big + 1)
                crop = img[y0 : y0 + big, x0 : x0 + big]
                ref = crop[pad:-pad, pad:-pad]
                nseed = int(rng.integers(2**31))
                if small == "control":
                    weak, strong = _control_pair(ref, vis, rng, nseed)
                    if _mse(strong, ref) < 1.5 * _mse(weak, ref) or _mse(weak, ref) == 0:
                        continue
                    close, far, kind = weak, strong, f"control:{vis}"
                else:
                    if small in ("shift", "rotate") and _edge_energy(ref) < 0.01:
                        continue  # too flat: a sub-pixel move would change almost nothing
                    changed = _small_change(crop, small, rng)[pad:-pad, pad:-pad]
                    limit = _mse(changed, ref)
                    if limit < 6e-4:  # too flat for a visible degradation to fit under the small change's MSE
                        continue
                    out = _visible(ref, vis, limit * rng.uniform(0.6, 1.0), rng, nseed)
                    if out is None:
                        continue
                    close, far, kind = changed, out[0], f"{small}|{vis}"
                break
            else:
                raise RuntimeError(f"make_2afc: could not build a {item[0]}|{item[1]} triplet from {name!r}; the patches are too flat")
            flip = rng.random() < 0.5  # which slot holds the closer patch
            p0, p1 = (far, close) if flip else (close, far)
            refs.append(ref), p0s.append(p0), p1s.append(p1)
            judges.append(1.0 if flip else 0.0), kinds.append(kind), sources.append(idx)
    t = lambda a: torch.from_numpy(np.stack(a).transpose(0, 3, 1, 2).astype(np.float32)).contiguous()  # noqa: E731
    return {"ref": t(refs), "p0": t(p0s), "p1": t(p1s), "judge": torch.tensor(judges), "kind": kinds,
            "source": torch.tensor(sources)}


def triplet_distances(data: dict, *, net="book", batch: int = 64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(D0, D1)``: :func:`layer_distances` of (ref, p0) and (ref, p1) for a :func:`make_2afc` set.

    Runs the network once per patch (three times per triplet), in batches, without gradients.
    ``device`` (e.g. ``utils.repro.get_device()``): where the network runs; a named network is loaded
    there, a network module must already be there. The patches are moved batch by batch and the
    distances come back on the CPU. ``None`` (default): everything stays where it is.
    """
    if not isinstance(data, dict) or not {"ref", "p0", "p1"} <= set(data):
        raise ValueError("triplet_distances: expected the dict returned by make_2afc (keys ref, p0, p1)")
    if device is not None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"triplet_distances: device must be a str or torch.device, got {type(device).__name__}")
        device = torch.device(device)
    model = _net(net, device)
    check_positive(batch, "batch", integer=True)
    if device is not None:
        where = next(iter(model.parameters()), None)
        if where is not None and where.device.type != device.type:
            raise ValueError(f"triplet_distances: the network is on {where.device}, not on device={device}; move it first (net.to(device))")
    out0, out1 = [], []
    with torch.no_grad():
        for i in range(0, data["ref"].shape[0], batch):
            r, a, b = (_as_batch(data[k][i : i + batch], k) for k in ("ref", "p0", "p1"))
            x = torch.cat([r, a, b])
            f = model(x if device is None else x.to(device), TAPS)
            n = r.shape[0]
            u = {t: unit_normalize(f[t]) for t in TAPS}
            out0.append(torch.cat([((u[t][:n] - u[t][n : 2 * n]) ** 2).mean(dim=(2, 3)) for t in TAPS], dim=1))
            out1.append(torch.cat([((u[t][:n] - u[t][2 * n :]) ** 2).mean(dim=(2, 3)) for t in TAPS], dim=1))
    if device is not None:
        return torch.cat(out0).cpu(), torch.cat(out1).cpu()
    return torch.cat(out0), torch.cat(out1)


def two_afc_score(d0, d1, judge) -> torch.Tensor:
    """Per-triplet 2AFC agreement of a distance with the judgements (the paper's Sec. 3 score).

    ``(d0 < d1) (1 - p) + (d1 < d0) p + 0.5 (d0 == d1)``, where ``p = judge`` is the fraction of
    observers who judged patch 1 closer to the reference. Its mean is the 2AFC accuracy (chance 0.5).
    ``d0``, ``d1``, ``judge``: 1-D sequences of the same length; for a similarity (SSIM), pass
    its negative. Chapter ``lpips``.
    """
    d0, d1, p = (torch.as_tensor(np.asarray(v, dtype=np.float64) if not isinstance(v, torch.Tensor) else v).double()
                 for v in (d0, d1, judge))
    for name, v in (("d0", d0), ("d1", d1), ("judge", p)):
        if v.ndim != 1:
            raise ValueError(f"two_afc_score: {name} must be 1-D, got shape {tuple(v.shape)}")
    if not (d0.shape == d1.shape == p.shape):
        raise ValueError(f"two_afc_score: d0, d1 and judge must have the same length, got {d0.shape[0]}, {d1.shape[0]}, {p.shape[0]}")
    if bool(((p < 0) | (p > 1)).any()):
        raise ValueError("two_afc_score: judge must be a fraction in [0, 1]")
    return (d0 < d1).double() * (1 - p) + (d1 < d0).double() * p + 0.5 * (d0 == d1).double()


class _RankNet(nn.Module):
    """The paper's small network G: from (d0, d1) to the probability that patch 1 is judged closer."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, 1))

    def forward(self, d0, d1, eps=0.1):
        z = torch.stack([d0, d1, d0 - d1, d0 / (d1 + eps), d1 / (d0 + eps)], dim=1)
        return self.net(z).squeeze(1)  # a logit


def fit_weights(D0: torch.Tensor, D1: torch.Tensor, judge, *, steps: int = 600, lr: float = 1e-2, seed: int = 0,
                init=None) -> tuple[torch.Tensor, list]:
    """Learn non-negative per-channel LPIPS weights from 2AFC judgements (the paper's "lin" training).

    ``D0``, ``D1``: (N, C) outputs of :func:`layer_distances` for (ref, p0) and (ref, p1); ``judge``
    (N,) in [0, 1]. The distances ``d = D @ w`` feed the ranking network G, trained jointly with
    ``w`` by binary cross-entropy against ``judge`` (full batch, Adam, ``steps`` steps); after every
    step ``w`` is clamped at 0, as in the official code. ``init``: starting weights (default all
    ones, i.e. uniform). Returns ``(w, losses)``. Chapter ``lpips``; ``scripts/train_lpips.py``.
    """
    for name, v in (("D0", D0), ("D1", D1)):
        check_tensor(v, name, ndim=2)
    if D0.shape != D1.shape:
        raise ValueError(f"fit_weights: D0 and D1 must have the same shape, got {tuple(D0.shape)} and {tuple(D1.shape)}")
    judge = torch.as_tensor(judge, dtype=torch.float32)
    if judge.shape != (D0.shape[0],):
        raise ValueError(f"fit_weights: judge must have shape ({D0.shape[0]},), got {tuple(judge.shape)}")
    check_positive(steps, "steps", integer=True)
    check_positive(lr, "lr")
    threads = torch.get_num_threads()
    try:  # the steps are tiny: one thread avoids the cost of waking a pool for each of them
        torch.set_num_threads(1)
        return _fit(D0, D1, judge, steps, lr, seed, init)
    finally:
        torch.set_num_threads(threads)


def _fit(D0, D1, judge, steps, lr, seed, init):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = _RankNet()
        w = nn.Parameter(torch.ones(D0.shape[1]) if init is None else torch.as_tensor(init, dtype=torch.float32).clone())
        opt = torch.optim.Adam([w, *g.parameters()], lr=lr)
        D0, D1 = D0.detach().float(), D1.detach().float()
        losses = []
        for _ in range(steps):
            logit = g(D0 @ w, D1 @ w)
            loss = F.binary_cross_entropy_with_logits(logit, judge)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                w.clamp_(min=0.0)
            losses.append(loss.item())
    return w.detach().clone(), losses


# --------------------------------------------------------------------------------------------
# A human-derived judge: official VMAF (libvmaf, model vmaf_v0.6.1, fitted to human opinion scores)


def luma_uint8(x) -> np.ndarray:
    """BT.601 luma of RGB patches (N, 3, H, W) in [0, 1], as uint8 (N, H, W): what VMAF reads."""
    x = _as_batch(x, "x") if not isinstance(x, torch.Tensor) or x.ndim != 4 else x
    check_tensor(x, "x", ndim=4)
    if x.shape[1] != 3:
        raise ValueError(f"luma_uint8: expected RGB patches (N, 3, H, W), got shape {tuple(x.shape)}")
    y = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    return np.clip(np.round(y.double().numpy() * 255.0), 0, 255).astype(np.uint8)


def vmaf_of_triplets(data: dict) -> tuple[np.ndarray, np.ndarray]:
    """Official VMAF of (ref, p0) and (ref, p1) for every triplet of a :func:`make_2afc` set (chapter ``lpips``).

    Each patch pair is scored by the real libvmaf (``utils.vmaf.real_vmaf``, model ``vmaf_v0.6.1``) on
    BT.601 luma, as one frame of a clip with the motion feature forced to 0 (a still image has no
    motion): one ffmpeg call scores all reference/patch pairs at once. Returns two arrays (N,).
    """
    from ..vmaf import real_vmaf

    if not isinstance(data, dict) or not {"ref", "p0", "p1"} <= set(data):
        raise ValueError("vmaf_of_triplets: expected the dict returned by make_2afc (keys ref, p0, p1)")
    ref = luma_uint8(data["ref"])
    both = np.concatenate([luma_uint8(data["p0"]), luma_uint8(data["p1"])])
    v = np.asarray(real_vmaf(np.concatenate([ref, ref]), both, motion_force_zero=True)["vmaf"], dtype=np.float64)
    n = ref.shape[0]
    return v[:n], v[n:]


def vmaf_preferences(v0, v1, *, tie: float) -> tuple[np.ndarray, np.ndarray]:
    """Turn VMAF scores of the two patches into 2AFC judgements: ``(judge, decided)``.

    ``judge`` is 1 where patch 1 has the higher VMAF (judged closer to the reference) and 0 otherwise;
    ``decided`` is False where the two scores differ by less than ``tie`` VMAF points (no clear
    preference: such triplets are left out of the 2AFC accuracy). Chapter ``lpips``.
    """
    v0, v1 = np.asarray(v0, dtype=np.float64), np.asarray(v1, dtype=np.float64)
    if v0.ndim != 1 or v0.shape != v1.shape:
        raise ValueError(f"vmaf_preferences: v0 and v1 must be 1-D of the same length, got {v0.shape} and {v1.shape}")
    check_positive(tie, "tie", allow_zero=True)
    return (v1 > v0).astype(np.float64), np.abs(v1 - v0) >= tie


def average_precision(scores, labels) -> float:
    """Average precision of ``scores`` ranking the positives (``labels`` True) first (chapter ``lpips``, JND test).

    The paper's JND evaluation: pairs sorted by decreasing distance, precision averaged at the rank of every
    "different" pair. Ties are broken by order of appearance. 1 is perfect; a random ranking gives about the
    fraction of positives.
    """
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    if s.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"average_precision: scores and labels must be 1-D of the same length, got {s.shape} and {y.shape}")
    if not y.any():
        raise ValueError("average_precision: labels must contain at least one positive")
    order = np.argsort(-s, kind="stable")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())
