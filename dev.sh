#!/usr/bin/env bash
# The two set-up commands of the README, on any machine:
#   ./dev.sh demo [--device cuda|cpu] [--epochs N] [--seed S]   the main job
#   ./dev.sh test [pytest args]                                   the test suite
# (also: ./dev.sh bench [op] [options], ./dev.sh build)
#
# It creates what it needs. Python: $CUOPS_PYTHON if set, else ./.venv if it
# exists, else a `python3` that already has torch (a GPU machine without
# internet: its torch is used, nothing is downloaded), else a new ./.venv with
# torch, torchvision and the test/demo/bench dependencies from PyPI. The
# extension is (re)built with `pip install --no-build-isolation --no-deps -e .`
# when it is missing or older than its sources; with CUDA when a GPU is visible
# (setup.py; FORCE_CUDA=1 / CUOPS_CUDA=0 override), one line per compiled file.
set -euo pipefail
cd "$(dirname "$0")"

# Sets PY. A new .venv gets torch first (what the build needs); the rest of the
# dependencies install in the background while the extension builds
# (wait_deps). .venv/.cuops-pending marks a .venv of ours that lacks them (an
# interrupted first run): they are installed again.
DEPS_PID=
pick_python() {
  if [ -n "${CUOPS_PYTHON:-}" ]; then PY=$CUOPS_PYTHON; return; fi
  PY=.venv/bin/python
  if [ ! -x "$PY" ]; then
    if python3 -c "import torch" >/dev/null 2>&1; then PY=$(command -v python3); return; fi
    echo "dev.sh: creating .venv: torch, torchvision and the test/demo/bench dependencies" \
         "from PyPI (first run only; ~3 GB to download)" >&2
    python3 -m venv .venv
    touch .venv/.cuops-pending
    # A setuptools with its own bdist_wheel (a Python 3.11 venv has 65 and no
    # wheel); packaging now, so that the background install does not write it
    # while setup.py imports it.
    "$PY" -m pip install torch==2.14.1 numpy ninja packaging "setuptools>=70.1" >&2
  fi
  [ -f .venv/.cuops-pending ] || return 0
  # torchvision must match torch (0.29.1 pairs with 2.14.1); the rest are the
  # extras demo, bench and test of pyproject.toml.
  mkdir -p build
  echo "dev.sh: installing torchvision and the test/demo/bench dependencies in the background" \
       "(log: build/dev-deps.log)" >&2
  ( "$PY" -m pip install torchvision==0.29.1 pytest hypothesis tqdm scikit-learn matplotlib \
    && rm .venv/.cuops-pending ) >build/dev-deps.log 2>&1 &
  DEPS_PID=$!
}

wait_deps() {
  [ -z "$DEPS_PID" ] && return 0
  if ! wait "$DEPS_PID"; then
    tail -n 20 build/dev-deps.log >&2
    echo "dev.sh: installing the dependencies failed; full log: build/dev-deps.log" >&2
    exit 1
  fi
  echo "dev.sh: $(grep '^Successfully installed' build/dev-deps.log | cut -c1-80)..." >&2
}

pick_python

need_build() {
  local so
  so=$(ls cuops/_C*.so 2>/dev/null | head -n 1) || true
  [ -z "$so" ] && return 0
  [ -n "$(find csrc setup.py -newer "$so" -print -quit)" ] && return 0
  "$PY" -c "import cuops" >/dev/null 2>&1 || return 0
  return 1
}

# pip -v shows the whole compiler command of every file; keep ninja's
# "[done/total elapsed]" counter, the file name, setup.py's own lines and the link.
SHOW_PROGRESS='
import os, re, sys
for line in sys.stdin:
    m = re.match(r"\s*(\[\d+/\d+ [\d.]+s\]) .* -c (\S+)", line)
    if m:
        print(f"  {m[1]} compiled {os.path.relpath(m[2])}", flush=True)
    elif re.match(r"\s*cuops: ", line):
        print(line.strip(), flush=True)
    elif re.match(r"\s*\S*[gc]\+\+ .*-shared\b", line):
        print("  linking cuops/_C", flush=True)
'

build() {
  # Trap fixes for the CUDA build live in setup.py (docs/building.md).
  mkdir -p build
  local log=build/dev-build.log start=$SECONDS
  echo "dev.sh: building the extension with $PY (full log: $log)" >&2
  if ! NINJA_STATUS="[%f/%t %es] " "$PY" -m pip install --no-build-isolation --no-deps -v -e . \
       2>&1 | tee "$log" | "$PY" -u -c "$SHOW_PROGRESS" >&2; then
    tail -n 40 "$log" >&2
    echo "dev.sh: the build failed; full log: $log" >&2
    exit 1
  fi
  echo "dev.sh: built in $((SECONDS - start)) s" >&2
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo) need_build && build; wait_deps; exec "$PY" -m cuops demo "$@" ;;
  test) need_build && build; wait_deps; exec "$PY" -m pytest -q "$@" ;;
  bench) need_build && build; wait_deps; exec "$PY" -m cuops bench "$@" ;;
  build) build; wait_deps ;;
  *) echo "usage: ./dev.sh demo|test|bench|build [args]" >&2; exit 2 ;;
esac
