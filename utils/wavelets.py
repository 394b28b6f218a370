"""Haar wavelets for the MW-GAN chapter (chapters/mw_gan.md): sub-band energy and wavelet-domain losses.

Two implementations of the same orthonormal 2-D Haar transform:

* NumPy, through PyWavelets (``pywt.wavedec2(..., "haar")``), for measuring images:
  :func:`haar_subbands`, :func:`subband_energy`, :func:`energy_ratio`;
* torch, differentiable, for losses and discriminators: :func:`haar_dwt`, :func:`haar_idwt`,
  :func:`haar_wavedec`, :func:`wavelet_l2`. Its coefficients equal PyWavelets' exactly (tested).

Sub-bands are named as strings: ``"A{L}"`` for the approximation after ``L`` levels and
``"H{j}"``, ``"V{j}"``, ``"D{j}"`` for the horizontal, vertical and diagonal details of level ``j``
(level 1 is the finest, at half the image's resolution). PyWavelets' "horizontal" detail responds to
horizontal edges, i.e. to changes from one row to the next.
"""
from __future__ import annotations

import numpy as np

from .checks import as_image, check_positive, check_same_shape, check_tensor

__all__ = ["band_names", "haar_subbands", "subband_energy", "energy_ratio", "haar_dwt", "haar_idwt", "haar_wavedec", "wavelet_l2"]

ORIENTATIONS = ("H", "V", "D")


def _check_levels(levels, h: int, w: int, name: str) -> int:
    check_positive(levels, "levels", integer=True)
    f = 2 ** int(levels)
    if h % f or w % f:
        raise ValueError(f"{name}: height and width must be multiples of 2**levels = {f} for {levels} Haar levels, got {h}x{w}")
    return int(levels)


def band_names(levels: int) -> list[str]:
    """Names of the sub-bands of a ``levels``-level decomposition, coarsest first: A{L}, H{L}, V{L}, D{L}, ..., D1."""
    check_positive(levels, "levels", integer=True)
    names = [f"A{levels}"]
    for j in range(levels, 0, -1):
        names += [f"{o}{j}" for o in ORIENTATIONS]
    return names


def haar_subbands(image, levels: int) -> dict:
    """Multi-level orthonormal Haar decomposition of an image with PyWavelets (MW-GAN Fig. 2; chapters/mw_gan.md).

    ``image``: float (H, W) or (H, W, C) in [0, 1], H and W multiples of ``2**levels``. Colour
    channels are transformed separately. Returns ``{band name: coefficient array}`` (see :func:`band_names`).
    """
    import pywt

    x = as_image(image, "image")
    levels = _check_levels(levels, x.shape[0], x.shape[1], "haar_subbands")
    coeffs = pywt.wavedec2(x, "haar", level=levels, axes=(0, 1))
    out = {f"A{levels}": coeffs[0]}
    for j, details in zip(range(levels, 0, -1), coeffs[1:]):
        for o, c in zip(ORIENTATIONS, details):
            out[f"{o}{j}"] = c
    return out


def subband_energy(image, levels: int) -> dict:
    """Energy of each Haar sub-band, defined as the mean squared coefficient (chapters/mw_gan.md).

    Because the transform is orthonormal, the coefficient counts times these energies add up to the
    image's sum of squares. Returns ``{band name: energy}``.
    """
    return {k: float(np.mean(v**2)) for k, v in haar_subbands(image, levels).items()}


def energy_ratio(image, reference, levels: int) -> dict:
    """Sub-band energy of ``image`` divided by that of ``reference`` (e.g. compressed / raw), per band.

    Both images must have the same shape. A band whose reference energy is 0 gives ``nan``.
    """
    a, b = as_image(image, "image"), as_image(reference, "reference")
    check_same_shape(a, b, ("image", "reference"))
    ea, eb = subband_energy(a, levels), subband_energy(b, levels)
    return {k: (ea[k] / eb[k] if eb[k] > 0 else float("nan")) for k in ea}


