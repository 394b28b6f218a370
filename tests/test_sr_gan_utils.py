"""Tests for the shared SR data pipeline (utils.sr) and GAN losses (utils.gan) used by the SR chapters."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils import gan
from utils.sr import SubPixelUpsampler, sr_patch_pairs


def test_pixel_shuffle_is_a_rearrangement():
    r, c = 2, 3
    x = torch.arange(c * r * r * 2 * 2, dtype=torch.float32).reshape(1, c * r * r, 2, 2)
    y = nn.PixelShuffle(r)(x)
    assert y.shape == (1, c, 4, 4)
    for ch in range(c):
        for yy in range(2):
            for xx in range(2):
                for i in range(r):
                    for j in range(r):
                        assert y[0, ch, yy * r + i, xx * r + j] == x[0, ch * r * r + i * r + j, yy, xx]
    assert torch.equal(torch.sort(y.flatten()).values, torch.sort(x.flatten()).values)


def test_subpixel_upsampler_shapes_and_errors():
    assert SubPixelUpsampler(4, 4)(torch.rand(1, 4, 5, 5)).shape == (1, 4, 20, 20)
    assert SubPixelUpsampler(4, 3)(torch.rand(1, 4, 5, 5)).shape == (1, 4, 15, 15)
    with pytest.raises(ValueError, match="scale"):
        SubPixelUpsampler(4, 5)


def test_sr_patch_pairs():
    lr, hr = sr_patch_pairs(5, 16, 4, names=["astronaut", "chelsea"], seed=0)
    assert lr.shape == (5, 3, 4, 4) and hr.shape == (5, 3, 16, 16)
    assert lr.dtype == torch.float32 and 0 <= float(lr.min()) and float(hr.max()) <= 1
    lr2, _ = sr_patch_pairs(5, 16, 4, names=["astronaut", "chelsea"], seed=0)
    assert torch.equal(lr, lr2)
    with pytest.raises(ValueError, match="multiple"):
        sr_patch_pairs(2, 18, 4)
    with pytest.raises(ValueError, match="at least one"):
        sr_patch_pairs(2, 16, 4, names=[])


def _ra_reference(real, fake):
    d_ra_real = torch.sigmoid(real - fake.mean())
    d_ra_fake = torch.sigmoid(fake - real.mean())
    # averaged over the real and the fake term, as BasicSR's esrgan_model.py does
    ld = (-torch.log(d_ra_real).mean() - torch.log(1 - d_ra_fake).mean()) / 2
    lg = (-torch.log(1 - d_ra_real).mean() - torch.log(d_ra_fake).mean()) / 2
    return ld, lg


def test_gan_losses_match_their_formulas():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(8, 1, generator=g), torch.randn(8, 1, generator=g)
    ld, lg = _ra_reference(real, fake)
    assert torch.allclose(gan.d_loss(real, fake, "relativistic"), ld, atol=1e-6)
    assert torch.allclose(gan.g_loss(fake, real, "relativistic"), lg, atol=1e-6)
    sd = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(gan.d_loss(real, fake, "standard"), sd, atol=1e-6)
    assert torch.allclose(gan.g_loss(fake, kind="standard"), -torch.log(torch.sigmoid(fake)).mean(), atol=1e-6)
    assert torch.allclose(gan.d_loss(real, fake, "hinge"), F.relu(1 - real).mean() + F.relu(1 + fake).mean())
    assert float(gan.d_loss(torch.zeros(4), torch.zeros(4), "standard")) == pytest.approx(2 * math.log(2))


def test_gan_loss_errors():
    with pytest.raises(ValueError, match="kind"):
        gan.d_loss(torch.zeros(2), torch.zeros(2), "wgan")
    with pytest.raises(ValueError, match="real"):
        gan.g_loss(torch.zeros(2), kind="relativistic")
    with pytest.raises(TypeError):
        gan.d_loss([0.0], torch.zeros(2))


def test_sr_split_pairs_keeps_train_and_test_apart():
    from utils.sr import sr_split_pairs

    lr, hr = sr_split_pairs(6, 16, 4, split="train", names=["astronaut", "coffee"], seed=0)
    assert lr.shape == (6, 3, 4, 4) and hr.shape == (6, 3, 16, 16)
    lr_t, hr_t = sr_split_pairs(4, 16, 4, split="test", names=["astronaut", "coffee"], seed=0)
    assert hr_t.shape == (4, 3, 16, 16) and float(hr_t.min()) >= 0 and float(hr_t.max()) <= 1
    assert torch.equal(sr_split_pairs(4, 16, 4, split="test", names=["astronaut", "coffee"], seed=0)[1], hr_t)
    # the test part is the right 25 % of the columns: every test crop is found there, none in the train part
    from utils.data import load_image

    img = torch.from_numpy(load_image("astronaut", gray=False)).permute(2, 0, 1).float()
    cut = img.shape[2] - 128
    crop = hr_t[0]
    starts = torch.nonzero((img == crop[:, :1, :1]).all(0)).tolist()
    found = [(y, x) for y, x in starts if y + 16 <= img.shape[1] and x + 16 <= img.shape[2]
             and torch.equal(img[:, y:y + 16, x:x + 16], crop)]
    assert found and all(x >= cut for _, x in found)
    with pytest.raises(ValueError, match="split"):
        sr_split_pairs(2, 16, 4, split="val")
    with pytest.raises(ValueError, match="test_fraction"):
        sr_split_pairs(2, 16, 4, split="test", test_fraction=1.0)
    with pytest.raises(ValueError, match="smaller than the crop"):
        sr_split_pairs(2, 256, 4, split="test", names=["astronaut"])
    with pytest.raises(ValueError, match="multiple"):
        sr_split_pairs(2, 18, 4, split="train")
