"""The book's independent JUDGE network: a second perceptual feature network that no arm trains against.

Why it exists (verdict standard, section 5, "Independent judges"): a perceptual finding must be
judged by measures that no arm optimised. The book's loss network, ``utils.features.FeatureNet``,
drives the perceptual, style and feature-matching losses of many generators, and the book's LPIPS
(``utils.iqa.lpips``) is built on it; judging those generators with it would be circular (a
generator that minimised a distance on that network looks good on that network by construction).
``JudgeNet`` is trained apart from it, with

* its own **architecture**: a residual network with a 5x5 stem, stride-2 convolutions instead of
  max-pooling, one residual block per stage and a dilated residual block in the deepest stage
  (``JudgeNet.WIDTHS`` = 16, 32, 64, 80 channels; about 0.28 M parameters; taps ``s1`` ... ``s4``);
* its own **seed** (``TRAIN_SEED`` = 7; the feature net uses 0);
* its own **image split**: training never sees the LEFT ``HOLDOUT_FRACTION`` (25%) of every packaged
  image's columns (the feature net holds out the right 25%, which the judge does train on);
* its own **script**, ``scripts/train_judge_net.py`` (same kind of task: tell which of the 17
  packaged images a crop comes from, which forces the features to describe local content).

Rule: **never use the judge in a training loss** (nor for early stopping, model selection or
tuning of any arm). It is only for measuring. To make accidental use hard, ``judge_features`` and
``judge_distance`` run without autograd and return tensors that carry no gradient. Chapters pass
``judge_sha256()`` to ``claims.finding(..., judge_nets=[...])`` so that the record names the judge
and a test can prove it differs from every network an arm trained against.

Main entry points: ``load_judge_net``, ``judge_features``, ``judge_distance``, ``judge_sha256``,
``content_separation``, ``JudgeNet``.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_choice, check_positive, check_same_shape, check_tensor

__all__ = [
    "JudgeNet",
    "load_judge_net",
    "judge_features",
    "judge_distance",
    "judge_sha256",
    "content_separation",
    "judge_split_crops",
    "holdout_end",
    "TAPS",
    "EPS",
    "MIN_SIZE",
    "HOLDOUT_FRACTION",
    "TRAIN_SEED",
    "WEIGHTS_PATH",
    "MANIFEST_PATH",
]

#: every tap of the judge, shallow to deep (stage s has 1 / 2**(s-1) of the input resolution)
TAPS = ("s1", "s2", "s3", "s4")
#: added to the channel norm before dividing (as LPIPS does)
EPS = 1e-10
#: smallest input height and width (the deepest stage is then 2x2)
MIN_SIZE = 16
#: the LEFT-most fraction of every packaged image's columns that the judge's training never sees
HOLDOUT_FRACTION = 0.25
#: the seed ``scripts/train_judge_net.py`` trains with by default (the feature net uses 0)
TRAIN_SEED = 7
#: the shipped weights and their manifest, found next to this module so a copied ``utils`` works
WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "judge_net.pt"
MANIFEST_PATH = WEIGHTS_PATH.with_suffix(".json")
_RETRAIN = "python scripts/train_judge_net.py"
# per-channel input normalisation (the judge's own constants: mean 0.5, scale 0.25 for every channel)
_IN_MEAN, _IN_STD = 0.5, 0.25


class _Residual(nn.Module):
    """x + conv(relu(conv(x))) followed by a ReLU; ``dilation`` widens the receptive field."""

    def __init__(self, c: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)

    def forward(self, x):
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class JudgeNet(nn.Module):
    """The judge's architecture: a small residual network with strided downsampling.

    ``s1``: 5x5 convolution 3 -> 16 and ReLU, full resolution. ``s2``, ``s3``: a stride-2 3x3
    convolution (16 -> 32, 32 -> 64) and ReLU, then a residual block of two 3x3 convolutions.
    ``s4``: stride-2 3x3 convolution 64 -> 80 and ReLU, then a residual block of two 3x3
    convolutions with dilation 2. No normalisation layers, no pooling. Input RGB in [0, 1],
    (N, 3, H, W) with H, W >= 16, normalised inside by (x - 0.5) / 0.25. Tap ``s{k}`` is the output
    of stage k (after its ReLU), spatial size ceil(H / 2**(k-1)). ``JudgeNet()`` alone has PyTorch's
    default random initialisation; use ``load_judge_net()`` for the trained judge.
    """

    WIDTHS: tuple[int, ...] = (16, 32, 64, 80)
    TAPS = TAPS

    def __init__(self):
        super().__init__()
        w1, w2, w3, w4 = self.WIDTHS
        self.stem = nn.Conv2d(3, w1, 5, padding=2)
        self.down2 = nn.Conv2d(w1, w2, 3, stride=2, padding=1)
        self.res2 = _Residual(w2)
        self.down3 = nn.Conv2d(w2, w3, 3, stride=2, padding=1)
        self.res3 = _Residual(w3)
        self.down4 = nn.Conv2d(w3, w4, 3, stride=2, padding=1)
        self.res4 = _Residual(w4, dilation=2)

    def channels(self, tap: str) -> int:
        """Number of channels of ``tap``."""
        return self.WIDTHS[self.TAPS.index(_check_taps(tap)[0])]

    def forward(self, x: torch.Tensor, taps=TAPS) -> dict[str, torch.Tensor]:
        """Return ``{tap: activation}`` for ``x`` (N, 3, H, W) in [0, 1]; stops after the deepest tap asked for."""
        taps = _check_taps(taps)
        check_tensor(x, "x", ndim=4, channels=3, min_size=MIN_SIZE)
        last = max(self.TAPS.index(t) for t in taps)
        h = (x - _IN_MEAN) / _IN_STD
        out = {}
        h = out["s1"] = F.relu(self.stem(h))
        if last >= 1:
            h = out["s2"] = self.res2(F.relu(self.down2(h)))
        if last >= 2:
            h = out["s3"] = self.res3(F.relu(self.down3(h)))
        if last >= 3:
            out["s4"] = self.res4(F.relu(self.down4(h)))
        return {t: out[t] for t in taps}

    @classmethod
    def from_file(cls, path) -> "JudgeNet":
        """Load a float16 state dict saved by ``scripts/train_judge_net.py`` (safely, ``weights_only=True``) as float32."""
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        net = cls()
        net.load_state_dict({k: v.float() for k, v in state.items()})
        return net


def _check_taps(taps) -> tuple[str, ...]:
    if taps is None:
        return TAPS
    if isinstance(taps, str):
        taps = (taps,)
    try:
        taps = tuple(taps)
    except TypeError:
        raise TypeError(f"taps: expected a tap name or a sequence of names from {', '.join(TAPS)}, got {taps!r}") from None
    if not taps:
        raise ValueError(f"taps: expected at least one tap name from {', '.join(TAPS)}")
    for t in taps:
        if t not in TAPS:
            raise ValueError(f"taps: unknown judge tap {t!r}; expected names from {', '.join(TAPS)}")
    return taps


def file_sha256(path) -> str:
    """sha256 of a file's bytes (what the manifest records for the weights file)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_CACHE: dict[tuple[str, str], JudgeNet] = {}


