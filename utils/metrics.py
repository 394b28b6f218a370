"""Full-reference image metrics: PSNR, SSIM and PSNR-B.

All take float images in [0, 1] (numpy (H, W[, C]) or tensors) and return Python floats.
PSNR and SSIM agree with ``skimage.metrics`` (tested); PSNR-B follows Yim & Bovik (2011).
"""
from __future__ import annotations

import math

import numpy as np

from .checks import as_image, check_positive, check_same_shape

__all__ = ["mse", "psnr", "ssim", "blocking_effect_factor", "psnr_b", "shave"]


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels from every side (super-resolution papers shave the scale factor, PIRM 4 px)."""
    image = as_image(image, value_range=None)
    check_positive(border, "border", integer=True, allow_zero=True)
    if border == 0:
        return image
    h, w = image.shape[:2]
    if 2 * border >= min(h, w):
        raise ValueError(f"shave: border {border} removes the whole {h}x{w} image")
    return image[border:-border, border:-border]


def mse(x, y) -> float:
    """Mean squared error between two images of the same shape."""
    x, y = as_image(x, "x"), as_image(y, "y")
    check_same_shape(x, y)
    return float(np.mean((x - y) ** 2))


def psnr(x, y, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(data_range^2 / MSE); ``inf`` for identical images."""
    check_positive(data_range, "data_range")
    m = mse(x, y)
    return math.inf if m == 0 else float(10.0 * np.log10(data_range**2 / m))


def ssim(x, y, *, data_range: float = 1.0, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> float:
    """Structural similarity (Wang et al. 2004) with an 11x11 Gaussian window (sigma 1.5).

    Local means, variances and covariance come from Gaussian filtering (population statistics);
    the SSIM map is averaged over the region not touched by the image border, and over channels.
    Equals ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1)``. Images must be at least 11x11.
    """
    from scipy.ndimage import gaussian_filter

    x, y = as_image(x, "x", min_size=11), as_image(y, "y", min_size=11)
    check_same_shape(x, y)
    check_positive(data_range, "data_range")
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    truncate = 3.5
    radius = int(truncate * sigma + 0.5)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    vals = []
    for c in range(x.shape[2]):
        a, b = x[..., c], y[..., c]
        f = lambda im: gaussian_filter(im, sigma=sigma, truncate=truncate, mode="reflect")  # noqa: E731
        ma, mb = f(a), f(b)
        va, vb, cov = f(a * a) - ma * ma, f(b * b) - mb * mb, f(a * b) - ma * mb
        s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
        vals.append(s[radius:-radius, radius:-radius].mean())
    return float(np.mean(vals))


def blocking_effect_factor(image, *, block: int = 8) -> float:
    """Blocking effect factor BEF of Yim & Bovik (2011), eq. (5)-(9), in squared [0, 1] units.

    Compares the mean squared difference of neighbouring pixels that straddle a block boundary
    (columns/rows ``block-1, 2*block-1, ...`` and the next one) with that of all other neighbour
    pairs, weighted by eta = log2(block) / log2(min(H, W)) when boundaries are worse, else 0.
    Colour channels are pooled. Taught in chapters/ep_gan.md.
    """
    im = as_image(image, "image", min_size=2 * block)
    check_positive(block, "block", integer=True)
    if im.ndim == 2:
        im = im[..., None]
    h, w, ch = im.shape
    dh = (im[:, 1:] - im[:, :-1]) ** 2  # horizontal neighbour pairs, (h, w-1, c)
    dv = (im[1:] - im[:-1]) ** 2  # vertical neighbour pairs, (h-1, w, c)
    hb = np.zeros(w - 1, bool)
    hb[block - 1 :: block] = True
    vb = np.zeros(h - 1, bool)
    vb[block - 1 :: block] = True
    n_b = (hb.sum() * h + vb.sum() * w) * ch
    n_bc = ((~hb).sum() * h + (~vb).sum() * w) * ch
    d_b = (dh[:, hb].sum() + dv[vb].sum()) / n_b
    d_bc = (dh[:, ~hb].sum() + dv[~vb].sum()) / n_bc
    eta = math.log2(block) / math.log2(min(h, w)) if d_b > d_bc else 0.0
    return float(eta * (d_b - d_bc))


def psnr_b(reference, degraded, *, block: int = 8, data_range: float = 1.0) -> float:
    """PSNR-B (Yim & Bovik 2011): PSNR with the blocking effect factor of ``degraded`` added to the MSE.

    ``10 log10(data_range^2 / (MSE(reference, degraded) + BEF(degraded)))``. The metric is
    asymmetric: the blocking factor is measured on the second argument only. Taught in chapters/ep_gan.md.
    """
    ref, deg = as_image(reference, "reference"), as_image(degraded, "degraded", min_size=2 * block)
    check_same_shape(ref, deg, ("reference", "degraded"))
    check_positive(data_range, "data_range")
    m = float(np.mean((ref - deg) ** 2)) + blocking_effect_factor(deg, block=block)
    return math.inf if m == 0 else float(10.0 * np.log10(data_range**2 / m))
