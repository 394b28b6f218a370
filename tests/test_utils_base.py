"""Unit tests of the base of utils/: checks, data, degradations, conversions, metrics, training loop, claims."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from utils import checks, claims, convert, data, degrade, metrics, repro, synth, train
from utils.layers import SPADE, SPADEResBlock


# ---------------------------------------------------------------- checks
def test_as_image_accepts_float_and_tensor():
    a = np.random.default_rng(0).random((8, 9, 3))
    assert checks.as_image(a).shape == (8, 9, 3)
    t = torch.from_numpy(a).permute(2, 0, 1)[None].float()
    assert checks.as_image(t).shape == (8, 9, 3)


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (np.zeros((4, 4, 3), np.uint8), TypeError, "divide by 255"),
        (np.zeros((4, 4, 5)), ValueError, r"C in \(1, 3\)"),
        (np.zeros((2, 4, 4, 3)), ValueError, "2-D .* or 3-D"),
        (np.full((4, 4), 1.5), ValueError, r"values in \[0.0, 1.0\]"),
        (np.full((4, 4), np.nan), ValueError, "NaN"),
        ([[0.1]], TypeError, "numpy array"),
        (np.zeros((4, 4), bool), TypeError, "real-valued"),
    ],
)
def test_as_image_rejects_bad_input(bad, err, match):
    with pytest.raises(err, match=match):
        checks.as_image(bad)


def test_as_image_min_size():
    with pytest.raises(ValueError, match="at least 11 pixels"):
        checks.as_image(np.zeros((5, 20)), min_size=11)


def test_check_helpers():
    assert checks.check_positive(3, "n", integer=True) == 3
    with pytest.raises(TypeError, match="expected a integer"):
        checks.check_positive(2.5, "n", integer=True)
    with pytest.raises(ValueError, match="> 0"):
        checks.check_positive(0, "n")
    with pytest.raises(ValueError, match=r"in \[1, 95\]"):
        checks.check_in_range(100, "quality", 1, 95)
    with pytest.raises(ValueError, match="expected one of"):
        checks.check_choice("x", "kind", ["a", "b"])
    with pytest.raises(ValueError, match="4-D tensor"):
        checks.check_tensor(torch.zeros(3, 4, 4), "x", ndim=4)


# ---------------------------------------------------------------- data
@pytest.mark.parametrize("name", data.IMAGE_NAMES)
def test_every_packaged_image_loads(name):
    img = data.load_image(name)
    assert img.dtype == np.float64 and img.min() >= 0 and img.max() <= 1
    assert min(img.shape[:2]) >= 150


def test_load_image_options_and_errors():
    assert data.load_image("camera", gray=False).shape == (512, 512, 3)
    assert data.load_image("astronaut", gray=True).shape == (512, 512)
    assert data.load_image("coffee", size=64).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="unknown image 'lena'"):
        data.load_image("lena")
    with pytest.raises(ValueError, match="larger than image"):
        data.load_image("text", size=400)


def test_crops_are_seeded():
    img = data.load_image("chelsea")
    a, b = data.random_crops(img, 4, 16, seed=3), data.random_crops(img, 4, 16, seed=3)
    assert a.shape == (4, 16, 16, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, data.random_crops(img, 4, 16, seed=4))
    with pytest.raises(ValueError, match="does not fit"):
        data.random_crops(img, 1, 1000)
    p, lab = data.patch_set(["brick", "coffee"], 3, 8)
    assert p.shape == (6, 8, 8, 3) and list(lab) == [0, 0, 0, 1, 1, 1]


def test_faces_and_digits():
    f = data.load_faces()
    assert f.shape == (100, 25, 25) and 0 <= f.min() and f.max() <= 1
    x, y = data.load_digits()
    assert x.shape == (1797, 8, 8) and set(np.unique(y)) == set(range(10))


# ---------------------------------------------------------------- degradations
def test_jpeg_quality_orders_error():
    img = data.load_image("astronaut", size=128)
    errs = [metrics.mse(img, degrade.jpeg(img, q)) for q in (10, 50, 90)]
    assert errs[0] > errs[1] > errs[2] > 0
    with pytest.raises(ValueError, match=r"\[1, 95\]"):
        degrade.jpeg(img, 0)
    with pytest.raises(TypeError, match="integer"):
        degrade.jpeg(img, 50.0)


def test_blur_and_noise():
    img = data.load_image("camera", size=64)
    assert np.allclose(degrade.gaussian_blur(img, 0), img)
    b = degrade.gaussian_blur(img, 2.0)
    assert abs(b.mean() - img.mean()) < 0.01 and b.std() < img.std()
    n1, n2 = degrade.gaussian_noise(img, 0.1, seed=1), degrade.gaussian_noise(img, 0.1, seed=1)
    assert np.array_equal(n1, n2) and 0 <= n1.min() and n1.max() <= 1
    with pytest.raises(ValueError, match=">= 0"):
        degrade.gaussian_noise(img, -1)


def test_imresize_follows_matlab_geometry():
    # MATLAB maps output pixel k (1-based) to input coordinate u = k/scale + (1 - 1/scale)/2, and its cubic
    # kernel (stretched by 1/scale when shrinking) reproduces linear functions away from the border.
    n = 32
    ramp = np.outer(np.arange(1, n + 1), np.ones(6)) / n
    out = degrade.imresize(ramp, 0.5)
    k = np.arange(1, n // 2 + 1)
    expected = (2 * k - 0.5) / n
    assert out.shape == (16, 3)
    assert np.allclose(out[3:-3, 1], expected[3:-3], atol=1e-12)
    # NIQE's calibration against MATLAB (tests/test_niqe.py) checks the border handling end to end.
    c = np.full((12, 10, 3), 0.3)
    assert np.allclose(degrade.imresize(c, 0.5), 0.3) and np.allclose(degrade.imresize(c, 3), 0.3)


def test_bicubic_down_up_shapes_and_errors():
    img = data.load_image("coffee", size=64)
    lr = degrade.bicubic_down(img, 4)
    assert lr.shape == (16, 16, 3) and degrade.bicubic_up(lr, 4).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="not a multiple of factor 3"):
        degrade.bicubic_down(img, 3)


# ---------------------------------------------------------------- conversions
def test_tensor_round_trip_and_y():
    img = data.load_image("rocket", size=32)
    t = convert.to_tensor(img)
    assert t.shape == (1, 3, 32, 32) and t.dtype == torch.float32
    assert np.allclose(convert.to_numpy(t)[0], img, atol=1e-6)
    y = convert.rgb_to_y(img)
    assert y.shape == (32, 32) and 16 / 255 - 1e-9 <= y.min() and y.max() <= 235 / 255 + 1e-9
    with pytest.raises(TypeError, match="torch tensor"):
        convert.to_numpy(img)


# ---------------------------------------------------------------- metrics against scikit-image
@pytest.mark.parametrize("name, kind", [("astronaut", "jpeg"), ("coffee", "blur"), ("camera", "noise"), ("brick", "jpeg")])
def test_psnr_ssim_match_skimage(name, kind):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    x = data.load_image(name, size=128)
    y = {"jpeg": lambda: degrade.jpeg(x, 20), "blur": lambda: degrade.gaussian_blur(x, 1.5), "noise": lambda: degrade.gaussian_noise(x, 0.05)}[kind]()
    assert abs(metrics.psnr(x, y) - peak_signal_noise_ratio(x, y, data_range=1)) < 1e-6
    ref = structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1 if x.ndim == 3 else None)
    assert abs(metrics.ssim(x, y) - ref) < 1e-4


def test_metric_errors_and_edge_cases():
    x = np.zeros((16, 16))
    assert metrics.psnr(x, x) == math.inf and metrics.ssim(x, x) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(x, np.zeros((16, 15)))
    with pytest.raises(ValueError, match="at least 11"):
        metrics.ssim(np.zeros((8, 8)), np.zeros((8, 8)))
    assert metrics.shave(np.zeros((20, 20)), 4).shape == (12, 12)


# ---------------------------------------------------------------- training loop and seeding
def test_train_loop_budget_and_history():
    repro.seed_everything(0)
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)

    def step(_):
        loss = (w - 3).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    res = train.train(step, 50)
    assert res.steps == 50 and len(res.losses) == 50 and res.losses[-1] < res.losses[0]
    assert res.final_loss < 1e-3
    with pytest.raises(FloatingPointError, match="became nan"):
        train.train(lambda _: float("nan"), 3)
    with pytest.raises(TypeError, match="integer"):
        train.train(step, 2.5)


def test_batches_are_seeded_and_cover_data():
    x = torch.arange(10.0)
    a = next(train.batches((x,), 5, seed=1))[0]
    b = next(train.batches((x,), 5, seed=1))[0]
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="larger than the data"):
        next(train.batches((x,), 11))
    with pytest.raises(ValueError, match="share their first dimension"):
        next(train.batches((x, torch.zeros(3)), 2))


def test_seed_everything_repeats_torch_numbers():
    repro.seed_everything(5)
    a = torch.randn(3), np.random.rand(2)
    repro.seed_everything(5)
    b = torch.randn(3), np.random.rand(2)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert torch.are_deterministic_algorithms_enabled()
    with pytest.raises(ValueError, match="non-negative integer"):
        repro.seed_everything(-1)


# ---------------------------------------------------------------- synthetic scenes and SPADE
def test_voronoi_maps_and_painting():
    lab, inst = synth.voronoi_label_maps(4, 16, 3, seed=0)
    assert lab.shape == inst.shape == (4, 16, 16) and lab.max() < 3
    img = synth.paint_classes(lab)
    assert img.shape == (4, 16, 16, 3) and 0 <= img.min() and img.max() <= 1
    assert synth.one_hot(lab, 3).shape == (4, 3, 16, 16)
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        synth.one_hot(lab + 5, 3)


def test_spade_layer_formula_and_collapse():
    torch.manual_seed(0)
    k = 4
    m = synth.one_hot(synth.uniform_label_maps(k, 8), k).double()
    conv = torch.nn.Conv2d(k, 6, 3, padding=1, padding_mode="reflect").double()
    layer = SPADE(6, k, hidden=8).double()
    with torch.no_grad():
        h = conv(m)
    inorm = torch.nn.InstanceNorm2d(6)(h)
    assert float(inorm.abs().max()) < 1e-10  # plain normalisation erases a uniform label
    with torch.no_grad():
        out = layer(h, m)
        g, b = layer.modulation(h, m)
    assert torch.allclose(out, inorm * (1 + g) + b)
    assert float((out.amax(0) - out.amin(0)).abs().max()) > 1e-2  # SPADE keeps it
    with pytest.raises(ValueError, match="expected 4 channels"):
        layer(h, m[:, :3])
    with pytest.raises(ValueError, match="'instance' or 'batch'"):
        SPADE(6, k, norm="group")
    blk = SPADEResBlock(6, 10, k, hidden=8).double()
    assert blk(h, m).shape == (4, 10, 8, 8)


# ---------------------------------------------------------------- claims registry
def _reg(tmp_path, monkeypatch, name="demo"):
    monkeypatch.setenv(claims.CLAIMS_DIR_ENV, str(tmp_path))
    monkeypatch.delenv("PAPER_DAILY_SEED", raising=False)
    return claims.Claims(name)


def _finding(reg, id="C1", **kw):
    args = dict(measure="PSNR (dB) on held-out crops", direction="A above B", margin=0.3, judge="PSNR", unit="dB",
                seeds=[0, 1, 2])
    args.update(kw)
    return reg.finding(id, "A beats B.", **args)


def test_decision_rule_on_synthetic_effects(tmp_path, monkeypatch):
    """reproduced / not reproduced / inconclusive follow the standard's two-sided rule."""
    reg = _reg(tmp_path, monkeypatch)
    clear = _finding(reg, "C1", effects=[0.50, 0.55, 0.60])       # beyond the noise and the margin
    small = _finding(reg, "C2", effects=[0.05, 0.06, 0.04])       # tight and well below the margin: absent
    reverse = _finding(reg, "C3", effects=[-0.4, -0.5, -0.45])    # reversed
    noisy = _finding(reg, "C4", effects=[0.9, -0.6, 0.4])         # too noisy to tell
    under = _finding(reg, "C5", effects=[0.20, 0.21, 0.19])       # positive beyond noise but below the margin
    near = _finding(reg, "C6", effects=[0.15, 0.45, 0.30])        # mean at the margin, interval straddles zero
    assert [c.verdict for c in (clear, small, reverse, noisy, under, near)] == [
        "reproduced", "not reproduced", "not reproduced", "inconclusive", "not reproduced", "inconclusive"]
    e = clear.effect
    assert e["n"] == 3 and abs(e["value"] - 0.55) < 1e-12
    half = 4.302652729911275 * 0.05 / 3 ** 0.5  # t(0.975, 2) * sd / sqrt(n)
    assert abs(e["lo"] - (0.55 - half)) < 1e-9 and abs(e["hi"] - (0.55 + half)) < 1e-9
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert [c["verdict"] for c in saved["claims"]][:2] == ["reproduced", "not reproduced"]
    for c in saved["claims"]:
        assert c["kind"] == "finding" and c["margin"] == 0.3 and c["seeds"] == [0, 1, 2]
    assert claims.decide({"value": 0.3, "lo": 0.01, "hi": 0.6}, 0.3) == "reproduced"
    assert claims.decide({"value": 0.3, "lo": -0.01, "hi": 0.6}, 0.3) == "inconclusive"
    assert claims.decide({"value": 0.1, "lo": 0.0, "hi": 0.29}, 0.3) == "not reproduced"


