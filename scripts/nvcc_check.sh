#!/usr/bin/env bash
# Compile one .cu of the extension on its own, with the flags setup.py gives
# nvcc, and print ptxas' register/spill report: a quick check of a kernel
# edit on a machine without a GPU (a full build compiles every file).
#   scripts/nvcc_check.sh csrc/cuda/conv2d/depthwise.cu [ARCH...]   (default: 90, i.e. sm_90a)
# CUOPS_EXPLORE=1 compiles the development tuning tables too (as setup.py).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$1; shift
archs=("${@:-90}")
py=${CUOPS_PYTHON:-.venv/bin/python}
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
inc=$("$py" - <<'PY'
import os, sysconfig, torch.utils.cpp_extension as ce
paths = ce.include_paths(device_type="cuda") if "device_type" in ce.include_paths.__code__.co_varnames else ce.include_paths(cuda=True)
import importlib.util
spec = importlib.util.find_spec("nvidia")
if spec and spec.submodule_search_locations:
    for d in spec.submodule_search_locations:
        for sub in ("cu13/include", "cuda_runtime/include"):
            if os.path.isdir(os.path.join(d, sub)):
                paths.append(os.path.join(d, sub))
paths.append(sysconfig.get_paths()["include"])
print(" ".join("-I" + p for p in paths))
PY
)
gencode=()
defs=(-DCUOPS_WITH_CUDA)
if [ "${CUOPS_EXPLORE:-0}" = 1 ]; then defs+=(-DCUOPS_EXPLORE); fi
# 90 is built as sm_90a, as setup.py builds a 9.0 target (wgmma, setmaxnreg).
for a in "${archs[@]}"; do
  [ "$a" = 90 ] && a=90a
  gencode+=("-gencode=arch=compute_${a},code=sm_${a}")
done
log=/tmp/nvcc_check_$$.log
rc=0
"$CUDA_HOME/bin/nvcc" "${defs[@]}" -Icsrc $inc -I"$CUDA_HOME/include" -c "$src" -o /tmp/nvcc_check_$$.o \
  -D__CUDA_NO_HALF_OPERATORS__ -D__CUDA_NO_HALF_CONVERSIONS__ -D__CUDA_NO_BFLOAT16_CONVERSIONS__ \
  -D__CUDA_NO_HALF2_OPERATORS__ --expt-relaxed-constexpr -Xcompiler -fPIC -O3 -lineinfo \
  -Xptxas=-warn-spills -Xptxas=-v -DTORCH_API_INCLUDE_EXTENSION_H -DTORCH_EXTENSION_NAME=_C \
  "${gencode[@]}" -std=c++20 >"$log" 2>&1 || rc=$?
grep -E "error|warning|Function properties|spill|Used [0-9]+ registers|Compiling entry" "$log" \
  | sed 's/ptxas info    : //' | c++filt || true
[ "$rc" -ne 0 ] && tail -20 "$log"
[ -n "${KEEP_OBJ:-}" ] && cp /tmp/nvcc_check_$$.o "$KEEP_OBJ"; rm -f /tmp/nvcc_check_$$.o "$log"
echo "nvcc: rc=$rc"
exit "$rc"
