#!/usr/bin/env bash
# Build the whole book, executing every chapter, strictly: warnings are errors, a failing chapter
# fails the build. Output: _build/html (open _build/html/index.html).
# OFFLINE=1 runs the build in a network namespace with only loopback up (needs root), which proves
# the build downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/python scripts/sync_chapters.py --check
rm -rf _build/html _build/jupyter_execute _build/.doctrees _build/claims
cmd=(.venv/bin/jupyter-book build . --builder html -W -n --keep-going)
export PATH="$PWD/.venv/bin:$PATH" PYTHONHASHSEED=0
start=$(date +%s)
if [ "${OFFLINE:-0}" = 1 ]; then
  if unshare -n true 2>/dev/null; then
    echo "build: offline, in a network namespace with only loopback up"
    unshare -n bash -c 'ip link set lo up && exec "$@"' _ "${cmd[@]}"
  else
    echo "build: 'unshare -n' is not permitted here (needs root); building with the network available"
    "${cmd[@]}"
  fi
else
  "${cmd[@]}"
fi
echo "build: finished in $(( $(date +%s) - start )) s"
.venv/bin/python scripts/exec_times.py
