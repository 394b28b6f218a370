#!/usr/bin/env bash
# The test command: unit tests, the full strict book build (offline, in a network namespace),
# the Colab-like stand-alone notebook runs, determinism, and the browser check.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m "not book"` for the unit tests only).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PYTHONHASHSEED=0 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} PATH="$PWD/.venv/bin:$PATH"
rm -f _build/budget-report.txt
rc=0
.venv/bin/python -m pytest tests "$@" || rc=$?
# a chapter over its time budget in the build but not alone passes, and is reported here (tests/test_book.py)
if [ -f _build/budget-report.txt ]; then cat _build/budget-report.txt; fi
exit $rc
