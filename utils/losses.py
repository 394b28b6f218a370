"""Losses and detail measures on images and on the book's feature network.

Used by the super-resolution and restoration chapters (SRGAN, ESRGAN, Contextual loss, SRFlow, ...):

- :func:`perceptual_loss`: distance between feature maps of the book's feature network
  (:func:`utils.features.load_feature_net`) at chosen taps, L2 or L1, before (``conv*``) or after
  (``relu*``) the activation. SRGAN's "VGG loss" (eq. 5) and ESRGAN's L_percep.
- :func:`charbonnier`: the smooth L1 penalty sqrt((x - y)^2 + eps^2).
- :func:`gram_matrix`, :func:`style_loss`: Gram (second-order) statistics of features.
- :func:`feature_distance`: an LPIPS-like distance without learned weights (channel-normalised features,
  squared differences, averaged over positions, summed over taps); :mod:`utils.iqa.lpips` has the full LPIPS.
- :func:`hf_energy`: the fraction of an image's spectral power above a radial frequency, a simple
  measure of how much fine detail (real or hallucinated) an image has.

Tensors are (N, 3, H, W) RGB in [0, 1]; feature-network inputs must be at least 16x16.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F

from .checks import as_image, check_choice, check_in_range, check_positive, check_tensor

__all__ = ["perceptual_loss", "charbonnier", "gram_matrix", "style_loss", "feature_distance", "hf_energy"]


def _pair(x, y, name: str):
    check_tensor(x, "x", ndim=4, channels=3)
    check_tensor(y, "y", ndim=4, channels=3)
    if x.shape != y.shape:
        raise ValueError(f"{name}: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def _taps(taps, name: str) -> tuple[str, ...]:
    if isinstance(taps, str):
        taps = (taps,)
    try:
        taps = tuple(taps)
    except TypeError:
        raise TypeError(f"{name}: taps must be a tap name or a sequence of names like ('relu4_2',), got {taps!r}") from None
    if not taps or not all(isinstance(t, str) for t in taps):
        raise ValueError(f"{name}: taps must be a non-empty sequence of tap names like ('conv4_2', 'relu2_2'), got {taps!r}")
    return taps


def _features(x, y, taps, kind):
    from .features import load_feature_net

    net = load_feature_net(kind, x.device)
    fx = net(x, taps)
    with torch.no_grad():
        fy = net(y.detach(), taps)
    return fx, fy


def perceptual_loss(x: torch.Tensor, y: torch.Tensor, taps=("relu4_2",), kind: str = "book", *, criterion: str = "l2") -> torch.Tensor:
    """Feature-space loss between images ``x`` (generated) and ``y`` (target): SRGAN eq. (5), ESRGAN's L_percep.

    ``taps``: one tap name or several of the feature network (``conv{s}_{i}`` before the ReLU,
    ``relu{s}_{i}`` after it; the book's net has stages 1-4 with two convolutions each). SRGAN's VGG54
    is a deep tap after the activation (here ``relu4_2``), VGG22 a shallow one (``relu2_2``); ESRGAN
    uses a deep tap *before* the activation (``conv4_2``). ``criterion``: ``"l2"`` (mean squared
    difference, SRGAN) or ``"l1"`` (mean absolute difference, ESRGAN's code). With several taps the
    per-tap means are summed. ``kind``: the network of :func:`utils.features.load_feature_net`.
    Gradients flow to ``x``; ``y`` is treated as a constant. Values are expected in [0, 1] but not
    enforced, since generator outputs stray slightly outside it during training.
    Taught in chapters/srgan.md and chapters/esrgan.md.
    """
    _pair(x, y, "perceptual_loss")
    taps = _taps(taps, "perceptual_loss")
    check_choice(criterion, "criterion", ("l1", "l2"))
    fx, fy = _features(x, y, taps, kind)
    dist = F.mse_loss if criterion == "l2" else F.l1_loss
    return sum(dist(fx[t], fy[t]) for t in taps)


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier penalty mean(sqrt((x - y)^2 + eps^2)): L1 away from zero, smooth (quadratic) near it.

    ``x`` and ``y``: float tensors of the same shape; ``eps`` > 0. Used by several restoration
    chapters as a robust pixel loss.
    """
    check_tensor(x, "x")
    check_tensor(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"charbonnier: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    check_positive(eps, "eps")
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix G[n, c, d] = sum_{y,x} f[n,c,y,x] f[n,d,y,x] / (C H W) of a feature map (N, C, H, W).

    The normalised second-order statistics of Gatys et al.'s style loss; returns (N, C, C).
    """
    check_tensor(features, "features", ndim=4)
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(x: torch.Tensor, y: torch.Tensor, taps=("relu1_2", "relu2_2", "relu3_2"), kind: str = "book") -> torch.Tensor:
    """Sum over ``taps`` of the mean squared difference of the Gram matrices of ``x`` and ``y``.

    It compares feature statistics and ignores where features are, so it is blind to misalignment
    (and to layout). Same inputs as :func:`perceptual_loss`. Taught in chapters/contextual_loss.md.
    """
    _pair(x, y, "style_loss")
    taps = _taps(taps, "style_loss")
    fx, fy = _features(x, y, taps, kind)
    return sum(F.mse_loss(gram_matrix(fx[t]), gram_matrix(fy[t])) for t in taps)


def feature_distance(
    x: torch.Tensor, y: torch.Tensor, taps=("relu1_2", "relu2_2", "relu3_2", "relu4_2"), kind: str = "book"
) -> torch.Tensor:
    """LPIPS-like distance without learned weights, one value per image: shape (N,).

    At each tap, every position's feature vector is divided by its L2 norm over channels (plus 1e-10),
    the squared differences are summed over channels and averaged over positions; the taps' values are
    summed. It is the "lin"-free form of LPIPS (Zhang et al. 2018, eq. 1 with all weights 1) on the
    book's feature network. Lower means more similar. Gradients flow to ``x``. With the default taps it
    equals ``utils.iqa.lpips.lpips(x, y, weights="uniform")``; prefer that (or its learned weights) for
    reporting, and this function as a training loss or where ``utils.iqa`` is not wanted.
    """
    _pair(x, y, "feature_distance")
    taps = _taps(taps, "feature_distance")
    fx, fy = _features(x, y, taps, kind)
    total = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
    for t in taps:
        a = fx[t] / (fx[t].norm(dim=1, keepdim=True) + 1e-10)
        b = fy[t] / (fy[t].norm(dim=1, keepdim=True) + 1e-10)
        total = total + ((a - b) ** 2).sum(dim=1).mean(dim=(1, 2))
    return total


def _hf_one(img: np.ndarray, cutoff: float) -> float:
    if img.ndim == 2:
        img = img[..., None]
    h, w, _ = img.shape
    window = np.outer(np.hanning(h), np.hanning(w))[..., None]
    centred = (img - img.mean(axis=(0, 1), keepdims=True)) * window
    power = (np.abs(np.fft.fft2(centred, axes=(0, 1))) ** 2).sum(axis=2)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    total = power[radius > 0].sum()
    if total <= 0:
        return 0.0
    return float(power[radius > cutoff].sum() / total)


def hf_energy(image, cutoff: float = 0.25) -> float:
    """Fraction of an image's spectral power at radial frequencies above ``cutoff`` cycles per pixel.

    Each channel's mean is removed and a 2-D Hann window applied (so the image border does not add
    false high frequencies); the power spectra of the channels are summed; the result is the power at
    radius > ``cutoff`` (Nyquist is 0.5) divided by all non-DC power, in [0, 1]. A flat image gives 0.
    Bicubic or MSE-trained super-resolution has little power above a quarter of the sampling rate;
    real texture and GAN detail have more. ``image``: (H, W) or (H, W, C) numpy array, a (C, H, W)
    tensor, or a batch, (N, C, H, W) tensor or (N, H, W, C) array, for which the mean over images is returned;
    values in [0, 1], at least 8x8. Used as the detail measure of chapters/srgan.md and
    chapters/esrgan.md.
    """
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real):
        raise TypeError(f"hf_energy: cutoff must be a number in (0, 0.5), got {cutoff!r}")
    check_in_range(float(cutoff), "cutoff", 0.0, 0.5)
    if not 0.0 < cutoff < 0.5:
        raise ValueError(f"hf_energy: cutoff must lie strictly between 0 and 0.5 cycles/pixel, got {cutoff!r}")
    if isinstance(image, torch.Tensor) and image.ndim == 4:
        check_tensor(image, "image", ndim=4)
        return float(np.mean([hf_energy(im, cutoff) for im in image]))
    if isinstance(image, np.ndarray) and image.ndim == 4:
        return float(np.mean([hf_energy(im, cutoff) for im in image]))
    img = as_image(image, "image", min_size=8)
    return _hf_one(img, float(cutoff))
