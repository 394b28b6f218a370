"""The PIRM chapter's miniature x4 generator and patch discriminator (shared by the chapter and its training script)."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from utils.sr import SubPixelUpsampler

__all__ = ["SmallSR", "SmallD"]


def _check_width(w, who):
    if isinstance(w, bool) or not isinstance(w, int) or w < 1:
        raise ValueError(f"{who}: width w must be a positive integer, got {w!r}")


class SmallSR(nn.Module):
    """x4 super-resolution: bicubic upsampling plus a learned residual (three 3x3 convolutions, sub-pixel x2 x2)."""

    def __init__(self, w: int = 24):
        super().__init__()
        _check_width(w, "SmallSR")
        self.body = nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.PReLU(w),
                                  nn.Conv2d(w, w, 3, padding=1), nn.PReLU(w),
                                  nn.Conv2d(w, w, 3, padding=1), nn.PReLU(w))
        self.up = SubPixelUpsampler(w, 4)
        self.out = nn.Conv2d(w, 3, 3, padding=1)

    def forward(self, lr):
        if lr.dim() != 4 or lr.shape[1] != 3:
            raise ValueError(f"SmallSR: expected a (N, 3, H, W) batch, got shape {tuple(lr.shape)}")
        base = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
        return base + self.out(self.up(self.body(lr)))


class SmallD(nn.Module):
    """Patch discriminator for 48x48 images: three strided 4x4 convolutions, one logit per 6x6 patch."""

    def __init__(self, w: int = 16):
        super().__init__()
        _check_width(w, "SmallD")
        self.net = nn.Sequential(nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(2 * w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(2 * w, 1, 3, padding=1))

    def forward(self, x):
        return self.net(x)
