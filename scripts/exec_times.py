#!/usr/bin/env python3
"""Print each chapter's execution time in the last build (from _build/exec_times.json).

For chapters above the 30 s aim it also prints their slowest cells (from _build/claims/*.cells.jsonl,
written by utils.setup_chapter during the build), so a slow build says where the time went.
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
    print(f"slowest cells of {doc}:")
    for r in sorted(rows, key=lambda r: -r["wall_s"])[:3]:
        print(f"  wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  {r['first_line']}")
