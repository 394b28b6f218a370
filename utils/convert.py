"""Conversions between the book's two image layouts: numpy (H, W[, C]) and torch (N, C, H, W)."""
from __future__ import annotations

import numpy as np

from .checks import as_image

__all__ = ["to_tensor", "to_numpy", "rgb_to_y"]


def to_tensor(images, *, device=None, dtype=None):
    """numpy image (H, W[, C]) or stack (N, H, W[, C]) in [0, 1] -> float32 tensor (N, C, H, W)."""
    import torch

    arr = np.asarray(images)
    if arr.ndim in (2, 3) and not (arr.ndim == 3 and arr.shape[-1] not in (1, 3)):
        arr = as_image(arr)[None]
    elif arr.ndim in (3, 4):
        arr = np.stack([as_image(a, f"images[{i}]") for i, a in enumerate(arr)])
    else:
        raise ValueError(f"to_tensor: expected (H, W[, C]) or (N, H, W[, C]) images, got shape {arr.shape}")
    if arr.ndim == 3:
        arr = arr[..., None]
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).to(dtype or torch.float32)
    return t.to(device) if device is not None else t


def to_numpy(t, *, clip: bool = True) -> np.ndarray:
    """Tensor (N, C, H, W) or (C, H, W) -> float64 numpy (N, H, W, C) or (H, W, C); C = 1 is squeezed."""
    import torch

    if not isinstance(t, torch.Tensor):
        raise TypeError(f"to_numpy: expected a torch tensor, got {type(t).__name__}")
    if t.ndim not in (3, 4):
        raise ValueError(f"to_numpy: expected (N, C, H, W) or (C, H, W), got shape {tuple(t.shape)}")
    a = t.detach().float().cpu().numpy().astype(np.float64)
    a = np.moveaxis(a, -3, -1)
    if a.shape[-1] == 1:
        a = a[..., 0]
    return np.clip(a, 0.0, 1.0) if clip else a


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """Luma Y of ITU-R BT.601 (as MATLAB ``rgb2ycbcr``), scaled to [0, 1]: (16 + 65.481 R + 128.553 G + 24.966 B) / 255.

    Grey (H, W) input is returned as it is.
    """
    image = as_image(image)
    if image.ndim == 2:
        return image
    return (16.0 + image @ np.array([65.481, 128.553, 24.966])) / 255.0
