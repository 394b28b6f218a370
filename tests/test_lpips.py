"""Tests of utils.iqa.lpips: eq. (1) of LPIPS, the shipped weights, the 2AFC builder and score, weight fitting."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from utils.features import load_feature_net
from utils.iqa import lpips
from utils.iqa.lpips import (COMBOS, TAPS, TEST_NAMES, TRAIN_NAMES, WEIGHTS_PATH, fit_weights, layer_distances, load_weights,
                             make_2afc, triplet_distances, two_afc_score, unit_normalize)


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 3, 32, 32, generator=g), torch.rand(3, 3, 32, 32, generator=g)


def _by_hand(x, y, w):
    """Eq. (1) computed directly in float64 from the feature maps."""
    net = load_feature_net("book")
    with torch.no_grad():
        fx, fy = net(x, TAPS), net(y, TAPS)
    out, k = torch.zeros(x.shape[0], dtype=torch.float64), 0
    for t in TAPS:
        a, b = fx[t].double(), fy[t].double()
        a = a / (torch.sqrt((a**2).sum(1, keepdim=True)) + 1e-10)
        b = b / (torch.sqrt((b**2).sum(1, keepdim=True)) + 1e-10)
        c = a.shape[1]
        out += (w[k : k + c].double().clamp(min=0).view(1, c, 1, 1) * (a - b) ** 2).sum(1).mean(dim=(1, 2))
        k += c
    return out


def test_matches_equation_by_hand(pair):
    x, y = pair
    for w in (load_weights("uniform"), load_weights("learned"), torch.randn(240)):
        got = lpips(x, y, w).double()
        ref = _by_hand(x, y, w)
        assert torch.allclose(got, ref, rtol=1e-5, atol=1e-8)


def test_identity_symmetry_and_positivity(pair):
    x, y = pair
    assert float(lpips(x, x, "uniform").abs().max()) == 0.0
    assert torch.allclose(lpips(x, y), lpips(y, x), rtol=1e-6)
    assert bool((lpips(x, y, "learned") > 0).all())


def test_negative_weights_are_clamped(pair):
    x, y = pair
    w = load_weights("uniform").clone()
    w[:16] = -5.0
    w0 = w.clamp(min=0)
    assert torch.allclose(lpips(x, y, w), lpips(x, y, w0))


def test_uniform_is_sum_of_layer_distances(pair):
    x, y = pair
    assert torch.allclose(lpips(x, y, "uniform"), layer_distances(x, y).sum(1), rtol=1e-6)


def test_numpy_input_and_gradient(pair):
    x, y = pair
    a, b = x[0].permute(1, 2, 0).double().numpy(), y[0].permute(1, 2, 0).double().numpy()
    v = lpips(a, b)
    assert isinstance(v, float) and abs(v - float(lpips(x[:1], y[:1])[0])) < 1e-5
    xg = x.clone().requires_grad_(True)
    lpips(xg, y).sum().backward()
    assert xg.grad is not None and float(xg.grad.abs().sum()) > 0


def test_unit_normalize():
    f = torch.randn(2, 5, 4, 4)
    n = unit_normalize(f).pow(2).sum(1)
    assert torch.allclose(n, torch.ones_like(n), atol=1e-5)
    assert float(unit_normalize(torch.zeros(1, 3, 2, 2)).abs().max()) == 0.0


def test_shipped_weights():
    assert WEIGHTS_PATH.is_file()
    state = torch.load(WEIGHTS_PATH, weights_only=True)
    net = load_feature_net("book")
    assert list(state) == list(TAPS)
    for t in TAPS:
        assert state[t].shape == (net.channels(t),) and bool((state[t] >= 0).all())
    w = load_weights("learned")
    assert w.shape == (240,) and float(w.sum()) > 0
    assert WEIGHTS_PATH.stat().st_size < 50_000


def test_bad_inputs(pair):
    x, y = pair
    with pytest.raises(ValueError, match="3 channels"):
        lpips(x[:, :1], y[:, :1])
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        lpips(x * 2 - 1, y)
    with pytest.raises(ValueError, match="same shape"):
        lpips(x, y[:2])
    with pytest.raises(ValueError, match="at least 16"):
        lpips(x[..., :8, :8], y[..., :8, :8])
    with pytest.raises(TypeError, match="divide by 255"):
        lpips(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="240"):
        lpips(x, y, torch.ones(10))
    with pytest.raises(ValueError, match="expected one of"):
        lpips(x, y, "squeeze")
    with pytest.raises(TypeError, match="weights"):
        lpips(x, y, [1.0] * 240)
    with pytest.raises(ValueError, match="net='book'"):
        lpips(x, y, "learned", net="random")
    with pytest.raises(ValueError, match="NaN"):
        lpips(x * float("nan"), y)


@pytest.fixture(scope="module")
def small_set():
    return make_2afc(("astronaut", "chelsea"), 15, seed=3)


def test_make_2afc_structure(small_set):
    s = small_set
    n = 30
    assert s["ref"].shape == s["p0"].shape == s["p1"].shape == (n, 3, 64, 64)
    assert set(s["judge"].tolist()) <= {0.0, 1.0} and len(s["kind"]) == n
    assert float(s["ref"].min()) >= 0 and float(s["ref"].max()) <= 1
    control = np.array([k.startswith("control") for k in s["kind"]])
    assert control.sum() == 10  # a third
    assert set(k for k in s["kind"] if "|" in k) <= {f"{a}|{b}" for a, b in COMBOS}
    # the principle: L2 is wrong on every principle triplet and right on every control
    l2 = lambda a, b: ((a.double() - b.double()) ** 2).mean(dim=(1, 2, 3))  # noqa: E731
    sc = two_afc_score(l2(s["ref"], s["p0"]), l2(s["ref"], s["p1"]), s["judge"]).numpy()
    assert sc[~control].max() == 0.0 and sc[control].min() == 1.0
    again = make_2afc(("astronaut", "chelsea"), 15, seed=3)
    assert torch.equal(again["p1"], s["p1"]) and again["kind"] == s["kind"]


def test_triplet_distances_match_layer_distances(small_set):
    d0, d1 = triplet_distances(small_set, batch=7)
    assert torch.allclose(d0, layer_distances(small_set["ref"], small_set["p0"]), rtol=1e-4, atol=1e-7)
    assert torch.allclose(d1, layer_distances(small_set["ref"], small_set["p1"]), rtol=1e-4, atol=1e-7)


def test_triplet_distances_on_a_device_equal_the_default_on_the_cpu(small_set):
    d0, d1 = triplet_distances(small_set, batch=7)
    c0, c1 = triplet_distances(small_set, batch=7, device="cpu")
    assert torch.equal(d0, c0) and torch.equal(d1, c1) and c0.device.type == "cpu"
    with pytest.raises(TypeError, match="device"):
        triplet_distances(small_set, device=0)
    with pytest.raises(ValueError, match="move it first"):
        triplet_distances(small_set, net=torch.nn.Conv2d(3, 3, 1).to("meta"), device="cpu")


def test_splits_are_disjoint():
    assert not set(TRAIN_NAMES) & set(TEST_NAMES)


def test_make_2afc_bad_inputs():
    with pytest.raises(ValueError, match="at least 16"):
        make_2afc(["astronaut"], 2, size=8)
    with pytest.raises(ValueError, match="at least one"):
        make_2afc([], 2)
    with pytest.raises(ValueError, match="control_fraction"):
        make_2afc(["astronaut"], 2, control_fraction=1.5)
    with pytest.raises(ValueError, match="unknown image"):
        make_2afc(["nope"], 2)
    with pytest.raises(ValueError, match="does not fit"):
        make_2afc(["astronaut"], 2, size=200)


def test_two_afc_score():
    d0 = torch.tensor([1.0, 2.0, 1.0, 1.0])
    d1 = torch.tensor([2.0, 1.0, 1.0, 2.0])
    p = torch.tensor([0.0, 1.0, 1.0, 0.25])
    assert two_afc_score(d0, d1, p).tolist() == [1.0, 1.0, 0.5, 0.75]
    assert two_afc_score([1, 2], [2, 1], [1, 1]).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="same length"):
        two_afc_score([1, 2], [1], [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        two_afc_score([1], [2], [2])
    with pytest.raises(ValueError, match="1-D"):
        two_afc_score(torch.ones(2, 2), torch.ones(2, 2), torch.ones(2, 2))


def test_fit_weights_learns_the_informative_channel():
    g = torch.Generator().manual_seed(0)
    n, c = 300, 6
    D0, D1 = torch.rand(n, c, generator=g), torch.rand(n, c, generator=g)
    judge = (D1[:, 2] < D0[:, 2]).float()  # only channel 2 decides
    w, losses = fit_weights(D0, D1, judge, steps=300, lr=0.05)
    assert bool((w >= 0).all()) and losses[-1] < losses[0]
    acc = two_afc_score(D0 @ w, D1 @ w, judge).mean()
    assert float(acc) > 0.9 and int(w.argmax()) == 2
    with pytest.raises(ValueError, match="same shape"):
        fit_weights(D0, D1[:, :3], judge)
    with pytest.raises(ValueError, match="judge"):
        fit_weights(D0, D1, judge[:5])
    with pytest.raises(ValueError, match="steps"):
        fit_weights(D0, D1, judge, steps=0)


def test_lpips_matches_the_official_chain():
    """utils.iqa.lpips equals the chain of the official code (richzhang/PerceptualSimilarity, lpips/lpips.py:
    ``normalize_tensor`` = x / (sqrt(sum_c x^2) + 1e-10), squared difference, ``NetLinLayer`` = a bias-free 1x1
    conv C -> 1 (its dropout is inactive in eval mode), ``spatial_average`` = mean over H and W, sum over the
    layers). The ``lpips`` package cannot be imported here (it imports torchvision at module level, which has no
    build for this torch), so the chain is written out from its source with the same small backbone (the book's
    FeatureNet, whose input scaling replaces the official ScalingLayer) and the same lin weights."""
    import torch.nn as nn

    from utils.features import load_feature_net
    from utils.iqa.lpips import TAPS, load_weights, lpips

    net = load_feature_net("book")
    w = load_weights("learned")
    gen = torch.Generator().manual_seed(3)
    x0, x1 = torch.rand(3, 3, 48, 48, generator=gen), torch.rand(3, 3, 48, 48, generator=gen)

    def normalize_tensor(f, eps=1e-10):
        return f / (torch.sqrt(torch.sum(f ** 2, dim=1, keepdim=True)) + eps)

    lins, k = [], 0
    for t in TAPS:
        c = net.channels(t)
        conv = nn.Conv2d(c, 1, 1, stride=1, padding=0, bias=False)
        with torch.no_grad():
            conv.weight.copy_(w[k : k + c].view(1, c, 1, 1))
        lins.append(nn.Sequential(nn.Dropout(), conv).eval())
        k += c
    with torch.no_grad():
        outs0, outs1 = net(x0, TAPS), net(x1, TAPS)
        res = [lin((normalize_tensor(outs0[t]) - normalize_tensor(outs1[t])) ** 2).mean([2, 3], keepdim=True)
               for lin, t in zip(lins, TAPS)]
        official = sum(res).flatten()
        ours = lpips(x0, x1, "learned")
    assert torch.allclose(ours, official, rtol=0, atol=1e-6), (ours, official)


def test_vmaf_preferences_and_average_precision():
    import numpy as np

    from utils.iqa.lpips import average_precision, luma_uint8, vmaf_preferences

    judge, decided = vmaf_preferences([90.0, 80.0, 70.0], [95.0, 79.0, 60.0], tie=2.0)
    assert judge.tolist() == [1.0, 0.0, 0.0] and decided.tolist() == [True, False, True]
    assert average_precision([0.9, 0.8, 0.1, 0.05], [True, True, False, False]) == 1.0
    assert abs(average_precision([0.1, 0.9], [True, False]) - 0.5) < 1e-12
    y = luma_uint8(torch.ones(1, 3, 16, 16))
    assert y.dtype == np.uint8 and int(y.max()) == 255
    with pytest.raises(ValueError, match="same length"):
        vmaf_preferences([1.0], [1.0, 2.0], tie=1.0)
    with pytest.raises(ValueError, match="at least one positive"):
        average_precision([0.1, 0.2], [False, False])
    with pytest.raises(ValueError, match="RGB patches"):
        luma_uint8(torch.ones(1, 1, 16, 16))


def test_vmaf_of_triplets_prefers_the_milder_damage():
    from utils.degrade import gaussian_noise
    from utils.iqa.lpips import make_2afc, vmaf_of_triplets

    data = make_2afc(["chelsea"], 3, seed=0, control_fraction=1.0)
    ref = data["ref"]
    mild = torch.stack([torch.from_numpy(gaussian_noise(r.permute(1, 2, 0).numpy(), 0.01, seed=1)).permute(2, 0, 1) for r in ref]).float()
    strong = torch.stack([torch.from_numpy(gaussian_noise(r.permute(1, 2, 0).numpy(), 0.08, seed=1)).permute(2, 0, 1) for r in ref]).float()
    v0, v1 = vmaf_of_triplets({"ref": ref, "p0": mild, "p1": strong})
    assert (v0 > v1 + 5).all()
    with pytest.raises(ValueError, match="make_2afc"):
        vmaf_of_triplets({"ref": ref})
