"""Tests for utils.losses: perceptual, Charbonnier, Gram/style, feature distance and high-frequency energy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from utils.data import load_image
from utils.losses import charbonnier, feature_distance, gram_matrix, hf_energy, perceptual_loss, style_loss


def _pair(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.from_numpy(load_image("astronaut", size=128)).permute(2, 0, 1).float()
    x = torch.stack([img[:, :size, :size], img[:, size : 2 * size, size : 2 * size]])[:n]
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


def test_perceptual_loss_zero_for_identical_and_positive_otherwise():
    x, y = _pair()
    assert float(perceptual_loss(x, x)) == 0.0
    for taps in ("relu4_2", ("conv2_2", "relu3_1")):
        for crit in ("l1", "l2"):
            assert float(perceptual_loss(x, y, taps, criterion=crit)) > 0


def test_perceptual_loss_matches_manual_computation_and_gives_gradients():
    from utils.features import load_feature_net

    x, y = _pair()
    x = x.clone().requires_grad_(True)
    loss = perceptual_loss(x, y, ("conv4_2", "relu2_2"), criterion="l1")
    net = load_feature_net()
    fx, fy = net(x, ("conv4_2", "relu2_2")), net(y, ("conv4_2", "relu2_2"))
    manual = sum((fx[t] - fy[t]).abs().mean() for t in fx)
    assert torch.allclose(loss, manual)
    loss.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_perceptual_loss_bad_inputs():
    x, y = _pair()
    with pytest.raises(ValueError, match="same shape"):
        perceptual_loss(x, y[:1])
    with pytest.raises(ValueError, match="unknown tap"):
        perceptual_loss(x, y, "relu9_9")
    with pytest.raises(ValueError, match="criterion"):
        perceptual_loss(x, y, criterion="huber")
    with pytest.raises(ValueError, match="channels"):
        perceptual_loss(x[:, :1], y[:, :1])
    with pytest.raises(TypeError, match="tensor"):
        perceptual_loss(x.numpy(), y)
    with pytest.raises(ValueError, match="non-empty"):
        perceptual_loss(x, y, ())


def test_charbonnier():
    x = torch.zeros(2, 3, 4, 4)
    assert float(charbonnier(x, x, eps=1e-3)) == pytest.approx(1e-3)
    y = x + 2.0
    assert float(charbonnier(x, y, eps=1e-6)) == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        charbonnier(x, y[:1])
    with pytest.raises(ValueError, match="eps"):
        charbonnier(x, y, eps=0)


def test_gram_matrix_and_style_loss():
    f = torch.randn(2, 4, 5, 6)
    g = gram_matrix(f)
    assert g.shape == (2, 4, 4)
    assert torch.allclose(g, g.transpose(1, 2))
    assert torch.allclose(g[0, 1, 2], (f[0, 1] * f[0, 2]).sum() / (4 * 30))
    # Gram matrices ignore where features are: a spatial permutation leaves them unchanged
    perm = torch.randperm(30)
    fp = f.reshape(2, 4, 30)[..., perm].reshape(2, 4, 5, 6)
    assert torch.allclose(gram_matrix(fp), g, atol=1e-6)
    x, y = _pair()
    assert float(style_loss(x, x)) == 0.0 and float(style_loss(x, y)) > 0
    with pytest.raises(ValueError, match="4-D"):
        gram_matrix(torch.zeros(4, 5, 6))


def test_feature_distance_properties():
    x, y = _pair()
    d0, d1 = feature_distance(x, x), feature_distance(x, y)
    assert d0.shape == (2,) and float(d0.abs().max()) < 1e-6
    assert float(d1.min()) > 0
    noisier = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert float(feature_distance(x, noisier).mean()) > float(d1.mean())
    with pytest.raises(ValueError, match="same shape"):
        feature_distance(x, y[:1])


def test_hf_energy_ranks_sharp_above_blurred():
    from utils.degrade import gaussian_blur

    img = load_image("brick", gray=False, size=64)
    blurred = gaussian_blur(img, 1.5)
    assert hf_energy(img) > 2 * hf_energy(blurred)
    assert hf_energy(np.full((16, 16, 3), 0.5)) == 0.0
    # a checkerboard puts all its power at the highest frequency
    checker = (np.indices((32, 32)).sum(0) % 2).astype(float)
    assert hf_energy(checker) > 0.9
    # batch forms: tensor (N, C, H, W) and array (N, H, W, C) give the mean over images
    t = torch.from_numpy(np.stack([img, blurred])).permute(0, 3, 1, 2).float()
    mean = (hf_energy(img) + hf_energy(blurred)) / 2
    assert hf_energy(t) == pytest.approx(mean, rel=1e-4)
    assert hf_energy(np.stack([img, blurred])) == pytest.approx(mean)


def test_hf_energy_bad_inputs():
    img = np.zeros((16, 16))
    with pytest.raises(ValueError, match="cutoff"):
        hf_energy(img, cutoff=0.5)
    with pytest.raises(ValueError):
        hf_energy(img, cutoff=-0.1)
    with pytest.raises(TypeError, match="cutoff"):
        hf_energy(img, cutoff="high")
    with pytest.raises(ValueError, match="at least 8"):
        hf_energy(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]|\[0, 1\]"):
        hf_energy(np.full((16, 16), 2.0))
    with pytest.raises(TypeError):
        hf_energy([[0.0] * 16] * 16)
