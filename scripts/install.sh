#!/usr/bin/env bash
# Create .venv (Python 3.11.4+) with everything the book needs; fetch MathJax and the widget renderer.
# Idempotent: does nothing when the requirement files have not changed since the last install.
# TORCH_SPEC (default torch==2.13.0) and TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cpu)
# choose the torch build; torch is never reinstalled when one that satisfies requirements.txt is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# 3.11.4: scripts/fetch_vendor.py unpacks with tarfile's extraction filters (extractall(filter=...)), new in 3.11.4
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11, 4) else "install: Python 3.11.4 or newer is needed (scripts/fetch_vendor.py uses tarfile extraction filters), found " + sys.version.split()[0] + "; point PYTHON at a newer python3")'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.paper-daily-installed
want=$(cat requirements.txt requirements-build.txt requirements-test.txt scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "install: .venv is up to date"
else
  .venv/bin/python -m pip install -q --upgrade pip
  if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    .venv/bin/python -m pip install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "${TORCH_SPEC:-torch==2.13.0}"
  fi
  .venv/bin/python -m pip install -q -r requirements.txt -r requirements-build.txt -r requirements-test.txt
  echo "$want" > "$stamp"
  echo "install: .venv ready"
fi
.venv/bin/python scripts/fetch_vendor.py
