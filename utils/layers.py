"""Layers that several chapters use. Each docstring names the paper's equation and the chapter that teaches it."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_tensor

__all__ = ["SPADE", "SPADEResBlock"]


class SPADE(nn.Module):
    """Spatially-adaptive denormalisation (Park et al., CVPR 2019, eq. 1). Taught in chapters/spade.md.

    ``out = norm(x) * (1 + gamma(m)) + beta(m)``, where ``norm`` is a normalisation without its
    own affine parameters (instance or batch norm) and ``gamma``, ``beta`` are per-pixel,
    per-channel maps predicted from the label map ``m`` (resized to ``x`` by nearest neighbour)
    by a shared conv3x3 + ReLU followed by one conv3x3 each, as in the official code.
    """

    def __init__(self, channels: int, label_channels: int, hidden: int = 128, norm: str = "instance"):
        super().__init__()
        if norm == "instance":
            self.norm = nn.InstanceNorm2d(channels, affine=False)
        elif norm == "batch":
            self.norm = nn.BatchNorm2d(channels, affine=False)
        else:
            raise ValueError(f"SPADE: norm must be 'instance' or 'batch', got {norm!r}")
        self.label_channels = label_channels
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.to_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.to_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def modulation(self, x: torch.Tensor, labelmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the per-pixel ``(gamma, beta)`` maps, each shaped like ``x``."""
        check_tensor(labelmap, "labelmap", ndim=4, channels=self.label_channels)
        m = F.interpolate(labelmap, size=x.shape[-2:], mode="nearest")
        h = self.shared(m)
        return self.to_gamma(h), self.to_beta(h)

    def forward(self, x: torch.Tensor, labelmap: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=4)
        gamma, beta = self.modulation(x, labelmap)
        return self.norm(x) * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    """SPADE residual block (Park et al. 2019, Fig. 4 right): [SPADE, ReLU, conv3x3] x 2 plus a skip.

    When the channel count changes, the skip path is SPADE then conv1x1 (no activation), as in the official code.
    The official block uses LeakyReLU(0.2) and spectral norm; this miniature uses LeakyReLU(0.2)
    and no spectral norm. Taught in chapters/spade.md; reused by chapters/hifacegan.md.
    """

    def __init__(self, fin: int, fout: int, label_channels: int, hidden: int = 128, norm: str = "instance"):
        super().__init__()
        fmid = min(fin, fout)
        self.norm0 = SPADE(fin, label_channels, hidden, norm)
        self.conv0 = nn.Conv2d(fin, fmid, 3, padding=1)
        self.norm1 = SPADE(fmid, label_channels, hidden, norm)
        self.conv1 = nn.Conv2d(fmid, fout, 3, padding=1)
        self.learned_skip = fin != fout
        if self.learned_skip:
            self.norm_s = SPADE(fin, label_channels, hidden, norm)
            self.conv_s = nn.Conv2d(fin, fout, 1, bias=False)

    def forward(self, x: torch.Tensor, labelmap: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        skip = self.conv_s(self.norm_s(x, labelmap)) if self.learned_skip else x
        dx = self.conv0(act(self.norm0(x, labelmap)))
        dx = self.conv1(act(self.norm1(dx, labelmap)))
        return skip + dx
