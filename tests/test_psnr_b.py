"""PSNR-B (Yim & Bovik 2011) in utils.metrics: hand-computable cases, the asymmetry, and bad inputs."""
import math

import numpy as np
import pytest

from utils.metrics import blocking_effect_factor, psnr, psnr_b


def step_image(col, size=16, lo=0.25, hi=0.75):
    """size x size grey image: ``lo`` left of column ``col``, ``hi`` from it on."""
    im = np.full((size, size), lo)
    im[:, col:] = hi
    return im


def test_step_on_block_boundary_by_hand():
    # step between columns 7 and 8: 16 boundary pairs of squared difference 0.25, every other pair 0
    # D_B = 16 * 0.25 / (16 + 16) = 0.125, D_Bc = 0, eta = log2(8) / log2(16) = 0.75 -> BEF = 0.09375
    im = step_image(8)
    assert blocking_effect_factor(im) == pytest.approx(0.09375, abs=1e-12)
    assert psnr_b(im, im) == pytest.approx(10 * math.log10(1 / 0.09375), abs=1e-9)


def test_step_inside_a_block_has_no_blocking_factor():
    # step between columns 3 and 4: boundary pairs are all equal (D_B = 0 < D_Bc) -> eta = 0, PSNR-B = PSNR
    im = step_image(4)
    ref = np.full((16, 16), 0.5)
    assert blocking_effect_factor(im) == 0.0
    assert psnr_b(ref, im) == pytest.approx(psnr(ref, im), abs=1e-12)


def test_asymmetry_by_hand():
    blocky, flat = step_image(8), np.full((16, 16), 0.5)
    # MSE = 0.0625 either way; BEF is measured on the second (degraded) argument only
    assert psnr_b(blocky, flat) == pytest.approx(10 * math.log10(1 / 0.0625), abs=1e-9)
    assert psnr_b(flat, blocky) == pytest.approx(10 * math.log10(1 / (0.0625 + 0.09375)), abs=1e-9)


def test_larger_image_counts_by_hand():
    # 32x32, horizontal steps at every block boundary in columns: values 0, .1, .2, .3 per 8-column band
    im = np.repeat(np.repeat(np.arange(4) * 0.1, 8)[None, :], 32, axis=0)
    # N_HB = 32 * (32/8 - 1) = 96 pairs with d^2 = 0.01, N_VB = 96 pairs with 0; D_B = 0.96 / 192 = 0.005
    eta = 3 / 5  # log2(8) / log2(32)
    assert blocking_effect_factor(im) == pytest.approx(eta * 0.005, abs=1e-12)


def bef_by_formula(y, b=8):
    """The facts-file formula, written literally with loops (grey images whose sides are multiples of b)."""
    nv, nh = y.shape
    hb = [(r, c) for r in range(nv) for c in range(b - 1, nh - 1, b)]
    vb = [(r, c) for c in range(nh) for r in range(b - 1, nv - 1, b)]
    n_hb, n_vb = nv * (nh // b - 1), nh * (nv // b - 1)
    n_hbc, n_vbc = nv * (nh - 1) - n_hb, nh * (nv - 1) - n_vb
    assert len(hb) == n_hb and len(vb) == n_vb
    db = (sum((y[r, c] - y[r, c + 1]) ** 2 for r, c in hb) + sum((y[r, c] - y[r + 1, c]) ** 2 for r, c in vb)) / (n_hb + n_vb)
    all_h = sum((y[r, c] - y[r, c + 1]) ** 2 for r in range(nv) for c in range(nh - 1))
    all_v = sum((y[r, c] - y[r + 1, c]) ** 2 for r in range(nv - 1) for c in range(nh))
    dbc = (all_h + all_v - db * (n_hb + n_vb)) / (n_hbc + n_vbc)
    eta = math.log2(b) / math.log2(min(nh, nv)) if db > dbc else 0.0
    return eta * (db - dbc)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_formula_on_blocky_random_image(seed):
    rng = np.random.default_rng(seed)
    smooth = rng.uniform(0.2, 0.8, (24, 32)) * 0.1 + 0.45
    blocks = np.kron(rng.uniform(-0.1, 0.1, (3, 4)), np.ones((8, 8)))  # constant offset per 8x8 block
    y = smooth + blocks
    x = smooth
    bef = bef_by_formula(y)
    assert bef > 0
    assert blocking_effect_factor(y) == pytest.approx(bef, rel=1e-10)
    assert psnr_b(x, y) == pytest.approx(10 * math.log10(1 / (np.mean((x - y) ** 2) + bef)), rel=1e-10)


def test_identical_smooth_images_give_inf():
    im = np.full((16, 16), 0.3)
    assert psnr_b(im, im) == math.inf


def test_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        psnr_b(np.zeros((16, 16)), np.zeros((16, 24)))
    with pytest.raises(ValueError, match="at least 16"):
        psnr_b(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(TypeError, match="floats in"):
        psnr_b(np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError, match="values in"):
        psnr_b(np.zeros((16, 16)), np.full((16, 16), 2.0))
    with pytest.raises(ValueError):
        psnr_b(np.zeros((16, 16)), np.zeros((16, 16)), data_range=0)
