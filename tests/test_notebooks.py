"""The Colab notebooks (chapters/*.ipynb) are clean: plain Markdown and LaTeX, no MyST.

scripts/sync_chapters.py writes them from the chapters' .md (the single source). These tests check the
converter piece by piece on small inputs, then the 19 notebooks it wrote: no MyST left in any Markdown cell,
code cells exactly as in the .md, each figure's caption under its code cell, every citation resolvable, and
the notebooks up to date (``--check``)."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))

# What Colab would show as literal text. Written independently of the converter, so that it checks it.
MYST_PATTERNS = {
    "directive fence": re.compile(r"^[ \t>]*(?:`{3,}|~{3,}|:{3,})\{", re.M),
    "role": re.compile(r"\{[A-Za-z][\w:.-]*\}`"),
    "target label": re.compile(r"^[ \t>]*\([^()\s]+\)=[ \t]*$", re.M),
    "directive option": re.compile(r"^[ \t>]*:[A-Za-z][\w-]*:(?:[ \t]|$)", re.M),
    "{math}": re.compile(r"\{math\}"),
}


def myst_leftovers(markdown: str) -> list[str]:
    """The kinds of MyST syntax found in one Markdown text, with the offending snippet."""
    found = []
    for kind, pattern in MYST_PATTERNS.items():
        for m in pattern.finditer(markdown):
            line = markdown[markdown.rfind("\n", 0, m.start()) + 1:].split("\n", 1)[0]
            found.append(f"{kind}: {line.strip()[:80]!r}")
    return found


@pytest.fixture(scope="module")
def sync():
    spec = importlib.util.spec_from_file_location("sync_chapters", ROOT / "scripts" / "sync_chapters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEMO_DOC = "chapters/demo"
DEMO_INDEX = {
    "number": {DEMO_DOC: "7", "chapters/other": "8", "references": None},
    "title": {DEMO_DOC: "Demo: a chapter", "chapters/other": "Other: the next chapter", "references": "References"},
    "label": {
        "chap-other": {"kind": "section", "doc": "chapters/other", "title": "Other: the next chapter"},
        "fig-demo-a": {"kind": "figure", "doc": DEMO_DOC, "title": "First figure.", "number": "7.1"},
        "fig-demo-b": {"kind": "figure", "doc": DEMO_DOC, "title": "Second figure.", "number": "7.2"},
        "eq-demo": {"kind": "equation", "doc": DEMO_DOC, "title": "", "number": "7.3"},
    },
}
DEMO_BIB = r"""
@article{solo2001, title = {One Author}, author = {Husz{\'a}r, Ferenc}, journal = {J. Demo}, year = {2001}}
@article{pair2002, title = {Two Authors}, author = {Park, Taesung and Van Gool, Luc}, journal = {J. Demo}, year = {2002}}
@inproceedings{trio2003, title = {Three Authors}, author = {Ledig, Christian and Theis, Lucas and Shi, Wenzhe},
  booktitle = {Proc. Demo}, pages = {1--9}, year = {2003}}
"""


@pytest.fixture()
def demo(sync, monkeypatch):
    """The converter, looking at a made-up book (chapter 7) and bibliography instead of the real ones."""
    from pybtex.database import parse_string

    monkeypatch.setattr(sync, "book_index", lambda: DEMO_INDEX)
    monkeypatch.setattr(sync, "bibliography", lambda: parse_string(DEMO_BIB, "bibtex").entries)
    return sync


def clean(sync, text: str, cited: list | None = None) -> str:
    return sync.clean_markdown(text, DEMO_DOC, [] if cited is None else cited)


# --- the detector can fail -----------------------------------------------------------------------------

@pytest.mark.parametrize("snippet, kind", [
    ("```{math}\n:label: eq-x\nx = 1\n```", "directive fence"),
    (":::{note}\nText\n:::", "directive fence"),
    ("As {cite}`ledig2017srgan` shows.", "role"),
    ("See {numref}`fig-srgan-key`.", "role"),
    ("Eq. {eq}`eq-lpips`, {doc}`../references`, {ref}`chap-pirm`, {glue:text}`x`", "role"),
    ("(chap-srgan)=\n# SRGAN", "target label"),
    ("> **At a glance**\n> :class: tip\n> Text", "directive option"),
    ("Inline {math}`x^2` math.", "{math}"),
])
def test_the_myst_detector_finds_each_kind(snippet, kind):
    assert any(f.startswith(kind) for f in myst_leftovers(snippet)), (snippet, myst_leftovers(snippet))


def test_the_myst_detector_passes_plain_markdown():
    plain = ("# 12. SRGAN\n\n> **At a glance**\n>\n> Text (Ledig et al., 2017), Fig. 12.2.\n\n"
             "$$\nx_{ij} = \\operatorname{PS}(T)_{c} \\tag{12.1}\n$$\n\nA `dict` {'a': 1} and a time 10:30:00.\n")
    assert myst_leftovers(plain) == []


# --- each conversion --------------------------------------------------------------------------------------

def test_math_with_a_label_becomes_dollars_with_the_books_number(demo):
    out = clean(demo, "Before.\n\n```{math}\n:label: eq-demo\ny = f(x)\n```\n\nAfter {eq}`eq-demo`.")
    assert out == "Before.\n\n$$\ny = f(x) \\tag{7.3}\n$$\n\nAfter (7.3)."


def test_math_without_a_label_and_with_line_breaks_is_aligned(demo):
    assert clean(demo, "```{math}\na &= 1 \\\\\nb &= 2\n```") == "$$\n\\begin{aligned}\na &= 1 \\\\\nb &= 2\n\\end{aligned}\n$$"
    # a line break inside an environment (cases) is not one of the display's own lines
    inner = "\\eta = \\begin{cases} 1 & a \\\\ 0 & b \\end{cases}"
    assert clean(demo, f"```{{math}}\n{inner}\n```") == f"$$\n{inner}\n$$"


def test_admonition_becomes_a_quote_with_its_title(demo):
    out = clean(demo, "```{admonition} At a glance\n:class: tip\n**Paper.** X, {cite}`solo2001`.\n\nSecond paragraph.\n```\nAfter.")
    assert out == "> **At a glance**\n>\n> **Paper.** X, (Huszár, 2001).\n>\n> Second paragraph.\nAfter."
    assert clean(demo, "```{warning}\n:class: dropdown\nCareful.\n```") == "> **Warning**\n>\n> Careful."


def test_cite_with_one_two_and_three_authors(demo):
    cited = []
    assert clean(demo, "{cite}`solo2001`", cited) == "(Huszár, 2001)"
    assert clean(demo, "{cite}`pair2002`", cited) == "(Park and Van Gool, 2002)"
    assert clean(demo, "{cite}`trio2003`", cited) == "(Ledig et al., 2003)"
    assert clean(demo, "{cite:p}`solo2001,trio2003`", cited) == "(Huszár, 2001; Ledig et al., 2003)"
    assert clean(demo, "{cite:t}`trio2003`", cited) == "Ledig et al. (2003)"
    assert cited == ["solo2001", "pair2002", "trio2003"]


def test_a_citation_key_missing_from_the_bibliography_stops_the_sync(demo):
    with pytest.raises(SystemExit, match="nosuch2020"):
        clean(demo, "{cite}`nosuch2020`")


def test_reference_list_entry(demo):
    assert demo.reference_entry("trio2003") == "- Ledig, C., Theis, L. and Shi, W. (2003). Three Authors. *Proc. Demo*, 1–9."


def test_numref_to_a_figure_prints_the_books_number(demo):
    assert clean(demo, "See {numref}`fig-demo-b`.") == "See Fig. 7.2."
    assert clean(demo, "See {numref}`Figure %s <fig-demo-a>`.") == "See Figure 7.1."
    with pytest.raises(SystemExit, match="no such label"):
        clean(demo, "{numref}`fig-missing`")


def test_ref_doc_and_targets(demo):
    assert clean(demo, "(chap-demo)=\n# Demo") == "# Demo"
    assert clean(demo, "In {ref}`chap-other`; see {doc}`../references`.") == "In *Other: the next chapter*; see *References*."
    assert clean(demo, "{doc}`the list <../references>`") == "the list"


def test_glue_is_flagged_and_unknown_myst_stops_the_sync(demo):
    assert clean(demo, "was {glue:text}`oct_t05:.1f` of it") == "was [*printed by the code above as* `oct_t05`] of it"
    with pytest.raises(SystemExit, match="role"):
        clean(demo, "{abbr}`MSE (mean squared error)`")
    with pytest.raises(SystemExit, match="directive"):
        clean(demo, "```{figure} x.png\n:name: f\n```")


def test_caption_cell_under_the_figure_and_references_at_the_end(demo):
    import nbformat

    code = nbformat.v4.new_code_cell("plot()", metadata={"mystnb": {"figure": {"caption": "Loss, as in {numref}`fig-demo-a`.",
                                                                             "name": "fig-demo-b"}}})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("(chap-demo)=\n# Demo\n\nText {cite}`pair2002`."), code,
                                         nbformat.v4.new_markdown_cell("## More")])
    before = json.dumps(code, sort_keys=True)
    demo.clean_notebook(nb, "demo")
    kinds = [c.cell_type for c in nb.cells]
    assert kinds == ["markdown", "code", "markdown", "markdown", "markdown"]
    assert nb.cells[0].source == "# 7. Demo\n\nText (Park and Van Gool, 2002)."
    assert json.dumps(nb.cells[1], sort_keys=True) == before, "code cells stay exactly as they are"
    assert nb.cells[2].source == "**Figure 7.2.** Loss, as in Fig. 7.1."
    assert nb.cells[3].source == "## 7.1. More"
    assert "Park, T. and Van Gool, L. (2002). Two Authors." in nb.cells[4].source


# --- the notebooks written ---------------------------------------------------------------------------------

def _markdown_cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]


def test_there_are_19_notebooks():
    assert len(NOTEBOOKS) == 19


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_myst_left_in_the_notebook(path):
    leftovers = [f for text in _markdown_cells(path) for f in myst_leftovers(text)]
    assert not leftovers, f"{path.name}: {leftovers[:10]}"
    for text in _markdown_cells(path):  # inline math in a quoted block must stay on one line
        for line in text.splitlines():
            if line.startswith(">"):
                assert len(re.findall(r"(?<!\\)\$", line)) % 2 == 0, f"{path.name}: {line!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_code_is_the_chapters_and_captions_follow_figures(path):
    import jupytext

    nb = json.loads(path.read_text())
    assert "jupytext" not in nb["metadata"], "the notebook is generated, not a jupytext pair of the .md"
    source = [c.source for c in jupytext.read(path.with_suffix(".md")).cells if c.cell_type == "code"]
    code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    assert ["".join(nb["cells"][i]["source"]) for i in code][1:] == source[1:]  # [0] is the generated setup cell
    for i in code:
        if nb["cells"][i]["metadata"].get("mystnb", {}).get("figure", {}).get("caption"):
            after = nb["cells"][i + 1]
            assert after["cell_type"] == "markdown" and re.match(r"\*\*Figure \d+\.\d+\.\*\* \S", "".join(after["source"]))
    assert "".join(nb["cells"][-1]["source"]).startswith("### Works cited in this notebook\n")


def test_every_citation_key_resolves_in_references_bib():
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "references.bib").read_text(), re.M))
    used = {k.strip() for md in (ROOT / "chapters").glob("*.md")
            for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", md.read_text()) for k in group.split(",")}
    assert used, "no citations found: the pattern is wrong"
    assert used <= keys, f"not in references.bib: {sorted(used - keys)}"


def test_sync_check_passes():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_chapters.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
