"""fp32 GEMM on the tf32 tensor cores: speed and error of the TF32 steps against
cuBLAS (true fp32 and TF32) in one process, per operand layout.

    python scripts/explore/tf32_speed.py [--shapes 4096,8192] [--steps wgmma_3xtf32,...]

Time: cuops.bench.time_fn (CUDA events, L2 flushed, median, random data).
Error: max |out - truth| / max |truth| against an fp64 product of the same
inputs (for sizes up to 4096; larger ones are timed only); first, the error
by K (64 .. 16384) over cuBLAS true fp32's, the worst of three seeds.
"""

import argparse

import torch

import cuops
from cuops.bench import rel_error, time_fn

LAYOUTS = {"a@b": (False, False), "a@bT": (False, True), "aT@b": (True, False)}


def operands(m, k, n, ta, tb, device):
    a = torch.randn(k, m, device=device).mT if ta else torch.randn(m, k, device=device)
    b = torch.randn(n, k, device=device).mT if tb else torch.randn(k, n, device=device)
    return a, b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="4096,8192")
    ap.add_argument("--steps", default="wgmma_3xtf32,wgmma_tf32,mma_3xtf32,splitk")
    args = ap.parse_args()
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"# {torch.cuda.get_device_name()} | torch {torch.__version__}")
    error_by_k(["wgmma_3xtf32", "mma_3xtf32", "splitk"])
    print(f"{'shape':>16} {'layout':>6} {'impl':>14} {'ms':>9} {'TFLOP/s':>8} {'vs fp32':>8} "
          f"{'rel err':>9} {'err/fp32':>8}")
    for s in (int(x) for x in args.shapes.split(",")):
        m = k = n = s
        flop = 2 * m * n * k
        for name, (ta, tb) in LAYOUTS.items():
            if s > 4096 and name != "a@b":
                continue
            sets = [operands(m, k, n, ta, tb, dev) for _ in range(2)]
            truth = torch.matmul(sets[0][0].double(), sets[0][1].double()) if s <= 4096 else None

            def tf32(a, b):
                torch.backends.cuda.matmul.allow_tf32 = True
                try:
                    return torch.matmul(a, b)
                finally:
                    torch.backends.cuda.matmul.allow_tf32 = False

            impls = {"cublas fp32": torch.matmul, "cublas tf32": tf32}
            for st in args.steps.split(","):
                impls[st] = (lambda st: lambda a, b: cuops.matmul(a, b, variant=st))(st)
            base_ms = base_err = None
            for impl, fn in impls.items():
                ms = time_fn(fn, sets, dev, warmup=3, reps=15)
                err = rel_error(fn(*sets[0]), truth) if truth is not None else float("nan")
                if base_ms is None:
                    base_ms, base_err = ms, err
                print(f"{f'{m}x{k}x{n}':>16} {name:>6} {impl:>14} {ms:9.3f} "
                      f"{flop / ms / 1e9:8.1f} {base_ms / ms:7.2f}x {err:9.2e} "
                      f"{err / base_err if base_err else float('nan'):7.2f}x", flush=True)


def error_by_k(steps) -> None:
    """Error vs fp64 by K at 1024 x K x 1024 (normal and wide data): where the
    3xTF32 split is at or below cuBLAS true fp32 (the planner's kTf32x3MinK)."""
    from cuops.bench.fp32 import wide
    dev = torch.device("cuda")
    print(f"{'K':>7} {'data':>6} {'cublas fp32':>11} " + " ".join(f"{s:>14}" for s in steps))
    for k in (64, 256, 512, 1024, 2048, 4096, 16384):
        for kind in ("normal", "wide"):
            errs = {s: [] for s in ["cublas"] + steps}
            for seed in range(3):
                torch.manual_seed(seed)
                mk = (lambda sh: torch.randn(sh, device=dev)) if kind == "normal" else \
                    (lambda sh: wide(sh, dev))
                a, b = mk((1024, k)), mk((k, 1024))
                truth = torch.matmul(a.double(), b.double())
                errs["cublas"].append(rel_error(torch.matmul(a, b), truth))
                for s in steps:
                    errs[s].append(rel_error(cuops.matmul(a, b, variant=s), truth))
            base = max(errs["cublas"])
            print(f"{k:>7} {kind:>6} {base:11.2e} " +
                  " ".join(f"{max(errs[s]) / base:13.2f}x" for s in steps), flush=True)


if __name__ == "__main__":
    main()
