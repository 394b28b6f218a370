"""Tests for utils.wavelets: Haar sub-bands with PyWavelets and the torch transform (chapters/mw_gan.md)."""
from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
import torch.nn.functional as F

from utils.data import load_image
from utils.wavelets import band_names, energy_ratio, haar_dwt, haar_idwt, haar_subbands, haar_wavedec, subband_energy, wavelet_l2


def test_band_names():
    assert band_names(2) == ["A2", "H2", "V2", "D2", "H1", "V1", "D1"]


def test_subbands_shapes_and_parseval():
    img = load_image("astronaut", size=64)
    bands = haar_subbands(img, 3)
    assert list(bands) == band_names(3)
    assert bands["H1"].shape == (32, 32, 3) and bands["A3"].shape == (8, 8, 3)
    total = sum(float((v**2).sum()) for v in bands.values())
    assert total == pytest.approx(float((img**2).sum()), rel=1e-12)
    e = subband_energy(img, 3)
    assert e["H1"] == pytest.approx(float(np.mean(bands["H1"] ** 2)))


def test_energy_ratio_of_identical_images_is_one_and_blur_lowers_fine_bands():
    from utils.degrade import gaussian_blur

    img = load_image("camera", size=64)
    r = energy_ratio(img, img, 2)
    assert all(v == pytest.approx(1.0) for v in r.values())
    rb = energy_ratio(gaussian_blur(img, 1.5), img, 2)
    assert rb["D1"] < rb["D2"] < 1.0 and rb["H1"] < rb["H2"] and rb["A2"] > 0.85


def test_torch_dwt_matches_pywavelets_and_inverts():
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 8, 12))
    t = torch.tensor(x)
    ours = haar_dwt(t)
    ca, (ch, cv, cd) = pywt.dwt2(x, "haar", axes=(-2, -1))
    for a, b in zip(ours, (ca, ch, cv, cd)):
        np.testing.assert_allclose(a.numpy(), b, atol=1e-12)
    np.testing.assert_allclose(haar_idwt(*ours).numpy(), x, atol=1e-12)


def test_torch_wavedec_matches_numpy_subbands():
    img = load_image("coffee", size=32)
    t = torch.tensor(img).permute(2, 0, 1)[None]
    tb = haar_wavedec(t, 3)
    nb = haar_subbands(img, 3)
    for k in band_names(3):
        np.testing.assert_allclose(tb[k][0].permute(1, 2, 0).numpy(), nb[k], atol=1e-12)


def test_equal_weight_wavelet_l2_equals_pixel_mse_and_weights_change_it():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64), torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64)
    assert float(wavelet_l2(a, b, 3)) == pytest.approx(float(F.mse_loss(a, b)), rel=1e-12)
    heavier = wavelet_l2(a, b, 3, weights={"H1": 4.0, "V1": 4.0, "D1": 4.0})
    assert float(heavier) > float(F.mse_loss(a, b))
    a.requires_grad_(True)
    wavelet_l2(a, b, 2).backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


def test_bad_inputs():
    img = load_image("camera", size=30)
    with pytest.raises(ValueError, match="multiples of 2\\*\\*levels"):
        haar_subbands(img, 2)
    with pytest.raises(ValueError, match="levels"):
        subband_energy(load_image("camera", size=32), 0)
    with pytest.raises(ValueError, match="same shape"):
        energy_ratio(load_image("camera", size=32), load_image("camera", size=16), 1)
    with pytest.raises(ValueError, match="even"):
        haar_dwt(torch.rand(1, 1, 5, 4))
    with pytest.raises(ValueError, match="4-D"):
        haar_dwt(torch.rand(5, 4))
    with pytest.raises(ValueError, match="same shape"):
        haar_idwt(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2), torch.rand(1, 1, 3, 2))
    with pytest.raises(ValueError, match="unknown sub-band"):
        wavelet_l2(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), 1, weights={"H3": 2.0})
    with pytest.raises(ValueError, match="same shape"):
        wavelet_l2(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 8, 8), 1)
    with pytest.raises(ValueError, match="weights"):
        wavelet_l2(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4), 1, weights={"H1": -1.0})


def test_band_agreement_and_restoration_measures():
    import numpy as np

    from utils.wavelets import band_agreement

    rng = np.random.default_rng(0)
    ref = rng.random((32, 32))
    same = band_agreement(ref, ref, 2)
    assert all(abs(v["correlated"] - 1) < 1e-12 and abs(v["energy"] - 1) < 1e-12 for v in same.values())
    flat = band_agreement(np.full((32, 32), 0.5), ref, 2)
    assert all(abs(v["correlated"]) < 1e-12 and abs(v["snr_db"]) < 1e-9 for v in flat.values())
    with pytest.raises(ValueError):
        band_agreement(ref, ref[:16], 2)


def test_straddling_supports():
    from utils.wavelets import straddling_supports

    assert all(n == 0 for n, _ in straddling_supports(0, 3, size=64).values())
    s4 = straddling_supports(4, 3, size=64)
    assert s4[1][0] == 0 and s4[2][0] == 0 and s4[3][0] == 8
    assert all(n > 0 for n, _ in straddling_supports(1, 3, size=64).values())
    with pytest.raises(ValueError):
        straddling_supports(-1, 3)


def test_wavelet_charbonnier_packet_and_networks():
    import torch

    from utils.losses import charbonnier
    from utils.wavelets import make_enhancer, make_packet_discriminator, wavelet_charbonnier, wavelet_packet

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    w, p = float(wavelet_charbonnier(a, b, 2)), float(charbonnier(a, b))
    assert w > 0 and abs(w - p) > 1e-4  # not invariant under the transform
    assert float(wavelet_charbonnier(a, a, 2)) == pytest.approx(1e-3, rel=1e-5)
    assert wavelet_packet(a, 0) is a
    assert wavelet_packet(a, 2).shape == (2, 48, 4, 4)
    assert torch.allclose((wavelet_packet(a, 2) ** 2).sum(), (a**2).sum(), rtol=1e-5)  # orthonormal
    assert make_enhancer()(a).shape == a.shape
    outs = make_packet_discriminator()(a)
    assert [o.shape[1] for o in outs] == [1, 1, 1] and len(outs) == 3
    with pytest.raises(ValueError):
        wavelet_packet(torch.rand(1, 3, 6, 6), 2)
    with pytest.raises(ValueError):
        make_enhancer(depth=1)
