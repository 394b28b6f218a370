"""Whole-book tests: the strict offline build, the scoreboard, a failing chapter failing the build, and the
browser check. The stand-alone notebook runs (Colab's versions), the per-chapter time budget and the comparison
of the two runs' numbers are in tests/test_colab.py, which runs after this file and compares with this build.

The full build runs once per session (fixture ``book``), inside a network namespace with only loopback up
when the machine allows it, so every run of this file also proves that the build needs no network.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
pytestmark = pytest.mark.book


@pytest.fixture(autouse=True)
def _collect_garbage_here():
    """Collect after each book test, so a resource one of them leaks (a socket, a kernel) is reported
    against that test and not against whichever later test the garbage collector happens to run in."""
    yield
    import gc

    gc.collect()


def _chapters() -> list[str]:
    return re.findall(r"file:\s*chapters/(\w+)", (ROOT / "_toc.yml").read_text())


@pytest.fixture(scope="session")
def book():
    """Build the whole book once (strict, every chapter executed, offline when permitted).

    ``PAPER_DAILY_REUSE_BUILD=1`` reuses the last build's log instead (for developers re-running checks;
    CI never sets it)."""
    if os.environ.get("PAPER_DAILY_REUSE_BUILD") == "1" and (BUILD / "build.log").exists() and not os.environ.get("CI"):
        return (BUILD / "build.log").read_text()
    env = dict(os.environ, OFFLINE="1")
    t0 = time.time()
    r = subprocess.run(["bash", str(ROOT / "scripts" / "build.sh")], cwd=ROOT, env=env, capture_output=True, text=True)
    log = r.stdout + r.stderr
    (BUILD).mkdir(exist_ok=True)
    (BUILD / "build.log").write_text(log)
    print(f"\nbook build: {time.time() - t0:.0f} s, exit {r.returncode}")
    print("\n".join(l for l in log.splitlines() if l.startswith(("build:", "chapter", "chapters/", "total"))))
    assert r.returncode == 0, "the strict book build failed:\n" + log[-6000:]
    return log


def test_build_was_offline_or_says_why(book):
    assert "build: offline, in a network namespace" in book or "'unshare -n' is not permitted" in book


class _Rows(HTMLParser):
    """Collect claim rows (data attributes) of verdict tables in an HTML page."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and a.get("class") == "claim-row":
            self.rows.append((a["data-chapter"], a["data-claim"], a["data-verdict"], a["data-effect"]))


def _rows(page: Path):
    p = _Rows()
    p.feed(page.read_text())
    return p.rows


def test_scoreboard_matches_the_chapters(book):
    board = _rows(BUILD / "html" / "scoreboard.html")
    from_chapters = [row for c in _chapters() for row in _rows(BUILD / "html" / "chapters" / f"{c}.html")]
    assert board, "the scoreboard is empty"
    assert sorted(board) == sorted(from_chapters)
    assert {r[0] for r in board} == set(_chapters()), "every chapter registers claims"
    saved = [(d["chapter"], c["id"], c["verdict"]) for f in sorted((BUILD / "claims").glob("*.json")) for d in [json.loads(f.read_text())] for c in d["claims"]]
    assert sorted(saved) == sorted(r[:3] for r in board)


def _saved_claims():
    for f in sorted((BUILD / "claims").glob("*.json")):
        data = json.loads(f.read_text())
        yield data, data["claims"]


