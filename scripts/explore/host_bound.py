"""Is a converted model's training step bound by the host (Python and launch
overhead) rather than by the GPU? Per model and precision, torch and cuops:
the device time per step with steps queued back to back (CUDA events, as
`bench models` times them), and the host time to issue one step while the
GPU is kept busy by a long sleep kernel queued first (the host never waits
for the device). Where the issue time is close to the device time, the
benchmark measures the host.

    python scripts/explore/host_bound.py [--models resnet50 resnet18] [--steps 10]
"""

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

import cuops
from cuops.bench import use_true_fp32
from cuops.bench.models import build


def make_step(net, x, t, autocast):
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            loss = F.cross_entropy(net(x), t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def measure(step, steps):
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    # Device time: steps queued back to back between two events.
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(steps):
        step()
    e.record()
    torch.cuda.synchronize()
    device_ms = s.elapsed_time(e) / steps
    # Host time: the GPU busy with a sleep long enough for every step, so no
    # step's issue waits for the device (the caching allocator included).
    issue = []
    torch.cuda._sleep(int(2e9))  # ~1 s of device cycles
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        issue.append((time.perf_counter() - t0) * 1e3)
    torch.cuda.synchronize()
    return device_ms, statistics.median(issue)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=["resnet50", "resnet18", "convnext_tiny"])
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    use_true_fp32(torch.device("cuda"))
    print(f"{'model':16s} {'prec':5s} {'torch dev':>9s} {'host':>7s} {'cuops dev':>9s} "
          f"{'host':>7s}  ms/step")
    for name in args.models:
        torch.manual_seed(0)
        ref = build(name).cuda().to(memory_format=torch.channels_last)
        x = torch.randn(64, 3, 224, 224, device="cuda").to(memory_format=torch.channels_last)
        t = torch.randint(0, 1000, (64,), device="cuda")
        for autocast in (True, False):
            row = []
            for net in (copy.deepcopy(ref), cuops.convert(copy.deepcopy(ref))):
                row += measure(make_step(net, x, t, autocast), args.steps)
                del net
            print(f"{name:16s} {'bf16' if autocast else 'fp32':5s} {row[0]:9.2f} {row[1]:7.2f} "
                  f"{row[2]:9.2f} {row[3]:7.2f}")


if __name__ == "__main__":
    main()
