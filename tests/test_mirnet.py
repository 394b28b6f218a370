"""MIRNet building blocks (utils.mirnet): parameter counts of the official layout, SKFF, DAU, MAC counter."""
import pytest
import torch
import torch.nn as nn

from utils.cost import measure_cost
from utils.mirnet import DAU, MIRNet, MRB, SKFF, BlurPool, ConcatFusion, SumFusion
from utils.train import count_parameters


def test_full_size_parameter_count():
    # the paper's defaults; the maintainer quotes "31.7 Million", the released model has ~31.8 M
    n = count_parameters(MIRNet())
    assert n == 31_787_419
    assert abs(n / 31.8e6 - 1) < 0.01


@pytest.mark.parametrize("n_feat,expected", [(16, 333_392), (32, 1_330_800)])
def test_small_config_parameter_counts(n_feat, expected):
    assert count_parameters(MIRNet(n_feat=n_feat, n_RRG=1, n_MSRB=1)) == expected


def test_quirks_share_weights():
    m = MRB(8, height=3, width=2)
    assert m.blocks[0][0] is m.blocks[0][1]  # [DAU] * width: one module used twice
    assert m.final_fusion is m.fusions[0]
    prelus = {id(d.body[1]) for d in m.modules() if isinstance(d, DAU)}
    assert len(prelus) == 1
    free = MRB(8, height=3, width=2, official_quirks=False)
    assert free.blocks[0][0] is not free.blocks[0][1]
    assert count_parameters(free) > count_parameters(m)


def test_forward_shapes_and_residual():
    torch.manual_seed(0)
    for fusion in ("skff", "sum", "concat"):
        net = MIRNet(n_feat=8, n_RRG=1, n_MSRB=1, fusion=fusion)
        x = torch.rand(2, 3, 16, 16)
        assert net(x).shape == x.shape
    net = MIRNet(n_feat=8, n_RRG=1, n_MSRB=1)
    with torch.no_grad():
        net.conv_out.weight.zero_()
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(net(x), x)  # global residual: a zero output conv returns the input


def test_skff_attention_is_a_softmax_over_branches():
    torch.manual_seed(0)
    sk = SKFF(16, branches=3)
    feats = [torch.randn(2, 16, 5, 5) for _ in range(3)]
    out = sk(feats)
    a = sk.last_attention
    assert a.shape == (2, 3, 16)
    assert torch.allclose(a.sum(1), torch.ones(2, 16))
    assert torch.allclose(out, sum(a[:, i, :, None, None] * feats[i] for i in range(3)), atol=1e-6)
    assert sk.squeeze[0].out_channels == 4  # d = max(16 // 8, 4)
    assert torch.allclose(SumFusion(16)(feats), feats[0] + feats[1] + feats[2])
    assert ConcatFusion(16)(feats).shape == (2, 16, 5, 5)


def test_dau_and_blurpool():
    torch.manual_seed(0)
    d = DAU(16)
    x = torch.randn(1, 16, 8, 8)
    assert d(x).shape == x.shape
    bp = BlurPool(2)
    assert count_parameters(bp) == 0
    assert torch.allclose(bp(torch.ones(1, 2, 8, 8)), torch.ones(1, 2, 4, 4))


def test_measure_cost_counts_transposed_convs_and_scales_with_area():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), nn.Flatten(), nn.Linear(4 * 16 * 16, 10))
    x = torch.zeros(1, 3, 8, 8)
    expected = 8 * 64 * 3 * 9 + 8 * 64 * 4 * 9 + 10 * 1024
    assert measure_cost(net, x).macs == expected
    # the count scales with the input's area, up to the 1x1 convs that act on globally pooled vectors
    small = MIRNet(n_feat=8, n_RRG=1, n_MSRB=1)
    big, little = (measure_cost(small, torch.zeros(1, 3, s, s)).macs for s in (32, 16))
    assert big == pytest.approx(4 * little, rel=0.01)


def test_bad_inputs():
    net = MIRNet(n_feat=8, n_RRG=1, n_MSRB=1)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 3, 10, 10))
    with pytest.raises(ValueError, match="3 channels"):
        net(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="expected one of"):
        MIRNet(fusion="max")
    with pytest.raises(ValueError, match="list of 3"):
        SKFF(8)([torch.rand(1, 8, 4, 4)] * 2)
    with pytest.raises(ValueError, match="same shape"):
        SKFF(8, branches=2)([torch.rand(1, 8, 4, 4), torch.rand(1, 8, 2, 2)])
    with pytest.raises(TypeError):
        MIRNet(n_feat=8.5)


def test_plain_cnn_he_init_starts_as_identity_and_keeps_scale():
    from utils.mirnet import PlainCNN

    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16)
    net = PlainCNN()
    with torch.no_grad():
        assert torch.equal(net(x), x)  # zero last layer
    moments = []
    hooks = [m.register_forward_hook(lambda m, i, o: moments.append(float((o**2).mean()))) for m in net.body if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    torch.manual_seed(0)
    default = PlainCNN(init="torch")
    default_moments = []
    hooks += [m.register_forward_hook(lambda m, i, o: default_moments.append(float((o**2).mean()))) for m in default.body if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        default(x)
    assert moments[-1] / moments[0] > 0.05 and default_moments[-1] / default_moments[0] < 0.05
    assert count_parameters(PlainCNN(batch_norm=True)) > 0


@pytest.mark.parametrize("kwargs, err", [(dict(depth=1), ValueError), (dict(init="xavier"), ValueError), (dict(width=0), ValueError)])
def test_plain_cnn_rejects_bad_arguments(kwargs, err):
    from utils.mirnet import PlainCNN

    with pytest.raises(err):
        PlainCNN(**kwargs)


def test_attention_spread():
    from utils.mirnet import attention_spread

    m = MIRNet(n_feat=8, n_RRG=1, n_MSRB=1)
    with pytest.raises(ValueError, match="forward pass"):
        attention_spread(m)
    with torch.no_grad():
        m(torch.rand(1, 3, 16, 16))
    assert 0 <= attention_spread(m) < 0.05  # untrained: about the mean
    with pytest.raises(ValueError, match="no SKFF"):
        attention_spread(MIRNet(n_feat=8, n_RRG=1, n_MSRB=1, fusion="sum"))
