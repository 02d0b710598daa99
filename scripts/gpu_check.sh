#!/usr/bin/env bash
# Everything the GPU machine is needed for, in one call (see docs/gpu.md):
# build the extension there, run the GPU tests, run the benchmarks, print a
# short table last. Logs and the benchmark CSV go to $OUT (default out/).
#   TESTS="tests/test_add.py"  which tests (default: all GPU-marked tests)
#   PYTEST_ARGS="-k vec16"     extra pytest arguments
#   BENCH="add matmul"         which benchmarks (default: "all shapes fp32 models": the ops,
#                              the shape classes furthest behind cuBLAS/cuDNN, the fp32
#                              accuracy study, then whole torchvision models; "none" skips)
#   BENCH_ARGS="--quick"       extra arguments of `python -m cuops bench`
#   SKIP_BUILD=1 / SKIP_TESTS=1  reuse the last build (or a carried one: docs/gpu.md) / skip
#                              the tests
#   WGMMA_TIMEOUT=180 / TEST_TIMEOUT=900  seconds for the Hopper tests' process
#                              (run first) and for the rest (rc 124: cut off)
#   SWEEP="matmul conv dw"     also run tuning sweeps (scripts/explore/tune_<name>.py; 1 = matmul,
#                              dw = tune_conv.py --dw, tiles = tune_conv.py --tiles)
#   SWEEP_ARGS="--configs 8,19"  extra arguments of every sweep (sweeps need CUOPS_EXPLORE=1:
#                              the tuning tables beyond their default entry)
#   PROFILE="conv512@7 mm_bf16"  Nsight Compute on those cases (scripts/explore/profile_kernels.py)
#   PROFILE_ENV="CUOPS_MATMUL_CONFIG=mma_sync=9"  environment of the profiled process only
#   PEAK=1                     also measure the mma.sync ceiling (scripts/explore/mma_peak.cu)
#   TF32=1                     also time the tf32 tensor-core fp32 steps per layout against
#                              cuBLAS true fp32 and TF32, with their error by K
#                              (scripts/explore/tf32_speed.py)
#   BREAKDOWN="resnet50"       also time every distinct conv layer of those models, cuops default
#                              vs torch, forward and backward (scripts/explore/model_breakdown.py;
#                              "shapes" = the bench shapes suite's convolutions, fp16 and fp32);
#                              BREAKDOWN_ARGS="--split" times dgrad and wgrad apart
#   KERNELS="convnext_tiny"    also profile those models' bf16 training steps, kernel time by
#                              name, torch against cuops (scripts/explore/model_profile.py)
#   HOST="resnet50 resnet18"   also time those models' training steps on the host and the
#                              device (scripts/explore/host_bound.py: is the step host-bound?)
#                              and every op's host time per call (host_per_op.py)
#   DEMO=1                     also run the demo (and, with 2+ GPUs, under torchrun with DDP)
#   SANITIZE=1                 also run scripts/sanitize_sweep.py under compute-sanitizer's
#                              memcheck, racecheck, synccheck and initcheck (Firecracker only;
#                              or name the tools: SANITIZE="memcheck racecheck"), each for at
#                              most SANITIZE_TIMEOUT seconds (default 240)
#   FUZZ_EXAMPLES=2000         hypothesis examples per property in the GPU fuzz tests
#   BEFORE=before.tar          also build that source archive (`git archive <ref> -o before.tar`)
#                              beside this tree and run the same benchmarks with it, then
#                              print the before/after table (scripts/bench_compare.py)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${CUOPS_PYTHON:-python3}
# Scripts run as files (scripts/explore/*.py) import the package of this tree
# even where it was not pip-installed (a carried build).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
BENCH=${BENCH:-all shapes fp32 models}
export PYTHONUNBUFFERED=1

echo "kernel: $(uname -r) (4.4.0 = gVisor: no compute-sanitizer, no ncu counters)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
"$PY" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '|', torch.cuda.get_device_name())"