def test_arms_pairs_and_intersection(tmp_path, monkeypatch):
    reg = _reg(tmp_path, monkeypatch)
    arms = {"A": [31.0, 31.2, 31.1], "B": [30.0, 30.1, 30.2], "C": [31.0, 31.1, 31.15]}
    c = _finding(reg, arms=arms, compare=[("A", "B"), ("A", "C")])
    assert c.verdict == "not reproduced" and c.effect["pair"] == "A vs C"
    assert c.pairs["A vs B"]["verdict"] == "reproduced"
    assert c.measured["A (per seed)"] == arms["A"]
    lower = _finding(reg, "C2", arms={"A": [1.0, 1.1, 1.05], "B": [2.0, 2.1, 2.05]}, compare=[("A", "B")],
                     better="lower", margin=0.5)
    assert lower.verdict == "reproduced" and lower.effect["value"] > 0
    det = _finding(reg, "C3", effects=[0.4], deterministic=True, seeds=None)
    assert det.verdict == "reproduced" and det.effect["lo"] == det.effect["hi"] == 0.4 and det.seeds == []
    det2 = _finding(reg, "C4", effects=[0.2], deterministic=True, seeds=None)
    assert det2.verdict == "not reproduced"


def test_failed_gate_makes_a_finding_inconclusive(tmp_path, monkeypatch):
    reg = _reg(tmp_path, monkeypatch)
    ok = reg.gate("A: PSNR over bicubic (dB)", 1.1, 0.7, unit="dB")
    bad = reg.gate("B: PSNR over bicubic (dB)", 0.02, 0.7, unit="dB")
    low = reg.gate("loss at the end", 0.05, 0.1, higher=False)
    assert ok.passed and not bad.passed and low.passed
    c = _finding(reg, effects=[0.5, 0.55, 0.6], gates=[ok, bad, low])
    assert c.verdict == "inconclusive" and "B: PSNR over bicubic (dB)" in c.note
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert [g["passed"] for g in saved["claims"][0]["gates"]] == [True, False, True]
    assert len(saved["gates"]) == 3 and reg.summary()["gates passed"] == 2


