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

__all__ = ["band_names", "haar_subbands", "subband_energy", "energy_ratio", "haar_dwt", "haar_idwt", "haar_wavedec", "wavelet_l2",
           "band_agreement", "straddling_supports", "wavelet_charbonnier", "wavelet_packet", "make_enhancer",
           "make_packet_discriminator"]

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


# ---------------------------------------------------------------- restoration measures against the raw image
def band_agreement(image, reference, levels: int) -> dict:
    """Per detail level j: how much of ``reference``'s detail ``image`` holds, in phase with it.

    Returns ``{j: {"correlated": c_j, "snr_db": s_j, "energy": e_j}}`` over the H, V, D sub-bands of level
    ``j`` (colour channels pooled), with ``W`` the Haar detail coefficients:

    * ``correlated``  ``c_j = <W image, W ref> / ||W ref||^2``: the raw detail that is *present and in
      the right place* (1 = all of it; detail that is merely present, such as noise, adds nothing);
    * ``snr_db``      ``10 log10(||W ref||^2 / ||W image - W ref||^2)``: band-wise SNR against the reference;
    * ``energy``      ``||W image||^2 / ||W ref||^2``: the energy ratio, which counts any detail.
    """
    a, b = as_image(image, "image"), as_image(reference, "reference")
    check_same_shape(a, b, ("image", "reference"))
    wa, wb = haar_subbands(a, levels), haar_subbands(b, levels)
    out = {}
    for j in range(1, int(levels) + 1):
        xa = np.concatenate([wa[f"{o}{j}"].ravel() for o in ORIENTATIONS])
        xb = np.concatenate([wb[f"{o}{j}"].ravel() for o in ORIENTATIONS])
        ref = float(xb @ xb)
        if ref <= 0:
            raise ValueError(f"band_agreement: the reference has no detail at level {j}")
        err = float((xa - xb) @ (xa - xb))
        out[j] = {"correlated": float(xa @ xb) / ref, "snr_db": 10 * np.log10(ref / max(err, 1e-30)),
                  "energy": float(xa @ xa) / ref}
    return out


def straddling_supports(offset: int, levels: int, size: int = 64, block: int = 8) -> dict:
    """Per level j, how many Haar detail supports (squares of side 2^j) of a ``size``-pixel crop cross a
    JPEG block edge, when the crop starts ``offset`` pixels after a block edge (0 = aligned crop).

    A support covers pixels ``[offset + k 2^j, offset + (k + 1) 2^j)`` of the encoder's grid; it straddles an
    edge when that range contains a multiple of ``block`` other than its first pixel. Returns
    ``{j: (straddling, total)}`` for one axis.
    """
    check_positive(levels, "levels", integer=True)
    check_positive(size, "size", integer=True)
    check_positive(block, "block", integer=True)
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValueError(f"straddling_supports: offset must be a non-negative integer, got {offset!r}")
    out = {}
    for j in range(1, int(levels) + 1):
        s = 2**j
        starts = offset + s * np.arange(size // s)
        crosses = [any((p % block == 0) for p in range(st + 1, st + s)) for st in starts]
        out[j] = (int(sum(crosses)), len(starts))
    return out


# ---------------------------------------------------------------- MW-GAN miniature: losses, wavelet packets, networks
def wavelet_charbonnier(output, target, levels: int, eps: float = 1e-3):
    """Charbonnier loss on the Haar coefficients: mean over all coefficients of ``sqrt(d^2 + eps^2)``.

    The counterpart of :func:`utils.losses.charbonnier` in the wavelet domain (the same number of
    coefficients as pixels). Unlike the squared error it is *not* invariant under the transform: a
    robust loss of the coefficients is a different loss from the robust loss of the pixels.
    """
    import torch

    check_tensor(output, "output", ndim=4)
    check_tensor(target, "target", ndim=4)
    if output.shape != target.shape:
        raise ValueError(f"wavelet_charbonnier: output and target must have the same shape, got {tuple(output.shape)} and {tuple(target.shape)}")
    check_positive(eps, "eps")
    bands = haar_wavedec(output - target, levels)
    total = sum(torch.sqrt(v * v + eps * eps).sum() for v in bands.values())
    return total / output.numel()


def wavelet_packet(x, level: int):
    """Full Haar wavelet packet of (N, C, H, W) at ``level`` (every sub-band split again, LL included),
    stacked on channels: (N, 4**level C, H / 2**level, W / 2**level); level 0 is ``x`` itself.

    The input of the official MW-GAN discriminator's heads (levels 0, 1, 2).
    """
    import torch

    check_tensor(x, "wavelet_packet input", ndim=4)
    check_positive(level, "level", integer=True, allow_zero=True)
    out = x
    for _ in range(int(level)):
        if out.shape[-1] % 2 or out.shape[-2] % 2:
            raise ValueError(f"wavelet_packet: sides must be multiples of 2**level = {2 ** level}, got {tuple(x.shape[-2:])}")
        out = torch.cat(haar_dwt(out), 1)
    return out


def _enhancer_module(width: int, depth: int, channels: int):
    import torch.nn as nn

    layers = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(width, channels, 3, padding=1))


def make_enhancer(width: int = 16, depth: int = 5, channels: int = 3):
    """The MW-GAN chapter's enhancer: ``depth`` 3x3 convs of ``width`` channels with ReLU, output added to the input."""
    import torch.nn as nn

    check_positive(width, "width", integer=True)
    check_positive(depth, "depth", integer=True)
    if depth < 2:
        raise ValueError(f"make_enhancer: depth must be >= 2, got {depth}")

    class Enhancer(nn.Module):
        """Predicts a correction that is added to the compressed image."""

        def __init__(self):
            super().__init__()
            self.body = _enhancer_module(width, depth, channels)

        def forward(self, x):
            return x + self.body(x)

    return Enhancer()


def make_packet_discriminator(channels: int = 3, width: int = 16, levels=(0, 1, 2)):
    """A miniature of MW-GAN's ``Discriminator_ECCV``: one patch head per wavelet-packet level.

    Head ``l`` sees the level-``l`` packet of the image (:func:`wavelet_packet`: 3, 12, 48 channels for
    RGB at levels 0, 1, 2; the LL band included), through spectrally normalised 3x3 / 4x4-stride-2
    convolutions with instance norm and LeakyReLU(0.2); it returns one logit map per head. The official
    heads are deeper and add an ASPP block; the chapter states the difference.
    """
    import torch.nn as nn
    from torch.nn.utils import spectral_norm

    check_positive(channels, "channels", integer=True)
    check_positive(width, "width", integer=True)
    levels = tuple(int(check_positive(l, "level", integer=True, allow_zero=True)) for l in levels)

    def head(c_in):
        return nn.Sequential(
            spectral_norm(nn.Conv2d(c_in, width, 3, padding=1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(width, width, 4, 2, 1)), nn.InstanceNorm2d(width, affine=True), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(width, 1, 3, padding=1)))

    class PacketDiscriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.levels = levels
            self.heads = nn.ModuleList([head(channels * 4**l) for l in levels])

        def forward(self, x):
            return [h(wavelet_packet(2 * x - 1, l)) for l, h in zip(self.levels, self.heads)]

    return PacketDiscriminator()
