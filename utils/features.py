"""The book's perceptual feature network: a small VGG-style net trained offline on packaged photos.

Perceptual losses, style (Gram) losses and feature-matching measures in the papers this book
reproduces are computed on the activations of an ImageNet-trained VGG19. Those weights are a
548 MB download, and the book runs fully offline on a 2-core CPU, so it cannot use them.
``FeatureNet`` is the stand-in: the same kind of network (stacks of 3x3 convolutions and ReLUs with
2x2 max-pooling between stages, no normalisation layers), with the same tap names
(``conv3_2`` before its ReLU, ``relu3_2`` after it) and the same input convention (RGB in [0, 1],
normalised inside with ImageNet's per-channel mean and standard deviation), but only four narrow
stages, about 0.3 M parameters, trained in about a minute by ``scripts/train_feature_net.py`` to
tell which packaged image a small crop comes from. That task forces the deeper layers to describe
local content (edges, textures, materials) rather than raw colour, which is what a perceptual loss
needs; ``content_separation`` measures how much better than random weights the trained features
do that. It is far weaker than VGG19 (it has seen 17 images, not 1.2 million), so results that
depend on rich semantics will be weaker too; where torchvision and the VGG19 weights happen to be
cached (e.g. on Colab), ``load_feature_net("vgg19")`` gives VGG19 through the same interface.

Main entry points: ``load_feature_net``, ``extract``, ``FeatureNet``, ``content_separation``.
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_choice, check_positive, check_tensor

__all__ = [
    "FeatureNet",
    "VGG19Features",
    "load_feature_net",
    "extract",
    "content_separation",
    "split_crops",
    "photometric_jitter",
    "holdout_start",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "HOLDOUT_FRACTION",
    "MIN_SIZE",
    "WEIGHTS_PATH",
]

#: ImageNet per-channel mean and standard deviation of RGB in [0, 1]; the same constants VGG uses,
#: so the book's net and VGG19 take the same input.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: smallest input height and width ``extract`` accepts (the deepest stage is then 2x2)
MIN_SIZE = 16
#: the right-most fraction of every packaged image's columns that training never sees
HOLDOUT_FRACTION = 0.25
#: the shipped weights, found next to this module so a copied ``utils`` folder still works
WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "feature_net.pt"
#: default range of ``photometric_jitter`` (training augmentation and ``content_separation``)
JITTER_BRIGHTNESS = 0.1
JITTER_CONTRAST = 0.2
_RANDOM_SEED = 0
DEFAULT_TAPS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2")


def _tap_names(convs_per_stage: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(
        f"{kind}{s}_{i}" for s, n in enumerate(convs_per_stage, 1) for i in range(1, n + 1) for kind in ("conv", "relu")
    )


class _TapNet(nn.Module):
    """A VGG-style stack of 3x3 convolutions that returns named intermediate activations.

    ``stages`` is a list of lists of ``nn.Conv2d``; a ReLU follows every convolution and a 2x2
    max-pool precedes every stage but the first. Subclasses set ``CONVS_PER_STAGE`` and ``TAPS``.
    """

    CONVS_PER_STAGE: tuple[int, ...] = ()
    TAPS: tuple[str, ...] = ()

    def __init__(self, stages):
        super().__init__()
        if tuple(len(s) for s in stages) != self.CONVS_PER_STAGE:
            raise ValueError(f"expected {self.CONVS_PER_STAGE} convolutions per stage, got {[len(s) for s in stages]}")
        self.stages = nn.ModuleList(nn.ModuleList(s) for s in stages)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _check_taps(self, taps) -> tuple[str, ...]:
        if isinstance(taps, str):
            taps = (taps,)
        taps = tuple(taps)
        if not taps:
            raise ValueError("taps: expected at least one tap name, e.g. ('relu2_2', 'relu3_2')")
        for t in taps:
            if t not in self.TAPS:
                raise ValueError(f"taps: unknown tap {t!r}; expected names from {', '.join(self.TAPS)}")
        return taps

    def forward(self, x: torch.Tensor, taps=DEFAULT_TAPS) -> dict[str, torch.Tensor]:
        """Return ``{tap: activation}`` for ``x`` (N, 3, H, W), RGB in [0, 1].

        ``taps`` is a name or a sequence of names from ``TAPS``; ``conv{s}_{i}`` is the i-th
        convolution of stage s before its ReLU, ``relu{s}_{i}`` the same after it. Only the layers
        up to the deepest requested tap are computed. Stage s has spatial size (H, W) / 2**(s-1)
        (floored at each pooling).
        """
        taps = self._check_taps(taps)
        check_tensor(x, "x", ndim=4, channels=3, min_size=MIN_SIZE)
        wanted = set(taps)
        last = max(self.TAPS.index(t) for t in taps)
        out: dict[str, torch.Tensor] = {}
        h = (x - self.mean) / self.std
        k = 0
        for s, convs in enumerate(self.stages, 1):
            if s > 1:
                h = F.max_pool2d(h, 2)
            for i, conv in enumerate(convs, 1):
                h = conv(h)
                if f"conv{s}_{i}" in wanted:
                    out[f"conv{s}_{i}"] = h
                h = F.relu(h)
                if f"relu{s}_{i}" in wanted:
                    out[f"relu{s}_{i}"] = h
                k += 2
                if k > last:
                    return {t: out[t] for t in taps}
        return {t: out[t] for t in taps}  # pragma: no cover - the loop always returns


class FeatureNet(_TapNet):
    """The book's stand-in for VGG19: four stages of two 3x3 convolutions (widths ``WIDTHS``).

    Taps, in order: ``conv1_1, relu1_1, conv1_2, relu1_2, conv2_1, ..., relu4_2`` (``TAPS``);
    stage s has ``WIDTHS[s-1]`` channels at 1 / 2**(s-1) of the input resolution. Input is RGB
    float in [0, 1], (N, 3, H, W) with H, W >= 16; the ImageNet mean/std normalisation happens
    inside. Use ``load_feature_net()`` for the trained weights; ``FeatureNet()`` alone has PyTorch's
    default random initialisation.
    """

    WIDTHS: tuple[int, ...] = (16, 32, 64, 128)
    CONVS_PER_STAGE = (2, 2, 2, 2)
    TAPS = _tap_names(CONVS_PER_STAGE)

    def __init__(self):
        stages, c = [], 3
        for w, n in zip(self.WIDTHS, self.CONVS_PER_STAGE):
            convs = []
            for _ in range(n):
                convs.append(nn.Conv2d(c, w, 3, padding=1))
                c = w
            stages.append(convs)
        super().__init__(stages)

    def channels(self, tap: str) -> int:
        """Number of channels of ``tap``."""
        self._check_taps(tap)
        return self.WIDTHS[int(re.match(r"(?:conv|relu)(\d+)_", tap).group(1)) - 1]

    @classmethod
    def from_file(cls, path) -> "FeatureNet":
        """Load weights saved by ``scripts/train_feature_net.py`` (float16 state dict) as float32."""
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        net = cls()
        net.load_state_dict({k: v.float() for k, v in state.items()})
        return net


class VGG19Features(_TapNet):
    """torchvision's ImageNet VGG19 convolutions behind the same tap interface (relu1_1 ... relu5_4)."""

    CONVS_PER_STAGE = (2, 2, 4, 4, 4)
    TAPS = _tap_names(CONVS_PER_STAGE)


