"""Where mma_sync loses time between shapes: per-tile overhead vs wave tail vs clocks.

    PYTHONPATH=. python scripts/explore/mm_shapes.py [--configs 0,22]

For each bf16 shape (MxKxN) it times cuops.matmul (variant mma_sync, table entry
from CUOPS_MATMUL_CONFIG per child process) and cuBLAS in the same process
(cuops.bench.time_fn: cold L2, CUDA events, median), then runs each back to
back for ~0.5 s and reads the SM clock and power NVML reports (torch.cuda
.clock_rate / power_draw) while it runs. Shapes pair up so one factor changes:
  4096^3 vs K=8192: same tiles and tail, twice the k tiles per tile
      (the per-tile prologue/epilogue share halves);
  4096^3 vs 8192x4096x8192: same k tiles per tile, 4x the tiles (15.5 waves
      of 264 block slots instead of 3.88: the tail share shrinks).
"""

import argparse
import json
import os
import subprocess
import sys
import time

SHAPES = [(4096, 4096, 4096), (4096, 8192, 4096), (8192, 4096, 8192), (8192, 8192, 8192),
          (4224, 4096, 4224)]  # 33x33 tiles = 1089 = 4.1 waves


def busy_clock(fn, seconds=0.5):
    import torch
    torch.cuda.synchronize()
    t_end = time.perf_counter() + seconds
    clocks, power = [], []
    while time.perf_counter() < t_end:
        for _ in range(5):
            fn()
        clocks.append(torch.cuda.clock_rate())
        power.append(torch.cuda.power_draw() / 1000)
    torch.cuda.synchronize()
    half = len(clocks) // 2  # the second half: after the clock settled
    return (sum(clocks[half:]) / max(1, len(clocks) - half),
            sum(power[half:]) / max(1, len(power) - half))


def child() -> None:
    import torch

    import cuops
    from cuops.bench import time_fn

    dev = torch.device("cuda")
    out = []
    for m, k, n in SHAPES:
        torch.manual_seed(0)
        a = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
        b = torch.randn(k, n, device=dev, dtype=torch.bfloat16)
        flops = 2.0 * m * n * k
        def ours(x, y):
            return cuops.matmul(x, y, variant="mma_sync")

        t_o = time_fn(ours, [(a, b)], dev, warmup=3, reps=20, max_seconds=1.0)
        t_r = time_fn(torch.matmul, [(a, b)], dev, warmup=3, reps=20, max_seconds=1.0)
        c_o, p_o = busy_clock(lambda: ours(a, b))
        c_r, p_r = busy_clock(lambda: torch.matmul(a, b))
        out.append({"shape": f"{m}x{k}x{n}", "ours": flops / t_o / 1e9, "cublas": flops / t_r / 1e9,
                    "ratio": t_r / t_o, "clk_ours": c_o, "clk_cublas": c_r, "w_ours": p_o,
                    "w_cublas": p_r})
        del a, b
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--configs", default="0")
    args = ap.parse_args()
    if args.child:
        return child()
    print(f"{'cfg':>3} {'shape':<16} {'TFLOP/s':>8} {'cuBLAS':>8} {'ratio':>6} "
          f"{'MHz ours':>9} {'MHz cuBLAS':>10} {'W ours':>7} {'W cuBLAS':>8}")
    for cfg in args.configs.split(","):
        env = dict(os.environ, CUOPS_MATMUL_CONFIG=f"mma_sync={cfg}")
        p = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True,
                           text=True, timeout=300)
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"[config {cfg}] FAILED rc={p.returncode}\n{p.stderr[-2000:]}")
            continue
        for r in json.loads(line[7:]):
            print(f"{cfg:>3} {r['shape']:<16} {r['ours']:8.1f} {r['cublas']:8.1f} {r['ratio']:5.2f}x "
                  f"{r['clk_ours']:9.0f} {r['clk_cublas']:10.0f} {r['w_ours']:7.0f} "
                  f"{r['w_cublas']:8.0f}", flush=True)


if __name__ == "__main__":
    main()
