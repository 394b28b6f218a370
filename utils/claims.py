"""The claims registry: every chapter states what the note claims and records what the run measured.

A chapter creates one :class:`Claims` (``utils.setup_chapter`` returns it), calls
:meth:`Claims.check` once per claim with the measured values and the comparison that decides the
verdict, and shows :meth:`Claims.table` at the end. The verdict is computed from the measurement
in the chapter's own code, never typed by hand.

In a book build the registry also writes ``<chapter>.json`` into the folder named by the
environment variable ``PAPER_DAILY_CLAIMS_DIR`` (set by the book's Sphinx extension); the
scoreboard page is generated from those files. Outside a build that variable is unset and
nothing is written.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["Claims", "Claim", "VERDICTS", "CLAIMS_DIR_ENV", "format_value", "glue"]

CLAIMS_DIR_ENV = "PAPER_DAILY_CLAIMS_DIR"
VERDICTS = ("reproduced", "not reproduced", "inconclusive")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")


def format_value(v) -> str:
    """Format a measured value for tables: 4 significant digits for floats, as-is otherwise."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v == 0:
            return "0"
        if abs(v) >= 1e4 or abs(v) < 1e-3:
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    return str(v)


def _plain(v):
    """Make measured values JSON-friendly (numpy and torch scalars become Python numbers)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, float):
        return float(v)
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    raise TypeError(f"Claims: measured values must be numbers, strings, booleans or lists of them, got {type(v).__name__}")


@dataclass
class Claim:
    """One claim of a chapter with its measurement and computed verdict."""

    chapter: str
    id: str
    claim: str
    measured: dict
    compared: str
    rule: str
    verdict: str
    note: str = ""
    timings: dict = field(default_factory=dict)

    def measured_text(self) -> str:
        parts = [f"{k} = {format_value(v)}" for k, v in self.measured.items()]
        parts += [f"{k} = {format_value(v)} (timing)" for k, v in self.timings.items()]
        return "; ".join(parts)


@dataclass
class Claims:
    """The claims of one chapter. ``chapter`` is the chapter's file name without extension."""

    chapter: str
    title: str = ""
    items: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.chapter, str) or not re.fullmatch(r"[a-z0-9_]+", self.chapter):
            raise ValueError(f"Claims: chapter must be a lower-case file stem like 'spade', got {self.chapter!r}")

    def check(
        self,
        id: str,
        claim: str,
        *,
        measured: dict,
        compared: str,
        rule: str,
        reproduced: bool,
        inconclusive: bool = False,
        note: str = "",
        timings: dict | None = None,
    ) -> Claim:
        """Register a claim; the verdict follows from ``reproduced`` and ``inconclusive``.

        ``measured``: the numbers the run produced (name -> value). ``compared``: what was compared
        with what. ``rule``: the test, in words, that turns the numbers into the verdict (e.g.
        "SPADE accuracy - baseline accuracy > 2 x seed spread"). ``reproduced``: the result of that
        test, computed by the caller from ``measured``. ``inconclusive``: True when the measurement
        cannot decide (e.g. the difference is within the noise); it overrides ``reproduced``.
        ``timings``: wall-clock measurements (seconds, latencies). They are shown like the other
        values but, being machine-dependent, are kept apart: the repeatability test compares
        ``measured`` exactly and ignores ``timings`` (and the verdict of a claim that has timings).
        Registering the same ``id`` twice replaces the earlier entry (re-running a cell is safe).
        """
        if not isinstance(id, str) or not _ID.match(id):
            raise ValueError(f"Claims.check: id must be a short identifier like 'C1', got {id!r}")
        for name, text in (("claim", claim), ("compared", compared), ("rule", rule)):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"Claims.check: {name} must be a non-empty sentence, got {text!r}")
        if not isinstance(measured, dict) or not measured:
            raise ValueError("Claims.check: measured must be a non-empty dict of name -> measured value")
        if not isinstance(reproduced, bool) and not (hasattr(reproduced, "item") and isinstance(reproduced.item(), bool)):
            raise TypeError(f"Claims.check: reproduced must be a bool computed from the measurement, got {reproduced!r}")
        verdict = "inconclusive" if bool(inconclusive) else ("reproduced" if bool(reproduced) else "not reproduced")
        if timings is not None and not isinstance(timings, dict):
            raise TypeError(f"Claims.check: timings must be a dict of name -> seconds, got {type(timings).__name__}")
        c = Claim(self.chapter, id, claim.strip(), _plain(measured), compared.strip(), rule.strip(), verdict, note.strip(), _plain(timings or {}))
        self.items = [x for x in self.items if x.id != id] + [c]
        self._write()
        return c

    def _write(self) -> None:
        folder = os.environ.get(CLAIMS_DIR_ENV)
        if not folder:
            return
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        payload = {"chapter": self.chapter, "title": self.title, "claims": [asdict(c) for c in self.items]}
        tmp = path / f".{self.chapter}.json.tmp"
        tmp.write_text(json.dumps(payload, indent=1))  # keep the chapter's order of measured values
        tmp.replace(path / f"{self.chapter}.json")

    def to_html(self) -> str:
        """The verdict table as HTML (the same markup the scoreboard uses)."""
        return render_table(self.items, show_chapter=False)

    def table(self):
        """Display the verdict table (HTML in Jupyter, Colab and the book)."""
        from IPython.display import HTML

        if not self.items:
            raise ValueError(f"Claims.table: chapter {self.chapter!r} registered no claim")
        return HTML(self.to_html())

    def summary(self) -> dict:
        """Count of claims per verdict."""
        return {v: sum(c.verdict == v for c in self.items) for v in VERDICTS}


