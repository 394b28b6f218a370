"""A small U-Net generator (Ronneberger et al. 2015, as used by pix2pix, Isola et al. 2017, Sec. 3.2.1).

Taught in chapters/pix2pix.md; reused as the "plain U-Net" baseline of chapters/hifacegan.md.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_in_range, check_positive, check_tensor

__all__ = ["UNet"]


class UNet(nn.Module):
    """Encoder-decoder with skip connections; optional dropout in the decoder is pix2pix's noise source.

    ``depth`` stride-2 encoder stages (4x4 convolutions, LeakyReLU 0.2, instance norm except on the first);
    the decoder mirrors them with nearest 2x upsampling followed by a 3x3 convolution (instead of pix2pix's
    transposed convolutions, which leave checkerboard patterns on tiny images), each taking the
    concatenation of the previous decoder output and the encoder output of the same scale (the skip). Channels
    are ``width * 2**i`` capped at ``width * max_mult``. ``dropout > 0`` adds dropout after the
    ``dropout_layers`` deepest decoder stages, as pix2pix does with p = 0.5 in three layers; call
    :meth:`enable_dropout` to keep it active in evaluation, as pix2pix does at test time. The output goes
    through ``out_act`` ("sigmoid" for images in [0, 1], "none" otherwise). ``residual=True`` adds the input
    to the output (the network predicts a correction; restoration): it needs ``out_act="none"`` and equal
    input and output channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 16,
        depth: int = 3,
        max_mult: int = 4,
        dropout: float = 0.0,
        dropout_layers: int = 3,
        out_act: str = "sigmoid",
        residual: bool = False,
    ):
        super().__init__()
        check_positive(in_channels, "in_channels", integer=True)
        check_positive(out_channels, "out_channels", integer=True)
        check_positive(width, "width", integer=True)
        check_positive(depth, "depth", integer=True)
        check_positive(max_mult, "max_mult", integer=True)
        check_in_range(dropout, "dropout", 0.0, 0.99)
        if out_act not in ("sigmoid", "none"):
            raise ValueError(f"UNet: out_act must be 'sigmoid' or 'none', got {out_act!r}")
        if residual and (in_channels != out_channels or out_act != "none"):
            raise ValueError("UNet: residual=True needs in_channels == out_channels and out_act='none'")
        self.in_channels, self.depth, self.out_act, self.residual = in_channels, depth, out_act, residual
        ch = [width * min(2**i, max_mult) for i in range(depth)]
        self.down = nn.ModuleList()
        prev = in_channels
        for i, c in enumerate(ch):
            layers = [nn.Conv2d(prev, c, 4, 2, 1)]
            if i > 0:
                layers.append(nn.InstanceNorm2d(c, affine=True))
            layers.append(nn.LeakyReLU(0.2))
            self.down.append(nn.Sequential(*layers))
            prev = c
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            cin = ch[i] if i == depth - 1 else 2 * ch[i]
            cout = ch[i - 1] if i > 0 else width
            layers = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1)]
            if i > 0:
                layers.append(nn.InstanceNorm2d(cout, affine=True))
            layers.append(nn.ReLU())
            deep_index = depth - 1 - i  # 0 for the deepest decoder stage
            if dropout > 0 and deep_index < dropout_layers and i > 0:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.out = nn.Conv2d(width + in_channels, out_channels, 3, 1, 1)

    def enable_dropout(self) -> "UNet":
        """Put the dropout layers (only) in training mode, so that they stay random at test time."""
        for m in self.modules():
            if isinstance(m, nn.Dropout):
                m.train()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=4, channels=self.in_channels)
        if x.shape[-1] % 2**self.depth or x.shape[-2] % 2**self.depth:
            raise ValueError(f"UNet: height and width must be multiples of 2**depth = {2**self.depth}, got {tuple(x.shape[-2:])}")
        skips, h = [], x
        for d in self.down:
            h = d(h)
            skips.append(h)
        for j, u in enumerate(self.up):
            if j > 0:
                h = torch.cat([h, skips[self.depth - 1 - j]], 1)
            h = u(h)
        y = self.out(torch.cat([h, x], 1))
        if self.residual:
            y = y + x
        return torch.sigmoid(y) if self.out_act == "sigmoid" else y
