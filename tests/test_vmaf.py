"""Tests of utils.vmaf: VMAF's elementary features, y4m files, and calibration against real libvmaf."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from utils import vmaf
from utils.degrade import gaussian_blur


def _has_libvmaf() -> bool:
    try:
        vmaf.ffmpeg_exe()
        return True
    except (RuntimeError, OSError, subprocess.CalledProcessError):
        return False


needs_ffmpeg = pytest.mark.skipif(not _has_libvmaf(), reason="imageio-ffmpeg's ffmpeg with libvmaf is not available")


@pytest.fixture(scope="module")
def clip():
    return vmaf.synthetic_video("astronaut", 8, 48, speed=1.0)


def _blurred(v, sigma=1.0):
    return np.stack([np.clip(np.round(gaussian_blur(f / 255.0, sigma) * 255), 0, 255).astype(np.uint8) for f in v])


def test_synthetic_video(clip):
    assert clip.shape == (8, 48, 48) and clip.dtype == np.uint8
    still = vmaf.synthetic_video("astronaut", 4, 32, speed=0.0)
    assert all(np.array_equal(still[0], f) for f in still)
    assert np.array_equal(clip, vmaf.synthetic_video("astronaut", 8, 48, speed=1.0))


def test_motion_definition(clip):
    m, m2 = vmaf.motion(clip)
    assert m[0] == 0 and m2[0] == 0
    # by hand: separable blur with mirrored borders, mean absolute difference, min with the next one
    from scipy.ndimage import convolve1d

    b = clip.astype(float)
    b = convolve1d(convolve1d(b, vmaf.MOTION_FILTER, axis=2, mode="mirror"), vmaf.MOTION_FILTER, axis=1, mode="mirror")
    sad = np.abs(b[3] - b[2]).mean()
    assert np.isclose(m[3], sad)
    assert np.isclose(m2[3], min(m[3], m[4])) and np.isclose(m2[-1], m[-1])
    still = vmaf.synthetic_video("astronaut", 4, 32, speed=0.0)
    assert np.all(vmaf.motion(still)[1] == 0)


def test_vif_and_detail_loss_behave(clip):
    v_same = vmaf.vif_scales(clip, clip)
    assert v_same.shape == (8, 4) and np.allclose(v_same, 1.0, atol=1e-3)
    assert np.allclose(vmaf.detail_loss(clip, clip), 1.0)
    weak, strong = _blurred(clip, 0.7), _blurred(clip, 2.0)
    assert np.all(vmaf.vif_scales(clip, strong)[:, 0] < vmaf.vif_scales(clip, weak)[:, 0])
    assert np.all(vmaf.detail_loss(clip, strong) < vmaf.detail_loss(clip, weak))
    f = vmaf.frame_features(clip, weak)
    assert sorted(f) == sorted(vmaf.VMAF_FEATURES)
    assert np.allclose(vmaf.adm2(clip, clip), 1.0)
    assert np.all(vmaf.adm2(clip, strong) < vmaf.adm2(clip, weak))


def test_adm_parts():
    x = np.random.default_rng(0).uniform(0, 255, (2, 20, 18))
    a, h, v, d = vmaf.adm_dwt2(x)
    assert a.shape == h.shape == (2, 10, 9)
    # a constant frame has no detail; the low-pass band carries it scaled by sum(lo)^2 = 2
    c = np.full((1, 16, 16), 7.0)
    a, h, v, d = vmaf.adm_dwt2(c)
    assert np.allclose(a, 14.0) and np.allclose(h, 0) and np.allclose(v, 0) and np.allclose(d, 0)
    # decoupling: an attenuated copy is all restored, a sign flip is all additive impairment
    o = tuple(np.random.default_rng(1).normal(size=(1, 8, 8)) for _ in range(3))
    r, add = vmaf.adm_decouple(o, tuple(0.5 * b for b in o))
    assert all(np.allclose(rb, 0.5 * ob) for rb, ob in zip(r, o)) and all(np.allclose(ab, 0) for ab in add)
    r, add = vmaf.adm_decouple(o, tuple(-b for b in o))
    assert all(np.allclose(rb, 0) for rb in r) and all(np.allclose(ab, -ob) for ab, ob in zip(add, o))
    # the CSF weights: coarser levels are weighted more (mid frequencies), diagonals less than h/v
    w1 = [vmaf.adm_csf_weight(s, 1) for s in range(4)]
    assert all(w1[i] < w1[i + 1] for i in range(3))
    assert all(vmaf.adm_csf_weight(s, 2) < vmaf.adm_csf_weight(s, 1) for s in range(4))
    with pytest.raises(ValueError, match="level"):
        vmaf.adm_csf_weight(4, 1)


def test_official_model_parses():
    m = vmaf.load_vmaf_model()
    assert m["sv"].shape == (211, 6) and m["coef"].shape == (211,)
    assert m["names"] == vmaf.VMAF_FEATURES and m["gamma"] == 0.04
    assert (vmaf.VMAF_MODEL_PATH.parent / "VMAF_LICENSE").is_file()
    perfect = {k: np.ones(3) for k in vmaf.VMAF_FEATURES}
    perfect["motion2"] = np.array([0.0, 5.0, 20.0])
    s = vmaf.vmaf_predict(perfect)
    assert s.shape == (3,) and np.all((s >= 0) & (s <= 100)) and s.min() > 90
    worst = {k: np.zeros(1) for k in vmaf.VMAF_FEATURES}
    assert vmaf.vmaf_predict(worst)[0] < vmaf.vmaf_predict(perfect)[0]
    assert vmaf.vmaf_predict(worst, clip=False)[0] <= vmaf.vmaf_predict(worst, transform=True, clip=False)[0]
    with pytest.raises(KeyError, match="missing"):
        vmaf.vmaf_predict({"adm2": np.ones(1)})


def test_vmaf_score_inputs(clip):
    s = vmaf.vmaf_score(clip, clip)
    assert s.shape == (clip.shape[0],) and s.min() > 95
    f = vmaf.vmaf_score(clip / 255.0, clip / 255.0)
    assert np.allclose(f, s)
    one = vmaf.vmaf_score(clip[3], _blurred(clip)[3])
    assert one.shape == (1,)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vmaf.vmaf_score(clip / 100.0, clip / 255.0)
    with pytest.raises(TypeError, match="uint8"):
        vmaf.vmaf_score(clip.astype(np.int16), clip)
    with pytest.raises(ValueError, match="same shape"):
        vmaf.vmaf_score(clip, clip[:3])


def test_y4m_roundtrip(tmp_path, clip):
    vmaf.write_y4m(tmp_path / "a.y4m", clip)
    assert np.array_equal(vmaf.read_y4m(tmp_path / "a.y4m"), clip)
    (tmp_path / "bad.y4m").write_bytes(b"not a video\n")
    with pytest.raises(ValueError, match="not a y4m"):
        vmaf.read_y4m(tmp_path / "bad.y4m")


def test_bad_inputs(clip):
    with pytest.raises(TypeError, match="uint8"):
        vmaf.motion(clip.astype(float))
    with pytest.raises(TypeError, match="numpy"):
        vmaf.motion([1, 2, 3])
    with pytest.raises(ValueError, match="even"):
        vmaf.real_vmaf(clip[:, :47, :47], clip[:, :47, :47])
    assert vmaf.vif_scales(clip[:, :47, :47], clip[:, :47, :47]).shape == (8, 4)  # features take any size
    with pytest.raises(ValueError, match="at least 16"):
        vmaf.detail_loss(clip[:, :8, :8], clip[:, :8, :8])
    with pytest.raises(ValueError, match="same shape"):
        vmaf.vif_scales(clip, clip[:4])
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        vmaf.motion(np.zeros((2, 2, 16, 16), np.uint8))
    with pytest.raises(ValueError, match="crf"):
        vmaf.x264(clip, 60)
    with pytest.raises(TypeError, match="crf"):
        vmaf.x264(clip, 30.0)
    with pytest.raises(ValueError, match="multiple of"):
        vmaf.x264(clip[:, :36, :36], 30, downscale=4)
    with pytest.raises(ValueError, match="speed"):
        vmaf.synthetic_video("astronaut", 4, 32, speed=-1)
    with pytest.raises(ValueError, match="even"):
        vmaf.synthetic_video("astronaut", 4, 33)


#: tolerances of the book's features against libvmaf's (stated in the VMAF chapter): float extractors, integer ones
TOL_FLOAT = {"adm2": 1e-4, "motion2": 1e-3, "vif_scale0": 5e-4, "vif_scale1": 5e-4, "vif_scale2": 5e-4, "vif_scale3": 5e-4}
TOL_INT = {"adm2": 1e-3, "motion2": 1e-3, "vif_scale0": 1e-2, "vif_scale1": 1e-2, "vif_scale2": 1e-2, "vif_scale3": 1e-2}
TOL_SCORE = 0.5


@needs_ffmpeg
def test_real_vmaf_and_calibration(clip):
    """Identical videos score ~100; full reference; motion_force_zero changes a moving clip's score."""
    same = vmaf.real_vmaf(clip, clip)
    assert same["vmaf"].mean() > 95
    dec, seconds = vmaf.x264(clip, 34)
    assert dec.shape == clip.shape and seconds > 0
    real = vmaf.real_vmaf(clip, dec)
    assert real["vmaf"].mean() < same["vmaf"].mean()
    # full reference: the same distorted video against another reference scores differently
    other = vmaf.synthetic_video("chelsea", 8, 48, speed=1.0)
    assert abs(vmaf.real_vmaf(other, dec)["vmaf"].mean() - real["vmaf"].mean()) > 10
    # motion masking: forcing the motion feature to zero changes the score of a moving clip
    zero = vmaf.real_vmaf(clip, dec, motion_force_zero=True)
    assert not np.allclose(zero["vmaf"], real["vmaf"])
    assert np.abs(vmaf.vmaf_score(clip, dec, motion_force_zero=True) - zero["vmaf"]).max() < TOL_SCORE


