"""Sweep the CUDA matmul configuration tables (CUOPS_MATMUL_CONFIG) on one GPU.

    PYTHONPATH=. python scripts/explore/tune_matmul.py            # whole sweep, < 90 s on an H100
    PYTHONPATH=. python scripts/explore/tune_matmul.py --configs 0,2   # only some entries
    PYTHONPATH=. python scripts/explore/tune_matmul.py --configs 8,19,8,19  # repeats, interleaved

One subprocess per table entry i (the knob is read once per process), with
CUOPS_MATMUL_CONFIG="mma_sync=i,warptile=i,warptile_static=i" (each only while
i is in its table). Each child times, with cuops.bench.time_fn (cold L2, CUDA events):
  bf16 4096^3 and 8192^3 with variant mma_sync, fp32 4096^3 with warptile and
  warptile_static,
and cuBLAS (torch.matmul, TF32 off) on the same inputs in the same process,
and checks every result against torch.matmul (relative Frobenius error).
Entry 0 (the default) also times the irregular 8205x2949x5921 bf16 product
(contiguous inputs: the padded-copy path of mma_sync).

The tables beyond entry 0 are compiled only in a CUOPS_EXPLORE=1 build
(`CUOPS_EXPLORE=1 pip install --no-build-isolation -e .`).

How to use the output: the "best" lines name the entries with the highest
geometric-mean ratio to cuBLAS that passed the check. To make one the default,
copy its TileConfig (csrc/cuda/matmul/mma_sync/explore.cuh, entry i) into kBig
(and/or kSmall, mma_sync/config.cuh), or its TileConfig (warptile.cu,
WarpTuneN) into WarpTile32, and record the numbers in docs/matmul-worklog.md.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

from cuops.ops.matmul import TUNING_TABLES  # sizes of the C++ tables

N_MMA, N_WARP, N_STATIC = (TUNING_TABLES[k] for k in ("mma_sync", "warptile", "warptile_static"))
if N_MMA == 1:
    sys.exit("tune_matmul.py: this build has only the default entry of each table; "
             "rebuild with CUOPS_EXPLORE=1")
TOL = {"bf16": 2e-2, "fp32": 1e-4}

MMA_DESC = ["default (= 23 on sm_90 | = 8 | 128x128x32 4w 4st by size and layout)",
            "128x64x64 4w (64x32 warps) 3st fragDB 3blk", "128x128x32 4w 4st fragDB 2blk",
            "128x128x64 8w (64x32 warps) 3st 2blk [spills]", "128x128x64 4w 3st fragDB 2blk",
            "128x128x64 8w (32x64 warps) 3st 2blk [spills]",
            "128x64x64 4w (64x32 warps) 2st 4blk [spills]",
            "128x128x32 4w 4st 2blk (= 2 without fragDB)",
            "128x128x64 4w 3st fragDB pipe 2blk", "128x256x64 8w 3st fragDB pipe 1blk",
            "128x256x32 8w 4st fragDB pipe 1blk", "256x128x64 8w 3st fragDB pipe 1blk",
            "128x128x32 4w 4st fragDB pipe 2blk", "128x256x64 8w 4st fragDB pipe 1blk",
            "256x128x64 8w 4st fragDB pipe 1blk", "128x128x64 4w 3st fragDB pipe 2blk groupM 16",
            "128x128x64 4w 3st fragDB pipe 2blk groupM 4", "128x128x32 4w 6st fragDB pipe 2blk groupM 16",
            "128x128x32 4w 5st fragDB pipe 2blk groupM 16",
            "= 8, ldmatrix interleaved with the mma", "= 8, cp.async spread over k16 steps",
            "= 8, ldmatrix interleaved + cp.async spread", "= 8, stream-K persistent grid",
            "= 8, stages filled by the tensor copy engine (TMA, sm_90)",
            "64x64x64 4w (32x32 warps) 4st fragDB 3blk (kTile64, splitk's small tile)"]
WARP_DESC = ["default 128x128x16 8w", "128x128x8 8w", "64x128x8 4w (32x64 warps)", "128x64x8 4w",
             "128x128x16 8w (32x64 warps)"]
STATIC_DESC = ["default BK 16, 1 blk/SM", "BK 8, 1 blk/SM", "BK 8, 2 blk/SM"]
assert (len(MMA_DESC), len(WARP_DESC), len(STATIC_DESC)) == (N_MMA, N_WARP, N_STATIC), \
    "one description per table entry"


def child(cfg_index: int, irregular: bool) -> None:
    import torch

    import cuops
    from cuops.bench import time_fn

    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")
    cases = [("bf16", 4096, 4096, 4096, "mma_sync"), ("bf16", 8192, 8192, 8192, "mma_sync")]
    if cfg_index < N_WARP:
        cases.append(("fp32", 4096, 4096, 4096, "warptile"))
    if cfg_index < N_STATIC:
        cases.append(("fp32", 4096, 4096, 4096, "warptile_static"))
    if irregular:
        cases.append(("bf16", 8205, 2949, 5921, "mma_sync"))
    out = {}
    for dt_name, m, k, n, variant in cases:
        dtype = torch.bfloat16 if dt_name == "bf16" else torch.float32
        torch.manual_seed(0)
        a = torch.randn(m, k, device=dev, dtype=dtype)
        b = torch.randn(k, n, device=dev, dtype=dtype)
        ours = cuops.matmul(a, b, variant=variant)
        ref = torch.matmul(a.float(), b.float())
        err = ((ours.float() - ref).norm() / ref.norm()).item()
        del ours, ref
        flops = 2.0 * m * n * k
        t_ours = time_fn(lambda x, y: cuops.matmul(x, y, variant=variant), [(a, b)], dev,
                         warmup=3, reps=20, max_seconds=1.0)
        t_torch = time_fn(torch.matmul, [(a, b)], dev, warmup=3, reps=20, max_seconds=1.0)
        out[f"{variant} {dt_name} {m}x{k}x{n}"] = {
            "variant": variant, "err": err, "ok": err < TOL[dt_name],
            "tflops": flops / t_ours / 1e9, "cublas": flops / t_torch / 1e9,
            "ratio": t_torch / t_ours}
        del a, b
        torch.cuda.empty_cache()
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", type=int, default=None)
    ap.add_argument("--irregular", action="store_true")
    ap.add_argument("--configs", default=None, help="comma-separated entries (default: all)")
    args = ap.parse_args()
    if args.child is not None:
        return child(args.child, args.irregular)

    configs = ([int(c) for c in args.configs.split(",")] if args.configs
               else list(range(max(N_MMA, N_WARP, N_STATIC))))
    t0 = time.time()
    rows = []  # (entry, results); an entry listed twice is measured twice
    for i in configs:
        knob = (f"mma_sync={i}" + (f",warptile={i}" if i < N_WARP else "")
                + (f",warptile_static={i}" if i < N_STATIC else ""))
        env = dict(os.environ, CUOPS_MATMUL_CONFIG=knob)
        cmd = [sys.executable, __file__, "--child", str(i)] + (["--irregular"] if i == 0 else [])
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        line = next((l for l in p.stdout.splitlines() if l.startswith("RESULT ")), None)
        if p.returncode != 0 or line is None:
            print(f"[config {i}] FAILED (rc={p.returncode}):\n{p.stderr[-2000:]}", flush=True)
            continue
        rows.append((i, json.loads(line[len("RESULT "):])))
        print(f"[config {i}] done ({time.time() - t0:.0f} s)", flush=True)

    import torch
    print(f"\n# device: {torch.cuda.get_device_name() if torch.cuda.is_available() else '?'} | "
          f"torch {torch.__version__} | {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"{'cfg':>3}  {'case':<18} {'variant':<15} {'TFLOP/s':>8} {'cuBLAS':>8} {'ratio':>6} "
          f"{'rel.err':>9}  ok  config")
    for i, res in rows:
        for case, r in res.items():
            desc = {"mma_sync": MMA_DESC, "warptile": WARP_DESC,
                    "warptile_static": STATIC_DESC}[r["variant"]][i]
            shape = case.split(" ", 1)[1]  # keys are "<variant> <dtype> <MxKxN>"
            print(f"{i:>3}  {shape:<18} {r['variant']:<15} {r['tflops']:8.1f} {r['cublas']:8.1f} "
                  f"{r['ratio']:5.2f}x {r['err']:9.2e}  {'ok' if r['ok'] else 'BAD'} {desc}")

    def best(variant, cases):
        logs = {}  # entry -> log ratios of every case and repeat
        for i, res in rows:
            rs = [res[f"{variant} {c}"] for c in cases if f"{variant} {c}" in res]
            if len(rs) == len(cases) and all(r["ok"] for r in rs):
                logs.setdefault(i, []).extend(math.log(r["ratio"]) for r in rs)
        scores = {i: math.exp(sum(v) / len(v)) for i, v in logs.items()}
        if scores:
            i = max(scores, key=scores.get)
            print(f"best {variant}: config {i} ({scores[i]:.2f}x cuBLAS geo-mean; "
                  f"default 0: {scores.get(0, float('nan')):.2f}x)")

    print()
    best("mma_sync", ["bf16 4096x4096x4096", "bf16 8192x8192x8192"])
    best("warptile", ["fp32 4096x4096x4096"])
    best("warptile_static", ["fp32 4096x4096x4096"])
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
