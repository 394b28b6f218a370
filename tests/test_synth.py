"""Tests of utils.synth additions: instance boundary map, touching-object scenes, instance painting."""
from __future__ import annotations

import numpy as np
import pytest

from utils import synth


def test_instance_boundaries_hand_case():
    inst = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    expected = np.array([[0, 1, 1], [1, 1, 1], [1, 1, 1]], dtype=np.float32)
    assert np.array_equal(synth.instance_boundaries(inst), expected)


def test_instance_boundaries_uniform_and_batch():
    assert synth.instance_boundaries(np.zeros((4, 4), int)).sum() == 0
    inst = np.zeros((2, 4, 4), int)
    inst[1, :, 2:] = 1
    e = synth.instance_boundaries(inst)
    assert e.shape == (2, 4, 4) and e[0].sum() == 0
    assert np.array_equal(e[1], np.tile([0, 1, 1, 0], (4, 1)).astype(np.float32))


def test_instance_boundaries_diagonal_neighbours_do_not_count():
    inst = np.array([[1, 2], [2, 2]])
    inst4 = np.pad(inst, 1, mode="edge")
    e = synth.instance_boundaries(np.array([[1, 1, 1], [1, 1, 1], [1, 1, 2]]))
    assert e[0, 0] == 0 and e[1, 1] == 0 and e[2, 2] == 1 and e[1, 2] == 1
    assert inst4.shape == (4, 4)


def test_touching_scenes_have_same_class_neighbours():
    labels, inst = synth.touching_object_scenes(20, 32, seed=3)
    assert labels.shape == inst.shape == (20, 32, 32)
    hidden = (synth.instance_boundaries(inst) > 0) & (synth.instance_boundaries(labels) == 0)
    assert hidden.any(axis=(1, 2)).mean() > 0.8  # most scenes have same-class objects touching
    for i in range(20):  # an instance has one class
        for k in np.unique(inst[i]):
            assert len(np.unique(labels[i][inst[i] == k])) == 1


def test_paint_instances_separates_touching_objects():
    labels, inst = synth.touching_object_scenes(4, 32, seed=0)
    img = synth.paint_instances(labels, inst, seed=0)
    assert img.shape == (4, 32, 32, 3) and img.min() >= 0 and img.max() <= 1
    e = synth.instance_boundaries(inst) > 0
    assert img[e].mean() < img[~e & (labels > 0)].mean()


def test_bad_inputs():
    with pytest.raises(ValueError, match="integer instance ids"):
        synth.instance_boundaries(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="integer instance ids"):
        synth.instance_boundaries(np.zeros(4, int))
    with pytest.raises(ValueError, match="at least 16"):
        synth.touching_object_scenes(2, 8)
    with pytest.raises(ValueError, match="per_row"):
        synth.touching_object_scenes(2, 32, per_row=(3, 2))
    with pytest.raises(TypeError):
        synth.touching_object_scenes(2.5, 32)
    with pytest.raises(ValueError, match="both be"):
        synth.paint_instances(np.zeros((1, 4, 4), int), np.zeros((1, 4, 5), int))
    with pytest.raises(ValueError, match="brightness"):
        synth.paint_instances(np.zeros((1, 4, 4), int), np.zeros((1, 4, 4), int), brightness=(0, 1))


def test_two_region_maps_distinct_classes_and_sizes():
    maps = synth.two_region_maps(20, 16, 5, 6, seed=3)
    assert maps.shape == (20, 16, 16) and maps.dtype == np.int64
    for m in maps:
        vals, cnt = np.unique(m, return_counts=True)
        assert len(vals) == 2 and sorted(cnt)[0] == 36
    assert np.array_equal(maps, synth.two_region_maps(20, 16, 5, 6, seed=3))


@pytest.mark.parametrize("kw", [dict(n_classes=1), dict(side=16), dict(side=0), dict(n=0)])
def test_two_region_maps_rejects_bad_input(kw):
    args = dict(n=2, size=16, n_classes=3, side=4) | kw
    with pytest.raises(ValueError):
        synth.two_region_maps(args.pop("n"), args.pop("size"), args.pop("n_classes"), args.pop("side"))
