"""A small sweep of every CUDA variant for compute-sanitizer: each variant of
each op (from the registry, cuops.variants), every dtype it claims, small odd
shapes and layouts, forward and the gradient ops. Meant to run under each
tool, with the caching allocator off so that an access past a tensor's end
leaves its allocation:

    PYTORCH_NO_CUDA_MEMORY_CACHING=1 compute-sanitizer --tool memcheck \
        python scripts/sanitize_sweep.py

(scripts/gpu_check.sh runs it under memcheck, racecheck, synccheck and
initcheck with SANITIZE=1.) It checks values loosely against torch (a
sanitizer run is about memory and synchronization; the tests check values)
and prints the number of calls. Exit status 1 on a wrong value."""

import os
import sys

import torch
import torch.nn.functional as F

import cuops
from cuops._registry import ladder_ops

OPS = torch.ops.cuops
DEV = os.environ.get("CUOPS_SWEEP_DEVICE", "cuda")  # "cpu": a dry run of the sweep's logic


def _close(out, ref, what):
    out, ref = out.double().cpu(), ref.double().cpu()
    err = (out - ref).norm() / ref.norm().clamp_min(1e-30)
    if not err < 5e-2:
        print(f"WRONG {what}: relative error {err:.3e}")
        return False
    return True


def _cl(t, on):
    return t.contiguous(memory_format=torch.channels_last) if on else t


def gemm_calls(variant, dtype):
    ok = True
    shapes = [(33, 17, 45, False, False), (257, 129, 96, False, False), (64, 72, 40, True, False),
              (31, 130, 80, False, True), (96, 200, 136, True, True)]
    for m, n, k, ta, tb in shapes:
        a = torch.randn(k, m, device=DEV, dtype=dtype).mT if ta else torch.randn(m, k, device=DEV,
                                                                                 dtype=dtype)
        b = torch.randn(n, k, device=DEV, dtype=dtype).mT if tb else torch.randn(k, n, device=DEV,
                                                                                 dtype=dtype)
        bias = torch.randn(n, device=DEV, dtype=dtype)
        a64, b64 = a.double().cpu(), b.double().cpu()
        ok &= _close(OPS.gemm(a, b, bias, variant), a64 @ b64 + bias.double().cpu(),
                     f"gemm {variant} {dtype} {m}x{n}x{k}")
    a, b = torch.randn(3, 19, 23, device=DEV, dtype=dtype), torch.randn(23, 31, device=DEV,
                                                                        dtype=dtype)
    ok &= _close(OPS.gemm(a, b, None, variant), a.double().cpu() @ b.double().cpu(),
                 f"gemm {variant} batched")
    return ok


# (N, C, H, W), (K, C/groups, R, S), stride, pad, dilation, groups
CONVS = [((2, 5, 9, 9), (7, 5, 3, 3), 1, 1, 1, 1), ((2, 16, 11, 10), (24, 16, 3, 3), 2, 1, 1, 1),
         ((2, 32, 7, 7), (32, 1, 3, 3), 1, 1, 1, 32), ((1, 24, 9, 9), (40, 24, 1, 1), 1, 0, 1, 1),
         ((2, 8, 13, 12), (16, 4, 3, 3), 1, 2, 2, 2), ((1, 3, 21, 21), (16, 3, 7, 7), 2, 3, 1, 1),
         ((3, 6, 9, 7), (10, 3, 1, 1), 2, 0, 1, 2)]  # strided grouped 1x1: the gemm steps' copies


def conv_calls(op, variant, dtype):
    ok = True
    for xs, ws, st, pad, dil, g in CONVS:
        for cl in (False, True):
            x = _cl(torch.randn(xs, device=DEV, dtype=dtype), cl)
            w = _cl(torch.randn(ws, device=DEV, dtype=dtype), cl)
            args = ([st, st], [pad] * 4, [dil, dil], g)
            kw = dict(stride=st, padding=pad, dilation=dil, groups=g)
            ref = F.conv2d(x.double().cpu(), w.double().cpu(), **kw)
            what = f"{op} {variant} {dtype} {xs} {ws} cl={cl}"
            if op == "conv2d":
                b = torch.randn(ws[0], device=DEV, dtype=dtype)
                ok &= _close(OPS.conv2d(x, w, b, *args, variant),
                             ref + b.double().cpu()[:, None, None], what)
                continue
            gy = _cl(torch.randn(ref.shape, device=DEV, dtype=dtype), cl)
            if op == "conv2d_backward_input":
                out = OPS.conv2d_backward_input(gy, w, list(xs), *args, variant)
                want = torch.nn.grad.conv2d_input(xs, w.double().cpu(), gy.double().cpu(), **kw)
            else:
                out = OPS.conv2d_backward_weight(gy, x, list(ws), *args, variant)
                want = torch.nn.grad.conv2d_weight(x.double().cpu(), ws, gy.double().cpu(), **kw)
            ok &= _close(out, want, what)
    return ok


def add_calls(variant, dtype):
    a = torch.randn(3, 1001, device=DEV, dtype=dtype)
    b = torch.randn(1001, device=DEV, dtype=dtype)
    a64, b64 = a.double().cpu(), b.double().cpu()
    ok = _close(OPS.add(a, b, 2, variant), a64 + 2 * b64, f"add {variant} {dtype}")
    t = torch.randn(5, 7, 3, device=DEV, dtype=dtype).transpose(0, 2)
    ok &= _close(OPS.add(t, t, 1, variant), 2 * t.double().cpu(), f"add {variant} strided")
    ok &= _close(OPS.sum_to(a, [1, 1001], 1), a64.sum(0, keepdim=True), "sum_to")
    return ok


def main() -> int:
    torch.manual_seed(0)
    calls, ok = 0, True
    runners = {"add": add_calls, "matmul": gemm_calls}
    runners.update({op: (lambda op: lambda v, d: conv_calls(op, v, d))(op)
                    for op in ("conv2d", "conv2d_backward_input", "conv2d_backward_weight")})
    for op in ladder_ops():  # a new ladder without a runner here fails loudly
        run = runners[op]
        for v in cuops.variants(op, DEV):
            for dtype in v["dtypes"]:
                ok &= run(v["name"], dtype)
                calls += 1
    if DEV == "cuda":
        torch.cuda.synchronize()
    print(f"sanitize sweep: {calls} (variant, dtype) groups, values {'ok' if ok else 'WRONG'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
