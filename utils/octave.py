"""Octave convolution (Chen et al., ICCV 2019) and a hook-based cost counter.

Taught in chapters/octconv.md. A feature map is split into a *high-frequency group* at full
resolution and a *low-frequency group* at half resolution (a fraction ``alpha`` of the channels).
The octave-convolution update of the paper (Sec. 3, the layer equations for Y^H and Y^L),

    Y_H = f(X_H; W_HH) + Up(f(X_L; W_LH)),      Y_L = f(X_L; W_LL) + f(AvgPool2(X_H); W_HL),

is built from four ordinary convolutions; ``Up`` is nearest-neighbour upsampling by 2 and
``AvgPool2`` is 2x2 average pooling with stride 2, as in the official code.

The paper's cost formulas (FLOPs (1-a)^2 + a(1-a)/2 + a^2/4, memory 1 - 3a/4) are checked in the
chapter against what the layer really does, counted by :func:`utils.cost.measure_cost`.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_in_range, check_positive, check_tensor

__all__ = ["split_channels", "OctConv2d", "oct_pool", "oct_act"]


def split_channels(channels: int, alpha: float) -> tuple[int, int]:
    """Return ``(high, low)`` channel counts for ``channels`` channels with a low fraction ``alpha``.

    ``low = int(alpha * channels)`` (rounded down, as the official code does), ``high = channels - low``.
    Used by :class:`OctConv2d`; the split is the alpha of the OctConv paper (Sec. 3).
    """
    check_positive(channels, "channels", integer=True)
    check_in_range(alpha, "alpha", 0.0, 1.0)
    low = int(alpha * channels)
    return channels - low, low


def _as_pair(x, name: str):
    """Accept a tensor (all high) or a (high, low) tuple, either element possibly None."""
    if isinstance(x, torch.Tensor):
        return x, None
    if isinstance(x, (tuple, list)) and len(x) == 2:
        return x[0], x[1]
    raise TypeError(f"{name}: expected a tensor (N, C, H, W) or a (high, low) tuple of tensors, got {type(x).__name__}")


class OctConv2d(nn.Module):
    """Octave convolution with the four paths H->H, H->L, L->H, L->L (the Y^H, Y^L equations of OctConv Sec. 3; chapters/octconv.md).

    ``in_channels``/``out_channels`` count both groups; ``alpha_in``/``alpha_out`` are the fractions
    of low-frequency channels at the input and output (``alpha_in = 0`` for the first layer of a
    network, ``alpha_out = 0`` for the last). Stride 1, 'same' padding of an odd ``kernel_size``.

    ``forward`` takes a tensor (when ``alpha_in == 0``) or a ``(x_high, x_low)`` tuple, with ``x_low``
    at half the height and width of ``x_high``, and returns ``(y_high, y_low)``, ``None`` standing for
    an empty group. The high group's height and width must be even.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, alpha_in: float = 0.5,
                 alpha_out: float = 0.5, bias: bool = False):
        super().__init__()
        check_positive(kernel_size, "kernel_size", integer=True)
        if kernel_size % 2 == 0:
            raise ValueError(f"OctConv2d: kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.in_h, self.in_l = split_channels(in_channels, alpha_in)
        self.out_h, self.out_l = split_channels(out_channels, alpha_out)
        self.alpha_in, self.alpha_out = float(alpha_in), float(alpha_out)
        pad = kernel_size // 2

        def conv(i, o):
            return nn.Conv2d(i, o, kernel_size, padding=pad, bias=bias) if i > 0 and o > 0 else None

        self.conv_hh = conv(self.in_h, self.out_h)  # high -> high, full resolution
        self.conv_hl = conv(self.in_h, self.out_l)  # high -> low, after 2x2 average pooling
        self.conv_lh = conv(self.in_l, self.out_h)  # low -> high, at half resolution, then upsampled
        self.conv_ll = conv(self.in_l, self.out_l)  # low -> low, half resolution

    def forward(self, x):
        x_h, x_l = _as_pair(x, "OctConv2d")
        for t, n, name in ((x_h, self.in_h, "high"), (x_l, self.in_l, "low")):
            if n == 0:
                if t is not None:
                    raise ValueError(f"OctConv2d: this layer has no {name}-frequency input channels, but a {name} tensor was given")
            else:
                if t is None:
                    raise ValueError(f"OctConv2d: expected a {name}-frequency input with {n} channels, got None")
                check_tensor(t, f"OctConv2d {name} input", ndim=4, channels=n)
        if x_h is not None and (x_h.shape[-1] % 2 or x_h.shape[-2] % 2):
            raise ValueError(f"OctConv2d: the high group's height and width must be even, got {tuple(x_h.shape[-2:])}")
        if x_h is not None and x_l is not None and tuple(x_l.shape[-2:]) != (x_h.shape[-2] // 2, x_h.shape[-1] // 2):
            raise ValueError(f"OctConv2d: the low group must be half the size of the high group, got {tuple(x_l.shape[-2:])} "
                             f"and {tuple(x_h.shape[-2:])}")
        y_h = y_l = None
        if x_h is not None:
            if self.conv_hh is not None:
                y_h = self.conv_hh(x_h)
            if self.conv_hl is not None:
                y_l = self.conv_hl(F.avg_pool2d(x_h, 2))
        if x_l is not None:
            if self.conv_lh is not None:
                up = F.interpolate(self.conv_lh(x_l), scale_factor=2, mode="nearest")
                y_h = up if y_h is None else y_h + up
            if self.conv_ll is not None:
                ll = self.conv_ll(x_l)
                y_l = ll if y_l is None else y_l + ll
        return y_h, y_l

    def extra_repr(self) -> str:
        return f"high {self.in_h}->{self.out_h}, low {self.in_l}->{self.out_l}, alpha_in={self.alpha_in}, alpha_out={self.alpha_out}"


def oct_pool(x):
    """2x2 average pooling of both groups of an octave pair ``(high, low)`` (None stays None)."""
    x_h, x_l = _as_pair(x, "oct_pool")
    return tuple(None if t is None else F.avg_pool2d(t, 2) for t in (x_h, x_l))


def oct_act(x, fn=F.relu):
    """Apply ``fn`` (default ReLU) to both groups of an octave pair (None stays None)."""
    x_h, x_l = _as_pair(x, "oct_act")
    return tuple(None if t is None else fn(t) for t in (x_h, x_l))
