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
# OMP_WAIT_POLICY=PASSIVE: torch's idle worker threads sleep instead of spinning. With libgomp's default
# (spin, then sleep) two of four builds had one chapter stall for ~120 s outside its cells; with PASSIVE none
# did. Chapters of tiny networks, for which waking a sleeping thread costs more than the work, train on one
# thread (torch.set_num_threads(1), said in the chapter).
export PATH="$PWD/.venv/bin:$PATH" PYTHONHASHSEED=0 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
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
