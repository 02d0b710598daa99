"""Sweep the split-K table of the conv2d forward (CUOPS_CONV_CONFIG) on one GPU.

    PYTHONPATH=. python scripts/explore/tune_conv.py              # all entries, ~1 min on an H100
    PYTHONPATH=. python scripts/explore/tune_conv.py --configs 0,5
    PYTHONPATH=. python scripts/explore/tune_conv.py --tiles  # kernel-configuration table
    PYTHONPATH=. python scripts/explore/tune_conv.py --dw   # depthwise_nhwc_window's table

Needs a development build, whose tables hold every entry (CUOPS_EXPLORE=1 at build
time, e.g. `CUOPS_EXPLORE=1 ./dev.sh build`; csrc/cuda/conv2d/tuning.h).

One subprocess per entry i of the table in csrc/cuda/conv2d/implicit_gemm_mma_splitk.cu
(split_choice; the knob is read once per process), with
CUOPS_CONV_CONFIG="implicit_gemm_mma_splitk=i". Each child times, with
cuops.bench.time_fn (cold L2, CUDA events), the fp16 channels_last forward of
the small-M ResNet-50 layers at batch 32 (3x3 512@7 and 256@14) with
implicit_gemm_mma_splitk, implicit_gemm_mma (no split) and cuDNN (F.conv2d,
cudnn.benchmark on) in the same process, and checks the result against
F.conv2d in fp32 (relative Frobenius error). With --dw: the table of
depthwise_nhwc_window (CUOPS_CONV_CONFIG="depthwise_nhwc_window=i") on the
depthwise 3x3 256@56 layer at batch 32, fp16 and bf16 channels_last. With
--tiles: the kernel-configuration table of the tensor-core forward
(CUOPS_CONV_CONFIG="implicit_gemm_mma=i", csrc/cuda/conv2d/implicit_gemm_mma_explore.cu;
entry i forces one tile/warp layout/BK in both the no-split and the split-K step) on all four ResNet-50 3x3 layers (64@56, 128@28, 256@14, 512@7),
batch 32, fp16 channels_last.
"""

import argparse
import json
import os
import subprocess
import sys
import time

DESC = ["heuristic (128x128 split when its tiles < SMs/2, else 64x64 split)", "64x64, splits to ~4 blocks/SM (old)",
        "128x128 split 2", "128x128 split 3", "128x128 split 4", "128x128 split 5",
        "128x128 split 6", "64x64 no split"]
CASES = [("512@7", 512, 7), ("256@14", 256, 14)]
# implicit_gemm_mma=<i> (Tile1..Tile11 in implicit_gemm_mma_explore.cu). DB: fragment
# double-buffering with cross-tile prefetch (fast A path; the general A path of
# a forced entry runs the same tile at BK 32 without it).
TILE_DESC = ["heuristic (128x128 / 128x64 / 64x64 = entry 4; split step: split_choice)",
             "64x64, 4 warps 32x32, BK32, 6 st, DB (today's small tile + DB)",
             "64x64, 2 warps 64x32, BK32, 6 st, DB",
             "64x64, 2 warps 64x32, BK64, 4 st, DB",
             "64x64, 4 warps 32x32, BK64, 4 st, DB",
             "128x64, 2 warps 64x64, BK64, 3 st, DB",
             "128x128, 4 warps 64x64, BK64, 3 st, DB",
             "128x128, 8 warps 64x32, BK32, 4 st, DB (1 block/SM)",
             "64x128, 2 warps 64x64, BK64, 3 st, DB",
             "128x64, 4 warps 64x32, BK64, 3 st, DB", "64x128, 4 warps 32x64, BK64, 3 st, DB",
             "128x64, 8 warps 32x32, BK64, 3 st, DB"]
TILE_CASES = [("64@56", 64, 56), ("128@28", 128, 28), ("256@14", 256, 14), ("512@7", 512, 7)]
DW_DESC = ["strips of 4 outputs (3x3 s1; default)", "strips of 8 outputs"]


def measure(fns, x, w, ref, flops, dev) -> dict:
    """Each labelled fn on (x, w): relative error against `ref` and the median
    cold-L2 time (cuops.bench.time_fn), in one row."""
    from cuops.bench import time_fn

    row = {}
    for label, fn in fns:
        got = fn(x, w).float()
        err = ((got - ref).norm() / ref.norm()).item()
        ms = time_fn(fn, [(x, w)], dev, warmup=5, reps=30, max_seconds=1.0)
        row[label] = {"ms": ms, "tflops": flops / ms / 1e9, "err": err}
    return row


def child_dw() -> None:
    import torch
    import torch.nn.functional as F

    import cuops

    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    out = {}
    for dtype in (torch.float16, torch.bfloat16):
        torch.manual_seed(0)
        cl = torch.channels_last
        x = torch.randn(32, 256, 56, 56, device=dev, dtype=dtype).to(memory_format=cl)
        w = torch.randn(256, 1, 3, 3, device=dev, dtype=dtype).to(memory_format=cl)
        ref = F.conv2d(x.float(), w.float(), padding=1, groups=256)
        fns = [("ours", lambda a, b: cuops.conv2d(a, b, padding=1, groups=256,
                                                 variant="depthwise_nhwc_window")),
               ("cudnn", lambda a, b: F.conv2d(a, b, padding=1, groups=256))]
        out[str(dtype).replace("torch.", "")] = measure(fns, x, w, ref, 2.0 * ref.numel() * 9, dev)
    print("RESULT " + json.dumps(out), flush=True)


