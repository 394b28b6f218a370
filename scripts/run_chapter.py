#!/usr/bin/env python3
"""Execute one chapter (its .md or .ipynb) in a fresh kernel and print each cell's wall and CPU time.

Usage: .venv/bin/python scripts/run_chapter.py chapters/spade.md [--claims-dir DIR]
Handy while writing a chapter: faster than a book build and it shows where the time goes. The
CPU time (user + system of the kernel) is the fairer measure on a busy machine: on the idle 2-core
CI machine wall time is usually about 0.6 x the CPU time when torch uses both cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("chapter")
    ap.add_argument("--claims-dir", help="write the registered claims there (as a book build does)")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    import jupytext
    import psutil  # noqa: F401  (installed with jupyter)
    from nbclient import NotebookClient

    path = Path(args.chapter).resolve()
    nb = jupytext.read(path)
    if args.claims_dir:
        os.environ["PAPER_DAILY_CLAIMS_DIR"] = str(Path(args.claims_dir).resolve())
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as scripts/build.sh and scripts/test.sh
    client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    import psutil

    total_wall = 0.0
    with client.setup_kernel():
        kpid = client.km.provisioner.process.pid
        proc = psutil.Process(kpid)
        cpu0 = sum(proc.cpu_times()[:2])
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            c0, t0 = sum(proc.cpu_times()[:2]), time.perf_counter()
            client.execute_cell(cell, i)
            wall, cpu = time.perf_counter() - t0, sum(proc.cpu_times()[:2]) - c0
            total_wall += wall
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            print(f"cell {i:3d}  wall {wall:6.1f} s  cpu {cpu:6.1f} s  {first}", flush=True)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    print("\n".join(out.get("traceback", [])))
                    return 1
        cpu_total = sum(proc.cpu_times()[:2]) - cpu0
    print(f"total     wall {total_wall:6.1f} s  cpu {cpu_total:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
