"""The book build's time log: where each chapter's kernel spends its time.

Used by :func:`utils.setup_chapter` during a book build only (the claims folder is set); read by
``scripts/exec_times.py`` and the budget test. Nothing here is taught in a chapter.
"""
from __future__ import annotations

import atexit
import faulthandler
import json
import os
import time
from pathlib import Path

from .claims import CLAIMS_DIR_ENV

__all__ = ["record_cell_times"]


def record_cell_times(chapter: str, *, utils_imported: float | None = None) -> None:
    """In a book build, log where this chapter's kernel spent its time, to ``<claims dir>/<chapter>.cells.jsonl``.

    The first row gives the kernel process's start and the moment the setup cell reached this call (Unix
    seconds); then one row per later cell with its wall and CPU seconds and its start and end. A watchdog
    (:mod:`faulthandler`) writes every thread's stack to ``<chapter>.stall.txt`` whenever the kernel spends
    45 s in one cell, or sits idle 45 s after one. ``scripts/exec_times.py`` turns this into a breakdown of
    a slow chapter. Does nothing outside a build (no claims folder) or outside IPython.
    """
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
    log.parent.mkdir(parents=True, exist_ok=True)

    def write(row):
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")

    write({"event": "setup", "process_start": _process_start_time(), "utils_imported": utils_imported, "t": time.time()})
    stall = (Path(folder) / f"{chapter}.stall.txt").open("w")
    atexit.register(stall.close)
    atexit.register(faulthandler.cancel_dump_traceback_later)
    start = {}

    def pre(info):
        faulthandler.dump_traceback_later(45, repeat=True, file=stall)
        start["t"], start["at"], start["cpu"], start["src"] = time.perf_counter(), time.time(), time.process_time(), info.raw_cell
        start["machine"] = _machine_cpu_seconds()

    def post(result):
        faulthandler.dump_traceback_later(45, repeat=True, file=stall)
        if "t" not in start:
            return
        first = next((l for l in start["src"].splitlines() if l.strip() and not l.startswith("#")), "")
        now, before = _machine_cpu_seconds(), start["machine"]
        # the whole machine's CPU seconds during the cell (busy, waiting on I/O, stolen by the host)
        machine = {k: round(now[k] - before[k], 2) for k in now} if now and before else None
        write({"machine": machine, "wall_s": round(time.perf_counter() - start["t"], 3), "cpu_s": round(time.process_time() - start["cpu"], 3),
               "first_line": first[:70], "start": round(start["at"], 3), "end": round(time.time(), 3)})

    ip.events.register("pre_run_cell", pre)
    ip.events.register("post_run_cell", post)


def _process_start_time() -> float | None:
    """Unix time at which this process started (Linux ``/proc``), or None where that cannot be read."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time, in clock ticks after boot
        with open("/proc/stat") as f:
            boot = next(float(l.split()[1]) for l in f if l.startswith("btime"))
        return round(boot + ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _machine_cpu_seconds() -> dict | None:
    """The whole machine's CPU seconds so far (all cores, Linux ``/proc/stat``): busy, I/O wait, stolen by the host."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return {"busy": (user + nice + system + irq + softirq) / hz, "iowait": iowait / hz, "steal": steal / hz}