def test_a_judge_that_an_arm_trained_against_is_refused(tmp_path, monkeypatch):
    import torch
    from utils.repro import weights_sha256

    reg = _reg(tmp_path, monkeypatch)
    torch.manual_seed(0)
    loss_net, judge_net = torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(3, 4, 3)
    c = _finding(reg, effects=[0.5, 0.55, 0.6], judge="judge net distance", judge_nets=[judge_net], trained_against=[loss_net])
    assert c.judge_sha256 == [weights_sha256(judge_net)] and c.trained_against_sha256 == [weights_sha256(loss_net)]
    with pytest.raises(ValueError, match="an arm trained against"):
        _finding(reg, "C2", effects=[0.5, 0.55, 0.6], judge="feature net", judge_nets=[loss_net], trained_against=[loss_net])
    with pytest.raises(ValueError, match="an arm trained against"):
        _finding(reg, "C3", effects=[0.5, 0.55, 0.6], judge="feature net", judge_nets=[weights_sha256(loss_net)],
                 trained_against=[loss_net])


def test_mechanisms_and_timings(tmp_path, monkeypatch):
    reg = _reg(tmp_path, monkeypatch)
    assert reg.mechanism("M1", "x equals y", error=1e-12, tolerance=1e-9, rule="|x - y| <= 1e-9").verdict == "verified"
    assert reg.mechanism("M2", "count", error=3, tolerance=0, rule="exact count").verdict == "failed"
    fast = [1.0 + 0.01 * (i % 3) for i in range(10)]
    slow = [2.0 + 0.02 * (i % 4) for i in range(10)]
    t = reg.timing("T1", "A is faster.", measure="latency (s)", direction="A faster", rounds={"A": fast, "B": slow},
                   claimed="A", others="B", margin_ratio=1.5)
    assert t.verdict == "reproduced" and abs(t.margin - __import__("math").log(1.5)) < 1e-12 and t.timings["margin_ratio"] == 1.5
    t2 = reg.timing("T2", "A is faster.", measure="latency (s)", direction="A faster", rounds={"A": fast, "B": fast},
                    claimed="A", others="B", margin_ratio=1.2)
    assert t2.verdict == "not reproduced"
    with pytest.raises(ValueError, match="at least 10 interleaved rounds"):
        reg.timing("T3", "x", measure="m", direction="d", rounds={"A": fast[:5], "B": slow[:5]}, claimed="A", others="B", margin_ratio=1.2)
    assert "1.50x" in t.effect_text()
    s = reg.summary()
    assert s["verified"] == 1 and s["failed"] == 1 and s["reproduced"] == 1 and s["not reproduced"] == 1


