"""Sphinx extension of the book: the claims scoreboard and the execution-time record.

- At ``builder-inited`` it empties ``<build>/claims`` and points the environment variable
  ``PAPER_DAILY_CLAIMS_DIR`` at it; chapter kernels inherit the variable, so every chapter's
  ``Claims.check`` writes its verdicts there while the chapter executes.
- The ``{claims-scoreboard}`` directive is replaced, after every chapter has executed
  (``doctree-resolved``), by one table generated from those files: no value is typed by hand.
- At ``build-finished`` it writes ``<build>/exec_times.json`` from myst-nb's execution data
  (docname -> seconds, success), which ``scripts/exec_times.py`` prints and the tests check, with the Unix
  times at which Sphinx began and finished reading each chapter (execution happens in between).
- While a chapter is read, a watchdog (:mod:`faulthandler`) writes the build process's stacks to
  ``<build>/claims/build-stall.txt`` if reading it takes more than 75 s, to show where a stall happened.
- At ``config-inited`` it appends the book's version (``utils.__version__``) and the commit it is built from
  (``git rev-parse --short HEAD``, ``+dirty`` when tracked files have uncommitted changes, ``unknown`` without
  git) to the page footer (``html.extra_footer`` of ``_config.yml``), so every page says what it was built from.
- At ``setup`` it makes the kernel client wait for a message in slices of ``POLL_SLICE_S`` seconds instead of
  one poll as long as the cell timeout (:func:`poll_in_slices`): a work-around for jupyter/nbclient#312, in
  which a cell with widgets sometimes sees its shell reply only when the poll times out (builds here showed a
  chapter of 18 s of cells waiting 119.9 s, the cell timeout, between two cells).
"""
from __future__ import annotations

import faulthandler
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

ENV = "PAPER_DAILY_CLAIMS_DIR"


class scoreboard_node(nodes.General, nodes.Element):
    pass


class ClaimsScoreboard(SphinxDirective):
    has_content = False

    def run(self):
        self.env.note_dependency(__file__)
        return [scoreboard_node()]


def _claims_dir(app) -> Path:
    return Path(app.outdir).parent / "claims"


def _builder_inited(app) -> None:
    folder = _claims_dir(app)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[ENV] = str(folder)


def _load_claims(app):
    sys.path.insert(0, str(Path(app.srcdir)))
    try:
        from utils.claims import render_summary, render_tables
    finally:
        sys.path.pop(0)
    rows, chapters = [], []
    # chapters in the order of the table of contents (the reader's order), any others after them
    toc = re.findall(r"file:\s*chapters/(\w+)", (Path(app.srcdir) / "_toc.yml").read_text())
    rank = {name: i for i, name in enumerate(toc)}
    for f in sorted(_claims_dir(app).glob("*.json"), key=lambda f: (rank.get(f.stem, len(rank)), f.stem)):
        data = json.loads(f.read_text())
        chapters.append(data)
        rows.extend(data["claims"])
    return rows, chapters, render_tables, render_summary


def _doctree_resolved(app, doctree, docname) -> None:
    for node in doctree.findall(scoreboard_node):
        rows, chapters, render_tables, render_summary = _load_claims(app)
        if not rows:
            from sphinx.util import logging

            logging.getLogger(__name__).warning("claims scoreboard: no chapter registered a claim in this build", location=node)
        findings = [r for r in rows if r.get("kind") == "finding"]
        counts = {v: sum(r["verdict"] == v for r in findings) for v in ("reproduced", "not reproduced", "inconclusive")}
        mechanisms = [r for r in rows if r.get("kind") == "mechanism"]
        verified = sum(r["verdict"] == "verified" for r in mechanisms)
        gates = [g for d in chapters for g in d.get("gates", [])]
        passed = sum(bool(g.get("passed")) for g in gates)
        other = len(rows) - len(findings) - len(mechanisms)
        summary = (
            f'<p class="scoreboard-summary"><strong>{len(findings)} findings</strong> from {len(chapters)} chapters: '
            f'<strong>{counts["reproduced"]} reproduced, {counts["not reproduced"]} not reproduced, '
            f'{counts["inconclusive"]} inconclusive</strong>.</p>'
            f'<p class="scoreboard-mechanisms">Apart from the findings: {verified} of {len(mechanisms)} mechanisms verified '
            f'(true by construction or by exact computation; they show the code is the paper\'s, and are not results); '
            f'{passed} of {len(gates)} competence gates passed.'
            + (f" {other} claims are not yet decided by the standard and are not counted." if other else "") + "</p>"
        )
        # links are relative to the page: the scoreboard sits at the book's root
        gates_by_chapter = {d["chapter"]: d.get("gates", []) for d in chapters}
        overview = "<p>Per chapter:</p>" + render_summary(rows, gates_by_chapter) + "<p>Every claim, in each chapter's order:</p>"
        tables = render_tables(rows, show_chapter=True, standard_link="verdicts.html")
        node.replace_self(nodes.raw("", summary + overview + tables, format="html"))