def _load_checked(weights: Path, manifest: Path) -> JudgeNet:
    if not weights.is_file() or not manifest.is_file():
        missing = weights if not weights.is_file() else manifest
        raise RuntimeError(f"load_judge_net: {missing} is missing; recreate the judge with `{_RETRAIN}`")
    try:
        expected = json.loads(manifest.read_text())["weights_sha256"]
    except (ValueError, KeyError) as e:
        raise RuntimeError(f"load_judge_net: {manifest} is unreadable or has no 'weights_sha256' ({e}); "
                           f"recreate the judge with `{_RETRAIN}`") from None
    actual = file_sha256(weights)
    if actual != expected:
        raise RuntimeError(
            f"load_judge_net: {weights} has sha256 {actual[:16]}..., but {manifest.name} records "
            f"{str(expected)[:16]}...; the weights were changed or replaced. Recreate them with `{_RETRAIN}`"
        )
    return JudgeNet.from_file(weights)


def load_judge_net(device="cpu", kind: str = "judge") -> JudgeNet:
    """Return the trained judge in eval mode with ``requires_grad`` off, cached per device.

    The weights (``utils/weights/judge_net.pt``, float16, loaded with ``weights_only=True``) are
    checked against the sha256 in ``utils/weights/judge_net.json``; a missing or mismatched file
    raises ``RuntimeError`` naming ``python scripts/train_judge_net.py``. ``kind="random"`` gives the
    same architecture with the initialisation training started from (``TRAIN_SEED``; the global
    random state is left untouched): the baseline that shows what training added. The returned
    module is shared: do not modify it. For measuring only; never put it in a training loss.
    """
    check_choice(kind, "kind", ("judge", "random"))
    dev = torch.device(device)
    key = (kind, str(dev))
    if key not in _CACHE:
        if kind == "judge":
            net = _load_checked(WEIGHTS_PATH, MANIFEST_PATH)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(TRAIN_SEED)
                net = JudgeNet()
        net = net.to(dev).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        _CACHE[key] = net
    return _CACHE[key]