_BADGE = {"reproduced": "#1a7f37", "not reproduced": "#b42318", "inconclusive": "#9a6700"}


_TABLE_STYLE = (
    "<style>.claims-wrap{overflow-x:auto}.claims-table{font-size:0.85em;border-collapse:collapse}"
    ".claims-table th,.claims-table td{text-align:left !important;vertical-align:top;padding:4px 8px}"
    ".claims-table td.claim-text{min-width:14em}.claims-table td.claim-measured{min-width:12em}</style>"
)


def _badge(verdict: str) -> str:
    return (f'<span style="color:white;background:{_BADGE[verdict]};padding:1px 6px;border-radius:4px;'
            f'white-space:nowrap">{html.escape(verdict)}</span>')


def render_table(items, *, show_chapter: bool) -> str:
    """HTML table of claims, verdict first; each row carries data attributes so tests can compare pages.

    The table brings its own small style (left-aligned, top-aligned cells, scrolls sideways on a
    narrow screen), so it reads the same in the book, in Jupyter and in Colab.
    """
    head = ("<th>Chapter</th>" if show_chapter else "") + "<th>#</th><th>Verdict</th><th>Claim</th><th>Measured</th><th>Compared</th><th>Rule</th>"
    rows = []
    for c in items:
        c = c if isinstance(c, Claim) else Claim(**c)
        e = html.escape
        cells = (f'<td><a href="chapters/{e(c.chapter)}.html">{e(c.chapter)}</a></td>' if show_chapter else "") + (
            f"<td>{e(c.id)}</td><td>{_badge(c.verdict)}</td>"
            f'<td class="claim-text">{e(c.claim)}</td><td class="claim-measured">{e(c.measured_text())}</td><td>{e(c.compared)}</td>'
            f"<td>{e(c.rule)}{(' <em>' + e(c.note) + '</em>') if c.note else ''}</td>"
        )
        rows.append(
            f'<tr class="claim-row" data-chapter="{e(c.chapter)}" data-claim="{e(c.id)}" data-verdict="{e(c.verdict)}" '
            f'data-measured="{e(c.measured_text())}">{cells}</tr>'
        )
    return (f'{_TABLE_STYLE}<div class="claims-wrap"><table class="claims-table docutils align-default">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def render_summary(items) -> str:
    """HTML table with one row per chapter: how many of its claims got each verdict (the scoreboard's overview)."""
    per_chapter: dict[str, dict[str, int]] = {}
    for c in items:
        c = c if isinstance(c, Claim) else Claim(**c)
        counts = per_chapter.setdefault(c.chapter, dict.fromkeys(VERDICTS, 0))
        counts[c.verdict] += 1
    e = html.escape
    head = "<th>Chapter</th>" + "".join(f"<th>{_badge(v)}</th>" for v in VERDICTS)
    rows = "".join(
        f'<tr class="chapter-summary" data-chapter="{e(ch)}"><td><a href="chapters/{e(ch)}.html">{e(ch)}</a></td>'
        + "".join(f"<td>{n[v]}</td>" for v in VERDICTS) + "</tr>"
        for ch, n in per_chapter.items()
    )
    return (f'{_TABLE_STYLE}<div class="claims-wrap"><table class="claims-table claims-summary docutils align-default">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>")


def glue(name: str, value, *, display: bool = False) -> None:
    """``myst_nb.glue`` in a book build; does nothing where myst-nb is absent (Colab)."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=display)
