"""Tests for utils.judge, the book's independent judge network (verdict standard, section 5)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import judge
from utils.data import load_image
from utils.features import WEIGHTS_PATH as FEATURE_WEIGHTS, load_feature_net
from utils.judge import (
    MANIFEST_PATH,
    MIN_SIZE,
    TAPS,
    WEIGHTS_PATH,
    JudgeNet,
    content_separation,
    file_sha256,
    judge_distance,
    judge_features,
    judge_sha256,
    load_judge_net,
)
from utils.repro import weights_sha256

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = json.loads(MANIFEST_PATH.read_text())
# the trained judge must separate held-out content at least this much better than its initial weights
SEPARATION_MARGIN = 0.10


def _photo(size=64, name="astronaut", y0=100, x0=40):
    img = torch.from_numpy(load_image(name, gray=False)).permute(2, 0, 1).float()
    return img[:, y0:y0 + size, x0:x0 + size][None]


def _noisy(x, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_shipped_file_matches_manifest_hash_and_is_small_fp16():
    assert file_sha256(WEIGHTS_PATH) == SHIPPED["weights_sha256"]
    assert WEIGHTS_PATH.stat().st_size == SHIPPED["weights_bytes"] <= 2 * 1024 * 1024
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    assert set(state) == set(JudgeNet().state_dict())
    assert all(v.dtype == torch.float16 for v in state.values())
    net = load_judge_net()
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert sum(p.numel() for p in net.parameters()) == SHIPPED["parameters"]
    assert 100_000 <= SHIPPED["parameters"] <= 300_000


def test_manifest_records_training():
    for key in ("architecture", "seed", "split", "steps", "heldout_accuracy", "content_separation",
                "content_separation_random", "train_seconds", "train_cpu_seconds", "torch", "weights_sha256"):
        assert key in SHIPPED, key
    assert SHIPPED["seed"] == judge.TRAIN_SEED != 0
    assert SHIPPED["threads"] == 1
    assert SHIPPED["train_cpu_seconds"] <= 300
    assert SHIPPED["heldout_accuracy"] > 0.5  # chance is 1/17


def test_judge_is_independent_of_the_loss_network():
    feat = json.loads(FEATURE_WEIGHTS.with_suffix(".json").read_text())
    assert weights_sha256(load_judge_net()) != weights_sha256(load_feature_net())
    assert file_sha256(WEIGHTS_PATH) != file_sha256(FEATURE_WEIGHTS)
    assert set(JudgeNet().state_dict()).isdisjoint(load_feature_net().state_dict())  # another architecture
    assert SHIPPED["seed"] != feat["seed"]
    assert "LEFT" in SHIPPED["split"] and "right" in feat["heldout"]


def test_judge_sha256_is_the_repro_hash_of_the_loaded_judge():
    h = judge_sha256()
    assert h == weights_sha256(load_judge_net()) and len(h) == 64
    assert h != weights_sha256(load_judge_net(kind="random"))


def test_loaded_judge_is_frozen_eval_and_cached():
    net = load_judge_net()
    assert isinstance(net, JudgeNet) and not net.training
    assert not any(p.requires_grad for p in net.parameters())
    assert load_judge_net("cpu") is net and load_judge_net(torch.device("cpu")) is net


def test_random_kind_is_the_initial_weights_and_leaves_global_rng_alone(monkeypatch):
    monkeypatch.setattr(judge, "_CACHE", {})
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    rand = load_judge_net(kind="random")
    assert torch.equal(torch.rand(1), expected)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(judge.TRAIN_SEED)
        ref = JudgeNet()
    assert all(torch.equal(a, b) for a, b in zip(rand.parameters(), ref.parameters()))


def test_tap_shapes_and_grey_input():
    out = judge_features(torch.rand(2, 3, 40, 56))
    assert list(out) == list(TAPS)
    for k, t in enumerate(TAPS):
        c = JudgeNet.WIDTHS[k]
        assert out[t].shape == (2, c, -(-40 // 2**k), -(-56 // 2**k)), t
        assert load_judge_net().channels(t) == c
        assert (out[t] >= 0).all()
    assert judge_features(torch.rand(1, 3, 17, 23), "s4")["s4"].shape == (1, 80, 3, 3)
    g = torch.rand(2, 1, 32, 32)
    assert torch.equal(judge_features(g, "s2")["s2"], judge_features(g.repeat(1, 3, 1, 1), "s2")["s2"])


def test_judge_outputs_carry_no_gradient():
    x = _photo().requires_grad_(True)
    assert not judge_features(x)["s3"].requires_grad
    d = judge_distance(x, _noisy(x.detach(), 0.05))
    assert not d.requires_grad and d.grad_fn is None


def test_distance_identity_symmetry_and_shape():
    x = torch.cat([_photo(), _photo(name="coffee", y0=100, x0=30)])
    y = _noisy(x, 0.05)
    assert torch.equal(judge_distance(x, x), torch.zeros(2))
    d_xy, d_yx = judge_distance(x, y), judge_distance(y, x)
    assert d_xy.shape == (2,) and (d_xy > 0).all()
    assert torch.allclose(d_xy, d_yx, rtol=1e-5, atol=1e-7)


def test_distance_matches_the_documented_formula():
    x, y = _photo(48), _noisy(_photo(48), 0.1)
    fx, fy = judge_features(x), judge_features(y)
    per_tap = []
    for t in TAPS:
        a = fx[t] / (fx[t].norm(dim=1, keepdim=True) + 1e-10)
        b = fy[t] / (fy[t].norm(dim=1, keepdim=True) + 1e-10)
        per_tap.append(float(((a - b) ** 2).sum(1).mean()))
    assert float(judge_distance(x, y)) == pytest.approx(np.mean(per_tap), rel=1e-5)
    assert float(judge_distance(x, y, taps="s2")) == pytest.approx(per_tap[1], rel=1e-5)


def test_distance_grows_with_noise():
    x = _photo()
    d = [float(judge_distance(x, _noisy(x, s))) for s in (0.01, 0.03, 0.1, 0.3)]
    assert all(a < b for a, b in zip(d, d[1:])), d


def test_shift_and_blur_are_far_a_tiny_change_is_near():
    x = _photo(96)
    tiny = float(judge_distance(x, (x + 1 / 255).clamp(0, 1)))
    lr = F.interpolate(x, scale_factor=0.25, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    blurred = F.interpolate(lr, size=x.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    blur = float(judge_distance(x, blurred))
    shift = float(judge_distance(x, torch.roll(x, 2, dims=3)))
    assert blur > 10 * tiny and shift > 10 * tiny, (tiny, blur, shift)
    # blur is a large difference: more than white noise of a fifth of its RMS error
    rms = float((blurred - x).pow(2).mean().sqrt())
    assert blur > float(judge_distance(x, _noisy(x, rms / 5))), (blur, rms)


def test_trained_judge_separates_held_out_content_better_than_initial_weights():
    trained, random = content_separation("judge"), content_separation("random")
    assert trained == pytest.approx(SHIPPED["content_separation"], abs=0.02)
    assert random == pytest.approx(SHIPPED["content_separation_random"], abs=0.02)
    assert trained - random >= SEPARATION_MARGIN, (trained, random)


@pytest.mark.parametrize(
    "x, exc, match",
    [
        (np.zeros((1, 3, 32, 32), np.float32), TypeError, "torch tensor"),
        (torch.rand(3, 32, 32), ValueError, r"4-D tensor \(N, C, H, W\)"),
        (torch.rand(1, 2, 32, 32), ValueError, r"1 \(grey\) or 3 \(RGB\) channels"),
        (torch.rand(1, 32, 32, 3), ValueError, "permute"),
        (torch.rand(1, 3, 8, 32), ValueError, f"at least {MIN_SIZE}x{MIN_SIZE}"),
        (torch.randint(0, 255, (1, 3, 32, 32)), TypeError, "floating-point"),
        (torch.rand(1, 3, 32, 32) * 255, ValueError, r"values in \[0, 1\]"),
        (torch.full((1, 3, 32, 32), float("nan")), ValueError, "NaN"),
    ],
)
def test_rejects_bad_images(x, exc, match):
    with pytest.raises(exc, match=match):
        judge_features(x)
    with pytest.raises(exc, match=match):
        judge_distance(x, torch.rand(1, 3, 32, 32))


def test_rejects_bad_arguments():
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="same shape"):
        judge_distance(x, torch.rand(1, 3, 32, 40))
    with pytest.raises(ValueError, match="unknown judge tap 'relu3_2'"):
        judge_features(x, ("s1", "relu3_2"))
    with pytest.raises(ValueError, match="at least one tap"):
        judge_distance(x, x, taps=())
    with pytest.raises(ValueError, match="kind"):
        load_judge_net(kind="book")
    with pytest.raises(TypeError, match="JudgeNet"):
        judge_features(x, net=load_feature_net())
    with pytest.raises(TypeError, match="JudgeNet"):
        content_separation(load_feature_net())


def test_loader_refuses_missing_or_changed_weights(tmp_path):
    w, m = tmp_path / "judge_net.pt", tmp_path / "judge_net.json"
    with pytest.raises(RuntimeError, match="missing.*python scripts/train_judge_net.py"):
        judge._load_checked(w, m)
    shutil.copy(WEIGHTS_PATH, w)
    shutil.copy(MANIFEST_PATH, m)
    assert weights_sha256(judge._load_checked(w, m)) == judge_sha256()
    state = torch.load(w, weights_only=True)
    state["stem.bias"] = state["stem.bias"] + 1
    torch.save(state, w)
    with pytest.raises(RuntimeError, match="sha256.*python scripts/train_judge_net.py"):
        judge._load_checked(w, m)
    m.write_text("{}")
    with pytest.raises(RuntimeError, match="weights_sha256.*python scripts/train_judge_net.py"):
        judge._load_checked(w, m)


def test_works_from_a_copied_utils_folder(tmp_path):
    shutil.copytree(ROOT / "utils", tmp_path / "utils", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import torch, utils.judge as j; assert str(j.WEIGHTS_PATH).startswith(%r); "
        "x = torch.rand(1, 3, 16, 16); print(float(j.judge_distance(x, x)), j.judge_sha256())" % str(tmp_path)
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0.0", judge_sha256()]


def _train(tmp_path, sub, steps):
    # same file name every time: torch.save names the archive's folder after the file's stem,
    # so the file's bytes (and sha256) depend on the name
    out = tmp_path / sub / "judge_net.pt"
    cmd = [sys.executable, str(ROOT / "scripts" / "train_judge_net.py"),
           "--seed", str(SHIPPED["seed"]), "--steps", str(steps), "--out", str(out)]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-2000:]
    return out, json.loads(out.with_suffix(".json").read_text())


@pytest.mark.slow
def test_training_is_deterministic(tmp_path):
    (a, ja), (b, jb) = _train(tmp_path, "a", 20), _train(tmp_path, "b", 20)
    assert file_sha256(a) == ja["weights_sha256"]
    assert weights_sha256(JudgeNet.from_file(a)) == weights_sha256(JudgeNet.from_file(b))
    assert ja["weights_sha256"] == jb["weights_sha256"]


@pytest.mark.slow
@pytest.mark.retrain
def test_retraining_reproduces_shipped_numbers(tmp_path):
    out, new = _train(tmp_path, "full", SHIPPED["steps"])
    assert new["parameters"] == SHIPPED["parameters"]
    assert new["heldout_accuracy"] == pytest.approx(SHIPPED["heldout_accuracy"], abs=0.05)
    assert new["content_separation"] == pytest.approx(SHIPPED["content_separation"], abs=0.05)
    assert new["content_separation_random"] == pytest.approx(SHIPPED["content_separation_random"], abs=1e-4)
    net = JudgeNet.from_file(out).eval()
    assert content_separation(net) == pytest.approx(new["content_separation"], abs=1e-4)
    assert content_separation(net) - content_separation("random") >= SEPARATION_MARGIN
    if new["torch"] == SHIPPED["torch"]:
        print("retrained sha256 equals shipped:", new["weights_sha256"] == SHIPPED["weights_sha256"])