rc=0
# Tuning sweeps and forced configurations need the development tables.
[ -n "${SWEEP:-}${PROFILE_ENV:-}" ] && export CUOPS_EXPLORE=${CUOPS_EXPLORE:-1}
BEFORE_DIR=/tmp/cuops-before
bpid=
if [ -n "${BEFORE:-}" ]; then
  # Built in place, in parallel with this tree's build; run from its own
  # directory so that its package is the one imported.
  rm -rf "$BEFORE_DIR" && mkdir -p "$BEFORE_DIR" && tar -xf "$BEFORE" -C "$BEFORE_DIR"
  ( cd "$BEFORE_DIR" && FORCE_CUDA=1 MAX_JOBS=8 "$PY" setup.py build_ext --inplace ) \
    >"$OUT/build_before.log" 2>&1 &
  bpid=$!
fi
if [ -z "${SKIP_BUILD:-}" ]; then
  start=$(date +%s)
  MAX_JOBS=${MAX_JOBS:-$([ -n "$bpid" ] && echo 8 || echo 16)} "$PY" -m pip install --no-build-isolation --no-deps -v -e . >"$OUT/build.log" 2>&1
  rc=$?
  echo "build: rc=$rc in $(( $(date +%s) - start )) s (log: $OUT/build.log)"
  grep -E "spill|error" "$OUT/build.log" | grep -v " 0 bytes spill" | head -20
  [ $rc -ne 0 ] && { tail -40 "$OUT/build.log"; exit $rc; }
fi
"$PY" -m cuops info
if [ -n "$bpid" ]; then
  wait "$bpid"
  echo "build of $BEFORE: rc=$? (log: $OUT/build_before.log)"
fi

trc=skipped
if [ -z "${SKIP_TESTS:-}" ]; then
  eval "extra=(${PYTEST_ARGS:-})"  # keeps quoted words: PYTEST_ARGS='-k "a or b"'
  # The Hopper wgmma tests run first, in a process of their own: a pipeline
  # fault there (a trapped barrier wait) leaves that process's CUDA context
  # unusable and must not fail every test after it, and a kernel that hangs
  # shows within WGMMA_TIMEOUT seconds instead of eating the whole call.
  start=$(date +%s)
  timeout "${WGMMA_TIMEOUT:-180}" "$PY" -m pytest -m gpu -p no:cacheprovider ${TESTS:-tests} \
    -k wgmma "${extra[@]}" >"$OUT/tests_wgmma.log" 2>&1
  wrc=$?
  [ $wrc -eq 5 ] && wrc=0  # none selected (TESTS without matmul or conv2d)
  grep -E "^(FAILED|ERROR)" "$OUT/tests_wgmma.log" | head -20
  echo "gpu tests (wgmma): rc=$wrc in $(( $(date +%s) - start )) s: $(tail -n 1 "$OUT/tests_wgmma.log")"
  start=$(date +%s)
  CUOPS_FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-2000} timeout "${TEST_TIMEOUT:-900}" "$PY" -m pytest -m gpu \
    -p no:cacheprovider --durations=15 ${TESTS:-tests} -k "not wgmma" "${extra[@]}" \
    >"$OUT/tests.log" 2>&1
  trc=$?
  grep -E "^(FAILED|ERROR)" "$OUT/tests.log" | head -40
  echo "gpu tests: rc=$trc in $(( $(date +%s) - start )) s: $(tail -n 1 "$OUT/tests.log")"
  [ $trc -eq 0 ] && trc=$wrc
fi

if [ -n "${PEAK:-}" ]; then
  "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" -O3 -arch=sm_90a scripts/explore/mma_peak.cu -o /tmp/mma_peak && /tmp/mma_peak 2>&1 | tee "$OUT/mma_peak.txt"
fi

if [ -n "${TF32:-}" ]; then
  "$PY" scripts/explore/tf32_speed.py 2>&1 | tee "$OUT/tf32_speed.txt"
fi

for m in ${BREAKDOWN:-}; do
  if [ "$m" = shapes ]; then
    for dt in fp16 fp32; do
      "$PY" scripts/explore/model_breakdown.py --model shapes --dtype $dt 2>&1 | tee "$OUT/breakdown_shapes_$dt.txt"
    done
  else
    "$PY" scripts/explore/model_breakdown.py --model "$m" ${BREAKDOWN_ARGS:-} 2>&1 | tee "$OUT/breakdown_$m.txt"
  fi
done

