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
def test_claims_verdicts_and_output(tmp_path, monkeypatch):
    monkeypatch.setenv(claims.CLAIMS_DIR_ENV, str(tmp_path))
    reg = claims.Claims("demo")
    reg.check("C1", "A beats B.", measured={"a": np.float64(0.9), "b": 0.5}, compared="a vs b", rule="a > b", reproduced=0.9 > 0.5)
    reg.check("C2", "B beats A.", measured={"a": 0.9}, compared="a vs b", rule="b > a", reproduced=False)
    reg.check("C3", "Too close to call.", measured={"d": 0.01}, compared="a vs b", rule="|d| > noise", reproduced=True, inconclusive=True)
    reg.check("C1", "A beats B.", measured={"a": 0.8, "b": 0.5}, compared="a vs b", rule="a > b", reproduced=True)  # re-run replaces
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == ["not reproduced", "inconclusive", "reproduced"]
    assert reg.summary() == {"reproduced": 1, "not reproduced": 1, "inconclusive": 1}
    html = reg.to_html()
    assert html.count('class="claim-row"') == 3 and 'data-verdict="inconclusive"' in html


def test_scoreboard_summary_counts_each_chapter(monkeypatch):
    monkeypatch.delenv(claims.CLAIMS_DIR_ENV, raising=False)
    a, b = claims.Claims("alpha"), claims.Claims("beta")
    a.check("C1", "x", measured={"v": 1}, compared="c", rule="r", reproduced=True)
    a.check("C2", "y", measured={"v": 2}, compared="c", rule="r", reproduced=False)
    b.check("C1", "z", measured={"v": 3}, compared="c", rule="r", reproduced=True, inconclusive=True)
    page = claims.render_summary(a.items + b.items)
    rows = re.findall(r'<tr class="chapter-summary" data-chapter="(\w+)">(.*?)</tr>', page)
    counts = {ch: re.findall(r"<td>(\d+)</td>", cells) for ch, cells in rows}
    assert counts == {"alpha": ["1", "1", "0"], "beta": ["0", "0", "1"]}  # reproduced, not reproduced, inconclusive


def test_claims_reject_bad_input(tmp_path, monkeypatch):
    monkeypatch.delenv(claims.CLAIMS_DIR_ENV, raising=False)
    reg = claims.Claims("demo")
    with pytest.raises(TypeError, match="bool computed from the measurement"):
        reg.check("C1", "x", measured={"a": 1}, compared="c", rule="r", reproduced="yes")
    with pytest.raises(ValueError, match="non-empty dict"):
        reg.check("C1", "x", measured={}, compared="c", rule="r", reproduced=True)
    with pytest.raises(ValueError, match="short identifier"):
        reg.check("claim one", "x", measured={"a": 1}, compared="c", rule="r", reproduced=True)
    with pytest.raises(ValueError, match="lower-case file stem"):
        claims.Claims("Bad Name")
    with pytest.raises(TypeError, match="numbers, strings"):
        reg.check("C1", "x", measured={"a": object()}, compared="c", rule="r", reproduced=True)
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
