"""Tests for utils.sr_models: SRResNet, the SRGAN discriminator, RDB/RRDB/RRDBNet and network interpolation."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from utils.sr_models import (
    RRDB,
    ResidualBlock,
    ResidualDenseBlock,
    RRDBNet,
    SRGANDiscriminator,
    SRResNet,
    interpolate_state_dicts,
    scaled_kaiming_init,
)


@pytest.mark.parametrize("scale", [2, 4])
def test_generators_upscale(scale):
    x = torch.rand(2, 3, 8, 8)
    for net in (SRResNet(channels=8, n_blocks=1, scale=scale), RRDBNet(channels=8, growth=4, n_blocks=1, scale=scale)):
        assert net(x).shape == (2, 3, 8 * scale, 8 * scale)


def test_srresnet_bn_switch():
    with_bn = SRResNet(channels=8, n_blocks=2)
    without = SRResNet(channels=8, n_blocks=2, bn=False)
    assert any(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without.modules())
    assert any(isinstance(m, nn.PReLU) for m in with_bn.modules())
    assert any(isinstance(m, nn.PixelShuffle) for m in with_bn.modules())


def test_residual_block_is_identity_when_branch_is_zero():
    blk = ResidualBlock(4, bn=False)
    for p in blk.parameters():
        nn.init.zeros_(p)
    x = torch.randn(1, 4, 5, 5)
    assert torch.equal(blk(x), x)


def test_discriminator_shapes_and_errors():
    d = SRGANDiscriminator(input_size=32, widths=(8, 16), hidden=16)
    assert d(torch.rand(3, 3, 32, 32)).shape == (3, 1)
    assert not isinstance(d.features[1], nn.BatchNorm2d)  # first conv has no BN
    with pytest.raises(ValueError, match="expected 32x32"):
        d(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="divisible"):
        SRGANDiscriminator(input_size=30, widths=(8, 16))
    with pytest.raises(ValueError, match="widths"):
        SRGANDiscriminator(widths=())


def test_rdb_and_rrdb_residual_scaling():
    x = torch.randn(1, 8, 6, 6)
    rdb = ResidualDenseBlock(8, 4, beta=0.2)
    body = rdb.convs
    # recompute by hand: x + 0.2 * conv5(cat(x, f1..f4))
    feats = [x]
    for i, c in enumerate(body):
        o = c(torch.cat(feats, 1))
        if i < 4:
            feats.append(torch.nn.functional.leaky_relu(o, 0.2))
    assert torch.allclose(rdb(x), x + 0.2 * o, atol=1e-6)
    assert [c.in_channels for c in body] == [8, 12, 16, 20, 24]
    assert body[-1].out_channels == 8
    rrdb = RRDB(8, 4)
    assert torch.allclose(rrdb(x), x + 0.2 * rrdb.rdbs(x), atol=1e-6)


def test_small_init_starts_close_to_identity():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6)
    small = scaled_kaiming_init(ResidualDenseBlock(8, 4), 0.1)
    big = scaled_kaiming_init(ResidualDenseBlock(8, 4), 1.0)
    with torch.no_grad():
        assert float((small(x) - x).abs().mean()) < 0.2 * float((big(x) - x).abs().mean())
    with pytest.raises(ValueError):
        scaled_kaiming_init(RRDB(8, 4), 0.0)


def test_rrdbnet_small_init_only_inside_dense_blocks():
    # BasicSR's rrdbnet_arch.py: default_init_weights([conv1..conv5], 0.1) in each dense block, default init elsewhere
    torch.manual_seed(0)
    with torch.no_grad():
        net = RRDBNet(channels=16, growth=8, n_blocks=1, scale=4)
        ref = nn.Conv2d(16, 16, 3, padding=1)  # PyTorch's default initialisation of the trunk convolution
        assert abs(float(net.trunk_conv.weight.std()) / float(ref.weight.std()) - 1) < 0.2
        for rdb in net.trunk[0].rdbs:
            for conv in rdb.convs:
                fan_in = conv.in_channels * 9
                assert abs(float(conv.weight.std()) / (0.1 * (2 / fan_in) ** 0.5) - 1) < 0.25
                assert float(conv.bias.abs().max()) == 0.0
        plain = ResidualDenseBlock(8, 4, init_scale=None)
        assert float(plain.convs[0].bias.abs().max()) > 0  # PyTorch's default init keeps random biases


def test_rrdbnet_has_no_batchnorm():
    assert not any(isinstance(m, nn.BatchNorm2d) for m in RRDBNet(8, 4, 1).modules())


def test_interpolate_state_dicts():
    torch.manual_seed(0)
    a, b = SRResNet(channels=4, n_blocks=1), SRResNet(channels=4, n_blocks=1)
    b.blocks[0].body[1].num_batches_tracked += 7
    sa, sb = a.state_dict(), b.state_dict()
    s0, s1, sh = (interpolate_state_dicts(sa, sb, t) for t in (0.0, 1.0, 0.5))
    for k in sa:
        if torch.is_floating_point(sa[k]):
            assert torch.equal(s0[k], sa[k]) and torch.allclose(s1[k], sb[k])
            assert torch.allclose(sh[k], (sa[k] + sb[k]) / 2)
    key = "blocks.0.body.1.num_batches_tracked"
    assert int(s0[key]) == int(sa[key]) and int(s1[key]) == int(sb[key])
    a.load_state_dict(sh)  # loads into the same architecture
    assert s0["head.0.weight"] is not sa["head.0.weight"]


def test_interpolate_state_dicts_bad_inputs():
    sa = SRResNet(channels=4, n_blocks=1).state_dict()
    sb = SRResNet(channels=4, n_blocks=2).state_dict()
    sc = SRResNet(channels=8, n_blocks=1).state_dict()
    with pytest.raises(ValueError, match="keys"):
        interpolate_state_dicts(sa, sb, 0.5)
    with pytest.raises(ValueError, match="shapes"):
        interpolate_state_dicts(sa, sc, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        interpolate_state_dicts(sa, sa, 1.5)
    with pytest.raises(TypeError, match="alpha"):
        interpolate_state_dicts(sa, sa, "half")
    with pytest.raises(TypeError, match="state dicts"):
        interpolate_state_dicts(SRResNet(channels=4, n_blocks=1), sa, 0.5)


def test_constructor_and_input_errors():
    with pytest.raises(ValueError, match="scale"):
        SRResNet(scale=3)
    with pytest.raises(ValueError, match="odd"):
        SRResNet(head_kernel=4)
    with pytest.raises(TypeError):
        RRDBNet(channels=2.5)
    with pytest.raises(ValueError, match="channels"):
        SRResNet(channels=4, n_blocks=1)(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="4-D"):
        RRDBNet(8, 4, 1)(torch.rand(3, 8, 8))
