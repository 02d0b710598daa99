"""Where a converted model's training step spends its convolution time: every
distinct Conv2d of a torchvision model (batch 64, 224x224, channels_last,
bf16 by default), forward and backward (dgrad + wgrad; wgrad only where the
layer's input needs no gradient, as for the stem), cuops's default against
torch (cuDNN) in the same process, weighted by how often the layer occurs.
--split times the two gradients apart (cuops's gradient ops against
aten.convolution_backward with one output each); --model shapes takes the
convolutions of `python -m cuops bench shapes` instead of a model's;
--variant NAME runs that step of the three ladders instead of the defaults
(run once with and once without it to compare a step with the default layer
by layer, before making it a default).

    python scripts/explore/model_breakdown.py [--model resnet50] [--dtype bf16] [--batch 64]
                                              [--split] [--variant implicit_gemm_wgmma]
"""

import argparse
import collections
import contextlib

import torch
import torch.nn.functional as F

import cuops
from cuops.bench import time_fn, use_true_fp32
from cuops.bench.models import build
from cuops.bench.shapes import _CONV


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


def shape_layers(dtype):
    """The bench shapes suite's convolutions of this dtype, as layers()."""
    return [(xs, ws, (st, st), (pad, pad), (1, 1), g)
            for xs, ws, st, pad, g, dtypes, *_ in _CONV if dtype in dtypes]


def split_row(cfg, dt, needs_dx, variant=None):
    """ms of (torch dgrad, cuops dgrad, torch wgrad, cuops wgrad) of one layer."""
    xs, ws, stride, padding, dilation, groups = cfg
    fmt = torch.channels_last if dt != torch.float32 else torch.contiguous_format
    x = torch.randn(xs, device="cuda", dtype=dt).contiguous(memory_format=fmt)
    w = (torch.randn(ws, device="cuda", dtype=dt) * 0.05).contiguous(memory_format=fmt)
    dy = torch.randn_like(F.conv2d(x, w, None, stride, padding, dilation, groups))
    ph, pw = padding  # the ops take (top, bottom, left, right)
    conv_args = (list(stride), [ph, ph, pw, pw], list(dilation), groups)
    aten = torch.ops.aten.convolution_backward
    ops = torch.ops.cuops
    # A step of one gradient ladder only (a dgrad-only step): the other's default.
    dv, wv = (variant if any(v["name"] == variant for v in cuops.variants(op, "cuda")) else None
              for op in ("conv2d_backward_input", "conv2d_backward_weight"))

    def torch_grad(mask):
        return aten(dy, x, w, None, list(stride), list(padding), list(dilation), False, [0, 0],
                    groups, mask)

    out = [float("nan")] * 2
    if needs_dx:
        out = [_time(lambda: torch_grad([True, False, False])),
               _time(lambda: ops.conv2d_backward_input(dy, w, list(xs), *conv_args, dv))]
    return out + [_time(lambda: torch_grad([False, True, False])),
                  _time(lambda: ops.conv2d_backward_weight(dy, x, list(ws), *conv_args, wv))]


def main_split(calls, dt, no_dx=(), variant=None):
    """The --split table: per distinct layer, the gradients apart (layers in
    no_dx: wgrad only)."""
    print(f"{'layer':42s} {'n':>3s} {'dgrad torch':>11s} {'cuops':>8s} {'ratio':>6s} "
          f"{'wgrad torch':>11s} {'cuops':>8s} {'ratio':>6s}")
    tot = collections.defaultdict(float)
    for cfg, n in collections.Counter(calls).items():
        td, cd, tw, cw = split_row(cfg, dt, cfg not in no_dx, variant)
        for k, v in (("td", td), ("cd", cd), ("tw", tw), ("cw", cw)):
            tot[k] += 0 if v != v else n * v
        print(f"{_label(cfg):42s} {n:3d} {td:11.3f} {cd:8.3f} {td / cd:6.2f} "
              f"{tw:11.3f} {cw:8.3f} {tw / cw:6.2f}")
    print(f"{'total (x count)':42s} {'':3s} {tot['td']:11.2f} {tot['cd']:8.2f} "
          f"{tot['td'] / max(tot['cd'], 1e-9):6.2f} {tot['tw']:11.2f} {tot['cw']:8.2f} "
          f"{tot['tw'] / tot['cw']:6.2f}")


def _label(cfg):
    xs, ws, stride, _, _, groups = cfg
    return f"{xs[1]}->{ws[0]} {ws[2]}x{ws[3]} s{stride[0]} g{groups} @{xs[2]} n{xs[0]}"


def main():
    with contextlib.ExitStack() as stack:
        _main(stack)


def _main(stack):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--split", action="store_true", help="dgrad and wgrad apart")
    ap.add_argument("--variant", default=None, help="this step of the three ladders, not the defaults")
    args = ap.parse_args()
    variant = args.variant
    ours = f"cuops {variant}" if variant else "cuops (defaults)"
    use_true_fp32(torch.device("cuda"))
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    if args.model == "shapes":
        print(f"bench shapes convolutions, {args.dtype}; {ours}; ms per call")
        return main_split(shape_layers(dt), dt, variant=variant)  # dx of the stems too
    if args.split:
        model = build(args.model).cuda().eval()
        calls = layers(model, args.batch)
        print(f"{args.model} batch {args.batch} {args.dtype}; {ours}; ms per call")
        return main_split(calls, dt, no_dx=(calls[0],), variant=variant)
    if variant:  # the forward and both gradients of cuops.conv2d through the step
        for op in ("conv2d", "conv2d_backward_input", "conv2d_backward_weight"):
            stack.enter_context(cuops.use_variant(op, variant))
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
    print(f"{args.model} batch {args.batch} {args.dtype} channels_last; {ours}; ms per call "
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
