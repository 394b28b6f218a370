"""Pixel-adaptive convolution (utils.pac): the exact reductions of Su et al. (2019) and bad inputs."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.pac import PacConv2d, gaussian_adaptive_kernel, joint_bilateral_upsample, pac_conv2d, position_colour_features


@pytest.mark.parametrize("k,stride,padding,dilation", [(3, 1, 1, 1), (5, 2, 2, 1), (3, 1, 2, 2), (1, 1, 0, 1)])
def test_k_one_equals_conv2d(k, stride, padding, dilation):
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 4, 11, 13), torch.randn(6, 4, k, k) / (2 * k), torch.randn(6)
    ref = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    out = pac_conv2d(x, w, b, None, stride=stride, padding=padding, dilation=dilation)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) < 1e-5
    # an explicit all-ones kernel (zero outside the image) gives the same
    ones = torch.ones(2, k * k, *ref.shape[-2:])
    assert float((pac_conv2d(x, w, b, ones, stride=stride, padding=padding, dilation=dilation) - ref).abs().max()) < 1e-5


@pytest.mark.parametrize("s", [2, 3])
def test_k_one_uniform_weight_equals_average_pooling(s):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 12, 12)
    w = torch.eye(3)[:, :, None, None].expand(3, 3, s, s) / s**2
    out = pac_conv2d(x, w.contiguous(), None, None, stride=s)
    assert float((out - F.avg_pool2d(x, s)).abs().max()) < 1e-6


def bilateral_direct(img, k, sigma_s, sigma_c):
    """Bilateral filter by loops: neighbours inside the image, weight exp(-d^2/2s_s^2 - |dI|^2/2s_c^2), normalised."""
    h, w, _ = img.shape
    r = k // 2
    out = np.zeros_like(img)
    for y in range(h):
        for x in range(w):
            num, den = 0.0, 0.0
            for yy in range(max(0, y - r), min(h, y + r + 1)):
                for xx in range(max(0, x - r), min(w, x + r + 1)):
                    wt = math.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma_s**2) - ((img[yy, xx] - img[y, x]) ** 2).sum() / (2 * sigma_c**2))
                    num, den = num + wt * img[yy, xx], den + wt
            out[y, x] = num / den
    return out


def test_normalised_gaussian_kernel_on_xyrgb_is_bilateral_filter():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (9, 10, 3))
    img[:, 5:] += 0.5  # an edge
    img /= img.max()
    k, ss, sc = 5, 1.5, 0.2
    t = torch.tensor(img.transpose(2, 0, 1)[None])
    f = position_colour_features(t, ss, sc)
    kern = gaussian_adaptive_kernel(f, k, padding=k // 2)
    w = torch.eye(3, dtype=t.dtype)[:, :, None, None].expand(3, 3, k, k).contiguous()
    out = pac_conv2d(t, w, None, kern, padding=k // 2, normalize=True)[0].numpy().transpose(1, 2, 0)
    assert np.abs(out - bilateral_direct(img, k, ss, sc)).max() < 1e-10
    # the joint upsampler with a factor-1 "low" input is the same bilateral filter (joint = self-guided here)
    ju = joint_bilateral_upsample(t, t, sigma_spatial=ss, sigma_colour=sc, kernel_size=k)[0].numpy().transpose(1, 2, 0)
    assert np.abs(ju - out).max() < 1e-10


def test_gaussian_kernel_values():
    f = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    f[0, 0, 1, 2] = 2.0
    kern = gaussian_adaptive_kernel(f, 3)  # one window, centre (1, 1) with f = 0
    assert kern.shape == (1, 9, 1, 1)
    assert kern[0, 4, 0, 0] == 1.0 and kern[0, 5, 0, 0] == pytest.approx(math.exp(-2.0))
    padded = gaussian_adaptive_kernel(f, 3, padding=1)
    assert padded[0, 0, 0, 0] == 0.0  # the top-left tap of the corner window lies outside the image


def test_pac_layer_shapes_and_gradients():
    torch.manual_seed(0)
    layer = PacConv2d(4, 5, 3, normalize=True)
    x, f = torch.randn(2, 4, 8, 8), torch.randn(2, 3, 8, 8, requires_grad=True)
    y = layer(x, f)
    assert y.shape == (2, 5, 8, 8)
    y.sum().backward()
    assert f.grad is not None and torch.isfinite(f.grad).all()
    # with f constant, K = 1 and the unnormalised layer is a same-padded conv2d
    plain = PacConv2d(4, 5, 3)
    with torch.no_grad():
        diff = (plain(x, torch.zeros(2, 1, 8, 8)) - F.conv2d(x, plain.weight, plain.bias, padding=1)).abs().max()
    assert float(diff) < 1e-5


def test_joint_upsampling_keeps_a_step_edge():
    low = torch.zeros(1, 1, 4, 4)
    low[..., 2:] = 1.0
    guide = torch.zeros(1, 1, 32, 32)
    guide[..., 16:] = 1.0
    up = joint_bilateral_upsample(low, guide, sigma_spatial=2.0, sigma_colour=0.1)
    bil = F.interpolate(low, size=(32, 32), mode="bilinear", align_corners=False)
    err_up, err_bil = float((up - guide).abs().mean()), float((bil - guide).abs().mean())
    assert err_up < 0.1 * err_bil
    with pytest.raises(ValueError, match="integer multiple"):
        joint_bilateral_upsample(low, torch.zeros(1, 1, 30, 30), sigma_spatial=2.0, sigma_colour=0.1)


def test_bad_inputs():
    x, w = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
    with pytest.raises(ValueError, match="input channels"):
        pac_conv2d(torch.randn(1, 2, 8, 8), w)
    with pytest.raises(ValueError, match="kernel must have shape"):
        pac_conv2d(x, w, None, torch.ones(1, 9, 3, 3), padding=1)
    with pytest.raises(ValueError, match="normalize"):
        pac_conv2d(x, w, normalize=True)
    with pytest.raises(ValueError, match="odd"):
        gaussian_adaptive_kernel(torch.randn(1, 2, 8, 8), 4)
    with pytest.raises(ValueError, match="does not fit"):
        pac_conv2d(torch.randn(1, 3, 2, 2), w)
    with pytest.raises(ValueError, match="4-D"):
        pac_conv2d(torch.randn(3, 8, 8), w)
    with pytest.raises(ValueError, match="must match"):
        PacConv2d(3, 4)(x, torch.randn(1, 2, 6, 6))
    with pytest.raises(ValueError):
        position_colour_features(x, 0.0, 1.0)
    with pytest.raises(TypeError):
        PacConv2d(3.5, 4)


def _jbu_direct(low, guide, s, k, ss, sc):
    """Joint bilateral upsampling by loops: sample (u, v) at block centre (s u + (s-1)/2, s v + (s-1)/2), block-mean colour."""
    _, h, w = low.shape
    gl = guide.reshape(guide.shape[0], h, s, w, s).mean((2, 4))
    out = np.zeros((low.shape[0], h * s, w * s))
    for y in range(h * s):
        for x in range(w * s):
            num, den = 0.0, 0.0
            for u in range(h):
                for v in range(w):
                    cy, cx = s * u + (s - 1) / 2, s * v + (s - 1) / 2
                    if abs(cy - y) > k / 2 or abs(cx - x) > k / 2:
                        continue
                    wt = math.exp(-((cy - y) ** 2 + (cx - x) ** 2) / (2 * ss**2) - ((gl[:, u, v] - guide[:, y, x]) ** 2).sum() / (2 * sc**2))
                    num, den = num + wt * low[:, u, v], den + wt
            out[:, y, x] = num / den
    return out


@pytest.mark.parametrize("s,k", [(4, 9), (8, 17), (2, 3)])
def test_joint_bilateral_upsample_matches_loops_at_block_centres(s, k):
    rng = np.random.default_rng(s)
    low = rng.uniform(0, 1, (2, 3, 3))
    guide = rng.uniform(0, 1, (3, 3 * s, 3 * s))
    out = joint_bilateral_upsample(torch.tensor(low[None]), torch.tensor(guide[None]), sigma_spatial=s / 2, sigma_colour=0.3, kernel_size=k)
    assert np.abs(out[0].numpy() - _jbu_direct(low, guide, s, k, s / 2, 0.3)).max() < 1e-10


def test_joint_bilateral_upsample_has_no_half_pixel_shift():
    torch.manual_seed(0)
    low, guide = torch.rand(1, 1, 4, 4, dtype=torch.float64), torch.rand(1, 3, 32, 32, dtype=torch.float64)
    up = lambda a, g: joint_bilateral_upsample(a, g, sigma_spatial=4.0, sigma_colour=0.2, kernel_size=17)  # noqa: E731
    for dims in ((-1,), (-2,), (-2, -1)):  # flipping the inputs flips the output: samples sit at block centres
        assert float((up(low.flip(dims), guide.flip(dims)) - up(low, guide).flip(dims)).abs().max()) < 1e-12
    const = joint_bilateral_upsample(torch.full((1, 2, 4, 4), 0.3), torch.rand(1, 3, 32, 32), sigma_spatial=4.0, sigma_colour=0.5)
    assert float((const - 0.3).abs().max()) < 1e-6
