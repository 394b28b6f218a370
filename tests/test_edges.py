"""Sobel gradients and the edge loss (utils.edges)."""
import numpy as np
import pytest
import torch

from utils.edges import edge_loss, sobel, sobel_magnitude, sobel_magnitude_np, sobel_np


def test_ramp_by_hand():
    # I(y, x) = 0.05 x: interior G_x = 0.05 * 2 * (1 + 2 + 1) = 0.4, G_y = 0
    im = np.tile(np.arange(10) * 0.05, (8, 1))
    gx, gy = sobel_np(im)
    assert np.allclose(gx[:, 1:-1], 0.4) and np.allclose(gy, 0.0)
    # replicated borders halve the step at the first and last column
    assert np.allclose(gx[:, 0], 0.2) and np.allclose(gx[:, -1], 0.2)
    assert np.allclose(sobel_magnitude_np(im)[:, 1:-1], 0.4)


def test_vertical_ramp_sign():
    im = np.tile((np.arange(8) * 0.1)[:, None], (1, 6))  # rising downwards
    gx, gy = sobel_np(im)
    assert np.allclose(gy[1:-1], 0.8) and np.allclose(gx, 0.0)


def test_torch_matches_numpy():
    rng = np.random.default_rng(0)
    im = rng.uniform(0, 1, (12, 9, 3))
    t = torch.tensor(im.transpose(2, 0, 1)[None])
    gx, gy = sobel(t)
    gxn, gyn = sobel_np(im)
    assert np.allclose(gx[0].numpy().transpose(1, 2, 0), gxn, atol=1e-12)
    assert np.allclose(gy[0].numpy().transpose(1, 2, 0), gyn, atol=1e-12)
    assert np.allclose(sobel_magnitude(t, eps=0)[0].numpy().transpose(1, 2, 0), sobel_magnitude_np(im), atol=1e-12)


def test_edge_loss_values_and_gradient():
    a = torch.rand(2, 1, 16, 16)
    assert float(edge_loss(a, a)) == 0.0
    b = (a + 0.3).requires_grad_()  # a constant shift leaves the edges unchanged
    assert float(edge_loss(b, a).detach()) < 1e-10
    c = torch.zeros(1, 1, 8, 8, requires_grad=True)  # flat image: eps keeps the gradient finite
    edge_loss(c, torch.rand(1, 1, 8, 8)).backward()
    assert torch.isfinite(c.grad).all()
    assert float(edge_loss(torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8), kind="l1")) < 1e-6


def test_bad_inputs():
    with pytest.raises(ValueError, match="4-D"):
        sobel(torch.rand(8, 8))
    with pytest.raises(TypeError, match="floating"):
        sobel(torch.zeros(1, 1, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="same shape"):
        edge_loss(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9))
    with pytest.raises(ValueError, match="expected one of"):
        edge_loss(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), kind="l3")
    with pytest.raises(ValueError):
        sobel_np(np.zeros((4, 4, 5)))
    with pytest.raises(ValueError):
        sobel_magnitude(torch.rand(1, 1, 4, 4), eps=-1.0)


def test_edge_enhancer_branch_starts_from_the_input_edge_map():
    import torch

    from utils.edges import EdgeEnhancer, sobel_magnitude

    torch.manual_seed(0)
    x = torch.rand(2, 1, 16, 16)
    m = EdgeEnhancer(edge_branch=True)
    out = m(x)
    assert out.shape == x.shape
    assert torch.allclose(m.last_edges, sobel_magnitude(x))  # zero-initialised correction head
    plain = EdgeEnhancer()
    assert plain(x).shape == x.shape and plain.last_edges is None
    with pytest.raises(ValueError):
        m(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError):
        EdgeEnhancer(channels=0)
