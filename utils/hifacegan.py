"""HiFaceGAN in miniature (Yang et al., ACM MM 2020) and its ablation skeleton. Taught in chapters/hifacegan.md.

One skeleton, two switches, so that the note's claim "HiFaceGAN is just a U-Net" can be tested by ablation:

- **suppression** (encoder): a head conv, then ``depth`` stages of [downsample by 2, conv3x3, instance norm,
  LeakyReLU 0.2], giving a feature pyramid; the downsampling is local importance pooling (:class:`LIP`, as in the
  released code) or plain 3x3 average pooling after the same conv + instance norm that LIP uses for its logits
  (:class:`AvgDown`, equal parameters);
- **replenishment** (decoder): ``depth + 1`` blocks from the deepest scale back to full resolution, each fed the
  pyramid level of its scale, either by SPADE modulation (:class:`utils.layers.SPADEResBlock`, HiFaceGAN) or by
  concatenation (:class:`ConcatResBlock`, a U-Net skip), the latter widened to the same parameter count.

The face data (the 100 grey ``lfw_subset`` faces at 32x32) and the blind degradations are here too, so that
``scripts/train/hifacegan.py`` and the chapter use exactly the same ones.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_positive, check_tensor
from .layers import SPADEResBlock

__all__ = ["LIP", "AvgDown", "ConcatResBlock", "HiFaceNet", "DEGRADATIONS", "degrade_face", "face_images",
           "training_pairs", "test_set", "ARMS", "make_arm"]

DEGRADATIONS = ("down", "blur", "noise", "jpeg", "full")
SIZE = 32


class LIP(nn.Module):
    """Local importance pooling by 2 (Gao et al. 2019), as HiFaceGAN's released code uses it.

    ``out = AvgPool3x3,s2(x * e^l) / AvgPool3x3,s2(e^l)`` with ``l = 12 sigmoid(IN(conv3x3(x)))``.
    """

    def __init__(self, channels: int):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        self.logit = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.InstanceNorm2d(channels, affine=True))

    def log_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The logits ``l`` in (0, 12), one per pixel and channel."""
        return 12 * torch.sigmoid(self.logit(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=4)
        w = torch.exp(self.log_weights(x))
        return F.avg_pool2d(x * w, 3, 2, 1) / F.avg_pool2d(w, 3, 2, 1)


class AvgDown(nn.Module):
    """The LIP stage's control: the same conv3x3 + instance norm used as a feature layer, then 3x3 average pooling."""

    def __init__(self, channels: int):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        self.pre = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=4)
        return F.avg_pool2d(self.pre(x), 3, 2, 1, count_include_pad=False)


class ConcatResBlock(nn.Module):
    """A residual block fed by a concatenated skip, the U-Net way: ``h + conv(act(IN(conv(act(IN([h, f]))))))``.

    ``mid`` sets the hidden width (chosen to match a SPADE block's parameter count)."""

    def __init__(self, channels: int, skip_channels: int, mid: int):
        super().__init__()
        for v, n in ((channels, "channels"), (skip_channels, "skip_channels"), (mid, "mid")):
            check_positive(v, n, integer=True)
        self.norm0 = nn.InstanceNorm2d(channels + skip_channels, affine=True)
        self.conv0 = nn.Conv2d(channels + skip_channels, mid, 3, padding=1)
        self.norm1 = nn.InstanceNorm2d(mid, affine=True)
        self.conv1 = nn.Conv2d(mid, channels, 3, padding=1)

    def forward(self, h: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        check_tensor(h, "h", ndim=4)
        check_tensor(f, "f", ndim=4)
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        dx = self.conv0(act(self.norm0(torch.cat([h, f], 1))))
        return h + self.conv1(act(self.norm1(dx)))


class HiFaceNet(nn.Module):
    """The ablation skeleton: ``down`` in {"lip", "avg"}, ``skip`` in {"spade", "concat"}; grey faces in, grey faces out.

    ``HiFaceNet("lip", "spade")`` is HiFaceGAN-mini. The output is the input plus a predicted correction
    (residual; its last conv starts at zero, so an untrained network returns its input), not the official tanh
    image; the decoder starts from the deepest pyramid feature, not from the
    official ``fc(downsampled input)``; SPADE normalises with instance norm, not the official sync batch norm.
    """

    def __init__(self, down: str = "lip", skip: str = "spade", width: int = 16, hidden: int = 12, depth: int = 3,
                 concat_mid: int = 35):
        super().__init__()
        if down not in ("lip", "avg"):
            raise ValueError(f"HiFaceNet: down must be 'lip' or 'avg', got {down!r}")
        if skip not in ("spade", "concat"):
            raise ValueError(f"HiFaceNet: skip must be 'spade' or 'concat', got {skip!r}")
        for v, n in ((width, "width"), (hidden, "hidden"), (depth, "depth"), (concat_mid, "concat_mid")):
            check_positive(v, n, integer=True)
        w = width
        self.down_kind, self.skip_kind, self.depth = down, skip, depth
        self.head = nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.LeakyReLU(0.2))
        pool = LIP if down == "lip" else AvgDown
        self.suppress = nn.ModuleList(
            nn.Sequential(pool(w), nn.Conv2d(w, w, 3, padding=1), nn.InstanceNorm2d(w, affine=True), nn.LeakyReLU(0.2))
            for _ in range(depth))
        self.replenish = nn.ModuleList(
            (SPADEResBlock(w, w, w, hidden) if skip == "spade" else ConcatResBlock(w, w, concat_mid)) for _ in range(depth + 1))
        self.out = nn.Conv2d(w, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight), nn.init.zeros_(self.out.bias)  # starts as the identity (residual output)

    def pyramid(self, x: torch.Tensor) -> list:
        """The suppression module's feature pyramid, full resolution first."""
        feats = [self.head(x)]
        for stage in self.suppress:
            feats.append(stage(feats[-1]))
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=4, channels=1)
        if x.shape[-1] % 2**self.depth or x.shape[-2] % 2**self.depth:
            raise ValueError(f"HiFaceNet: height and width must be multiples of {2**self.depth}, got {tuple(x.shape[-2:])}")
        feats = self.pyramid(x)
        h = feats[-1]
        for i, block in enumerate(self.replenish):
            h = block(h, feats[-1 - i])  # the pyramid level of the same scale
            if i < len(self.replenish) - 1:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
        return x + self.out(F.leaky_relu(h, 0.2))


