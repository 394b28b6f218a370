"""Tests of utils.translation: the pix2pixHD miniature generator and the pix2pix / pix2pixHD measures."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from utils import synth
from utils.translation import (CoarseToFine, class_textures, hf_correlation, hidden_boundaries, hidden_boundary_contrast,
                               phase_aligned_distance, texture_pairs, touching_scene_tensors)


def test_coarse_to_fine_shapes_and_checks():
    g = CoarseToFine(4)
    with torch.no_grad():
        out = g(torch.rand(2, 4, 32, 32))
    assert out.shape == (2, 3, 32, 32) and float(out.min()) >= 0 and float(out.max()) <= 1
    with pytest.raises(ValueError):
        g(torch.rand(1, 4, 30, 30))
    with pytest.raises(ValueError):
        g(torch.rand(1, 3, 32, 32))


def test_phase_aligned_distance_targets_zero_flat_about_amplitude():
    labels, _, images = texture_pairs(6, 32, seed=3)
    assert torch.allclose(phase_aligned_distance(images, labels), torch.zeros(6))
    flat = torch.tensor(synth.CLASS_COLOURS[[0, 2, 5]], dtype=torch.float32)[torch.as_tensor(labels)].permute(0, 3, 1, 2)
    d = phase_aligned_distance(flat, labels)
    assert bool(((d > 0.15) & (d < 0.3)).all())
    assert class_textures(2, 16, 0.25).shape == (64, 3, 16, 16)
    with pytest.raises(ValueError):
        phase_aligned_distance(images, labels[:, :16])
    with pytest.raises(ValueError):
        phase_aligned_distance(images, labels, classes=(3, 2, 5))      # class 3 is noise: no phases


def test_hidden_boundary_contrast_of_targets_is_one():
    labels, inst, _, _, y = touching_scene_tensors(16, 32, seed=4)
    assert hidden_boundaries(labels, inst).any()
    assert hidden_boundary_contrast(y, y, labels, inst) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        hidden_boundary_contrast(y[:2], y, labels, inst)


def test_hf_correlation():
    torch.manual_seed(0)
    y = torch.rand(3, 3, 16, 16)
    assert torch.allclose(hf_correlation(y, y), torch.ones(3), atol=1e-5)
    assert float(hf_correlation(torch.rand(3, 3, 16, 16), y).abs().max()) < 0.5
    with pytest.raises(ValueError):
        hf_correlation(y, y[:, :, :8])
