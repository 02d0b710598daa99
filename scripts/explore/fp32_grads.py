"""The accuracy of a ResNet-50 fp32 training step's gradients, per way of
computing fp32: torch true fp32 (TF32 off), torch TF32, the converted model
with cuops's defaults, and the converted model on the 3xTF32 steps. Each is
compared with the same step in float64 (torch): max |g - g64| / max |g64| and
||g - g64|| / ||g64|| over all parameter gradients together, and the worst
layer's relative norm error. Also the step's time (median of a few).

    PYTHONPATH=. python scripts/explore/fp32_grads.py [--batch 16] [--size 160]

The accuracy study of the 3xTF32 steps (README "What fp32 means",
docs/matmul-worklog.md step 9) uses this next to `python -m cuops bench fp32`.
"""

import argparse
import contextlib
import copy
import statistics

import torch
import torch.nn.functional as F
import torchvision

import cuops

# name -> (convert, {op: variant}, allow TF32)
CONFIGS = {
    "torch fp32": (False, {}, False),
    "torch tf32": (False, {}, True),
    "cuops": (True, {}, False),
    "cuops 3xtf32": (True, {"matmul": "mma_3xtf32", "conv2d": "implicit_gemm_3xtf32",
                            "conv2d_backward_input": "implicit_gemm_3xtf32",
                            "conv2d_backward_weight": "implicit_gemm_3xtf32"}, False),
}


def grads(model, x, target):
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), target).backward()
    return [p.grad for p in model.parameters()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    dev = torch.device("cuda")
    torch.manual_seed(0)
    base = torchvision.models.resnet50(num_classes=100).to(dev)
    x = torch.randn(args.batch, 3, args.size, args.size, device=dev)
    target = torch.randint(0, 100, (args.batch,), device=dev)

    ref_model = copy.deepcopy(base).double()
    ref = grads(ref_model, x.double(), target)
    ref_flat = torch.cat([g.flatten() for g in ref])
    print(f"{torch.cuda.get_device_name()} | torch {torch.__version__} | ResNet-50, batch "
          f"{args.batch}, {args.size}^2, fp32 training step vs float64")
    print(f"{'config':14} {'max err':>10} {'rms err':>10} {'worst layer':>12} {'ms':>8}")
    for name, (convert, variants, tf32) in CONFIGS.items():
        model = copy.deepcopy(base)
        if convert:
            cuops.convert(model)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
        try:
            with contextlib.ExitStack() as stack:
                for op, v in variants.items():
                    stack.enter_context(cuops.use_variant(op, v))
                got = grads(model, x, target)
                times = []
                for _ in range(args.reps):
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    grads(model, x, target)
                    e.record()
                    torch.cuda.synchronize()
                    times.append(s.elapsed_time(e))
        finally:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        flat = torch.cat([g.double().flatten() for g in got])
        diff = flat - ref_flat
        max_err = (diff.abs().max() / ref_flat.abs().max()).item()
        rms_err = (diff.norm() / ref_flat.norm()).item()
        worst = max(((g.double() - r).norm() / r.norm().clamp_min(1e-300)).item()
                    for g, r in zip(got, ref))
        print(f"{name:14} {max_err:10.2e} {rms_err:10.2e} {worst:12.2e} "
              f"{statistics.median(times):8.2f}", flush=True)


if __name__ == "__main__":
    main()
