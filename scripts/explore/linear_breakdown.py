"""Where a converted model's Linear layers spend their time: every distinct
nn.Linear call of a torchvision model (batch 64, 224x224, bf16 by default),
forward, input gradient (dy . w), weight gradient (x^T . dy) and bias gradient
(dy summed over rows), cuops's default against torch in the same process,
weighted by how often the layer occurs. The companion of model_breakdown.py
(convolutions). nn.MultiheadAttention's projections are not nn.Linear calls
and are not listed (convert leaves them to torch).

    python scripts/explore/linear_breakdown.py [--model convnext_tiny] [--dtype bf16]
"""

import argparse
import collections

import torch
import torch.nn.functional as F

import cuops
from cuops.bench import time_fn, use_true_fp32
from cuops.bench.models import build

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def _time(fn):
    return time_fn(lambda: fn(), [()], torch.device("cuda"), warmup=3, reps=20, max_seconds=10.0)


def layers(model, batch, size):
    """(rows M, in features, out features, has bias) of every nn.Linear call."""
    seen = []
    hooks = [m.register_forward_hook(
        lambda m, i, o: seen.append((i[0].numel() // i[0].shape[-1], m.in_features,
                                     m.out_features, m.bias is not None)))
        for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        model(torch.randn(batch, 3, size, size, device="cuda"))
    for h in hooks:
        h.remove()
    return seen


def row(cfg, dt):
    """ms of (torch, cuops) for forward, dgrad, wgrad, bias gradient."""
    m, k, n, has_bias = cfg
    x = torch.randn(m, k, device="cuda", dtype=dt)
    w = torch.randn(n, k, device="cuda", dtype=dt) * k ** -0.5
    b = torch.randn(n, device="cuda", dtype=dt) if has_bias else None
    dy = torch.randn(m, n, device="cuda", dtype=dt)
    gemm = torch.ops.cuops.gemm
    out = [_time(lambda: F.linear(x, w, b)), _time(lambda: cuops.linear(x, w, b)),
           _time(lambda: dy @ w), _time(lambda: gemm(dy, w, None, None)),
           _time(lambda: dy.mT @ x), _time(lambda: gemm(x.mT, dy, None, None))]
    if has_bias:
        out += [_time(lambda: dy.sum(0)), _time(lambda: torch.ops.cuops.sum_to(dy, [n], 1))]
    else:
        out += [0.0, 0.0]
    return out


def _cell(torch_ms, cuops_ms, digits):
    """torch ms, cuops ms, their ratio (torch / cuops)."""
    return f"{torch_ms:6.{digits}f} {cuops_ms:6.{digits}f} {torch_ms / max(cuops_ms, 1e-9):5.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="convnext_tiny")
    ap.add_argument("--dtype", default="bf16", choices=list(DTYPES))
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    dt = DTYPES[args.dtype]
    use_true_fp32(torch.device("cuda"))
    net = build(args.model).cuda().eval()
    calls = layers(net, args.batch, 224)
    del net
    print(f"{args.model} batch {args.batch} {args.dtype}; Linear layers; ms per call "
          "(torch / cuops)")
    names = ("fwd", "dgrad", "wgrad", "bias")
    print(f"{'M x K -> N':28s} {'n':>3s} " + " ".join(f"{h:>19s}" for h in names))
    tot = [0.0] * 8
    for cfg, cnt in collections.Counter(calls).items():
        r = row(cfg, dt)
        tot = [t + cnt * v for t, v in zip(tot, r)]
        cells = " ".join(_cell(r[2 * i], r[2 * i + 1], 3) for i in range(4))
        print(f"{cfg[0]:7d} x {cfg[1]:5d} -> {cfg[2]:5d}    {cnt:3d} {cells}")
    cells = " ".join(_cell(tot[2 * i], tot[2 * i + 1], 2) for i in range(4))
    print(f"{'total (x count)':28s} {'':3s} {cells}")


if __name__ == "__main__":
    main()