def test_every_claim_follows_the_standard(book):
    """Every claim is a mechanism or a finding registered through utils.claims; findings state a margin > 0 and
    have >= 3 seeds unless deterministic; the verdict is the standard's rule applied to the recorded effect."""
    from utils.claims import decide

    problems = []
    for data, claims in _saved_claims():
        for c in claims:
            cid = f"{data['chapter']}/{c['id']}"
            if c["kind"] == "mechanism":
                if c["verdict"] != "verified":
                    problems.append(f"{cid}: mechanism {c['verdict']}")
            elif c["kind"] == "finding":
                if not (c["margin"] and c["margin"] > 0):
                    problems.append(f"{cid}: margin {c['margin']}")
                if not c["deterministic"] and not c.get("timings") and len(c["seeds"]) < 3:
                    problems.append(f"{cid}: {len(c['seeds'])} seeds")
                gates_ok = all(g["passed"] for g in c["gates"])
                if decide(c["effect"], c["margin"], gates_ok) != c["verdict"]:
                    problems.append(f"{cid}: verdict {c['verdict']} does not follow from {c['effect']} and margin {c['margin']}")
            else:
                problems.append(f"{cid}: kind {c['kind']!r} (not registered through claims.finding / claims.mechanism)")
        if not any(c["kind"] == "finding" for c in claims):
            problems.append(f"{data['chapter']}: no finding")
    assert not problems, "claims that do not follow the verdict standard:\n" + "\n".join(problems)


#: chapters with no trained or fitted arm (their findings are measurements of fixed metrics): they record no gate
UNTRAINED_CHAPTERS = ("niqe", "vmaf")


@pytest.mark.parametrize("chapter", _chapters())
def test_competence_gates_pass(book, chapter):
    """A miniature that did not learn is a defect, not a result: a failed gate fails the build's tests.

    Every chapter is covered: each gate it records must pass, and a chapter with trained arms must record gates."""
    data = json.loads((BUILD / "claims" / f"{chapter}.json").read_text())
    gates = data.get("gates", []) + [g for c in data["claims"] for g in c.get("gates", [])]
    if chapter not in UNTRAINED_CHAPTERS:
        assert gates, f"{chapter}: no competence gate recorded"
    failed = {g["name"] for g in gates if not g["passed"]}
    values = {g["name"]: f"{g['value']} vs bar {g['bar']}" for g in gates}
    assert not failed, f"{chapter}: failed competence gates:\n" + "\n".join(f"{n}: {values[n]}" for n in sorted(failed))


def test_no_finding_is_judged_by_a_network_its_arms_trained_against(book):
    """The judge's weight hashes never equal those of a network used in any arm's training loss."""
    bad = [f"{d['chapter']}/{c['id']}" for d, claims in _saved_claims() for c in claims
           if set(c.get("judge_sha256", [])) & set(c.get("trained_against_sha256", []))]
    assert not bad, f"findings judged by a network their arms trained against: {bad}"


