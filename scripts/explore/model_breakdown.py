"""Where a converted model's training step spends its convolution time: every
distinct Conv2d of a torchvision model (batch 64, 224x224, channels_last,
bf16 by default), forward and backward (dgrad + wgrad; wgrad only where the
layer's input needs no gradient, as for the stem), cuops's default against
torch (cuDNN) in the same process, weighted by how often the layer occurs.

    python scripts/explore/model_breakdown.py [--model resnet50] [--dtype bf16] [--batch 64]
"""

import argparse
import collections

import torch
import torch.nn.functional as F

import cuops
from cuops.bench import time_fn, use_true_fp32
from cuops.bench.models import build


def _time(fn):
    """Median ms of fn() (CUDA events, L2 flushed: the benchmark's own timer)."""
    return time_fn(lambda: fn(), [()], torch.device("cuda"), warmup=3, reps=20, max_seconds=10.0)


def layers(model, batch):
    """(input shape, weight shape, stride, padding, dilation, groups) of every Conv2d call."""
    seen = []
    hooks = [m.register_forward_hook(
        lambda m, i, o: seen.append((tuple(i[0].shape), tuple(m.weight.shape), m.stride,
                                     m.padding, m.dilation, m.groups)))
        for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.randn(batch, 3, 224, 224, device="cuda"))
    for h in hooks:
        h.remove()
    return seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    use_true_fp32(torch.device("cuda"))
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    model = build(args.model).cuda().eval()
    calls = layers(model, args.batch)
    counts = collections.Counter(calls)
    first = calls[0]
    rows, tot = [], collections.defaultdict(float)
    for cfg, n in counts.items():
        xs, ws, stride, padding, dilation, groups = cfg
        cl = torch.channels_last
        x = torch.randn(xs, device="cuda", dtype=dt).contiguous(memory_format=cl)
        w = (torch.randn(ws, device="cuda", dtype=dt) * 0.05).contiguous(memory_format=cl)
        needs_dx = cfg != first
        x.requires_grad_(needs_dx)
        w.requires_grad_(True)
        res = {}
        for name, conv in (("torch", F.conv2d), ("cuops", cuops.conv2d)):
            f = lambda: conv(x, w, None, stride, padding, dilation, groups)
            y = f()
            g = torch.randn_like(y)
            res[name, "fwd"] = _time(lambda: conv(x.detach(), w.detach(), None, stride, padding,
                                                  dilation, groups))
            res[name, "fwd+bwd"] = _time(lambda: f().backward(g))
        bwd = {k: res[k, "fwd+bwd"] - res[k, "fwd"] for k in ("torch", "cuops")}
        for k in ("torch", "cuops"):
            tot[k, "fwd"] += n * res[k, "fwd"]
            tot[k, "bwd"] += n * bwd[k]
        label = (f"{xs[1]}->{ws[0]} {ws[2]}x{ws[3]} s{stride[0]} g{groups} @{xs[2]}"
                 + ("" if needs_dx else " (no dx)"))
        rows.append((n * (res["cuops", "fwd+bwd"] - res["torch", "fwd+bwd"]), label, n,
                     res["torch", "fwd"], res["cuops", "fwd"], bwd["torch"], bwd["cuops"]))
    print(f"{args.model} batch {args.batch} {args.dtype} channels_last; ms per call "
          f"(bwd = fwd+bwd - fwd); sorted by time lost x count")
    print(f"{'layer':42s} {'n':>3s} {'fwd torch':>9s} {'cuops':>8s} {'ratio':>6s} "
          f"{'bwd torch':>9s} {'cuops':>8s} {'ratio':>6s}")
    for _, label, n, tf, cf, tb, cb in sorted(rows, reverse=True):
        print(f"{label:42s} {n:3d} {tf:9.3f} {cf:8.3f} {tf / cf:6.2f} {tb:9.3f} {cb:8.3f} "
              f"{tb / max(cb, 1e-6):6.2f}")
    print(f"{'total (x count)':42s} {'':3s} {tot['torch', 'fwd']:9.2f} {tot['cuops', 'fwd']:8.2f} "
          f"{tot['torch', 'fwd'] / tot['cuops', 'fwd']:6.2f} {tot['torch', 'bwd']:9.2f} "
          f"{tot['cuops', 'bwd']:8.2f} {tot['torch', 'bwd'] / tot['cuops', 'bwd']:6.2f}")


if __name__ == "__main__":
    main()
