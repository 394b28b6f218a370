"""Tests for utils.flow, the miniature conditional normalising flow of chapters/srflow.md."""
from __future__ import annotations

import math

import pytest
import torch

from utils.flow import (ActNorm, CondAffineCoupling, FrozenConditioner, InvConv1x1, LRRegressor, Split, TinySRFlow, bits_per_dim,
                        squeeze, unsqueeze)


def _flow(dtype=torch.float32, seed=0, lr_size=2):
    torch.manual_seed(seed)
    m = TinySRFlow(scale=4, levels=2, steps=1, hidden=8, cond_channels=4, enc_hidden=8).to(dtype)
    hr = torch.rand(3, 3, 4 * lr_size, 4 * lr_size, dtype=dtype)
    lr = torch.rand(3, 3, lr_size, lr_size, dtype=dtype)
    m.train()
    m(hr, lr)  # data-dependent ActNorm initialisation
    with torch.no_grad():  # move the zero-initialised convs away from zero so every layer does something
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m.eval(), hr, lr


def test_squeeze_roundtrip_and_shape():
    x = torch.rand(2, 3, 4, 6)
    assert squeeze(x).shape == (2, 12, 2, 3)
    assert torch.equal(unsqueeze(squeeze(x)), x)


def test_inverse_of_forward_is_identity():
    m, hr, lr = _flow()
    with torch.no_grad():
        zs, logdet, prior = m(hr, lr)
        rec = m.reverse(lr, zs)
    assert [tuple(z.shape) for z in zs] == [(3, 6, 4, 4), (3, 24, 2, 2)]
    assert float((rec - hr).abs().max()) < 1e-4
    assert torch.isfinite(logdet).all() and torch.isfinite(prior).all()


def test_logdet_matches_brute_force_jacobian():
    m, hr, lr = _flow(torch.float64, lr_size=1)  # a 4x4 HR image: a 48 x 48 Jacobian
    x, u = hr[:1], lr[:1]

    def f(flat):
        zs, _, _ = m(flat.view_as(x), u)
        return torch.cat([z.flatten() for z in zs])

    jac = torch.autograd.functional.jacobian(f, x.flatten())
    assert jac.shape == (48, 48)
    brute = torch.linalg.slogdet(jac)[1]
    with torch.no_grad():
        _, logdet, _ = m(x, u)
    assert abs(logdet[0].item() - brute.item()) < 1e-8 * max(1.0, abs(brute.item()))


@pytest.mark.parametrize("layer", ["actnorm", "invconv", "coupling"])
def test_layers_invert_and_logdet(layer):
    torch.manual_seed(1)
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64)
    u = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    if layer == "actnorm":
        mod = ActNorm(4).double()
        mod(x)  # initialise from data
        out, ld = mod(x)
        assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(4, dtype=torch.float64), atol=1e-10)
        rec = mod.reverse(out)
        fwd = lambda t: mod(t.view_as(x[:1]))[0].flatten()  # noqa: E731
    elif layer == "invconv":
        mod = InvConv1x1(4).double()
        out, ld = mod(x)
        rec = mod.reverse(out)
        fwd = lambda t: mod(t.view_as(x[:1]))[0].flatten()  # noqa: E731
    else:
        mod = CondAffineCoupling(4, 2, hidden=6).double()
        with torch.no_grad():
            for p in mod.parameters():
                p.add_(0.1 * torch.randn_like(p))
        out, ld = mod(x, u)
        rec = mod.reverse(out, u)
        fwd = lambda t: mod(t.view_as(x[:1]), u[:1])[0].flatten()  # noqa: E731
    assert torch.allclose(rec, x, atol=1e-10)
    brute = torch.linalg.slogdet(torch.autograd.functional.jacobian(fwd, x[:1].flatten()))[1]
    assert abs(ld[0].item() - brute.item()) < 1e-9


