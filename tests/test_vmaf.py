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
    assert sorted(f) == sorted(["adm", "motion2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3"])


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
        vmaf.vif_scales(clip[:, :47, :47], clip[:, :47, :47])
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


@needs_ffmpeg
def test_real_vmaf_and_calibration(clip):
    """The book's VIF and motion agree with libvmaf's own features; identical videos score ~100."""
    same = vmaf.real_vmaf(clip, clip)
    assert same["vmaf"].mean() > 95
    dec, seconds = vmaf.x264(clip, 34)
    assert dec.shape == clip.shape and seconds > 0
    real = vmaf.real_vmaf(clip, dec)
    ours = vmaf.frame_features(clip, dec)
    for s in range(4):
        assert np.abs(ours[f"vif_scale{s}"] - real[f"integer_vif_scale{s}"]).max() < 0.01
    assert np.abs(ours["motion2"] - real["integer_motion2"]).max() < 0.01
    assert np.corrcoef(ours["adm"], real["integer_adm2"])[0, 1] > 0.5
    assert real["vmaf"].mean() < same["vmaf"].mean()
    # full reference: the same distorted video against another reference scores differently
    other = vmaf.synthetic_video("chelsea", 8, 48, speed=1.0)
    assert abs(vmaf.real_vmaf(other, dec)["vmaf"].mean() - real["vmaf"].mean()) > 10
    # motion masking: forcing the motion feature to zero changes the score of a moving clip
    zero = vmaf.real_vmaf(clip, dec, motion_force_zero=True)
    assert not np.allclose(zero["vmaf"], real["vmaf"])
