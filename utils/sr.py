"""Super-resolution data and the sub-pixel upsampler, shared by the SR chapters (SRGAN, ESRGAN, SRFlow, PIRM)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .checks import check_positive
from .data import PHOTO_NAMES, load_image, random_crops
from .degrade import bicubic_down

__all__ = ["sr_patch_pairs", "SubPixelUpsampler"]


def sr_patch_pairs(n: int, hr_size: int, scale: int, *, names=PHOTO_NAMES, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (low-res, high-res) training pairs from packaged photos.

    Draws ``n`` random ``hr_size`` crops spread over ``names`` and makes each low-resolution input by
    MATLAB-style antialiased bicubic downscaling by ``scale`` (the degradation of SRGAN, ESRGAN and
    PIRM). Returns float32 tensors ``(lr (n, 3, hr/scale, hr/scale), hr (n, 3, hr, hr))`` in [0, 1].
    Hold out a photo (pass different ``names``) to test on unseen content.
    """
    check_positive(n, "n", integer=True)
    check_positive(hr_size, "hr_size", integer=True)
    check_positive(scale, "scale", integer=True)
    if hr_size % scale:
        raise ValueError(f"sr_patch_pairs: hr_size {hr_size} must be a multiple of scale {scale}")
    names = list(names)
    if not names:
        raise ValueError("sr_patch_pairs: expected at least one image name")
    per = [n // len(names) + (1 if i < n % len(names) else 0) for i in range(len(names))]
    hr = []
    for i, (name, k) in enumerate(zip(names, per)):
        if k:
            hr.append(random_crops(load_image(name, gray=False), k, hr_size, seed=seed * 1000 + i))
    hr = np.concatenate(hr)
    lr = np.stack([bicubic_down(h, scale) for h in hr])
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float()  # noqa: E731
    return to_t(lr), to_t(hr)


class SubPixelUpsampler(nn.Sequential):
    """Sub-pixel convolution (Shi et al. 2016): conv3x3 to C*r^2 channels, PixelShuffle(r), activation.

    PixelShuffle only rearranges: output[c, y*r+i, x*r+j] = input[c*r^2 + i*r + j, y, x]. Taught in
    chapters/srgan.md. ``scale`` must be a power of two (stages of x2) or 3.
    """

    def __init__(self, channels: int, scale: int, activation: nn.Module | None = None):
        check_positive(channels, "channels", integer=True)
        check_positive(scale, "scale", integer=True)
        if scale == 3:
            stages = [(3,)]
        elif scale & (scale - 1) == 0 and scale >= 2:
            stages = [(2,)] * int(np.log2(scale))
        else:
            raise ValueError(f"SubPixelUpsampler: scale must be 2, 3, 4, 8 ..., got {scale}")
        layers = []
        for (r,) in stages:
            layers += [nn.Conv2d(channels, channels * r * r, 3, padding=1), nn.PixelShuffle(r)]
            layers.append(activation if activation is not None else nn.PReLU(channels))
        super().__init__(*layers)
