"""Retrain a chapter's checkpoints fully and compare their held-out numbers with the shipped manifest.

    python scripts/train/check.py <chapter> [--only NAME ...]

Runs ``scripts/train/<chapter>.py --out <temporary folder>`` (a subprocess), then compares every
``heldout`` number of every retrained checkpoint with ``utils/weights/<chapter>/manifest.json``. The
tolerance is absolute: the script's ``HELDOUT_TOLERANCE = {"metric": abs_tol}`` where it names the
metric (or ``"<checkpoint>/<metric>"``), else 2 % of the shipped value or 0.02, whichever is larger.
Prints a table (and whether the weights are bit-identical) and exits with status 1 on any mismatch.
Run it whenever a training script changes, and quote its table in your note.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from utils import checkpoints as ck  # noqa: E402


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.6g}"


def table(rows: list[dict], shipped: dict, retrained: dict) -> str:
    """The comparison as a plain-text table."""
    head = ["checkpoint", "metric", "shipped", "retrained", "diff", "tol", "ok"]
    body = [[r["checkpoint"], r["metric"], _fmt(r["shipped"]), _fmt(r["retrained"]), _fmt(r["diff"]),
             _fmt(r["tol"]), "yes" if r["ok"] else "NO"] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)] if body else [len(h) for h in head]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    same = [n for n, e in retrained["checkpoints"].items()
            if shipped["checkpoints"].get(n, {}).get("sha256") == e["sha256"]]
    lines.append(f"bit-identical weights: {len(same)} of {len(retrained['checkpoints'])} checkpoints")
    return "\n".join(lines)


def main(argv=None, *, script=None, weights_dir=None) -> int:
    """Run the check; returns the exit status (0: every held-out number within tolerance).

    ``script`` and ``weights_dir`` replace the chapter's script and shipped folder (tests).
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chapter", help="chapter slug: scripts/train/<chapter>.py")
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME", help="retrain and compare only these checkpoints")
    ap.add_argument("--keep", type=Path, default=None, help="retrain into this folder (kept) instead of a temporary one")
    args = ap.parse_args(argv)
    path = ck.script_path(args.chapter) if script is None else Path(script)
    shipped = ck.manifest(args.chapter, weights_dir)
    overrides = ck.script_constant(path, "HELDOUT_TOLERANCE", default=None)
    with tempfile.TemporaryDirectory(prefix=f"paper-daily-check-{args.chapter}-") as tmp:
        out = args.keep or Path(tmp)
        t0 = time.perf_counter()
        ck.retrain(args.chapter, out_dir=out, only=args.only, script=path)
        wall = time.perf_counter() - t0
        retrained = ck.manifest(args.chapter, out)
    rows, ok = ck.compare_heldout(shipped, retrained, overrides, partial=args.only is not None)
    print()
    print(f"check {args.chapter}: retrained {len(retrained['checkpoints'])} checkpoint(s) in {wall:.0f} s wall "
          f"(sum of their CPU time {sum(e['cpu_s'] for e in retrained['checkpoints'].values()):.0f} s)")
    print(table(rows, shipped, retrained))
    if not rows:
        print("no held-out numbers to compare")
        ok = False
    print("OK: every held-out number is within tolerance" if ok else "MISMATCH: see the rows marked NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