@needs_ffmpeg
def test_official_model_reproduces_libvmaf_from_its_own_features(clip):
    dec, _ = vmaf.x264(clip, 40)
    real = vmaf.real_vmaf(clip, dec)
    pred = vmaf.vmaf_predict({k: real[f"integer_{k}"] for k in vmaf.VMAF_FEATURES})
    assert np.abs(pred - real["vmaf"]).max() < 1e-3


# six clips of other content, sizes, speeds and encoder settings than the chapter's
AGREEMENT_CASES = [
    ("astronaut", 48, 1.0, "veryfast", 30, 1),
    ("coffee", 48, 1.5, "ultrafast", 42, 1),
    ("grass", 64, 0.5, "slow", 36, 2),
    ("camera", 48, 3.0, "medium", 24, 1),
    ("coins", 48, 2.0, "ultrafast", 46, 1),
    ("china", 64, 0.0, "veryfast", 33, 2),
]


@needs_ffmpeg
@pytest.mark.parametrize("name,size,speed,preset,crf,down", AGREEMENT_CASES)
def test_features_and_score_match_libvmaf(name, size, speed, preset, crf, down):
    """vmaf_score within 0.5 points per frame of libvmaf; each feature within its tolerance of libvmaf's."""
    ref = vmaf.synthetic_video(name, 6, size, speed=speed)
    dec, _ = vmaf.x264(ref, crf, downscale=down, preset=preset)
    real = vmaf.real_vmaf(ref, dec, float_features=True)
    score, feats = vmaf.vmaf_score(ref, dec, return_features=True)
    assert np.abs(score - real["vmaf"]).max() < TOL_SCORE
    for k in vmaf.VMAF_FEATURES:
        assert np.abs(feats[k] - real[k]).max() < TOL_FLOAT[k], k
        assert np.abs(feats[k] - real[f"integer_{k}"]).max() < TOL_INT[k], k


@needs_ffmpeg
def test_real_vmaf_images_matches_vmaf_score():
    from utils.data import load_image

    refs = np.stack([np.round(load_image(n, gray=True, size=64) * 255).astype(np.uint8) for n in ("camera", "coins", "brick")])
    dists = np.stack([_blurred(refs[:1], 1.0)[0], _blurred(refs[1:2], 2.0)[0], refs[2]])
    scores = vmaf.real_vmaf_images(refs, dists)
    assert scores.shape == (3,) and scores[2] > 95 and scores[1] < scores[2]
    ours = np.array([vmaf.vmaf_score(r, d)[0] for r, d in zip(refs, dists)])
    assert np.abs(ours - scores).max() < TOL_SCORE
    assert np.allclose(vmaf.real_vmaf_images(refs / 255.0, dists / 255.0), scores)