#: the three arms of the ablation (the fourth corner, concat + avg, is left as an exercise)
ARMS = {"HiFaceGAN (SPADE + LIP)": ("lip", "spade"), "concat skip + LIP": ("lip", "concat"), "SPADE + avg pool": ("avg", "spade")}


def make_arm(arm: str) -> HiFaceNet:
    """The untrained network of one arm of :data:`ARMS`."""
    if arm not in ARMS:
        raise ValueError(f"make_arm: unknown arm {arm!r}; expected one of {list(ARMS)}")
    down, skip = ARMS[arm]
    return HiFaceNet(down, skip)


def degrade_face(img: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """One blind degradation of a grey face in [0, 1]: 'down' (bicubic x2 or x4 and back), 'blur' (sigma 0.8-1.6 px),
    'noise' (sigma 20-40 / 255), 'jpeg' (quality 30-60) or 'full' (all four in that order)."""
    from . import degrade

    if kind not in DEGRADATIONS:
        raise ValueError(f"degrade_face: kind must be one of {DEGRADATIONS}, got {kind!r}")
    out = img
    if kind in ("down", "full"):
        f = int(rng.choice([2, 4]))
        out = degrade.bicubic_up(degrade.bicubic_down(out, f), f)
    if kind in ("blur", "full"):
        out = degrade.gaussian_blur(out, float(rng.uniform(0.8, 1.6)))
    if kind in ("noise", "full"):
        out = degrade.gaussian_noise(out, float(rng.uniform(20, 40)) / 255, seed=int(rng.integers(2**31)))
    if kind in ("jpeg", "full"):
        out = degrade.jpeg(out, int(rng.integers(30, 61)))
    return out


def face_images() -> np.ndarray:
    """The 100 grey faces of ``lfw_subset`` upscaled (bicubic) to 32x32: (100, 32, 32) in [0, 1]."""
    from skimage.transform import resize

    from .data import load_faces

    return np.stack([np.clip(resize(f, (SIZE, SIZE), order=3, mode="reflect", anti_aliasing=False), 0, 1) for f in load_faces()])


def training_pairs(seed: int, copies: int = 3):
    """Degraded / clean training tensors (N, 1, 32, 32): faces 0-79 and their mirror images, each degraded
    ``copies`` times by a type drawn at random (``numpy`` generator seeded with ``seed``)."""
    check_positive(copies, "copies", integer=True)
    faces = face_images()
    rng = np.random.default_rng(seed)
    train_faces = np.concatenate([faces[:80], faces[:80, :, ::-1]])
    pairs = [(degrade_face(f, DEGRADATIONS[rng.integers(len(DEGRADATIONS))], rng), f) for f in train_faces for _ in range(copies)]
    x = torch.tensor(np.stack([p[0] for p in pairs]), dtype=torch.float32)[:, None]
    y = torch.tensor(np.stack([p[1] for p in pairs]), dtype=torch.float32)[:, None]
    return x, y


def test_set(seed: int):
    """The 20 held-out faces (80-99): clean (20, 1, 32, 32) and ``{type: degraded (20, 1, 32, 32)}``; face ``i`` is
    degraded with a generator seeded ``seed + i`` (the same draw for every type)."""
    faces = face_images()[80:]
    clean = torch.tensor(faces, dtype=torch.float32)[:, None]
    test = {k: torch.tensor(np.stack([degrade_face(f, k, np.random.default_rng(seed + i)) for i, f in enumerate(faces)]),
                            dtype=torch.float32)[:, None] for k in DEGRADATIONS}
    return clean, test