@functools.lru_cache(maxsize=None)
def _sha256_of(kind: str) -> str:
    from .repro import weights_sha256

    return weights_sha256(load_judge_net(kind=kind))


def judge_sha256() -> str:
    """``utils.repro.weights_sha256(load_judge_net())``: the judge's identity for ``claims.finding(..., judge_nets=[...])``."""
    return _sha256_of("judge")


def _as_rgb(x, name: str) -> torch.Tensor:
    check_tensor(x, name, ndim=4)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    elif x.shape[1] != 3:
        hint = " (this looks like (N, H, W, C): use x.permute(0, 3, 1, 2))" if x.shape[-1] in (1, 3) else ""
        raise ValueError(f"{name}: expected 1 (grey) or 3 (RGB) channels in dimension 1, got shape {tuple(x.shape)}{hint}")
    check_tensor(x, name, min_size=MIN_SIZE)
    with torch.no_grad():
        lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"{name}: expected values in [0, 1], got min {lo:.4g} and max {hi:.4g}")
    return x


def judge_features(x: torch.Tensor, taps=None, *, net: JudgeNet | None = None) -> dict[str, torch.Tensor]:
    """The judge's activations ``{tap: (N, C, H', W')}`` for images ``x``.

    ``x``: float tensor (N, 3, H, W) RGB or (N, 1, H, W) grey (repeated to RGB), values in [0, 1],
    H, W >= 16. ``taps``: a name or names from ``TAPS`` (default: all four). Runs on ``x``'s device
    without autograd: the results carry no gradient, because the judge must never be a training
    loss. ``net`` replaces the shipped judge (e.g. ``load_judge_net(kind="random")``).
    """
    x = _as_rgb(x, "x")
    taps = _check_taps(taps)
    if net is None:
        net = load_judge_net(x.device)
    elif not isinstance(net, JudgeNet):
        raise TypeError(f"net: expected a JudgeNet, got {type(net).__name__}")
    with torch.no_grad():
        return net(x.detach(), taps)


def judge_distance(x: torch.Tensor, y: torch.Tensor, taps=None, *, net: JudgeNet | None = None) -> torch.Tensor:
    """Perceptual distance between ``x`` and ``y`` on the judge: tensor (N,), >= 0, no gradient.

    The LPIPS form with uniform weights: for each tap l, the activations of both images are
    unit-normalised over channels at every position (divided by their norm + 1e-10), the squared
    difference is summed over channels and averaged over positions; the result is the mean over
    the taps (default all four, ``s1`` ... ``s4``)::

        d(x, y) = 1/L sum_l 1/(H_l W_l) sum_{h,w} || f_l(x)_hw / (||f_l(x)_hw|| + eps) - f_l(y)_hw / (||f_l(y)_hw|| + eps) ||^2

    Each tap's term lies in [0, 4]. ``x`` and ``y``: same shape, (N, 3, H, W) or (N, 1, H, W) in
    [0, 1], H, W >= 16. d(x, x) = 0 and d(x, y) = d(y, x). For judging only (verdict standard,
    section 5); never use it in a training loss.
    """
    x, y = _as_rgb(x, "x"), _as_rgb(y, "y")
    check_same_shape(x, y)
    fx = judge_features(x, taps, net=net)
    fy = judge_features(y.to(x.device), taps, net=net)
    terms = []
    for t in fx:
        a = fx[t] / (fx[t].norm(dim=1, keepdim=True) + EPS)
        b = fy[t] / (fy[t].norm(dim=1, keepdim=True) + EPS)
        terms.append((a - b).pow(2).sum(dim=1).mean(dim=(1, 2)))
    return torch.stack(terms).mean(dim=0)


