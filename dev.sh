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

# Sets PY. A new .venv gets torch, torchvision and the test/demo/bench
# dependencies before the build, from two pip processes side by side (pip
# installs one wheel after another, on one core): torch's own requirements (the
# CUDA libraries, most of the bytes) in one; in the other, the rest, then the
# torch and torchvision wheels without their requirements. The two sets share no
# package (were one shared, both would write the same release of it).
# .venv/.cuops-pending marks a .venv of ours that lacks some (an interrupted
# first run): they are installed again.
pick_python() {
  if [ -n "${CUOPS_PYTHON:-}" ]; then PY=$CUOPS_PYTHON; return; fi
  PY=.venv/bin/python
  if [ ! -x "$PY" ]; then
    if python3 -c "import torch" >/dev/null 2>&1; then PY=$(command -v python3); return; fi
    echo "dev.sh: creating .venv: torch, torchvision and the test/demo/bench dependencies" \
         "from PyPI (first run only; ~3 GB to download)" >&2
    python3 -m venv .venv
    touch .venv/.cuops-pending
  fi
  [ -f .venv/.cuops-pending ] || return 0
  install_deps
  rm .venv/.cuops-pending
}

# torchvision must match torch (0.29.1 pairs with 2.14.1); pytest and the rest
# are the extras demo, bench and test of pyproject.toml; ninja and a setuptools
# with its own bdist_wheel (a Python 3.11 venv has 65 and no wheel) build.
TORCH=(torch==2.14.1 torchvision==0.29.1)
EXTRAS=(pytest hypothesis tqdm scikit-learn matplotlib)
BUILD_TOOLS=(ninja "setuptools>=70.1")

install_deps() {
  mkdir -p build
  local start=$SECONDS log=build/dev-pip
  # The requirements of torch and torchvision, from their metadata alone.
  if ! "$PY" -m pip install -q --dry-run --no-deps --ignore-installed \
       --report $log-report.json "${TORCH[@]}" >$log.log 2>&1; then
    # A pip older than 22.2 (no --report): one process.
    echo "dev.sh: installing ${TORCH[*]} ${EXTRAS[*]} (log: $log.log)" >&2
    "$PY" -m pip install "${TORCH[@]}" "${EXTRAS[@]}" "${BUILD_TOOLS[@]}" >$log.log 2>&1 \
      || fail_log $log.log "installing the dependencies"
    return
  fi
  "$PY" - $log-report.json $log-torch.txt $log-rest.txt <<'EOF'
import json, re, sys
report, torch_reqs, rest_reqs = sys.argv[1:]
with open(torch_reqs, "w") as torch_f, open(rest_reqs, "w") as rest_f:
    for item in json.load(open(report))["install"]:
        for req in item["metadata"].get("requires_dist") or []:
            name = re.match(r"[A-Za-z0-9._-]+", req)[0].lower().replace("_", "-")
            if name not in ("torch", "torchvision") and not re.search(r"\bextra\s*==", req):
                print(req, file=torch_f if item["metadata"]["name"] == "torch" else rest_f)
EOF
  echo "dev.sh: installing ${TORCH[*]} and ${EXTRAS[*]}, two pip processes side by side" \
       "(logs: $log-*.log)" >&2
  "$PY" -m pip install -r $log-torch.txt "${BUILD_TOOLS[@]}" >$log-torch.log 2>&1 &
  local pid=$!
  { "$PY" -m pip install -r $log-rest.txt "${EXTRAS[@]}" \
      && "$PY" -m pip install --no-deps "${TORCH[@]}"; } >$log-rest.log 2>&1 \
    || { wait $pid || true; fail_log $log-rest.log "installing the dependencies"; }
  wait $pid || fail_log $log-torch.log "installing torch's requirements"
  echo "dev.sh: installed in $((SECONDS - start)) s" >&2
}

fail_log() {
  tail -n 20 "$1" >&2
  echo "dev.sh: $2 failed; full log: $1" >&2
  exit 1
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
  demo) need_build && build; exec "$PY" -m cuops demo "$@" ;;
  test) need_build && build; exec "$PY" -m pytest -q "$@" ;;
  bench) need_build && build; exec "$PY" -m cuops bench "$@" ;;
  build) build ;;
  *) echo "usage: ./dev.sh demo|test|bench|build [args]" >&2; exit 2 ;;
esac
