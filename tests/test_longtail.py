"""Tests of utils.longtail (BBN's long-tailed profile, samplers and schedules)."""
import numpy as np
import pytest
import torch

from utils.longtail import SCHEDULES, ClassSampler, class_weights, cumulative_alpha, long_tail_counts, long_tailed_split


def test_counts_match_bbn_cifar10_ir50():
    assert long_tail_counts(5000, 50, 10) == [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100]
    with pytest.raises(ValueError, match=">= 1"):
        long_tail_counts(100, 0.5, 10)
    with pytest.raises(ValueError, match="at least 2 classes"):
        long_tail_counts(100, 10, 1)


def test_split_is_disjoint_and_balanced():
    labels = np.repeat(np.arange(3), 20)
    tr, te = long_tailed_split(labels, [10, 5, 2], 6, seed=1)
    assert not set(tr) & set(te)
    assert np.bincount(labels[tr]).tolist() == [10, 5, 2] and np.bincount(labels[te]).tolist() == [6, 6, 6]
    with pytest.raises(ValueError, match="needs 15 \\+ 6"):
        long_tailed_split(labels, [15, 5, 2], 6)


def test_class_weights_sum_to_c_and_favour_rare_classes():
    w = class_weights([100, 10, 1])
    assert torch.isclose(w.sum(), torch.tensor(3.0)) and w[2] > w[1] > w[0]
    with pytest.raises(ValueError, match="positive class counts"):
        class_weights([1, 0])


def test_samplers_follow_their_class_distributions():
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1)
    freq = {m: np.bincount(labels[ClassSampler(labels, m, seed=0).sample(30000)], minlength=3) / 30000 for m in ("instance", "balanced", "reversed")}
    assert np.allclose(freq["instance"], [0.9, 0.09, 0.01], atol=0.01)
    assert np.allclose(freq["balanced"], [1 / 3] * 3, atol=0.01)
    w = np.array([1, 10, 90]) / 101
    assert np.allclose(freq["reversed"], w, atol=0.01)
    with pytest.raises(ValueError, match="expected one of"):
        ClassSampler(labels, "uniform")


def test_schedules():
    assert cumulative_alpha(0.0) == 1 and cumulative_alpha(1.0) == 0 and cumulative_alpha(0.5) == pytest.approx(0.75)
    for s in SCHEDULES:
        assert 0 <= cumulative_alpha(0.3, s) <= 1
    assert cumulative_alpha(0.5, "parabolic increase") == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        cumulative_alpha(1.5)


def test_shifted_digit_sets_and_training_smoke():
    from utils.longtail import BilateralBranchNet, DigitNet, shifted_digit_sets, train_bbn, train_end_to_end

    counts = long_tail_counts(60, 10, 10)
    sets = shifted_digit_sets(counts, n_test=5, n_probe=3, seed=1)
    (X, y), (Xt, yt), (Xp, yp) = sets["train"], sets["test"], sets["probe"]
    assert X.shape == (sum(counts), 1, 9, 9) and len(yt) == 50 and len(yp) == 30
    assert np.bincount(y.numpy()).tolist() == counts
    net = train_end_to_end("RW", X, y, counts, seed=0, steps=2, batch=8)
    assert isinstance(net, DigitNet) and net(Xt).shape == (50, 10)
    bbn = train_bbn("parabolic decay", X, y, seed=0, steps=2, batch=8, sampler="balanced")
    assert isinstance(bbn, BilateralBranchNet) and bbn(Xt).shape == (50, 10)
    with pytest.raises(ValueError):
        shifted_digit_sets(counts[:5])
    with pytest.raises(ValueError):
        train_end_to_end("XX", X, y, counts, seed=0, steps=2)
    with pytest.raises(ValueError):
        train_bbn("parabolic decay", X, y, seed=0, steps=2, sampler="natural")