def test_the_shared_claims_audit_passes(book):
    """The project-independent audit of the standard (../shared/tools/claims_audit.py) agrees with the build."""
    audit = ROOT.parent / "shared" / "tools" / "claims_audit.py"
    if not audit.is_file():
        pytest.skip("../shared/tools/claims_audit.py is not beside the checkout")
    r = subprocess.run([sys.executable, str(audit), str(BUILD / "claims")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def _mini_book(tmp: Path, chapter_source: str) -> subprocess.CompletedProcess:
    for name in ("_config.yml", "references.bib", "references.md"):
        shutil.copy(ROOT / name, tmp / name)
    for d in ("_ext", "utils", "_vendor", "_static"):
        if (ROOT / d).exists():
            shutil.copytree(ROOT / d, tmp / d, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp / "chapters").mkdir()
    (tmp / "intro.md").write_text("# Mini book\n\nA throw-away copy of the book with one chapter.\n")
    (tmp / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/probe\n  - file: references\n")
    front = "---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n"
    (tmp / "chapters" / "probe.md").write_text(front + "# Probe\n\n```{code-cell} ipython3\n" + chapter_source + "\n```\n")
    cmd = [str(ROOT / ".venv" / "bin" / "jupyter-book"), "build", str(tmp), "--builder", "html", "-W", "-n", "--keep-going"]
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)


def test_a_chapter_that_raises_fails_the_build(tmp_path):
    (tmp_path / "ok").mkdir()
    ok = _mini_book(tmp_path / "ok", "print('fine')")
    assert ok.returncode == 0, "the control build (no error) must pass:\n" + (ok.stdout + ok.stderr)[-3000:]
    (tmp_path / "bad").mkdir()
    bad = _mini_book(tmp_path / "bad", "raise RuntimeError('deliberate failure')")
    assert bad.returncode != 0, "a chapter that raises must fail the build"
    assert "deliberate failure" in bad.stdout + bad.stderr


# The second execution of every chapter, alone as in Colab, runs in an environment pinned to Colab's versions and
# fetches utils through git and the release tag: tests/test_colab.py. The time-budget check (which falls back on
# that run when the build met a stall) and the comparison of the two runs' verdicts and numbers live there too.


# ---------------------------------------------------------------- browser check
ALLOWED_JS_ERRORS = (
    "Identifier 'THEBE_JS_URL' has already been declared",  # sphinx-thebe injects its config twice
    "Got invalid theme mode",  # sphinx-book-theme resets an empty stored theme mode
    # @jupyter-widgets/html-manager 1.x typesets widget labels through MathJax 2's MathJax.Hub.Queue; the book
    # serves MathJax 3, which has no Hub. The widgets themselves still render (checked below).
    "Cannot read properties of undefined (reading 'Queue')",
)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_browser_opens_every_page_offline(book):
    chrome = _chromium()
    if chrome is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the browser check (.ci/run does)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI runs this check")
    import http.server
    import threading
    from functools import partial

    from playwright.sync_api import sync_playwright

    html = BUILD / "html"
    shots = BUILD / "screenshots"
    shots.mkdir(exist_ok=True)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = partial(Quiet, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    pages = ["index.html", "scoreboard.html", "status.html", "references.html"] + [f"chapters/{c}.html" for c in _chapters()]
    import utils

    version = utils.__version__
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or "unknown"
    problems = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chrome,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            )
            for page_path in pages:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errs, failed, external = [], [], []
                page.on("pageerror", lambda e: errs.append(str(e)))
                page.on("console", lambda m: errs.append(m.text) if m.type == "error" else None)
                page.on("requestfailed", lambda r: failed.append(r.url))

                def route(r, external=external):
                    if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                        return r.continue_()
                    external.append(r.request.url)
                    return r.abort()

                page.route("**/*", route)
                page.goto(f"{base}/{page_path}", wait_until="networkidle")
                page.wait_for_timeout(300)
                state = page.evaluate(
                    """() => ({
                        broken: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
                        rawMath: document.body.innerText.includes('\\\\(') || document.body.innerText.includes('\\\\['),
                        hasMath: document.querySelectorAll('.math, span.math, div.math').length,
                        mathRendered: document.querySelectorAll('mjx-container').length,
                        widgetState: document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').length,
                        widgetViews: document.querySelectorAll('.widget-slider, .jupyter-widgets, .widget-inline-hbox').length,
                        widgetRenderer: [...document.scripts].filter(s => (s.src || '').includes('embed')).length,
                        footer: (document.querySelector('.extra_footer') || {innerText: ''}).innerText,
                    })"""
                )
                page.screenshot(path=str(shots / (page_path.replace("/", "_") + ".png")), full_page=False)
                bad = [e for e in errs if not any(a in e for a in ALLOWED_JS_ERRORS)]
                issues = []
                if bad:
                    issues.append(f"JS errors: {bad[:3]}")
                if failed or external:
                    issues.append(f"failed/external requests: {(failed + external)[:5]}")
                if state["broken"]:
                    issues.append(f"images not loaded: {state['broken'][:3]}")
                if state["rawMath"] or (state["hasMath"] and not state["mathRendered"]):
                    issues.append("math not rendered")
                if state["widgetState"] and not state["widgetViews"]:
                    issues.append("widgets not rendered")
                if bool(state["widgetState"]) != bool(state["widgetRenderer"]):
                    issues.append(f"widget renderer loaded {state['widgetRenderer']} time(s) on a page with "
                                  f"{state['widgetState']} widget-state block(s): it belongs on widget pages only")
                if f"Book version {version}" not in state["footer"] or commit not in state["footer"]:
                    issues.append(f"footer lacks the version {version} and commit {commit}: {state['footer'][:200]!r}")
                if issues:
                    problems[page_path] = issues
                page.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()  # an unclosed listening socket becomes a ResourceWarning in a later test
    assert not problems, json.dumps(problems, indent=1)