def test_coupling_starts_as_fixed_contraction():
    c = CondAffineCoupling(4, 2)
    x, u = torch.randn(1, 4, 3, 3), torch.randn(1, 2, 3, 3)
    out, ld = c(x, u)
    s = torch.sigmoid(torch.tensor(2.0)) + 1e-4
    assert torch.allclose(out[:, 2:], x[:, 2:] * s, atol=1e-6)
    assert torch.allclose(ld, 18 * torch.log(s), atol=1e-4)


def test_nll_bits_and_sampling():
    m, hr, lr = _flow()
    g = torch.Generator().manual_seed(0)
    bpd = m.nll_bits(hr, lr, generator=g)
    assert bpd.ndim == 0 and math.isfinite(bpd.item())
    with torch.no_grad():
        lp = m.log_prob(hr, lr)
    assert torch.allclose(bits_per_dim(lp, 192).mean(), m.nll_bits(hr, lr, dequantize=False), atol=1e-5)
    s0 = m.sample(lr, tau=0.0, n=2)
    assert s0.shape == (2, 3, 3, 8, 8)
    assert torch.allclose(s0[0], s0[1])  # tau = 0 is deterministic
    s1 = m.sample(lr, tau=1.0, n=2, generator=g)
    assert not torch.allclose(s1[0], s1[1])


def test_seeded_noise_is_drawn_on_the_generator_and_moved():
    from utils.flow import _noise

    like = torch.zeros(2, 3)
    for kind, draw in (("normal", torch.randn), ("uniform", torch.rand)):
        got = _noise(kind, (4, 5), torch.Generator().manual_seed(7), like)
        assert torch.equal(got, draw((4, 5), generator=torch.Generator().manual_seed(7)))  # the CPU numbers are unchanged
        moved = _noise(kind, (4, 5), torch.Generator().manual_seed(7), like.to("meta"))  # a CPU generator, another device
        assert moved.device.type == "meta" and moved.shape == (4, 5) and moved.dtype == like.dtype
    torch.manual_seed(3)
    a = _noise("normal", (3,), None, like.double())
    torch.manual_seed(3)
    assert a.dtype == torch.float64 and torch.equal(a, torch.randn(3, dtype=torch.float64))


def test_bad_input():
    m, hr, lr = _flow()
    with pytest.raises(ValueError, match="4x the size"):
        m(hr, torch.rand(3, 3, 4, 4))
    with pytest.raises(ValueError, match="3 channels"):
        m(hr[:, :1], lr)
    with pytest.raises(TypeError, match="torch tensor"):
        m(hr.numpy(), lr)
    with pytest.raises(ValueError, match="even height"):
        squeeze(torch.rand(1, 3, 5, 4))
    with pytest.raises(ValueError, match="tau"):
        m.reverse(lr, tau=-1.0)
    with pytest.raises(ValueError, match="levels"):
        TinySRFlow(levels=0)
    with pytest.raises(ValueError, match="latents"):
        m.reverse(lr, [torch.zeros(1)])


def _assert_inverts(m, hr, lr):
    """One forward pass in train mode (initialises ActNorm from data), then reverse(forward(x)) == x in eval mode."""
    m(hr, lr)
    m.eval()
    with torch.no_grad():
        zs, _, _ = m(hr, lr)
        assert float((m.reverse(lr, zs) - hr).abs().max()) < 1e-4


def test_scale_two_with_two_levels_inverts():
    torch.manual_seed(0)
    m = TinySRFlow(scale=2, levels=2, steps=1, hidden=8, cond_channels=4, enc_hidden=8)
    hr, lr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 4, 4)
    _assert_inverts(m, hr, lr)
    with torch.no_grad():
        assert m.sample(lr, tau=0.5).shape == (1, 2, 3, 8, 8)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*levels"):
        TinySRFlow(scale=2, levels=3)(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 2, 2))


def test_external_encoder():
    torch.manual_seed(0)
    enc = torch.nn.Conv2d(3, 5, 3, padding=1)
    m = TinySRFlow(scale=2, levels=1, steps=1, hidden=8, cond_channels=5, encoder=enc)
    hr, lr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 4, 4)
    _assert_inverts(m, hr, lr)
    with pytest.raises(ValueError, match="5 channels"):
        TinySRFlow(scale=2, levels=1, cond_channels=5, encoder=torch.nn.Conv2d(3, 4, 1))(hr, lr)
    with pytest.raises(TypeError, match="nn.Module"):
        TinySRFlow(encoder=lambda x: x)


