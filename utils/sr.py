"""Super-resolution data and the sub-pixel upsampler, shared by the SR chapters (SRGAN, ESRGAN, SRFlow, PIRM)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .checks import check_positive
from .data import PHOTO_NAMES, load_image, random_crops
from .degrade import bicubic_down, bicubic_up

__all__ = ["sr_patch_pairs", "sr_split_pairs", "SubPixelUpsampler"]


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


def sr_split_pairs(n: int, hr_size: int, scale: int, *, split: str, names=PHOTO_NAMES, seed: int = 0,
                   test_fraction: float = 0.25, min_detail: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (low-res, high-res) pairs from a column split of every photo in ``names``.

    ``split="train"`` draws crops from the left ``1 - test_fraction`` of each photo's columns,
    ``split="test"`` from the right ``test_fraction``, so a training and a test set never share a
    pixel while both cover every photo's kind of content. ``n`` crops are spread evenly over ``names``;
    the low-resolution inputs are MATLAB-style bicubic downscalings by ``scale``, as in
    :func:`sr_patch_pairs`. Returns float32 tensors ``(lr, hr)`` of shapes (n, 3, hr/scale, hr/scale)
    and (n, 3, hr, hr) in [0, 1].

    ``min_detail`` > 0 keeps only crops that carry detail the low-resolution input lacks: the RMS
    difference between the crop and the bicubic upscaling of its input must be at least ``min_detail``
    (on [0, 1] values; 0.01 excludes crops where bicubic interpolation is already above 40 dB PSNR, such
    as sky or out-of-focus background, whose PSNR would swamp a per-crop average). Candidates are drawn
    from the same seeded stream until enough pass; a photo part with too few such crops is an error.
    Taught in chapters/srgan.md and chapters/esrgan.md.
    """
    check_positive(n, "n", integer=True)
    check_positive(hr_size, "hr_size", integer=True)
    check_positive(scale, "scale", integer=True)
    if hr_size % scale:
        raise ValueError(f"sr_split_pairs: hr_size {hr_size} must be a multiple of scale {scale}")
    if split not in ("train", "test"):
        raise ValueError(f"sr_split_pairs: split must be 'train' or 'test', got {split!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"sr_split_pairs: test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
    if isinstance(min_detail, bool) or not isinstance(min_detail, (int, float)) or not 0 <= min_detail < 1:
        raise ValueError(f"sr_split_pairs: min_detail must be a number in [0, 1), got {min_detail!r}")
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError("sr_split_pairs: expected at least one image name")
    per = [n // len(names) + (1 if i < n % len(names) else 0) for i in range(len(names))]
    hr = []
    for i, (name, k) in enumerate(zip(names, per)):
        if not k:
            continue
        img = load_image(name, gray=False)
        cut = img.shape[1] - int(np.ceil(img.shape[1] * test_fraction))
        part = img[:, :cut] if split == "train" else img[:, cut:]
        if min(part.shape[:2]) < hr_size:
            raise ValueError(f"sr_split_pairs: the {split} part of {name!r} ({part.shape[0]}x{part.shape[1]}) "
                             f"is smaller than the crop size {hr_size}")
        if min_detail <= 0:
            hr.append(random_crops(part, k, hr_size, seed=seed * 1000 + i))
            continue
        cands = random_crops(part, 40 * k, hr_size, seed=seed * 1000 + i)
        keep = []
        for c in cands:  # in the seeded order, until k crops pass
            if np.sqrt(np.mean((c - np.clip(bicubic_up(bicubic_down(c, scale), scale), 0, 1)) ** 2)) >= min_detail:
                keep.append(c)
                if len(keep) == k:
                    break
        if len(keep) < k:
            raise ValueError(f"sr_split_pairs: only {len(keep)} of {40 * k} candidate crops of the {split} part of "
                             f"{name!r} have detail >= {min_detail}; lower min_detail or leave the photo out")
        hr.append(np.stack(keep))
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