def child(cases) -> None:
    import torch
    import torch.nn.functional as F

    import cuops

    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    out = {}
    for name, c, hw in cases:
        torch.manual_seed(0)
        cl = torch.channels_last
        x = torch.randn(32, c, hw, hw, device=dev, dtype=torch.float16).to(memory_format=cl)
        w = torch.randn(c, c, 3, 3, device=dev, dtype=torch.float16).to(memory_format=cl)
        ref = F.conv2d(x.float(), w.float(), padding=1)
        fns = [("splitk", lambda a, b: cuops.conv2d(a, b, padding=1,
                                                   variant="implicit_gemm_mma_splitk")),
               ("mma", lambda a, b: cuops.conv2d(a, b, padding=1, variant="implicit_gemm_mma")),
               ("cudnn", lambda a, b: F.conv2d(a, b, padding=1))]
        out[name] = measure(fns, x, w, ref, 2.0 * ref.numel() * c * 9, dev)
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--dw", action="store_true", help="sweep depthwise_nhwc_window's table")
    ap.add_argument("--tiles", action="store_true",
                    help="sweep the kernel-configuration table (implicit_gemm_mma=<i>)")
    ap.add_argument("--configs", default=None, help="comma-separated entries (default: all)")
    args = ap.parse_args()
    if args.child:
        return child_dw() if args.dw else child(TILE_CASES if args.tiles else CASES)
    desc, key = ((DW_DESC, "depthwise_nhwc_window") if args.dw else
                 (TILE_DESC, "implicit_gemm_mma") if args.tiles else
                 (DESC, "implicit_gemm_mma_splitk"))
    flag = ["--dw"] if args.dw else ["--tiles"] if args.tiles else []
    from cuops.ops.conv2d import TUNING_TABLES  # sizes of the C++ tables

    if TUNING_TABLES.get(key, 0) != len(desc):
        sys.exit(f"{key}: this build's table has {TUNING_TABLES.get(key, 0)} entries, {len(desc)} "
                 "are described here: sweep a development build (CUOPS_EXPLORE=1 ./dev.sh build)")
    configs = [int(c) for c in args.configs.split(",")] if args.configs else range(len(desc))
    t0 = time.time()
    rows = {}
    for i in configs:
        env = dict(os.environ, CUOPS_CONV_CONFIG=f"{key}={i}")
        p = subprocess.run([sys.executable, __file__, "--child"] + flag,
                           env=env, capture_output=True, text=True, timeout=300)
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if p.returncode != 0 or line is None:
            print(f"[config {i}] FAILED (rc={p.returncode}):\n{p.stderr[-2000:]}", flush=True)
            continue
        rows[i] = json.loads(line[len("RESULT "):])

    import torch
    print(f"# device: {torch.cuda.get_device_name() if torch.cuda.is_available() else '?'} | "
          f"torch {torch.__version__} | {time.strftime('%Y-%m-%d %H:%M')}")
    # One header and one line format per table; each row is (entry, case, its results).
    if args.dw:
        head = (f"{'cfg':>3}  {'dtype':<9} {'ms':>8} {'TFLOP/s':>8} {'cuDNN ms':>8} {'ratio':>6} "
                f"{'rel.err':>9}  config")

        def fmt(r):
            o, d = r["ours"], r["cudnn"]
            return (f"{o['ms']:8.4f} {o['tflops']:8.2f} {d['ms']:8.4f} {d['ms'] / o['ms']:5.2f}x "
                    f"{o['err']:9.2e}")
    elif args.tiles:
        head = (f"{'cfg':>3}  {'layer':<7} {'mma ms':>8} {'TFLOP/s':>8} {'ratio':>6} {'split ms':>8} "
                f"{'TFLOP/s':>8} {'ratio':>6} {'cuDNN':>8} {'rel.err':>9}  config")

        def fmt(r):
            s, m, d = r["splitk"], r["mma"], r["cudnn"]
            return (f"{m['ms']:8.4f} {m['tflops']:8.1f} {d['ms'] / m['ms']:5.2f}x "
                    f"{s['ms']:8.4f} {s['tflops']:8.1f} {d['ms'] / s['ms']:5.2f}x "
                    f"{d['tflops']:8.1f} {max(m['err'], s['err']):9.2e}")
    else:
        head = (f"{'cfg':>3}  {'layer':<7} {'splitk ms':>9} {'TFLOP/s':>8} {'no-split':>8} "
                f"{'cuDNN':>8} {'ratio':>6} {'rel.err':>9}  config")

        def fmt(r):
            s, m, d = r["splitk"], r["mma"], r["cudnn"]
            return (f"{s['ms']:9.4f} {s['tflops']:8.1f} {m['tflops']:8.1f} {d['tflops']:8.1f} "
                    f"{d['ms'] / s['ms']:5.2f}x {s['err']:9.2e}")
    print(head)
    width = 9 if args.dw else 7
    for i, res in rows.items():
        for name, r in res.items():
            print(f"{i:>3}  {name:<{width}} {fmt(r)}  {desc[i]}")
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