def _vgg19_from_cache() -> VGG19Features:
    try:
        from torchvision.models import VGG19_Weights, vgg19
    except ImportError as e:
        raise RuntimeError(
            "load_feature_net(kind='vgg19') needs torchvision, which is not installed; "
            "use kind='book' (the default, offline) instead"
        ) from e
    url = VGG19_Weights.IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not path.is_file():
        raise RuntimeError(
            f"load_feature_net(kind='vgg19'): the ImageNet VGG19 weights are not in the torch hub cache ({path}); "
            "this function never downloads. Download them yourself where you have a network "
            "(torchvision.models.vgg19(weights='IMAGENET1K_V1')) or use kind='book'"
        )
    model = vgg19(weights=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    stages, k = [], 0
    for n in VGG19Features.CONVS_PER_STAGE:
        stages.append(convs[k : k + n])
        k += n
    return VGG19Features(stages)


_CACHE: dict[tuple[str, str], nn.Module] = {}


def load_feature_net(kind: str = "book", device="cpu") -> nn.Module:
    """Return a feature network in eval mode with ``requires_grad`` off, cached per (kind, device).

    ``kind="book"``: the trained ``FeatureNet`` shipped in ``utils/weights/feature_net.pt`` (loaded
    with ``weights_only=True``; never touches the network). ``kind="random"``: the same architecture
    with PyTorch's default initialisation under a fixed seed (the global random state is left
    untouched), the baseline that shows what training added. ``kind="vgg19"``: ImageNet VGG19 with
    taps ``conv1_1 ... relu5_4``, only if torchvision is installed and its weights are already in the
    torch hub cache; otherwise ``RuntimeError`` (it never downloads).
    The returned module is shared between callers: do not modify it.
    """
    check_choice(kind, "kind", ("book", "random", "vgg19"))
    dev = torch.device(device)
    key = (kind, str(dev))
    if key not in _CACHE:
        if kind == "book":
            if not WEIGHTS_PATH.is_file():
                raise RuntimeError(
                    f"load_feature_net: weights file {WEIGHTS_PATH} is missing; "
                    "recreate it with `python scripts/train_feature_net.py`"
                )
            net = FeatureNet.from_file(WEIGHTS_PATH)
        elif kind == "random":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_RANDOM_SEED)
                net = FeatureNet()
        else:
            net = _vgg19_from_cache()
        net = net.to(dev).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        _CACHE[key] = net
    return _CACHE[key]