def holdout_end(width: int) -> int:
    """One past the last column of the judge's held-out region (the LEFT ``HOLDOUT_FRACTION`` of ``width``)."""
    check_positive(width, "width", integer=True)
    return int(round(width * HOLDOUT_FRACTION))


def judge_split_crops(split: str = "heldout", n_per_image: int = 16, size: int = 48, *, seed: int = 0):
    """Seeded ``size`` x ``size`` crops of every packaged image from the judge's held-out or training part.

    ``split="heldout"``: the left ``HOLDOUT_FRACTION`` of the columns (never seen in training);
    ``"train"``: the rest. Returns ``(crops (N, 3, size, size) float32 in [0, 1], labels (N,))``, the
    label being the index in ``utils.data.IMAGE_NAMES``.
    """
    from .data import IMAGE_NAMES, load_image

    check_choice(split, "split", ("heldout", "train"))
    check_positive(n_per_image, "n_per_image", integer=True)
    check_positive(size, "size", integer=True)
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for label, name in enumerate(IMAGE_NAMES):
        img = load_image(name, gray=False)
        h, w = img.shape[:2]
        x1 = holdout_end(w)
        lo, hi = (0, x1) if split == "heldout" else (x1, w)
        if size > h or size > hi - lo:
            raise ValueError(f"judge_split_crops: crop size {size} does not fit the {split} part of {name!r} ({h}x{hi - lo})")
        ys = rng.integers(0, h - size + 1, n_per_image)
        xs = rng.integers(lo, hi - size + 1, n_per_image)
        crops += [img[y : y + size, x : x + size] for y, x in zip(ys, xs)]
        labels += [label] * n_per_image
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().contiguous(), torch.tensor(labels)


@functools.lru_cache(maxsize=2)
def _separation_crops(n_per_image: int, size: int, jitter: bool, seed: int):
    from .features import photometric_jitter

    gen = torch.Generator().manual_seed(seed)
    q, q_lab = judge_split_crops("heldout", n_per_image, size, seed=seed)
    g, g_lab = judge_split_crops("train", n_per_image, size, seed=seed + 1)
    if jitter:
        q, g = photometric_jitter(q, generator=gen), photometric_jitter(g, generator=gen)
    return (q, q_lab), (g, g_lab)


def content_separation(net: JudgeNet | str = "judge", *, taps=("s3", "s4"), n_per_image: int = 24,
                       size: int = 48, jitter: bool = True, seed: int = 0) -> float:
    """Nearest-centroid accuracy of the judge's features on its held-out crops (chance 1/17 = 0.06).

    The same measure as ``utils.features.content_separation``, on the judge's split: per packaged
    image, ``n_per_image`` query crops from the held-out LEFT part and as many gallery crops from
    the training part, each with its own seeded photometric jitter when ``jitter``; a crop is
    described by its ``taps`` averaged over space (each tap L2-normalised, concatenated, normalised
    again), and each query goes to the image whose gallery centroid is most cosine-similar.
    ``net``: a ``JudgeNet`` or a ``load_judge_net`` kind (``"judge"``, ``"random"``).
    """
    if isinstance(net, str):
        net = load_judge_net(kind=net)
    if not isinstance(net, JudgeNet):
        raise TypeError(f"content_separation: net must be a JudgeNet (or 'judge' / 'random'), got {type(net).__name__}")
    taps = _check_taps(taps)
    (q, q_lab), (g, g_lab) = _separation_crops(n_per_image, size, bool(jitter), seed)
    device = next(net.parameters()).device

    def describe(x):
        with torch.no_grad():
            feats = net(x.to(device), taps)
            d = torch.cat([F.normalize(feats[t].mean(dim=(2, 3)), dim=1) for t in taps], dim=1)
        return F.normalize(d, dim=1).cpu()

    dg = describe(g)
    n_images = int(g_lab.max()) + 1
    centroids = F.normalize(torch.stack([dg[g_lab == k].mean(dim=0) for k in range(n_images)]), dim=1)
    assigned = (describe(q) @ centroids.T).argmax(dim=1)
    return float((assigned == q_lab).float().mean())