def test_prose_is_chosen_by_the_verdict(tmp_path, monkeypatch):
    reg = _reg(tmp_path, monkeypatch)
    _finding(reg, effects=[0.50, 0.55, 0.60])
    text = reg.say("C1", reproduced="A wins by {effect}.", not_reproduced="A does not win ({effect}).")
    assert text.startswith("A wins by +0.55 dB [") and "margin of 0.3 dB" in text
    _finding(reg, "C2", effects=[0.01, 0.0, 0.02])
    assert reg.say("C2", reproduced="A wins.", not_reproduced="No: {value:.2f} dB.") == "No: 0.01 dB."
    assert reg.say("C2", reproduced="A wins.").startswith("C2 is not reproduced")  # every verdict has a sentence
    with pytest.raises(ValueError, match="unknown verdict"):
        reg.say("C1", reproducd="typo")
    html = reg.to_html()
    assert html.count('class="claim-row"') == 2 and "verdicts.html" in html


def test_seeds_follow_paper_daily_seed(tmp_path, monkeypatch):
    reg = _reg(tmp_path, monkeypatch)
    assert reg.seeds(3) == [0, 1, 2] and reg.seed(5) == 5
    monkeypatch.setenv("PAPER_DAILY_SEED", "3")
    assert reg.seeds(3) == [3, 4, 5] and reg.seed(5) == 8 and reg.seeds(2, start=10) == [13, 14]
    assert json.loads((tmp_path / "demo.json").read_text())["seeds"] == [0, 1, 2, 3, 4, 5, 13, 14]
    monkeypatch.setenv("PAPER_DAILY_SEED", "-1")
    with pytest.raises(ValueError, match="non-negative integer"):
        reg.seeds(3)