def test_regressor_and_conditioner():
    torch.manual_seed(0)
    reg = LRRegressor(scale=4, width=8, blocks=2)
    lr = torch.rand(2, 3, 6, 6)
    feats, sr = reg.run(lr)
    assert feats.shape == (2, 8, 6, 6) and sr.shape == (2, 3, 24, 24)
    with torch.no_grad():  # with a zero output conv the network is plain bicubic upscaling
        reg.out.weight.zero_(), reg.out.bias.zero_()  # noqa: B018
        bic = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
        assert torch.allclose(reg(lr), bic)
    cond = FrozenConditioner(reg)
    assert cond.channels == 8 and cond(lr).shape == (2, 8, 6, 6)
    assert not any(p.requires_grad for p in reg.parameters())
    assert FrozenConditioner(reg, with_prediction=True)(lr).shape == (2, 8 + 48, 6, 6)
    with pytest.raises(TypeError, match="LRRegressor"):
        FrozenConditioner(torch.nn.Conv2d(3, 8, 1))
    with pytest.raises(ValueError, match="width"):
        LRRegressor(width=0)
    with pytest.raises(ValueError, match="3 channels"):
        reg(torch.rand(1, 1, 6, 6))


def test_unconditioned_split_prior():
    s = Split(8, 5, conditional=False)
    assert s.prior.in_channels == 4
    assert Split(8, 5).prior.in_channels == 9
    z, u = torch.randn(2, 8, 3, 3), torch.randn(2, 5, 3, 3)
    keep, out, lp = s(z, u)
    assert torch.equal(s.reverse(keep, u, out), z) and lp.shape == (2,)


def test_base_shift_inverts_and_logdet_is_exact():
    torch.manual_seed(0)
    reg = LRRegressor(scale=4, width=6, blocks=1).double()
    with torch.no_grad():
        for p in reg.parameters():
            p.add_(0.05 * torch.randn_like(p))
    cond = FrozenConditioner(reg)
    m = TinySRFlow(scale=4, levels=2, steps=1, hidden=8, cond_channels=cond.channels, encoder=cond,
                   split_conditional=False, base=reg).double()
    hr, lr = torch.rand(2, 3, 8, 8, dtype=torch.float64), torch.rand(2, 3, 2, 2, dtype=torch.float64)
    _assert_inverts(m, hr, lr)
    with torch.no_grad():  # tau = 0 with all latents at their means: the base's prediction plus the flow's mean residual
        zs, logdet, _ = m(hr, lr)
        zeros = [torch.zeros_like(z) for z in zs]
        plain = TinySRFlow(scale=4, levels=2, steps=1, hidden=8, cond_channels=cond.channels, encoder=cond, split_conditional=False).double()
        plain.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("base.")})
        assert torch.allclose(m.reverse(lr, zeros), plain.reverse(lr, zeros) + reg(lr))
        _, ld_plain, _ = plain(hr - reg(lr), lr)
        assert torch.allclose(logdet, ld_plain)  # the shift adds nothing to the log-det
    x, u = hr[:1], lr[:1]
    jac = torch.autograd.functional.jacobian(lambda v: torch.cat([z.flatten() for z in m(v.view_as(x), u)[0]]), x.flatten())
    with torch.no_grad():
        ld = m(x, u)[1]
    assert abs(ld.item() - torch.linalg.slogdet(jac)[1].item()) < 1e-8 * max(1.0, abs(ld.item()))


def test_bad_base():
    with pytest.raises(TypeError, match="base"):
        TinySRFlow(base=lambda x: x)
    m = TinySRFlow(scale=2, levels=1, steps=1, hidden=8, cond_channels=4, enc_hidden=8, base=torch.nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match="base: expected an output of shape"):
        m(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 4, 4))
