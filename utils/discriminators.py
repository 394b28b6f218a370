"""Discriminators of the image-translation chapters: PatchGAN, a multi-scale discriminator, feature matching.

- :class:`PatchGAN` and :func:`patchgan_receptive_field`: the pix2pix discriminator (Isola et al., CVPR 2017,
  Sec. 3.2.2 and the appendix), taught in chapters/pix2pix.md.
- :class:`MultiScaleDiscriminator` and :func:`feature_matching_loss`: pix2pixHD (Wang et al., CVPR 2018, eqs. 3-4),
  taught in chapters/pix2pixhd.md and reused by chapters/hifacegan.md.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_positive, check_tensor

__all__ = [
    "patchgan_layers",
    "receptive_field",
    "patchgan_receptive_field",
    "PatchGAN",
    "MultiScaleDiscriminator",
    "feature_matching_loss",
]


def patchgan_layers(n_layers: int) -> list[tuple[int, int]]:
    """The (kernel, stride) of each convolution of a PatchGAN with ``n_layers`` stride-2 layers.

    ``n_layers = 0`` is the "PixelGAN" of pix2pix: 1x1 convolutions only. ``n_layers >= 1`` follows the
    official layout: ``n_layers`` 4x4 stride-2 convolutions, then one 4x4 stride-1 convolution, then the 4x4
    stride-1 output convolution.
    """
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 0:
        raise ValueError(f"patchgan_layers: n_layers must be an integer >= 0, got {n_layers!r}")
    if n_layers == 0:
        return [(1, 1), (1, 1), (1, 1)]
    return [(4, 2)] * n_layers + [(4, 1), (4, 1)]


def receptive_field(layers) -> int:
    """Receptive field (pixels, one side) of one output unit of a chain of convolutions.

    ``layers`` is a sequence of ``(kernel, stride)`` pairs, first layer first. Walking back from one output
    pixel, each layer turns a field of ``r`` pixels into ``(r - 1) * stride + kernel`` pixels.
    """
    layers = list(layers)
    if not layers:
        raise ValueError("receptive_field: expected at least one (kernel, stride) pair")
    r = 1
    for pair in reversed(layers):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"receptive_field: expected (kernel, stride) pairs, got {pair!r}")
        k, s = pair
        check_positive(k, "kernel", integer=True)
        check_positive(s, "stride", integer=True)
        r = (r - 1) * s + k
    return r


def patchgan_receptive_field(n_layers: int) -> int:
    """Receptive field of a :class:`PatchGAN` with ``n_layers``: 1, 16, 34, 70, 142, 286 px for 0..5 layers."""
    return receptive_field(patchgan_layers(n_layers))


class PatchGAN(nn.Module):
    """The pix2pix "PatchGAN" discriminator (Isola et al. 2017, Sec. 3.2.2). Taught in chapters/pix2pix.md.

    Classifies every overlapping patch of its input as real or fake: the output is a map of logits, one per
    patch of ``patchgan_receptive_field(n_layers)`` pixels. Channels double at every layer up to
    ``8 * width``; the first layer has no normalisation, the others instance norm (the official default is
    batch norm; instance norm behaves the same way with the book's small batches). Zero padding 1 for the
    4x4 convolutions, as in the official code. ``forward(x, return_features=True)`` also returns the
    activations after every hidden layer (for the feature-matching loss of pix2pixHD).
    """

    def __init__(self, in_channels: int, width: int = 16, n_layers: int = 3, norm: bool = True):
        super().__init__()
        check_positive(in_channels, "in_channels", integer=True)
        check_positive(width, "width", integer=True)
        spec = patchgan_layers(n_layers)
        self.n_layers = n_layers
        chans = [in_channels] + [width * min(2**i, 8) for i in range(len(spec) - 1)] + [1]
        blocks = []
        for i, (k, s) in enumerate(spec):
            pad = 0 if k == 1 else 1
            layer = [nn.Conv2d(chans[i], chans[i + 1], k, s, pad)]
            last = i == len(spec) - 1
            if not last:
                if norm and i > 0:
                    layer.append(nn.InstanceNorm2d(chans[i + 1], affine=True))
                layer.append(nn.LeakyReLU(0.2))
            blocks.append(nn.Sequential(*layer))
        self.blocks = nn.ModuleList(blocks)
        self.in_channels = in_channels

    @property
    def receptive_field(self) -> int:
        return patchgan_receptive_field(self.n_layers)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        check_tensor(x, "x", ndim=4, channels=self.in_channels)
        feats = []
        h = x
        for b in self.blocks:
            h = b(h)
            feats.append(h)
        return (h, feats[:-1]) if return_features else h


class MultiScaleDiscriminator(nn.Module):
    """pix2pixHD's multi-scale discriminator (Wang et al. 2018, Sec. 3.2). Taught in chapters/pix2pixhd.md.

    ``num_d`` PatchGANs of the same architecture; discriminator ``i`` sees the input downsampled ``i``
    times by 3x3 average pooling with stride 2 (padding 1, padding excluded from the average, as in the
    official code). ``forward`` returns a list, finest scale first, of ``(logits, features)``. ``norm=False``
    drops the instance norms (whose image-wide statistics let every output see the whole input), e.g. to
    measure receptive fields.
    """

    def __init__(self, in_channels: int, width: int = 16, n_layers: int = 2, num_d: int = 2, norm: bool = True):
        super().__init__()
        check_positive(num_d, "num_d", integer=True)
        self.in_channels = in_channels
        self.ds = nn.ModuleList(PatchGAN(in_channels, width, n_layers, norm=norm) for _ in range(num_d))

    @staticmethod
    def downsample(x: torch.Tensor) -> torch.Tensor:
        """The pyramid step between scales: AvgPool 3x3, stride 2, padding 1, padding not counted."""
        return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor):
        check_tensor(x, "x", ndim=4, channels=self.in_channels)
        out = []
        for i, d in enumerate(self.ds):
            if i > 0:
                x = self.downsample(x)
            out.append(d(x, return_features=True))
        return out


def feature_matching_loss(fake_outputs, real_outputs, *, weighting: str = "mean") -> torch.Tensor:
    """pix2pixHD's feature-matching loss (Wang et al. 2018, eq. 4). Taught in chapters/pix2pixhd.md.

    ``fake_outputs`` and ``real_outputs`` are what :class:`MultiScaleDiscriminator` (a list of
    ``(logits, features)``) or :class:`PatchGAN` with ``return_features=True`` (one ``(logits, features)``)
    return for generated and real images. The loss is the L1 distance between matching intermediate
    features, averaged over the layers of each discriminator and summed over discriminators, divided by the
    number of discriminators (the official code's ``1 / num_D`` weighting). Real features are detached.

    ``weighting="official"`` matches pix2pixHD's ``pix2pixHD_model.py`` exactly: each layer's L1 is multiplied
    by ``4 / (n_layers_D + 1)`` and by ``1 / num_D`` and the layers are summed. A PatchGAN with ``n_layers``
    stride-2 layers has ``n_layers + 1`` hidden layers, so this is 4 times the ``"mean"`` weighting. The caller
    multiplies by ``lambda_feat`` (10 in the official code).
    """
    if weighting not in ("mean", "official"):
        raise ValueError(f"feature_matching_loss: weighting must be 'mean' or 'official', got {weighting!r}")
    if isinstance(fake_outputs, tuple) and len(fake_outputs) == 2 and isinstance(fake_outputs[0], torch.Tensor):
        fake_outputs, real_outputs = [fake_outputs], [real_outputs]
    if not isinstance(fake_outputs, (list, tuple)) or not isinstance(real_outputs, (list, tuple)):
        raise TypeError("feature_matching_loss: expected lists of (logits, features) from a discriminator")
    if len(fake_outputs) != len(real_outputs) or not fake_outputs:
        raise ValueError(
            f"feature_matching_loss: fake and real must come from the same discriminators, got {len(fake_outputs)} and {len(real_outputs)} scales"
        )
    total = 0.0
    for (_, ff), (_, rf) in zip(fake_outputs, real_outputs):
        if len(ff) != len(rf) or not ff:
            raise ValueError(f"feature_matching_loss: expected the same non-zero number of features, got {len(ff)} and {len(rf)}")
        per_d = 0.0
        for a, b in zip(ff, rf):
            if a.shape != b.shape:
                raise ValueError(f"feature_matching_loss: feature shapes differ: {tuple(a.shape)} and {tuple(b.shape)}")
            per_d = per_d + F.l1_loss(a, b.detach())
        total = total + per_d * ((4.0 / len(ff)) if weighting == "official" else (1.0 / len(ff)))
    return total / len(fake_outputs)