def haar_dwt(x):
    """One level of the orthonormal 2-D Haar transform of (N, C, H, W), differentiable (eq. (1) of chapters/mw_gan.md).

    Returns ``(approx, horizontal, vertical, diagonal)``, each (N, C, H/2, W/2), equal to PyWavelets'
    ``dwt2(x, "haar")`` (cA, cH, cV, cD). H and W must be even.
    """
    check_tensor(x, "haar_dwt input", ndim=4, min_size=2)
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"haar_dwt: height and width must be even, got {tuple(x.shape[-2:])}")
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return (a + b + c + d) / 2, (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2


def haar_idwt(approx, horizontal, vertical, diagonal):
    """Inverse of :func:`haar_dwt`: rebuild (N, C, 2h, 2w) from the four (N, C, h, w) sub-bands."""
    import torch

    for t, n in ((approx, "approx"), (horizontal, "horizontal"), (vertical, "vertical"), (diagonal, "diagonal")):
        check_tensor(t, f"haar_idwt {n}", ndim=4)
        if t.shape != approx.shape:
            raise ValueError(f"haar_idwt: all sub-bands must have the same shape, got {tuple(t.shape)} and {tuple(approx.shape)}")
    s, h, v, d = approx, horizontal, vertical, diagonal
    n, c, hh, ww = s.shape
    out = torch.empty(n, c, 2 * hh, 2 * ww, dtype=s.dtype, device=s.device)
    out[..., 0::2, 0::2] = (s + h + v + d) / 2
    out[..., 0::2, 1::2] = (s + h - v - d) / 2
    out[..., 1::2, 0::2] = (s - h + v - d) / 2
    out[..., 1::2, 1::2] = (s - h - v + d) / 2
    return out


def haar_wavedec(x, levels: int) -> dict:
    """Multi-level Haar decomposition of (N, C, H, W) in torch; ``{band name: tensor}`` as :func:`haar_subbands`."""
    check_tensor(x, "haar_wavedec input", ndim=4)
    levels = _check_levels(levels, x.shape[-2], x.shape[-1], "haar_wavedec")
    out, approx = {}, x
    for j in range(1, levels + 1):
        approx, h, v, d = haar_dwt(approx)
        out[f"H{j}"], out[f"V{j}"], out[f"D{j}"] = h, v, d
    out[f"A{levels}"] = approx
    return {k: out[k] for k in band_names(levels)}


def wavelet_l2(output, target, levels: int, weights: dict | None = None):
    """Weighted wavelet-domain squared error (MW-GAN's wavelet reconstruction loss, in L2 form; chapters/mw_gan.md).

    ``sum_b w_b * sum((W_b(output) - W_b(target))^2) / output.numel()``, with ``W_b`` the Haar sub-band
    ``b`` of a ``levels``-level decomposition and ``w_b = weights.get(b, 1)``. With all weights 1 this
    equals ``F.mse_loss(output, target)`` exactly (Parseval: the transform is orthonormal). Note that the
    weight multiplies a band's *sum* of squared errors; averaging each band first would weight coarse
    bands up by 4 per level.
    """
    check_tensor(output, "output", ndim=4)
    check_tensor(target, "target", ndim=4)
    if output.shape != target.shape:
        raise ValueError(f"wavelet_l2: output and target must have the same shape, got {tuple(output.shape)} and {tuple(target.shape)}")
    weights = {} if weights is None else dict(weights)
    names = band_names(int(check_positive(levels, "levels", integer=True)))
    unknown = set(weights) - set(names)
    if unknown:
        raise ValueError(f"wavelet_l2: unknown sub-band names {sorted(unknown)}; expected some of {names}")
    for k, w in weights.items():
        check_positive(w, f"weights[{k!r}]", allow_zero=True)
    bands = haar_wavedec(output - target, levels)  # the transform is linear
    total = sum(weights.get(k, 1.0) * (v**2).sum() for k, v in bands.items())
    return total / output.numel()
