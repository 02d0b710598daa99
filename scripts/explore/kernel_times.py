"""GPU kernel time per call of the conv2d gradient ops, split by kernel.

torch.profiler's CUDA activity (no Nsight counters needed: works under gVisor
too): which kernels a default dgrad/wgrad launches and what each costs, e.g.
the phase convolutions against the sub-filter packing or a wgrad's split
reduction. bf16, channels_last, the default variant unless --variant.

    python scripts/explore/kernel_times.py [--variant implicit_gemm_wgmma]
"""
import argparse
import collections

import torch
from torch.profiler import ProfilerActivity, profile

import cuops  # noqa: F401  (registers torch.ops.cuops)

# (label, N, C, K, H, R, stride, which): ResNet-50's slow backward layers and the stem.
CASES = [
    ("dgrad 512@14 s2", 64, 512, 512, 14, 3, 2, "dgrad"),
    ("dgrad 128@56 s2", 32, 128, 128, 56, 3, 2, "dgrad"),
    ("dgrad 256@14 s1", 64, 256, 256, 14, 3, 1, "dgrad"),
    ("wgrad 64@56 s1", 64, 64, 64, 56, 3, 1, "wgrad"),
    ("wgrad 512@7 s1", 64, 512, 512, 7, 3, 1, "wgrad"),
    ("wgrad 128@56 s2", 32, 128, 128, 56, 3, 2, "wgrad"),
    ("stem 7x7/2 dgrad+wgrad", 32, 3, 64, 224, 7, 2, "both"),
]


def channels_last(*shape):
    return torch.randn(*shape, device="cuda", dtype=torch.bfloat16).contiguous(
        memory_format=torch.channels_last)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default=None)
    ap.add_argument("--calls", type=int, default=10)
    args = ap.parse_args()
    ops = torch.ops.cuops
    for label, n, c, k, h, r, s, which in CASES:
        pad = r // 2
        p = (h + 2 * pad - r) // s + 1
        x, w, dy = channels_last(n, c, h, h), channels_last(k, c, r, r), channels_last(n, k, p, p)
        geom = ([s, s], [pad] * 4, [1, 1], 1, args.variant)

        def run():
            if which in ("dgrad", "both"):
                ops.conv2d_backward_input(dy, w, list(x.shape), *geom)
            if which in ("wgrad", "both"):
                ops.conv2d_backward_weight(dy, x, list(w.shape), *geom)

        for _ in range(3):
            run()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(args.calls):
                run()
            torch.cuda.synchronize()
        per_kernel = collections.defaultdict(lambda: [0, 0.0])
        for e in prof.events():
            if e.device_type == torch.autograd.DeviceType.CUDA:
                entry = per_kernel[e.name[:90]]
                entry[0] += 1
                entry[1] += e.device_time
        total = sum(t for _, t in per_kernel.values()) / args.calls
        print(f"== {label}: {total:.1f} us of kernels per call")
        for name, (count, t) in sorted(per_kernel.items(), key=lambda kv: -kv[1][1]):
            print(f"   {t / args.calls:8.1f} us  x{count / args.calls:.0f}  {name}")


if __name__ == "__main__":
    main()
