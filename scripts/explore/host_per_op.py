"""Host time to issue one call, layer by layer: torch against cuops, for the
forward, each gradient op on its own and a whole forward + backward. The GPU
is kept busy by a sleep kernel queued first, so no call waits for the device
and the time measured is the host's (Python, dispatcher, planning, launches).
The per-layer companion of host_bound.py (whole training steps).

    python scripts/explore/host_per_op.py [--dtype bf16] [--batch 32]
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import cuops

# (C, K, H, kernel, stride): ResNet-50's common layer kinds.
LAYERS = [(256, 64, 56, 1, 1), (64, 64, 56, 3, 1), (128, 128, 56, 3, 2), (1024, 2048, 14, 1, 2)]
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def issue_us(fn, n=100):
    """Median host microseconds of fn() with the device busy."""
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    torch.cuda._sleep(int(1.5e9))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e6)
    torch.cuda.synchronize()
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="bf16", choices=list(DTYPES))
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    dt, ops = DTYPES[args.dtype], torch.ops.cuops
    aten_bwd = torch.ops.aten.convolution_backward
    print(f"host us per call ({args.dtype}, batch {args.batch}, channels_last)")
    for c, k, h, r, s in LAYERS:
        cl = torch.channels_last
        x = torch.randn(args.batch, c, h, h, device="cuda", dtype=dt).contiguous(memory_format=cl)
        w = torch.randn(k, c, r, r, device="cuda", dtype=dt).contiguous(memory_format=cl)
        p = r // 2
        dy = torch.randn_like(F.conv2d(x, w, None, s, p))
        conv = ([s, s], [p] * 4, [1, 1], 1)
        xr, wr = x.detach().requires_grad_(), w.detach().requires_grad_()
        rows = {
            "torch fwd": lambda: F.conv2d(x, w, None, s, p),
            "cuops fwd": lambda: cuops.conv2d(x, w, None, s, p),
            "torch dgrad+wgrad": lambda: aten_bwd(dy, x, w, None, [s, s], [p, p], [1, 1], False,
                                                  [0, 0], 1, [True, True, False]),
            "cuops dgrad": lambda: ops.conv2d_backward_input(dy, w, list(x.shape), *conv, None),
            "cuops wgrad": lambda: ops.conv2d_backward_weight(dy, x, list(w.shape), *conv, None),
            "torch fwd+bwd": lambda: F.conv2d(xr, wr, None, s, p).backward(dy),
            "cuops fwd+bwd": lambda: cuops.conv2d(xr, wr, None, s, p).backward(dy),
        }
        print(f"{c}->{k} {r}x{r}/{s} @{h}: " +
              "  ".join(f"{name} {issue_us(fn):.1f}" for name, fn in rows.items()), flush=True)


if __name__ == "__main__":
    main()
