"""Seeded degradations: JPEG, Gaussian blur, Gaussian noise, and MATLAB-style bicubic resizing.

Every function takes and returns float images in [0, 1] of shape (H, W) or (H, W, 3).
Randomness comes only from the ``seed`` argument.
"""
from __future__ import annotations

import io
import math

import numpy as np

from .checks import as_image, check_in_range, check_positive

__all__ = ["jpeg", "gaussian_blur", "gaussian_noise", "imresize", "bicubic_down", "bicubic_up", "to_uint8"]


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round a [0, 1] float image to uint8 (0..255), as image files store it."""
    image = as_image(image)
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Compress ``image`` with Pillow's JPEG encoder at ``quality`` (1..95) and decode it again.

    Colour images use Pillow's default 4:2:0 chroma subsampling; grey images are coded as one channel.
    """
    from PIL import Image

    image = as_image(image)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
        raise TypeError(f"jpeg: quality must be an integer in [1, 95], got {quality!r}")
    check_in_range(int(quality), "quality", 1, 95)
    arr = to_uint8(image)
    squeeze = arr.ndim == 3 and arr.shape[2] == 1
    if squeeze:
        arr = arr[..., 0]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    out = np.asarray(Image.open(buf), dtype=np.float64) / 255.0
    return out[..., None] if squeeze else out


def _gauss_kernel1d(sigma: float) -> np.ndarray:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blur with a separable Gaussian of standard deviation ``sigma`` pixels (radius 3 sigma, reflected borders)."""
    from scipy.ndimage import convolve1d

    image = as_image(image)
    check_positive(sigma, "sigma", allow_zero=True)
    if sigma == 0:
        return image.copy()
    k = _gauss_kernel1d(float(sigma))
    out = convolve1d(image, k, axis=0, mode="reflect")
    return convolve1d(out, k, axis=1, mode="reflect")


def gaussian_noise(image: np.ndarray, sigma: float, *, seed: int = 0, clip: bool = True) -> np.ndarray:
    """Add white Gaussian noise of standard deviation ``sigma`` (in [0, 1] units), seeded, clipped to [0, 1]."""
    image = as_image(image)
    check_positive(sigma, "sigma", allow_zero=True)
    rng = np.random.default_rng(seed)
    out = image + rng.normal(0.0, float(sigma), size=image.shape)
    return np.clip(out, 0.0, 1.0) if clip else out


def _cubic(x: np.ndarray) -> np.ndarray:
    # Keys' cubic convolution kernel with a = -0.5, as MATLAB's imresize uses.
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def _resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    """Dense (out_len, in_len) matrix of MATLAB imresize's bicubic contributions along one axis."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel = lambda x: scale * _cubic(scale * x)  # noqa: E731 - stretched kernel low-pass filters
        kernel_width = kernel_width / scale
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - kernel_width / 2)
    p = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(p)[None, :]  # (out, p), 1-based
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    # symmetric (mirror) padding of out-of-range indices, as MATLAB does
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx0 = aux[np.mod(idx - 1, 2 * in_len).astype(np.int64)]
    m = np.zeros((out_len, in_len))
    np.add.at(m, (np.repeat(np.arange(out_len), p), idx0.ravel()), w.ravel())
    return m


def imresize(image: np.ndarray, scale: float, *, antialias: bool = True, value_range: tuple[float, float] | None = (0.0, 1.0)) -> np.ndarray:
    """Bicubic resize by ``scale`` exactly as MATLAB's ``imresize(im, scale)`` does on double images.

    Output size is ``ceil(scale * size)``; when shrinking, the cubic kernel is stretched by ``1/scale``
    (antialiasing), borders are mirrored. The result is not clipped. ``value_range=None`` accepts any
    real values (NIQE resizes 0..255 images).
    """
    image = as_image(image, value_range=value_range)
    check_positive(scale, "scale")
    h, w = image.shape[:2]
    oh, ow = int(math.ceil(h * scale)), int(math.ceil(w * scale))
    if oh < 1 or ow < 1:
        raise ValueError(f"imresize: scale {scale} makes an empty image from {h}x{w}")
    mh = _resize_matrix(h, oh, scale, antialias)
    mw = _resize_matrix(w, ow, scale, antialias)
    if image.ndim == 2:
        return mh @ image @ mw.T
    return np.einsum("oh,hwc,pw->opc", mh, image, mw, optimize=True)


def bicubic_down(image: np.ndarray, factor: int) -> np.ndarray:
    """Antialiased bicubic downscaling by an integer ``factor`` (MATLAB-style), clipped to [0, 1].

    The image's height and width must be multiples of ``factor``; crop first if they are not.
    """
    image = as_image(image)
    check_positive(factor, "factor", integer=True)
    h, w = image.shape[:2]
    if h % factor or w % factor:
        raise ValueError(f"bicubic_down: image size {h}x{w} is not a multiple of factor {factor}; crop it first")
    return np.clip(imresize(image, 1.0 / factor), 0.0, 1.0)


def bicubic_up(image: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic upscaling by an integer ``factor`` (MATLAB-style), clipped to [0, 1]."""
    image = as_image(image)
    check_positive(factor, "factor", integer=True)
    return np.clip(imresize(image, float(factor)), 0.0, 1.0)