def extract(x: torch.Tensor, taps=DEFAULT_TAPS, kind: str = "book") -> dict[str, torch.Tensor]:
    """Validate ``x`` and return ``{tap: activation}`` from ``load_feature_net(kind)``.

    ``x`` must be a float tensor (N, 3, H, W) with values in [0, 1] and H, W >= 16 (grey images:
    repeat them to 3 channels). The net runs on ``x``'s device; gradients flow to ``x`` if it
    requires them (the weights are frozen).
    """
    check_tensor(x, "x", ndim=4)
    if x.shape[1] != 3:
        hint = ""
        if x.shape[1] == 1:
            hint = " (repeat a grey image to RGB: x.repeat(1, 3, 1, 1))"
        elif x.shape[-1] in (1, 3):
            hint = " (this looks like (N, H, W, C): use x.permute(0, 3, 1, 2))"
        raise ValueError(f"x: expected 3 (RGB) channels in dimension 1, got shape {tuple(x.shape)}{hint}")
    check_tensor(x, "x", min_size=MIN_SIZE)
    with torch.no_grad():
        lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("x: contains NaN or infinite values")
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"x: expected values in [0, 1], got min {lo:.4g} and max {hi:.4g}")
    return load_feature_net(kind, x.device)(x, taps)


def holdout_start(width: int) -> int:
    """First column of an image's held-out region (the right ``HOLDOUT_FRACTION`` of its ``width`` columns)."""
    return int(round(width * (1.0 - HOLDOUT_FRACTION)))


def photometric_jitter(
    x: torch.Tensor, *, brightness: float = JITTER_BRIGHTNESS, contrast: float = JITTER_CONTRAST, generator=None
) -> torch.Tensor:
    """Random exposure change per image of a batch (N, C, H, W) in [0, 1], clipped to [0, 1].

    Each image is scaled about its mean by a gain uniform in [1 - contrast, 1 + contrast] and
    shifted by an offset uniform in [-brightness, brightness]; ``generator`` seeds it.
    """
    check_tensor(x, "x", ndim=4)
    check_positive(brightness, "brightness", allow_zero=True)
    check_positive(contrast, "contrast", allow_zero=True)
    n = x.shape[0]
    gain = 1.0 + contrast * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
    shift = brightness * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * gain.to(x) + mean + shift.to(x)).clamp(0.0, 1.0)