def test_scoreboard_summary_counts_each_chapter(monkeypatch):
    monkeypatch.delenv(claims.CLAIMS_DIR_ENV, raising=False)
    a, b = claims.Claims("alpha"), claims.Claims("beta")
    _finding(a, "C1", effects=[0.5, 0.55, 0.6])
    _finding(a, "C2", effects=[0.0, 0.01, 0.02])
    a.mechanism("M1", "identity", error=0.0, tolerance=0.0, rule="exact")
    _finding(b, "C1", effects=[0.9, -0.6, 0.4])
    page = claims.render_summary(a.items + b.items, {"alpha": [{"passed": True}, {"passed": False}]})
    rows = re.findall(r'<tr class="chapter-summary" data-chapter="(\w+)">(.*?)</tr>', page)
    counts = {ch: re.findall(r"<td>([\d/]+)", cells) for ch, cells in rows}
    # reproduced, not reproduced, inconclusive, mechanisms verified, gates passed
    assert counts == {"alpha": ["1", "1", "0", "1", "1/2"], "beta": ["0", "0", "1", "0", "0/0"]}


def test_claims_reject_bad_input(tmp_path, monkeypatch):
    monkeypatch.delenv(claims.CLAIMS_DIR_ENV, raising=False)
    reg = claims.Claims("demo")
    with pytest.raises(ValueError, match="margin must be > 0"):
        _finding(reg, effects=[0.5, 0.5, 0.5], margin=0)
    with pytest.raises(ValueError, match="at least 3 seeds"):
        _finding(reg, effects=[0.5, 0.5], seeds=[0, 1])
    with pytest.raises(ValueError, match="give the seeds"):
        _finding(reg, effects=[0.5, 0.5, 0.5], seeds=None)
    with pytest.raises(ValueError, match="either effects"):
        _finding(reg)
    with pytest.raises(ValueError, match="compare entries"):
        _finding(reg, arms={"A": [1, 2, 3], "B": [1, 2, 3]}, compare=[("A", "Z")])
    with pytest.raises(ValueError, match="better must be"):
        _finding(reg, effects=[1, 2, 3], better="up")
    with pytest.raises(ValueError, match="short identifier"):
        _finding(reg, "claim one", effects=[1, 2, 3])
    with pytest.raises(ValueError, match="lower-case file stem"):
        claims.Claims("Bad Name")
    with pytest.raises(TypeError, match="numbers, strings"):
        reg.mechanism("M1", "x", error=0, tolerance=0, rule="r", measured={"a": object()})
    with pytest.raises(ValueError, match="finite number"):
        _finding(reg, effects=[1, float("nan"), 3])
    with pytest.raises(TypeError, match="Gate records"):
        _finding(reg, effects=[1, 2, 3], gates=["passed"])
    with pytest.raises(ValueError, match="non-empty sentence"):
        _finding(reg, effects=[1, 2, 3], judge="")
    assert not list(tmp_path.iterdir())  # nothing written outside a book build