def book_version(srcdir) -> str:
    """``__version__`` of the book's ``utils`` package, read from ``utils/__init__.py`` (not imported)."""
    try:
        text = (Path(srcdir) / "utils" / "__init__.py").read_text()
    except OSError:
        return "unknown"
    found = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", text, re.M)
    return found.group(1) if found else "unknown"


def build_commit(srcdir) -> str:
    """The commit the book is built from: the short hash of HEAD, with ``+dirty`` when tracked files differ from it
    (or git cannot tell), and ``unknown`` without git, outside a repository or when git refuses the repository.

    Untracked files do not count, as with ``git describe --dirty``.
    """
    def git(*args):
        return subprocess.run(["git", *args], cwd=str(srcdir), capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0 or not head.stdout.strip():
            return "unknown"
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    dirty = status.returncode != 0 or bool(status.stdout.strip())
    return head.stdout.strip() + ("+dirty" if dirty else "")


def version_footer(footer: str, version: str, commit: str) -> str:
    """``footer`` (the HTML of ``html.extra_footer``) followed by one line naming the book's version and commit."""
    stamp = (f'<p class="book-build">Book version {html.escape(version)}, built from commit '
             f'<code>{html.escape(commit)}</code>.</p>')
    return (f"<p>{footer}</p>" if footer and not footer.lstrip().startswith("<") else footer or "") + stamp


def _config_inited(app, config) -> None:
    options = dict(config.html_theme_options or {})
    options["extra_footer"] = version_footer(options.get("extra_footer", ""), book_version(app.srcdir), build_commit(app.srcdir))
    config.html_theme_options = options


_READ_TIMES: dict[str, dict[str, float]] = {}
_STALL_LOG = []


def _source_read(app, docname, source) -> None:
    _READ_TIMES[docname] = {"read_start": round(time.time(), 3)}
    if not _STALL_LOG:
        _STALL_LOG.append((_claims_dir(app) / "build-stall.txt").open("a"))
    _STALL_LOG[0].write(f"--- {docname}\n")
    _STALL_LOG[0].flush()
    faulthandler.dump_traceback_later(75, repeat=True, file=_STALL_LOG[0])


def _doctree_read(app, doctree) -> None:
    faulthandler.cancel_dump_traceback_later()
    _READ_TIMES.setdefault(app.env.docname, {})["read_end"] = round(time.time(), 3)


def _build_finished(app, exc) -> None:
    faulthandler.cancel_dump_traceback_later()
    while _STALL_LOG:
        _STALL_LOG.pop().close()
    if exc is not None or app.builder.format != "html":
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    data = NbMetadataCollector.get_doc_data(app.env)
    out = {}
    for docname, meta in sorted(data.items()):
        ex = meta.get("exec_data")
        if ex:
            out[docname] = {"runtime_s": ex.get("runtime"), "succeeded": ex.get("succeeded"), "method": ex.get("method"),
                            **_READ_TIMES.get(docname, {})}
    (Path(app.outdir).parent / "exec_times.json").write_text(json.dumps(out, indent=1))


POLL_SLICE_S = 1.0


def poll_in_slices(get_msg, slice_s: float = POLL_SLICE_S):
    """Wrap an async ``get_msg(self, timeout=None)`` so it polls in slices of at most ``slice_s`` seconds until
    its own timeout (None: forever), returning the first message and raising ``queue.Empty`` at the deadline,
    as the original does. A message that arrives while one slice waits is seen by the next slice at the latest."""
    import queue

    if not (isinstance(slice_s, (int, float)) and slice_s > 0):
        raise ValueError(f"poll_in_slices: slice_s must be a positive number of seconds, got {slice_s!r}")
    if getattr(get_msg, "polls_in_slices", False):
        return get_msg

    async def sliced(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_s if deadline is None else max(0.0, min(slice_s, deadline - time.monotonic()))
            try:
                return await get_msg(self, timeout=left)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    sliced.polls_in_slices = True
    sliced.__doc__ = get_msg.__doc__
    return sliced


def _patch_kernel_client_polling() -> None:
    try:
        from jupyter_client.channels import AsyncZMQSocketChannel
    except ImportError:  # pragma: no cover - jupyter_client is a dependency of myst-nb
        return
    AsyncZMQSocketChannel.get_msg = poll_in_slices(AsyncZMQSocketChannel.get_msg)


def setup(app):
    _patch_kernel_client_polling()
    app.add_node(scoreboard_node, html=(lambda self, node: None, lambda self, node: None))
    app.add_directive("claims-scoreboard", ClaimsScoreboard)
    app.connect("config-inited", _config_inited)
    app.connect("builder-inited", _builder_inited)
    app.connect("doctree-resolved", _doctree_resolved)
    app.connect("source-read", _source_read)
    app.connect("doctree-read", _doctree_read)
    app.connect("build-finished", _build_finished)
    # the scoreboard must be rebuilt whenever anything was executed
    app.connect("env-get-outdated", lambda app, env, added, changed, removed: ["scoreboard"])
    return {"version": "0.1", "parallel_read_safe": False, "parallel_write_safe": True}