def split_crops(
    split: str = "heldout", n_per_image: int = 16, size: int = 48, *, seed: int = 0, names=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded ``size`` x ``size`` crops from one part of every packaged image.

    ``split="heldout"``: the right ``HOLDOUT_FRACTION`` of each image's columns, which
    ``scripts/train_feature_net.py`` never trains on; ``split="train"``: the rest. Returns
    ``(crops, labels)``: crops float32 (N, 3, size, size) in [0, 1] (grey images repeated to RGB),
    labels (N,) the index of the source image in ``names`` (default: all ``utils.data.IMAGE_NAMES``).
    """
    from .data import IMAGE_NAMES, load_image

    check_choice(split, "split", ("heldout", "train"))
    names = list(IMAGE_NAMES if names is None else names)
    check_positive(n_per_image, "n_per_image", integer=True)
    check_positive(size, "size", integer=True)
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for label, name in enumerate(names):
        img = load_image(name, gray=False)
        h, w = img.shape[:2]
        x0 = holdout_start(w)
        lo, hi = (x0, w) if split == "heldout" else (0, x0)
        if size > h or size > hi - lo:
            raise ValueError(f"split_crops: crop size {size} does not fit the {split} part of {name!r} ({h}x{hi - lo})")
        ys = rng.integers(0, h - size + 1, n_per_image)
        xs = rng.integers(lo, hi - size + 1, n_per_image)
        crops += [img[y : y + size, x : x + size] for y, x in zip(ys, xs)]
        labels += [label] * n_per_image
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().contiguous()
    return x, torch.tensor(labels)


@functools.lru_cache(maxsize=2)
def _separation_crops(n_per_image: int, size: int, jitter: bool, seed: int):
    # cached so that comparing several nets on the same crops does not rebuild them
    gen = torch.Generator().manual_seed(seed)
    q, q_lab = split_crops("heldout", n_per_image, size, seed=seed)
    g, g_lab = split_crops("train", n_per_image, size, seed=seed + 1)
    if jitter:
        q, g = photometric_jitter(q, generator=gen), photometric_jitter(g, generator=gen)
    return (q, q_lab), (g, g_lab)


def content_separation(
    net: nn.Module | str = "book",
    *,
    taps=("relu3_2", "relu4_2"),
    n_per_image: int = 24,
    size: int = 48,
    jitter: bool = True,
    seed: int = 0,
) -> float:
    """How well a net's features group crops by the image they come from: nearest-centroid accuracy.

    For every packaged image (17, ``utils.data.IMAGE_NAMES``), ``n_per_image`` gallery crops come
    from the part training uses and ``n_per_image`` query crops from the held-out right part
    (``split_crops``); with ``jitter`` each crop gets its own seeded ``photometric_jitter`` (the
    training augmentation's range), so exposure and contrast alone cannot identify it. A crop is
    described by its ``taps`` activations averaged over space (each tap L2-normalised, then
    concatenated and normalised again); each image's centroid is the normalised mean of its gallery
    descriptors, and every query is assigned to the centroid with the highest cosine similarity.
    Returns the fraction of queries assigned to their own image, in [0, 1] (chance 1/17 = 0.06).
    Queries never share pixels with the gallery, so a high score needs features that describe what
    an image is made of (its textures, materials, structures) consistently across its regions:
    the property a perceptual loss relies on. ``net`` is a module or a ``load_feature_net`` kind.
    The trained net clearly beats ``"random"``; the measured values are in
    ``utils/weights/feature_net.json``.
    """
    if isinstance(net, str):
        net = load_feature_net(net)
    if not isinstance(net, _TapNet):
        raise TypeError(f"content_separation: net must be a FeatureNet (or a load_feature_net kind), got {type(net).__name__}")
    taps = net._check_taps(taps)
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
