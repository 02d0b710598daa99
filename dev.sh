#!/usr/bin/env bash
# The two set-up commands of the README, on any machine:
#   ./dev.sh demo [--device cuda|cpu] [--epochs N] [--seed S]   the main job
#   ./dev.sh test [pytest args]                                   the test suite
# (also: ./dev.sh bench [op] [options], ./dev.sh build)
#
# It creates what it needs. Python: $CUOPS_PYTHON if set, else ./.venv if it
# exists, else a `python3` that already has torch (a GPU machine without
# internet: its torch is used, nothing is downloaded), else a new ./.venv with
# torch and the test/demo dependencies from PyPI. The extension is (re)built
# with `pip install --no-build-isolation --no-deps -e .` when it is missing or
# older than its sources; with CUDA when torch has CUDA and nvcc is found.
set -euo pipefail
cd "$(dirname "$0")"

pick_python() {
  if [ -n "${CUOPS_PYTHON:-}" ]; then echo "$CUOPS_PYTHON"; return; fi
  if [ -x .venv/bin/python ]; then echo .venv/bin/python; return; fi
  if python3 -c "import torch" >/dev/null 2>&1; then command -v python3; return; fi
  echo "dev.sh: creating .venv with torch (first run only)" >&2
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q torch numpy ninja pytest hypothesis tqdm scikit-learn matplotlib >&2
  echo .venv/bin/python
}

PY=$(pick_python)

need_build() {
  local so
  so=$(ls cuops/_C*.so 2>/dev/null | head -n 1) || true
  [ -z "$so" ] && return 0
  [ -n "$(find csrc setup.py -newer "$so" -print -quit)" ] && return 0
  "$PY" -c "import cuops" >/dev/null 2>&1 || return 0
  return 1
}

build() {
  # Trap fixes for the CUDA build live in setup.py (docs/building.md).
  echo "dev.sh: building the extension with $PY" >&2
  "$PY" -m pip install --no-build-isolation --no-deps -q -e . >&2
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo) need_build && build; exec "$PY" -m cuops demo "$@" ;;
  test) need_build && build; exec "$PY" -m pytest -q "$@" ;;
  bench) need_build && build; exec "$PY" -m cuops bench "$@" ;;
  build) build ;;
  *) echo "usage: ./dev.sh demo|test|bench|build [args]" >&2; exit 2 ;;
esac
