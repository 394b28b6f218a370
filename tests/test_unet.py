"""Tests of utils.unet.UNet: shapes, skips, dropout as a noise source, input checks."""
from __future__ import annotations

import pytest
import torch

from utils.unet import UNet


def test_shapes_and_range():
    net = UNet(5, 3, width=8, depth=3)
    with torch.no_grad():
        y = net(torch.rand(2, 5, 32, 32))
    assert y.shape == (2, 3, 32, 32)
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_dropout_noise_only_when_enabled():
    torch.manual_seed(0)
    net = UNet(1, 1, width=8, depth=3, dropout=0.5).eval()
    x = torch.rand(1, 1, 16, 16)
    assert torch.equal(net(x), net(x))
    net.enable_dropout()
    assert not torch.equal(net(x), net(x))
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 2  # three deepest decoder stages minus the last


def test_residual_identity_at_zero_output():
    net = UNet(1, 1, width=4, depth=2, out_act="none", residual=True)
    torch.nn.init.zeros_(net.out.weight)
    torch.nn.init.zeros_(net.out.bias)
    x = torch.rand(1, 1, 8, 8)
    assert torch.allclose(net(x), x)


def test_skip_reaches_output():
    """The output depends on the input at full resolution through the last skip."""
    net = UNet(1, 1, width=4, depth=2)
    x = torch.zeros(1, 1, 8, 8, requires_grad=True)
    net(x)[0, 0, 3, 3].backward()
    assert float(x.grad[0, 0, 3, 3].abs()) > 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="multiples"):
        UNet(1, 1, depth=3)(torch.rand(1, 1, 20, 20))
    with pytest.raises(ValueError, match="channels"):
        UNet(3, 3)(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="out_act"):
        UNet(1, 1, out_act="tanh")
    with pytest.raises(ValueError, match="residual"):
        UNet(1, 3, residual=True, out_act="none")
    with pytest.raises(ValueError, match="dropout"):
        UNet(1, 1, dropout=1.5)
    with pytest.raises(TypeError, match="width"):
        UNet(1, 1, width=2.5)
