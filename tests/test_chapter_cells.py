"""What a chapter's code cells show on the page: every verdict sentence, and no raw record.

``claims.show`` returns a Markdown object, which Jupyter displays only when it is the cell's last expression;
``claims.finding``/``mechanism``/``timing`` return a record whose repr would be printed when last, unless the
line ends with ``;``. These checks read the chapters' source (no execution)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md") if "jupytext" in p.read_text()[:400])
SHOWN = {"show"}
RECORDS = {"finding", "mechanism", "timing"}


def _claims_call(node) -> str | None:
    """'show' for ``claims.show(...)`` (or ``utils.claims...``), else None."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
        owner = node.value.func.value
        if (isinstance(owner, ast.Name) and owner.id == "claims") or (isinstance(owner, ast.Attribute) and owner.attr == "claims"):
            return node.value.func.attr
    return None


def cell_problems(source: str) -> list[str]:
    """Problems of one code cell: hidden verdict sentences and printed records."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    body, out = tree.body, []
    for i, node in enumerate(body):
        kind = _claims_call(node)
        if kind in SHOWN and i < len(body) - 1:
            out.append(f"line {node.lineno}: claims.{kind}(...) is not the cell's last expression, so its sentence is "
                       "never displayed; wrap it in display(...)")
    if body and _claims_call(body[-1]) in RECORDS and not source.rstrip().endswith(";"):
        out.append(f"line {body[-1].lineno}: the cell ends with claims.{_claims_call(body[-1])}(...), whose record would be "
                   "printed on the page; end the line with ';'")
    return out


def test_the_checker_finds_both_problems():
    hidden = 'claims.show("C1", reproduced="a")\nclaims.show("C2", reproduced="b")\n'
    assert len(cell_problems(hidden)) == 1 and "never displayed" in cell_problems(hidden)[0]
    assert cell_problems('display(claims.show("C1"))\nclaims.show("C2")\n') == []
    assert "printed on the page" in cell_problems('x = 1\nclaims.mechanism("M1", "m", error=0, tolerance=1)\n')[0]
    assert cell_problems('claims.mechanism("M1", "m", error=0, tolerance=1);\n') == []
    assert cell_problems('utils.claims.show("C1")\ny = 2\n')


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_verdict_sentence_is_shown_and_no_record_is_printed(md):
    import jupytext

    problems = []
    for k, cell in enumerate(jupytext.read(md).cells):
        if cell.cell_type == "code":
            problems += [f"code cell {k}, {p}" for p in cell_problems(cell.source)]
    assert not problems, f"{md.name}:\n" + "\n".join(problems)