if [ -n "${PROFILE:-}" ]; then
  env ${PROFILE_ENV:-} ncu --clock-control none --profile-from-start off --section SpeedOfLight --section Occupancy \
    --section LaunchStats --section WarpStateStats --section SchedulerStats \
    --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables \
    --section ComputeWorkloadAnalysis \
    --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$",l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,l1tex__data_pipe_lsu_wavefronts_mem_shared.avg.pct_of_peak_sustained_elapsed \
    "$PY" scripts/explore/profile_kernels.py $PROFILE \
    >"$OUT/ncu.txt" 2>&1
  echo "ncu: rc=$? ($(grep -c 'Section: GPU Speed Of Light' "$OUT/ncu.txt") kernels, $OUT/ncu.txt)"
fi

for name in ${SWEEP:-}; do
  [ "$name" = 1 ] && name=matmul
  if [ "$name" = dw ] || [ "$name" = tiles ]; then
    "$PY" scripts/explore/tune_conv.py --$name ${SWEEP_ARGS:-} 2>&1 | tee "$OUT/tune_$name.txt"
  else
    "$PY" scripts/explore/tune_$name.py ${SWEEP_ARGS:-} 2>&1 | tee "$OUT/tune_$name.txt"
  fi
done

if [ -n "${KERNELS:-}" ]; then
  "$PY" scripts/explore/model_profile.py --models $KERNELS 2>&1 | tee "$OUT/kernels.txt"
fi

if [ -n "${HOST:-}" ]; then
  { "$PY" scripts/explore/host_bound.py --models $HOST; "$PY" scripts/explore/host_per_op.py; } \
    2>&1 | tee "$OUT/host.txt"
fi

if [ -n "${DEMO:-}" ]; then
  "$PY" -m cuops demo 2>&1 | tee "$OUT/demo.txt"
  if [ "$("$PY" -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
    echo "== torchrun --nproc-per-node 2 -m cuops demo" | tee -a "$OUT/demo.txt"
    "$PY" -m torch.distributed.run --nproc-per-node 2 -m cuops demo 2>&1 | tee -a "$OUT/demo.txt"
  fi
fi

if [ -n "${SANITIZE:-}" ]; then
  tools=$SANITIZE; [ "$tools" = 1 ] && tools="memcheck racecheck synccheck initcheck"
  for tool in $tools; do
    start=$(date +%s)
    # The caching allocator off: an access past a tensor's end leaves its
    # allocation. Every kernel is checked: with a kernel filter, initcheck no
    # longer sees the writes of the kernels it skips and flags their outputs.
    # (H200, 2026-12-01: memcheck 9 s, synccheck 7 s, initcheck 8 s, racecheck 133 s.)
    PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout "${SANITIZE_TIMEOUT:-240}" \
      compute-sanitizer --tool "$tool" \
      "$PY" scripts/sanitize_sweep.py >"$OUT/sanitize_$tool.txt" 2>&1
    echo "sanitizer $tool: rc=$? in $(( $(date +%s) - start )) s: $(grep -E 'sanitize sweep|ERROR SUMMARY' \
      "$OUT/sanitize_$tool.txt" | tr '\n' ' ')"
  done | tee "$OUT/sanitize.txt"
fi

if [ "$BENCH" != "none" ]; then
  for op in $BENCH; do
    "$PY" -m cuops bench "$op" ${BENCH_ARGS:-} --csv "$OUT/bench_$op.csv" --plot "$OUT/bench_$op.png" \
      2>/dev/null | tee -a "$OUT/bench.txt"
  done
fi
if [ -n "$bpid" ] && [ "$BENCH" != "none" ]; then
  mkdir -p "$OUT/before"
  for op in $BENCH; do
    ( cd "$BEFORE_DIR" && "$PY" -m cuops bench "$op" ${BENCH_ARGS:-} \
        --csv "$OUT/before/bench_$op.csv" 2>/dev/null ) | tee -a "$OUT/before/bench.txt" >/dev/null
  done
fi
echo "== summary: build rc=$rc, gpu tests rc=$trc"
[ -n "$bpid" ] && "$PY" scripts/bench_compare.py "$OUT/before" "$OUT"
"$PY" scripts/gpu_summary.py "$OUT"
