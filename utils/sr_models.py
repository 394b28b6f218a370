"""Small super-resolution networks in the patterns of SRGAN and ESRGAN, sized for a CPU miniature.

- :class:`SRResNet`: SRGAN's generator pattern (Ledig et al. 2017, Fig. 4): a wide first convolution
  and PReLU, residual blocks [conv, BN, PReLU, conv, BN, + skip], a convolution + BN with a long skip,
  sub-pixel upsampling (:class:`utils.sr.SubPixelUpsampler`) and an output convolution.
  ``bn=False`` removes every BatchNorm (the ESRGAN ablation).
- :class:`SRGANDiscriminator`: SRGAN's discriminator pattern: conv + LeakyReLU(0.2) without BN, then
  pairs of [conv stride 1, conv stride 2] with BN and LeakyReLU, doubling the width after each pair,
  then two dense layers. Returns logits (the sigmoid lives in the losses of :mod:`utils.gan`).
- :class:`ResidualDenseBlock`, :class:`RRDB`, :class:`RRDBNet`: ESRGAN's generator (Wang et al. 2018,
  Fig. 4): dense blocks of five convolutions with LeakyReLU(0.2), residual scaling 0.2 inside and
  around each RRDB, no BatchNorm, Kaiming initialisation scaled by 0.1 of the dense blocks' convolutions, nearest-neighbour upsampling
  followed by convolutions.
- :func:`interpolate_state_dicts`: ESRGAN's network interpolation (Sec. 3.4).

Taught in chapters/srgan.md and chapters/esrgan.md.
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_in_range, check_positive, check_tensor
from .sr import SubPixelUpsampler

__all__ = [
    "ResidualBlock",
    "SRResNet",
    "SRGANDiscriminator",
    "ResidualDenseBlock",
    "RRDB",
    "RRDBNet",
    "scaled_kaiming_init",
    "interpolate_state_dicts",
]


def _check_scale(scale) -> int:
    check_positive(scale, "scale", integer=True)
    if scale not in (2, 4, 8):
        raise ValueError(f"scale: expected 2, 4 or 8 (stages of x2), got {scale}")
    return int(scale)


class ResidualBlock(nn.Module):
    """SRGAN's residual block: x + BN(conv(PReLU(BN(conv(x))))), 3x3 convolutions of ``channels``.

    ``bn=False`` drops both BatchNorm layers (the convolutions then carry a bias).
    """

    def __init__(self, channels: int, *, bn: bool = True):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        norm = (lambda: nn.BatchNorm2d(channels)) if bn else nn.Identity
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=not bn), norm(), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=not bn), norm(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """A small SRResNet (SRGAN's generator): ``n_blocks`` residual blocks of ``channels`` at low resolution.

    Input (N, 3, h, w) in [0, 1]; output (N, 3, scale*h, scale*w), not clamped. The paper uses 64
    channels, 16 blocks, 9x9 first and last convolutions (1.5 M parameters); the defaults here
    (32 channels, 4 blocks, 9x9 first and 3x3 last) keep a CPU step cheap. With ``global_skip`` (off by
    default, as in SRGAN) the network predicts a residual over a bicubic upsampling of the input
    (``torch.nn.functional.interpolate``), which lets a short training run start at bicubic quality.
    """

    def __init__(self, channels: int = 32, n_blocks: int = 4, scale: int = 4, *, bn: bool = True,
                 head_kernel: int = 9, tail_kernel: int = 3, global_skip: bool = False):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        check_positive(n_blocks, "n_blocks", integer=True, allow_zero=True)
        for k, name in ((head_kernel, "head_kernel"), (tail_kernel, "tail_kernel")):
            check_positive(k, name, integer=True)
            if k % 2 == 0:
                raise ValueError(f"{name}: expected an odd kernel size, got {k}")
        self.scale = _check_scale(scale)
        self.global_skip = bool(global_skip)
        self.head = nn.Sequential(nn.Conv2d(3, channels, head_kernel, padding=head_kernel // 2), nn.PReLU(channels))
        self.blocks = nn.Sequential(*[ResidualBlock(channels, bn=bn) for _ in range(n_blocks)])
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=not bn), nn.BatchNorm2d(channels) if bn else nn.Identity()
        )
        self.upsample = SubPixelUpsampler(channels, self.scale)
        self.tail = nn.Conv2d(channels, 3, tail_kernel, padding=tail_kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=4, channels=3)
        h = self.head(x)
        h = h + self.trunk(self.blocks(h))
        out = self.tail(self.upsample(h))
        if self.global_skip:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


class SRGANDiscriminator(nn.Module):
    """SRGAN's discriminator pattern at a small width, for ``input_size`` x ``input_size`` RGB images.

    conv3x3(widths[0]) + LeakyReLU(0.2) (no BN); conv3x3 stride 2; then for every further width a
    stride-1 and a stride-2 conv3x3; each of those with BN (if ``bn``) and LeakyReLU(0.2); then
    Linear(hidden), LeakyReLU(0.2), Linear(1). Returns logits of shape (N, 1). The paper: widths
    64..512 (eight convolutions), 1024 hidden units, 96x96 inputs.
    """

    def __init__(self, input_size: int = 32, widths=(16, 32, 64), hidden: int = 64, *, bn: bool = True):
        super().__init__()
        check_positive(input_size, "input_size", integer=True)
        check_positive(hidden, "hidden", integer=True)
        widths = tuple(widths)
        if not widths or not all(isinstance(w, numbers.Integral) and w > 0 for w in widths):
            raise ValueError(f"widths: expected a non-empty sequence of positive integers, got {widths!r}")
        if input_size % 2 ** len(widths):
            raise ValueError(f"input_size {input_size} must be divisible by 2**len(widths) = {2 ** len(widths)}")
        self.input_size = int(input_size)
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())  # noqa: E731
        layers = [nn.Conv2d(3, widths[0], 3, padding=1), act()]
        c = widths[0]
        for i, w in enumerate(widths):
            if i > 0:
                layers += [nn.Conv2d(c, w, 3, 1, 1, bias=not bn), norm(w), act()]
                c = w
            layers += [nn.Conv2d(c, c, 3, 2, 1, bias=not bn), norm(c), act()]
        self.features = nn.Sequential(*layers)
        side = input_size // 2 ** len(widths)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * side * side, hidden), act(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=4, channels=3)
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(f"x: expected {self.input_size}x{self.input_size} images, got {tuple(x.shape[-2:])}")
        return self.head(self.features(x))


def scaled_kaiming_init(module: nn.Module, scale: float = 0.1) -> nn.Module:
    """Kaiming-normal initialisation of every Conv2d/Linear weight in ``module``, multiplied by ``scale``; biases 0.

    ESRGAN's "smaller initialisation" (Sec. 3.1, scale 0.1 in its code) makes each residual branch
    start close to zero, so a deep residual network starts close to the identity. Returns ``module``.
    """
    check_positive(scale, "scale")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0.0, mode="fan_in")
            with torch.no_grad():
                m.weight.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


class ResidualDenseBlock(nn.Module):
    """ESRGAN's residual dense block: five 3x3 convolutions, each seeing the input and all earlier outputs.

    conv1-4 produce ``growth`` channels each and are followed by LeakyReLU(0.2); conv5 maps the
    concatenation back to ``channels``; the output is ``x + beta * conv5(...)`` (residual scaling,
    ``beta`` = 0.2). No BatchNorm. The five convolutions are initialised by :func:`scaled_kaiming_init`
    with ``init_scale`` (0.1, ESRGAN's "smaller initialisation", as BasicSR does for exactly these five
    convolutions); ``init_scale=None`` keeps PyTorch's default initialisation.
    """

    def __init__(self, channels: int = 16, growth: int = 8, beta: float = 0.2, *, init_scale: float | None = 0.1):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        check_positive(growth, "growth", integer=True)
        check_positive(beta, "beta")
        self.beta = float(beta)
        self.convs = nn.ModuleList(nn.Conv2d(channels + i * growth, growth if i < 4 else channels, 3, padding=1) for i in range(5))
        if init_scale is not None:  # as BasicSR's rrdbnet_arch.py: default_init_weights([conv1, ..., conv5], 0.1)
            scaled_kaiming_init(self, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(feats, dim=1))
            if i < 4:
                feats.append(F.leaky_relu(out, 0.2))
        return x + self.beta * out


class RRDB(nn.Module):
    """Residual-in-residual dense block: three :class:`ResidualDenseBlock` in sequence, x + beta * RDBs(x).

    As in ESRGAN's code, the three dense blocks are themselves residual, so RDBs(x) is close to x at
    initialisation and the block starts near (1 + beta) x.
    """

    def __init__(self, channels: int = 16, growth: int = 8, beta: float = 0.2, *, init_scale: float | None = 0.1):
        super().__init__()
        check_positive(beta, "beta")
        self.beta = float(beta)
        self.rdbs = nn.Sequential(*[ResidualDenseBlock(channels, growth, beta, init_scale=init_scale) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.beta * self.rdbs(x)


class RRDBNet(nn.Module):
    """A tiny ESRGAN generator: conv, ``n_blocks`` RRDBs + conv with a long skip, x2 stages of
    [nearest upsampling, conv, LeakyReLU(0.2)], conv + LeakyReLU, output conv.

    The paper: 64 channels, growth 32, 23 RRDBs (16.7 M parameters). As in ESRGAN's code (BasicSR
    ``rrdbnet_arch.py``), only the five convolutions inside each dense block are initialised by
    :func:`scaled_kaiming_init` with ``init_scale`` (0.1); the first, trunk, upsampling and output
    convolutions keep PyTorch's default initialisation. No BatchNorm. Input
    (N, 3, h, w) in [0, 1]; output (N, 3, scale*h, scale*w), not clamped. ``global_skip`` (off by
    default, as in ESRGAN) adds a bicubic upsampling of the input to the output, as in :class:`SRResNet`.
    """

    def __init__(self, channels: int = 16, growth: int = 8, n_blocks: int = 2, scale: int = 4, *, init_scale: float = 0.1,
                 global_skip: bool = False):
        super().__init__()
        check_positive(channels, "channels", integer=True)
        check_positive(growth, "growth", integer=True)
        check_positive(n_blocks, "n_blocks", integer=True)
        self.scale = _check_scale(scale)
        self.first = nn.Conv2d(3, channels, 3, padding=1)
        self.trunk = nn.Sequential(*[RRDB(channels, growth, init_scale=init_scale) for _ in range(n_blocks)])
        self.trunk_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.ups = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(int(math.log2(self.scale))))
        self.hr_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.last = nn.Conv2d(channels, 3, 3, padding=1)
        self.global_skip = bool(global_skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=4, channels=3)
        h = self.first(x)
        h = h + self.trunk_conv(self.trunk(h))
        for conv in self.ups:
            h = F.leaky_relu(conv(F.interpolate(h, scale_factor=2, mode="nearest")), 0.2)
        out = self.last(F.leaky_relu(self.hr_conv(h), 0.2))
        if self.global_skip:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


def interpolate_state_dicts(a: dict, b: dict, alpha: float) -> dict:
    """Network interpolation (ESRGAN Sec. 3.4): theta = (1 - alpha) * theta_a + alpha * theta_b, key by key.

    ``a`` and ``b``: state dicts of the same architecture (e.g. the PSNR-oriented and the GAN-fine-tuned
    generator); ``alpha`` in [0, 1]. Floating-point entries are interpolated; integer entries (such as
    BatchNorm's ``num_batches_tracked``) are copied from the nearer end (``a`` if alpha < 0.5). Returns a new dict of new tensors
    (load it with ``model.load_state_dict``). Taught in chapters/esrgan.md.
    """
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise TypeError(f"interpolate_state_dicts: expected two state dicts, got {type(a).__name__} and {type(b).__name__}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"interpolate_state_dicts: alpha must be a number in [0, 1], got {alpha!r}")
    check_in_range(float(alpha), "alpha", 0.0, 1.0)
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise ValueError(f"interpolate_state_dicts: the two networks differ in keys (only in a: {only_a[:3]}, only in b: {only_b[:3]})")
    out = {}
    for k, va in a.items():
        vb = b[k]
        if not isinstance(va, torch.Tensor) or not isinstance(vb, torch.Tensor):
            raise TypeError(f"interpolate_state_dicts: entry {k!r} is not a tensor in both dicts")
        if va.shape != vb.shape:
            raise ValueError(f"interpolate_state_dicts: entry {k!r} has shapes {tuple(va.shape)} and {tuple(vb.shape)}")
        if torch.is_floating_point(va):
            out[k] = (1.0 - alpha) * va.detach() + alpha * vb.detach().to(va.dtype)
        else:
            out[k] = (va if alpha < 0.5 else vb).clone()
    return out