def test_format_value():
    assert claims.format_value(0.123456) == "0.1235"
    assert claims.format_value(1e-7) == "1.000e-07"
    assert claims.format_value(True) == "yes"
    assert claims.format_value([1.0, 2]) == "[1, 2]"


# ---------------------------------------------------------------- per-cell times in a build
def test_setup_chapter_records_cell_times_only_in_a_build(tmp_path):
    """In a build (claims folder set) each later cell's time lands in <chapter>.cells.jsonl; elsewhere nothing."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_cell('import utils; claims = utils.setup_chapter(\"demo\")')\n"
        "ip.run_cell('x = sum(range(10))')\n"
        "ip.run_cell('y = x + 1')\n"
    )
    root = Path(__file__).resolve().parents[1]
    folder = tmp_path / "claims"
    env = {k: v for k, v in __import__("os").environ.items() if k != claims.CLAIMS_DIR_ENV}
    subprocess.run([sys.executable, "-c", script], cwd=root, env={**env, claims.CLAIMS_DIR_ENV: str(folder)}, check=True)
    setup, *rows = [json.loads(line) for line in (folder / "demo.cells.jsonl").read_text().splitlines()]
    assert setup["event"] == "setup" and setup["process_start"] <= setup["utils_imported"] <= setup["t"]
    assert [r["first_line"] for r in rows] == ["x = sum(range(10))", "y = x + 1"]
    assert all(r["wall_s"] >= 0 and r["cpu_s"] >= 0 for r in rows)
    assert setup["t"] <= rows[0]["start"] <= rows[0]["end"] <= rows[1]["start"] <= rows[1]["end"]
    assert (folder / "demo.stall.txt").read_text() == ""  # the watchdog wrote nothing: no cell took 45 s
    subprocess.run([sys.executable, "-c", script], cwd=root, env=env, check=True, capture_output=True)
    assert not (root / "demo.cells.jsonl").exists()


def test_effect_text_never_rounds_a_bound_onto_the_margin(tmp_path, monkeypatch):
    """An upper bound of 0.0191 against a margin of 0.02 must not print as +0.02."""
    reg = _reg(tmp_path, monkeypatch)
    c = _finding(reg, "C1", effects=[0.0100, 0.0125, 0.0150], margin=0.02, unit="")
    assert c.effect["hi"] < 0.02
    lo, hi = c.effect_text().split("[")[1].split("]")[0].split(", ")
    assert hi != "+0.02" and float(hi) < 0.02 and "margin of 0.02" in c.effect_text()
    wide = _finding(reg, "C2", effects=[0.50, 0.55, 0.60])  # margin 0.3: two decimals are enough
    assert wide.effect_text().startswith("+0.55 dB [")


def test_glue_prints_its_value_where_myst_nb_is_absent(monkeypatch, capsys):
    import sys

    from utils.claims import glue

    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, as in Colab
    glue("speed_text", "42% faster")
    glue("quiet_text", "printed already", echo=False)
    assert capsys.readouterr().out.strip() == "[speed_text] 42% faster"
    with pytest.raises(ValueError, match="non-empty string"):
        glue("", 1)
