"""No chapter shows a warning on its page: the executed notebooks of the last book build have no stderr output.

The strict build (``-W``) turns Sphinx's own warnings into errors, but a Python warning raised in a cell is not a
Sphinx warning: the kernel prints it on stderr and myst-nb shows it on the page (``execute.stderr_output: show``).
This test reads what the last build executed (``_build/jupyter_execute``), so it runs after tests/test_book.py in
a full session and on its own after ``scripts/build.sh``; it is skipped when there is no build. The detector itself
is checked on made-up notebooks without a build.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "_build" / "jupyter_execute" / "chapters"

# "UserWarning: ...", "DeprecationWarning: ...", "RuntimeWarning: ..." as Python's warnings module prints them
WARNING_TEXT = re.compile(r"\b[A-Z]\w*Warning\b")


def _chapters() -> list[str]:
    return re.findall(r"file:\s*chapters/(\w+)", (ROOT / "_toc.yml").read_text())


def _warning_outputs(nb: dict) -> list[str]:
    """One line per code cell output that is a stderr stream or prints a Python warning."""
    found = []
    code_cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for i, cell in enumerate(code_cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            text = "".join(out.get("text", ""))
            if out.get("name") == "stderr" or WARNING_TEXT.search(text):
                first = "".join(cell.get("source", "")).strip().splitlines()[:1]
                found.append(f"code cell {i} ({first[0][:50] if first else ''!r}), {out.get('name')}: {text.strip()[:300]}")
    return found


def test_the_detector_finds_a_warning_and_passes_clean_output():
    clean = {"cells": [{"cell_type": "code", "source": "print(1)", "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}]}]}
    warned = {"cells": [{"cell_type": "code", "source": "plt.tight_layout()", "outputs": [
        {"output_type": "stream", "name": "stderr",
         "text": "/tmp/ipykernel_1/2.py:3: UserWarning: The figure layout has changed to tight\n"}]}]}
    printed = {"cells": [{"cell_type": "code", "source": "x", "outputs": [
        {"output_type": "stream", "name": "stdout", "text": "RuntimeWarning: overflow\n"}]}]}
    assert _warning_outputs(clean) == []
    assert len(_warning_outputs(warned)) == 1 and "UserWarning" in _warning_outputs(warned)[0]
    assert len(_warning_outputs(printed)) == 1


@pytest.mark.book
@pytest.mark.parametrize("chapter", _chapters())
def test_no_warning_is_shown_on_the_page(chapter):
    path = EXECUTED / f"{chapter}.ipynb"
    if not path.is_file():
        pytest.skip(f"no executed notebook for {chapter} in {EXECUTED} (run scripts/build.sh first)")
    found = _warning_outputs(json.loads(path.read_text()))
    assert not found, f"{chapter}: the page shows warning or stderr output (warnings are errors here):\n" + "\n".join(found)
