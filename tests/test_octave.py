"""Tests for utils.octave: the octave convolution and the hook-based cost counter (chapters/octconv.md)."""
from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.cost import measure_cost
from utils.octave import OctConv2d, oct_act, oct_pool, split_channels


def _pair(layer, n=2, size=8):
    h = torch.randn(n, layer.in_h, size, size) if layer.in_h else None
    low = torch.randn(n, layer.in_l, size // 2, size // 2) if layer.in_l else None
    return h, low


def test_split_channels_rounds_low_group_down():
    assert split_channels(64, 0.125) == (56, 8)
    assert split_channels(10, 0.25) == (8, 2)
    assert split_channels(4, 0.0) == (4, 0)
    assert split_channels(4, 1.0) == (0, 4)


@pytest.mark.parametrize("alpha_in,alpha_out", [(0.0, 0.5), (0.5, 0.5), (0.5, 0.0), (0.25, 0.75), (0.0, 0.0), (1.0, 1.0)])
def test_shapes(alpha_in, alpha_out):
    layer = OctConv2d(8, 8, 3, alpha_in, alpha_out)
    y_h, y_l = layer(_pair(layer))
    assert (y_h is None) == (layer.out_h == 0) and (y_l is None) == (layer.out_l == 0)
    if y_h is not None:
        assert y_h.shape == (2, layer.out_h, 8, 8)
    if y_l is not None:
        assert y_l.shape == (2, layer.out_l, 4, 4)


def test_alpha_zero_is_a_plain_convolution():
    torch.manual_seed(0)
    layer = OctConv2d(3, 5, 3, 0.0, 0.0, bias=True)
    x = torch.randn(2, 3, 6, 6)
    y_h, y_l = layer(x)
    assert y_l is None
    ref = F.conv2d(x, layer.conv_hh.weight, layer.conv_hh.bias, padding=1)
    assert torch.allclose(y_h, ref)


def test_four_paths_follow_the_equations():
    torch.manual_seed(1)
    layer = OctConv2d(8, 8, 3, 0.5, 0.5)
    x_h, x_l = _pair(layer)
    y_h, y_l = layer((x_h, x_l))
    exp_h = layer.conv_hh(x_h) + layer.conv_lh(x_l).repeat_interleave(2, -1).repeat_interleave(2, -2)
    pooled = (x_h[..., ::2, ::2] + x_h[..., 1::2, ::2] + x_h[..., ::2, 1::2] + x_h[..., 1::2, 1::2]) / 4
    exp_l = layer.conv_ll(x_l) + layer.conv_hl(pooled)
    assert torch.allclose(y_h, exp_h, atol=1e-6) and torch.allclose(y_l, exp_l, atol=1e-6)


@pytest.mark.parametrize("alpha", [0, 0.125, 0.25, 0.5, 0.75, 0.875, 1])
def test_cost_matches_paper_formulas_exactly(alpha):
    c, s = 64, 16
    layer = OctConv2d(c, c, 3, alpha, alpha)
    rep = measure_cost(layer, _pair(layer, n=3, size=s))
    a = Fraction(alpha).limit_denominator(8)
    assert Fraction(rep.macs, c * c * 9 * s * s) == (1 - a) ** 2 + a * (1 - a) / 2 + a**2 / 4
    assert Fraction(rep.activations, c * s * s) == 1 - 3 * a / 4


def test_measure_cost_counts_linear_and_conv_and_removes_hooks():
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 5 * 5, 7))
    rep = measure_cost(net, torch.randn(2, 2, 5, 5))
    assert rep.macs == 4 * 25 * 2 * 9 + 100 * 7
    assert rep.activations == 7
    assert all(len(m._forward_hooks) == 0 for m in net.modules())


def test_pool_and_act_keep_none():
    h, low = torch.randn(1, 2, 4, 4), None
    ph, pl = oct_pool((h, low))
    assert ph.shape == (1, 2, 2, 2) and pl is None
    ah, al = oct_act((-h, low))
    assert (ah >= 0).all() and al is None


def test_bad_inputs():
    with pytest.raises(ValueError, match="alpha"):
        split_channels(8, 1.5)
    with pytest.raises(TypeError, match="channels"):
        split_channels(8.5, 0.5)
    with pytest.raises(ValueError, match="odd"):
        OctConv2d(8, 8, 2)
    layer = OctConv2d(8, 8, 3, 0.5, 0.5)
    with pytest.raises(ValueError, match="low-frequency input"):
        layer((torch.randn(1, 4, 8, 8), None))
    with pytest.raises(ValueError, match="half the size"):
        layer((torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)))
    with pytest.raises(ValueError, match="even"):
        layer((torch.randn(1, 4, 7, 7), torch.randn(1, 4, 3, 3)))
    with pytest.raises(ValueError, match="channels"):
        layer((torch.randn(1, 3, 8, 8), torch.randn(1, 4, 4, 4)))
    with pytest.raises(TypeError, match="tuple"):
        layer([torch.randn(1, 4, 8, 8)])
    first = OctConv2d(3, 8, 3, 0.0, 0.5)
    with pytest.raises(ValueError, match="no low-frequency"):
        first((torch.randn(1, 3, 8, 8), torch.randn(1, 1, 4, 4)))
    with pytest.raises(TypeError, match="Module"):
        measure_cost(lambda x: x, torch.randn(1))
    with pytest.raises(ValueError, match="at least one input"):
        measure_cost(layer)
    with pytest.raises(TypeError, match="floating-point"):
        measure_cost(nn.Conv2d(1, 1, 3), torch.zeros(1, 1, 8, 8, dtype=torch.long))
