"""Tests of utils.discriminators: PatchGAN receptive fields, multi-scale discriminator, feature matching."""
from __future__ import annotations

import pytest
import torch

from utils.discriminators import (
    MultiScaleDiscriminator,
    PatchGAN,
    feature_matching_loss,
    patchgan_layers,
    patchgan_receptive_field,
    receptive_field,
)


@pytest.mark.parametrize("n, rf", [(0, 1), (1, 16), (2, 34), (3, 70), (4, 142), (5, 286)])
def test_receptive_field_published_values(n, rf):
    assert patchgan_receptive_field(n) == rf


def test_receptive_field_generic():
    assert receptive_field([(3, 1)]) == 3
    assert receptive_field([(3, 1), (3, 1)]) == 5
    assert receptive_field([(2, 2), (2, 2)]) == 4


@pytest.mark.parametrize("n", [0, 1, 2])
def test_receptive_field_matches_gradient(n):
    """The input pixels that influence one output unit span exactly the computed field (minus padding)."""
    torch.manual_seed(0)
    d = PatchGAN(1, width=4, n_layers=n, norm=False).double()
    x = torch.randn(1, 1, 80, 80, dtype=torch.double, requires_grad=True)
    out = d(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    nz = (x.grad[0, 0].abs() > 0).nonzero()
    span = int(nz[:, 0].max() - nz[:, 0].min() + 1)
    assert span == patchgan_receptive_field(n)


def test_patchgan_output_and_features():
    d = PatchGAN(4, width=8, n_layers=2)
    logits, feats = d(torch.rand(2, 4, 32, 32), return_features=True)
    assert logits.shape[:2] == (2, 1)
    assert len(feats) == len(patchgan_layers(2)) - 1
    assert d.receptive_field == 34


def test_multiscale_and_feature_matching():
    torch.manual_seed(0)
    d = MultiScaleDiscriminator(3, width=8, n_layers=1, num_d=2)
    x = torch.rand(2, 3, 32, 32)
    out = d(x)
    assert len(out) == 2
    assert out[1][0].shape[-1] < out[0][0].shape[-1]
    assert feature_matching_loss(out, d(x)).item() == pytest.approx(0.0, abs=1e-7)
    y = d(torch.rand(2, 3, 32, 32))
    assert feature_matching_loss(y, out).item() > 0
    down = MultiScaleDiscriminator.downsample(torch.ones(1, 1, 8, 8))
    assert down.shape[-1] == 4 and torch.allclose(down, torch.ones_like(down))


def test_feature_matching_single_patchgan_gradients_only_to_fake():
    d = PatchGAN(3, width=4, n_layers=1)
    fake = torch.rand(1, 3, 16, 16, requires_grad=True)
    real = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss = feature_matching_loss(d(fake, return_features=True), d(real, return_features=True))
    loss.backward()
    assert fake.grad is not None and real.grad is None


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_layers"):
        patchgan_layers(-1)
    with pytest.raises(ValueError, match="n_layers"):
        PatchGAN(3, n_layers=1.5)
    with pytest.raises(ValueError, match="at least one"):
        receptive_field([])
    with pytest.raises(ValueError, match="kernel, stride"):
        receptive_field([3])
    with pytest.raises(ValueError, match="channels"):
        PatchGAN(3)(torch.rand(1, 2, 32, 32))
    with pytest.raises(TypeError, match="in_channels"):
        PatchGAN("3")
    d = MultiScaleDiscriminator(3, width=4, n_layers=1, num_d=2)
    with pytest.raises(ValueError, match="same discriminators"):
        feature_matching_loss(d(torch.rand(1, 3, 16, 16)), d(torch.rand(1, 3, 16, 16))[:1])
    with pytest.raises(TypeError, match="lists"):
        feature_matching_loss(torch.rand(3), torch.rand(3))


def test_multiscale_coarse_receptive_field_by_gradient():
    torch.manual_seed(0)
    d = MultiScaleDiscriminator(1, width=4, n_layers=1, num_d=2, norm=False).double()
    spans = []
    for k in range(2):
        x = torch.randn(1, 1, 96, 96, dtype=torch.double, requires_grad=True)
        logits = d(x)[k][0]
        logits[0, 0, logits.shape[-2] // 2, logits.shape[-1] // 2].backward()
        rows = (x.grad[0, 0].abs() > 0).any(1).nonzero()
        spans.append(int(rows.max() - rows.min() + 1))
    assert spans == [receptive_field(patchgan_layers(1)), receptive_field([(3, 2)] + patchgan_layers(1))] == [16, 33]


def test_feature_matching_official_weighting_is_four_times_the_mean():
    torch.manual_seed(0)
    d = MultiScaleDiscriminator(3, width=4, n_layers=1, num_d=2)
    a, b = d(torch.rand(2, 3, 16, 16)), d(torch.rand(2, 3, 16, 16))
    # by hand: (1/num_D) * sum_D sum_layers 4/(n_layers+1) * L1
    by_hand = sum(sum(4 / (1 + 1) * (fa - fb).abs().mean() for fa, fb in zip(x[1], y[1])) for x, y in zip(a, b)) / 2
    assert feature_matching_loss(a, b, weighting="official").item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert feature_matching_loss(a, b, weighting="official").item() == pytest.approx(4 * feature_matching_loss(a, b).item(), rel=1e-6)
    with pytest.raises(ValueError):
        feature_matching_loss(a, b, weighting="sum")


def test_lsgan_generator_loss_unhalved_option():
    from utils.gan import g_loss

    f = torch.tensor([0.0, 2.0, 3.0])
    assert g_loss(f, kind="lsgan", halved=False).item() == pytest.approx(((f - 1) ** 2).mean().item())
    assert g_loss(f, kind="lsgan").item() == pytest.approx(0.5 * ((f - 1) ** 2).mean().item())
    with pytest.raises(TypeError):
        g_loss(f, kind="lsgan", halved=1)
