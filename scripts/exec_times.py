#!/usr/bin/env python3
"""Print each chapter's execution time in the last build (from _build/exec_times.json).

For chapters above the 30 s aim it also prints where the time went (from _build/claims/*.cells.jsonl, written
by utils.setup_chapter during the build): kernel launch, kernel start-up and setup cell, the cells, the gaps
between cells, and kernel shut-down; then the slowest cells, and any stack dumps the watchdogs wrote.
"""
import json
import sys
from pathlib import Path

path = Path(__file__).resolve().parents[1] / "_build" / "exec_times.json"
if not path.exists():
    sys.exit(f"{path} not found: build the book first (bash scripts/build.sh)")
data = json.loads(path.read_text())
total = 0.0
print(f"{'chapter':32s} {'seconds':>8s}  status")
for doc, d in sorted(data.items(), key=lambda kv: -(kv[1]['runtime_s'] or 0)):
    total += d["runtime_s"] or 0
    print(f"{doc:32s} {d['runtime_s'] or 0:8.1f}  {'ok' if d['succeeded'] else 'FAILED'}")
print(f"{'total':32s} {total:8.1f}")
for doc, d in sorted(data.items(), key=lambda kv: -(kv[1]['runtime_s'] or 0)):
    cells = path.parent / "claims" / (Path(doc).name + ".cells.jsonl")
    if (d["runtime_s"] or 0) <= 30 or not cells.exists():
        continue
    rows = [json.loads(line) for line in cells.read_text().splitlines() if line.strip()]
    setup = next((r for r in rows if r.get("event") == "setup"), None)
    rows = [r for r in rows if "wall_s" in r]
    if setup and rows and "start" in rows[0] and d.get("read_start") and d.get("read_end"):
        ends = [setup["t"]] + [r["end"] for r in rows[:-1]]
        parts = {
            "launch": (setup["process_start"] or d["read_start"]) - d["read_start"],
            "start-up+setup": setup["t"] - (setup["process_start"] or d["read_start"]),
            "cells": sum(r["end"] - r["start"] for r in rows),
            "gaps": sum(r["start"] - e for r, e in zip(rows, ends)),
            "shut-down": d["read_end"] - rows[-1]["end"],
        }
        print(f"where {doc}'s {d['read_end'] - d['read_start']:.1f} s went: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items()))
    print(f"slowest cells of {doc}:")
    for r in sorted(rows, key=lambda r: -r["wall_s"])[:3]:
        m = r.get("machine")
        machine = f"  machine: busy {m['busy']:.1f}, io wait {m['iowait']:.1f}, stolen {m['steal']:.1f} cpu-s" if m else ""
        print(f"  wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  {r['first_line'][:50]}{machine}")
for stall in sorted((path.parent / "claims").glob("*stall.txt")):
    text = stall.read_text()
    if "Thread" in text or "Traceback" in text:
        print(f"watchdog stack dumps in {stall.name}:\n{text[-4000:]}")
