"""Where a model's training step spends GPU time, torch against cuops.

torch.profiler's CUDA activity (no Nsight counters needed) over a few steps
of exactly what `bench models` times (cuops.bench.models), kernels grouped by
name: the step's total kernel time, then the kernels that take the most time
in either implementation, side by side. A gap in a whole-model ratio is then
a named kernel, not a guess.

    python scripts/explore/model_profile.py [--models convnext_tiny] [--fp32] [--top 25]
"""
import argparse
import collections

import torch
from torch.profiler import ProfilerActivity, profile

import cuops  # noqa: F401  (registers torch.ops.cuops)
from cuops.bench import use_true_fp32
from cuops.bench.models import _Model


def kernel_times(step, steps):
    """us of kernel time per step, by kernel name (truncated), and the count."""
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    per_kernel = collections.defaultdict(lambda: [0.0, 0.0])
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            entry = per_kernel[e.name[:70]]
            entry[0] += 1 / steps
            entry[1] += e.device_time / steps
    return per_kernel


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=["convnext_tiny"])
    ap.add_argument("--fp32", action="store_true", help="fp32 steps (default: bf16 autocast)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    device = torch.device("cuda")
    use_true_fp32(device)
    for name in args.models:
        x = torch.randn(64, 3, 224, 224, device=device).contiguous(
            memory_format=torch.channels_last)
        t = torch.randint(0, 1000, (64,), device=device)
        times = {}
        for impl in ("torch", "cuops"):
            model = _Model(name, device, 224, impl == "cuops", True, not args.fp32)
            times[impl] = kernel_times(lambda: model(x, t), args.steps)
            del model
            torch.cuda.empty_cache()
        total = {k: sum(v[1] for v in times[k].values()) / 1e3 for k in times}
        ours = sum(v[1] for k, v in times["cuops"].items() if "cuops::" in k) / 1e3
        print(f"== {name} train {'fp32' if args.fp32 else 'bf16'} batch 64: kernel ms per step "
              f"torch {total['torch']:.2f}, cuops {total['cuops']:.2f} (its own kernels "
              f"{ours:.2f}, the rest {total['cuops'] - ours:.2f})")
        names = set(times["torch"]) | set(times["cuops"])
        key = lambda k: -max(times["torch"].get(k, (0, 0))[1], times["cuops"].get(k, (0, 0))[1])
        print(f"{'torch us':>9s} {'n':>4s} {'cuops us':>9s} {'n':>4s}  kernel")
        for k in sorted(names, key=key)[:args.top]:
            tn, tt = times["torch"].get(k, (0, 0))
            cn, ct = times["cuops"].get(k, (0, 0))
            print(f"{tt:9.0f} {tn:4.0f} {ct:9.0f} {cn:4.0f}  {k}")


if __name__ == "__main__":
    main()
