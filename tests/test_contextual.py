"""Tests for utils.contextual (Mechrez et al. 2018), taught in chapters/contextual_loss.md."""
from __future__ import annotations

import pytest
import torch

from utils.contextual import contextual_affinity, contextual_loss, contextual_similarity


def _feats(seed=0, n=2, c=8, h=5, w=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, w, generator=g, dtype=torch.float64)


def test_self_similarity_is_one():
    x = _feats()
    assert torch.allclose(contextual_similarity(x, x), torch.ones(2, dtype=torch.float64), atol=1e-6)
    assert float(contextual_loss(x, x)) < 1e-6


def test_invariant_to_permuting_positions():
    x, y = _feats(0), _feats(1)
    g = torch.Generator().manual_seed(2)
    px = torch.randperm(30, generator=g)
    py = torch.randperm(30, generator=g)
    xp = x.flatten(2)[:, :, px].view_as(x)
    yp = y.flatten(2)[:, :, py].view_as(y)
    assert torch.allclose(contextual_similarity(x, y), contextual_similarity(xp, yp), atol=1e-12)
    assert torch.allclose(contextual_similarity(x, x), contextual_similarity(xp, x), atol=1e-12)


def test_formula_step_by_step():
    x, y = _feats(3, n=1, h=2, w=3).flatten(2)[0], _feats(4, n=1, h=2, w=2).flatten(2)[0]  # (C, P)
    mu = y.mean(1, keepdim=True)
    xn, yn = (x - mu) / (x - mu).norm(dim=0), (y - mu) / (y - mu).norm(dim=0)
    d = 1 - xn.T @ yn
    dt = d / (d.min(1, keepdim=True).values + 1e-5)
    w = torch.exp((1 - dt) / 0.5)
    cx = w / w.sum(1, keepdim=True)
    expected = cx.max(0).values.mean()
    assert torch.allclose(contextual_affinity(x[None], y[None])[0], cx, atol=1e-10)
    assert torch.allclose(contextual_similarity(x[None], y[None])[0], expected, atol=1e-10)


def test_range_and_gradient():
    x, y = _feats(5).float().requires_grad_(), _feats(6).float()
    cx = contextual_similarity(x, y)
    assert ((cx > 0) & (cx <= 1)).all()
    contextual_loss(x, y).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_unrelated_features_score_lower():
    x, y = _feats(7), _feats(8)
    assert float(contextual_similarity(x, y).max()) < 0.9


def test_bad_input():
    x = _feats()
    with pytest.raises(ValueError, match="same batch size and number of channels"):
        contextual_similarity(x, x[:, :4])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        contextual_similarity(x[0, 0], x[0, 0])
    with pytest.raises(TypeError, match="torch tensor"):
        contextual_similarity(x.numpy(), x)
    with pytest.raises(ValueError, match="h"):
        contextual_similarity(x, x, h=0.0)
    with pytest.raises(ValueError, match="NaN"):
        contextual_similarity(x * float("nan"), x)
