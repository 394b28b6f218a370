"""Tests of utils.iqa.ma: Ma et al.'s score, its feature groups, the array forests, the perceptual index."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.data import load_image
from utils.degrade import bicubic_down, bicubic_up, gaussian_blur
from utils.iqa import ma_score, perceptual_index
from utils.iqa.ma import (
    FEATURE_GROUPS,
    GROUP_SIZES,
    MODEL_FILE,
    SR_METHODS,
    forest_to_arrays,
    load_ma_model,
    ma_dataset,
    ma_features,
    ma_target,
    predict_forest,
    super_resolve,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photo():
    return load_image("coffee", gray=False)[:160, :224]


# ---------------------------------------------------------------------------------------------
# Features and score
# ---------------------------------------------------------------------------------------------


def test_feature_groups_have_the_paper_sizes(photo):
    f = ma_features(photo)
    assert set(f) == set(FEATURE_GROUPS)
    for g in FEATURE_GROUPS:
        assert f[g].shape == (GROUP_SIZES[g],)
        assert np.isfinite(f[g]).all()
    # raw singular values (not normalised), descending at each of the three scales
    sv = f["svd"].reshape(3, 25)
    assert (np.diff(sv, axis=1) <= 1e-9).all() and sv[0, 0] > 1.0


def test_features_are_defined_on_a_flat_image():
    f = ma_features(np.full((64, 64, 3), 0.5))
    assert all(np.isfinite(v).all() for v in f.values())


def test_score_is_the_unclipped_fusion(photo):
    s, parts = ma_score(photo, return_parts=True)
    assert set(parts) == set(FEATURE_GROUPS)
    w = load_ma_model()["fusion"]
    expect = w[0] + sum(w[i + 1] * parts[g] for i, g in enumerate(FEATURE_GROUPS))  # quality_predict.m: no clipping
    assert s == pytest.approx(expect, abs=1e-12)
    for im in (np.zeros((64, 64)), np.ones((64, 64, 3)), np.random.default_rng(0).random((64, 96, 3))):
        assert np.isfinite(ma_score(im))


def test_ggd_shape_on_known_laws():
    from utils.iqa.ma import _ggd_shape

    rng = np.random.default_rng(0)
    assert _ggd_shape(rng.normal(size=200_000)) == pytest.approx(2.0, abs=0.03)
    assert _ggd_shape(rng.laplace(size=200_000)) == pytest.approx(1.0, abs=0.03)
    assert 0.03 <= float(_ggd_shape(np.zeros(10))) <= 10.0  # defined on a constant row (grid end)


def test_steerable_pyramid_layout_and_masks():
    from utils.iqa.ma import steerable_pyramid

    im = np.random.default_rng(1).normal(size=(64, 80))
    pyr = steerable_pyramid(im)
    assert len(pyr) == 1 + 12 + 1
    assert pyr[0].shape == (64, 80) and all(b.shape == (64, 80) for b in pyr[1:7])
    assert all(b.shape == (32, 40) for b in pyr[7:13]) and pyr[13].shape == (16, 20)
    # a constant image has no energy in any band-pass band
    flat = steerable_pyramid(np.full((64, 64), 7.0))
    assert max(np.abs(b).max() for b in flat[:13]) < 1e-9
    with pytest.raises(ValueError, match="cannot build"):
        steerable_pyramid(np.zeros((16, 16)), height=3)
    with pytest.raises(ValueError, match="2-D"):
        steerable_pyramid(np.zeros((16, 16, 3)))


def test_dct_oriented_sets_cover_the_ac_coefficients():
    from utils.iqa.ma import _dct_setup

    _, sets = _dct_setup()
    assert [len(s) for s in sets] == [16, 16, 16]
    assert sorted(np.concatenate(sets).tolist()) == list(range(1, 49))


def test_stage_times_keys(photo):
    from utils.iqa.ma import ma_stage_times

    t = ma_stage_times(photo)
    assert set(t) == {"dct features", "steerable pyramid", "normalisation (GSM)", "SSIM and shapes (freq)", "svd features", "forests"}
    assert all(v >= 0 for v in t.values())


def test_accepts_grey_and_tensor(photo):
    grey = photo @ np.array([0.299, 0.587, 0.114])
    assert np.isfinite(ma_score(grey))
    t = torch.from_numpy(photo.transpose(2, 0, 1).copy()).float()
    assert ma_score(t) == pytest.approx(ma_score(photo.astype(np.float32).astype(np.float64)), abs=1e-6)


def test_blur_lowers_the_score_on_average():
    names = ("chelsea", "coffee", "rocket")
    sharp = [ma_score(load_image(n, gray=False)[:192, :192]) for n in names]
    blurred = [ma_score(gaussian_blur(load_image(n, gray=False)[:192, :192], 2.5)) for n in names]
    assert np.mean(blurred) < np.mean(sharp)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.zeros((40, 40, 3)), ValueError, "at least 48"),
        (np.zeros((64, 64, 4)), ValueError, "shape"),
        (np.zeros((64, 64, 3), dtype=np.uint8), TypeError, "divide by 255"),
        (np.full((64, 64), 2.0), ValueError, r"values in \[0.0, 1.0\]"),
        (np.full((64, 64), np.nan), ValueError, "NaN"),
        ("image.png", TypeError, "numpy array"),
        (np.zeros((2, 64, 64, 3)), ValueError, "2-D"),
    ],
)
def test_bad_images(bad, exc, match):
    with pytest.raises(exc, match=match):
        ma_score(bad)


def test_bad_options(photo):
    with pytest.raises(ValueError, match="channel"):
        ma_score(photo, channel="lab")
    with pytest.raises(TypeError, match="model"):
        ma_score(photo, model=[1, 2, 3])
    bad = dict(load_ma_model())
    bad["fusion"] = np.zeros(3)
    with pytest.raises(ValueError, match="fusion"):
        ma_score(photo, model=bad)
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_ma_model("/nonexistent/ma_model.npz")


# ---------------------------------------------------------------------------------------------
# Forests as arrays
# ---------------------------------------------------------------------------------------------


def test_array_forest_matches_sklearn():
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    y = x[:, 0] - 2 * x[:, 3] ** 2 + 0.1 * rng.normal(size=200)
    rf = RandomForestRegressor(n_estimators=7, max_depth=5, random_state=0).fit(x, y)
    arrays = forest_to_arrays(rf)
    xt = rng.normal(size=(50, 6))
    np.testing.assert_allclose(predict_forest(arrays, xt), rf.predict(xt), atol=1e-12)
    assert predict_forest(arrays, xt[0]).shape == (1,)


def test_forest_bad_inputs():
    with pytest.raises(TypeError, match="fitted sklearn"):
        forest_to_arrays(object())
    with pytest.raises(TypeError, match="keys"):
        predict_forest({"left": np.zeros(1)}, np.zeros((1, 3)))
    arrays = load_ma_model()["dct"]
    with pytest.raises(ValueError, match="features"):
        predict_forest(arrays, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        predict_forest(arrays, np.zeros((2, 3, 18)))


def test_shipped_model_is_small_and_pickle_free():
    assert MODEL_FILE.is_file()
    assert MODEL_FILE.stat().st_size < 2 * 1024 * 1024
    with np.load(MODEL_FILE, allow_pickle=False) as data:  # raises if anything needs pickle
        assert data["fusion"].shape == (4,)
    model = load_ma_model()
    meta = model["meta"]
    assert set(meta["train_photos"]).isdisjoint(meta["heldout_photos"])
    assert "judge" in meta["target"] and model["data"]["dct"].shape[1] == 18


# ---------------------------------------------------------------------------------------------
# Perceptual index
# ---------------------------------------------------------------------------------------------


def test_perceptual_index_is_the_pirm_formula():
    from utils.iqa import niqe

    img = load_image("chelsea", gray=False)[:200, :296]
    pi, parts = perceptual_index(img, return_parts=True)
    inner = img[4:-4, 4:-4]
    assert parts["ma"] == pytest.approx(ma_score(inner, channel="y"))
    assert parts["niqe"] == pytest.approx(niqe(inner, channel="y"))
    assert pi == pytest.approx(((10 - parts["ma"]) + parts["niqe"]) / 2)
    assert perceptual_index(img) == pytest.approx(pi)


def test_perceptual_index_bad_inputs():
    img = load_image("chelsea", gray=False)[:200, :296]
    with pytest.raises(TypeError, match="shave"):
        perceptual_index(img, shave=2.5)
    with pytest.raises(ValueError, match="shave"):
        perceptual_index(img, shave=-1)
    with pytest.raises(ValueError, match="removes the whole"):
        perceptual_index(img, shave=100)
    with pytest.raises(ValueError, match="too small for NIQE"):
        perceptual_index(img[:100, :100])


# ---------------------------------------------------------------------------------------------
# Data set helpers
# ---------------------------------------------------------------------------------------------


def test_super_resolve_methods():
    hr = load_image("chelsea", gray=False)[:48, :48]
    lr = bicubic_down(hr, 4)
    filt = np.zeros((5, 5))
    for m in SR_METHODS:
        out = super_resolve(lr, 4, m, filt=filt)
        assert out.shape == hr.shape and out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(super_resolve(lr, 4, "learned", filt=filt), bicubic_up(lr, 4))
    with pytest.raises(ValueError, match="method"):
        super_resolve(lr, 4, "magic")
    with pytest.raises(ValueError, match="filt"):
        super_resolve(lr, 4, "learned")
    with pytest.raises(ValueError, match="shape"):
        super_resolve(lr[..., 0], 4, "bicubic")


def test_target_is_ten_for_the_original_and_lower_for_damage():
    hr = load_image("chelsea", gray=False)[:64, :64]
    assert ma_target(hr, hr) == pytest.approx(10.0)
    assert ma_target(gaussian_blur(hr, 1.0), hr) < 10.0
    assert ma_target(gaussian_blur(hr, 4.0), hr) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="same shape"):
        ma_target(hr, hr[:32, :32])


def test_dataset_bad_inputs():
    with pytest.raises(ValueError, match="unknown image"):
        ma_dataset(["nope"])
    with pytest.raises(ValueError, match="multiple"):
        ma_dataset(["chelsea"], crop=100, scales=(3,))
    with pytest.raises(ValueError, match="empty"):
        ma_dataset([])
    with pytest.raises(ValueError, match="method"):
        ma_dataset(["chelsea"], methods=("bicubic", "magic"))


def test_dataset_small():
    d = ma_dataset(["chelsea"], crops_per_image=1, crop=96, scales=(2,), methods=("bicubic", "nearest"))
    assert d["dct"].shape == (3, 18) and d["freq"].shape == (3, 45) and d["svd"].shape == (3, 75)
    assert d["target"][0] == pytest.approx(10.0) and d["method"].tolist() == [-1, 0, 1]


# ---------------------------------------------------------------------------------------------
# Reproducibility of the shipped model
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.retrain
def test_shipped_model_reproduces(tmp_path):
    out = tmp_path / "ma_model.npz"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "train_ma_model.py"), "--out", str(out)], check=True, cwd=ROOT)
    new, shipped = load_ma_model(out), load_ma_model()
    np.testing.assert_allclose(new["fusion"], shipped["fusion"], rtol=1e-6, atol=1e-9)
    for g in FEATURE_GROUPS:
        for k in ("left", "right", "feature", "roots"):
            np.testing.assert_array_equal(new[g][k], shipped[g][k])
        np.testing.assert_allclose(new[g]["threshold"], shipped[g]["threshold"], rtol=1e-9)
        np.testing.assert_allclose(new[g]["value"], shipped[g]["value"], rtol=1e-6, atol=1e-9)
