"""GAN losses shared by the adversarial chapters: standard (non-saturating), relativistic average, hinge, least squares.

Each function takes raw discriminator outputs (logits, any shape) and returns a scalar loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["d_loss", "g_loss"]

_KINDS = ("standard", "relativistic", "hinge", "lsgan")


def _check(kind, *ts):
    if kind not in _KINDS:
        raise ValueError(f"GAN loss kind must be one of {_KINDS}, got {kind!r}")
    for t in ts:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"GAN losses take discriminator outputs as tensors, got {type(t).__name__}")


def d_loss(real: torch.Tensor, fake: torch.Tensor, kind: str = "standard") -> torch.Tensor:
    """Discriminator loss from its outputs on real and generated samples.

    - ``standard``: -log D(x) - log(1 - D(G(z))) (Goodfellow et al. 2014), D = sigmoid(logit).
    - ``relativistic``: relativistic average D_Ra(a, b) = sigmoid(C(a) - mean C(b)) (ESRGAN eq. 2, taught in
      chapters/esrgan.md): (-E log D_Ra(real, fake) - E log(1 - D_Ra(fake, real))) / 2, averaged over its real
      and fake terms as in ESRGAN's code (BasicSR ``esrgan_model.py``).
    - ``hinge``: E relu(1 - C(x)) + E relu(1 + C(G(z))) (used by SPADE).
    - ``lsgan``: E (C(x) - 1)^2 + E C(G(z))^2, halved (used by pix2pixHD, HiFaceGAN).
    """
    _check(kind, real, fake)
    if kind == "standard":
        return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    if kind == "relativistic":
        return 0.5 * (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.ones_like(real))
                      + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.zeros_like(fake)))
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def g_loss(fake: torch.Tensor, real: torch.Tensor | None = None, kind: str = "standard", *, halved: bool = True) -> torch.Tensor:
    """Generator loss. ``real`` (discriminator outputs on real samples) is needed only for ``relativistic``.

    - ``standard``: non-saturating -log D(G(z)) (SRGAN's l_adv).
    - ``relativistic``: (-E log(1 - D_Ra(real, fake)) - E log D_Ra(fake, real)) / 2 (ESRGAN eq. 3, averaged over
      its two terms as in BasicSR's ``esrgan_model.py``, so that lambda = 5e-3 means what it means there).
    - ``hinge``: -E C(G(z)).
    - ``lsgan``: E (C(G(z)) - 1)^2, halved unless ``halved=False`` (pix2pixHD's official generator loss is
      not halved: ``MSELoss(pred_fake, 1)`` per discriminator).
    """
    _check(kind, fake)
    if kind == "standard":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "relativistic":
        if real is None:
            raise ValueError("g_loss: the relativistic loss needs the discriminator outputs on real samples")
        _check(kind, real)
        return 0.5 * (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.zeros_like(real))
                      + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.ones_like(fake)))
    if kind == "hinge":
        return -fake.mean()
    if not isinstance(halved, bool):
        raise TypeError(f"g_loss: halved must be True or False, got {halved!r}")
    return (0.5 if halved else 1.0) * ((fake - 1) ** 2).mean()
