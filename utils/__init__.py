"""Shared code of *Paper Daily, reproduced*.

Only what several chapters use lives here: offline data (:mod:`utils.data`), degradations
(:mod:`utils.degrade`), the training loop (:mod:`utils.train`), plotting (:mod:`utils.plot`),
metrics (:mod:`utils.metrics`, :mod:`utils.iqa`), the perceptual feature network
(:mod:`utils.features`), layers and losses, and the claims registry (:mod:`utils.claims`).
The idea each chapter teaches stays in the chapter; helpers say in their docstring where they
are taught.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "setup_chapter"]


def setup_chapter(chapter: str, *, seed: int = 0, title: str = ""):
    """Prepare a chapter: seed everything, set the plotting style, silence nothing, return its :class:`~utils.claims.Claims`.

    Called by the setup cell at the top of every chapter.
    """
    from .claims import Claims
    from .plot import use_book_style
    from .repro import seed_everything

    seed_everything(seed)
    use_book_style()
    claims = Claims(chapter, title=title)
    _record_cell_times(chapter)
    return claims


def _record_cell_times(chapter: str) -> None:
    """In a book build, append each cell's wall and CPU seconds to ``<claims dir>/<chapter>.cells.jsonl``.

    Lets ``scripts/exec_times.py`` say which cell of a slow chapter took the time. Does nothing outside
    a build (no claims folder) or outside IPython.
    """
    import json
    import os
    import time
    from pathlib import Path

    from .claims import CLAIMS_DIR_ENV

    folder = os.environ.get(CLAIMS_DIR_ENV)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if not folder or ip is None or getattr(ip, "_paper_daily_timer", None) == chapter:
        return
    ip._paper_daily_timer = chapter
    log = Path(folder) / f"{chapter}.cells.jsonl"
    start = {}

    def pre(info):
        start["t"], start["cpu"], start["src"] = time.perf_counter(), time.process_time(), info.raw_cell

    def post(result):
        if "t" not in start:
            return
        first = next((l for l in start["src"].splitlines() if l.strip() and not l.startswith("#")), "")
        row = {"wall_s": round(time.perf_counter() - start["t"], 3), "cpu_s": round(time.process_time() - start["cpu"], 3),
               "first_line": first[:70]}
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")

    ip.events.register("pre_run_cell", pre)
    ip.events.register("post_run_cell", post)
