"""What "fp32" costs and how accurate it is: the accuracy study of the fp32
steps. `python -m cuops bench fp32`.

Each case times and checks, on the same inputs: cuBLAS/cuDNN true fp32
(impl "torch"/"cudnn", TF32 off: the baseline), the same with TF32 allowed
("torch tf32"/"cudnn tf32": what `allow_tf32 = True` buys), the cuops
default, and the cuops fp32 steps named in _STEPS / _CONV_STEPS (the SIMT
defaults, the split-precision tensor-core steps `mma_3xtf32`, `wgmma_3xtf32`,
`implicit_gemm_3xtf32`, `implicit_gemm_wgmma_3xtf32`). Accuracy columns against a
float64 truth of the same inputs: `rel err` (max |out - truth| / max |truth|)
and `rms err` (RMS of out - truth over RMS of truth).

Inputs are random normal, or "wide": magnitudes spread log-uniformly over
2^-20 .. 2^20 with random signs, where a 10-bit mantissa (TF32) loses the
small terms that fp32 keeps. K runs from 64 to 524288: where plain fp32
accumulation error grows with K, the split-precision step must stay at or
below cuBLAS's.
"""

import contextlib

import torch
import torch.nn.functional as F

import cuops

from . import Case, use_true_fp32

# The cuops fp32 matmul steps compared (besides the default, impl "cuops").
_STEPS = ("splitk", "mma_3xtf32", "wgmma_3xtf32", "wgmma_tf32")
# ... and conv2d fp32 steps.
_CONV_STEPS = ("implicit_gemm_regtile", "implicit_gemm_3xtf32", "implicit_gemm_wgmma_3xtf32")
# (M, K, N) of the products; the big squares are the speed targets.
_MATMUL = [(4096, 4096, 4096), (8192, 8192, 8192),
           (512, 64, 512), (512, 4096, 512), (512, 65536, 512), (256, 524288, 256)]
# ResNet-50's 3x3 layers at batch 32: (C = K, H = W).
_CONV = [(64, 56), (128, 28), (256, 14), (512, 7)]


def wide(shape, device) -> torch.Tensor:
    """Random signs, magnitudes 2^u with u uniform in [-20, 20]."""
    e = torch.empty(shape, device=device).uniform_(-20, 20)
    sign = torch.randint(0, 2, shape, device=device) * 2 - 1
    return torch.exp2(e) * sign


@contextlib.contextmanager
def tf32_allowed():
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def with_tf32(fn):
    def call(*args):
        with tf32_allowed():
            return fn(*args)
    return call


def _rand(kind):
    return (lambda shape, device: torch.randn(shape, device=device)) if kind == "normal" else wide


def matmul_case(device, m, k, n, kind) -> Case:
    rand = _rand(kind)
    impls = {"torch": torch.matmul, "torch tf32": with_tf32(torch.matmul),
             "cuops": cuops.matmul}
    fp32 = {v["name"] for v in cuops.variants("matmul", device.type)
            if torch.float32 in v["dtypes"]}
    for s in _STEPS:
        if s in fp32:
            impls[s] = (lambda s: lambda a, b: cuops.matmul(a, b, variant=s))(s)
    big = 2 * m * n * k > 1e11
    return Case("fp32", f"matmul {m}x{k}x{n} {kind}", "TFLOP/s", 2 * m * n * k,
                lambda: (rand((m, k), device), rand((k, n), device)), impls,
                bytes_per_set=4 * (m * k + k * n + m * n),
                truth=lambda a, b: torch.matmul(a.double(), b.double()),
                **(dict(warmup=2, reps=10) if big else {}))


def conv_case(device, c, hw, kind, channels_last) -> Case:
    rand = _rand(kind)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    n = 32

    def make():
        return (rand((n, c, hw, hw), device).contiguous(memory_format=fmt),
                rand((c, c, 3, 3), device).contiguous(memory_format=fmt))

    impls = {"cudnn": lambda x, w: F.conv2d(x, w, padding=1),
             "cudnn tf32": with_tf32(lambda x, w: F.conv2d(x, w, padding=1)),
             "cuops": lambda x, w: cuops.conv2d(x, w, padding=1)}
    fwd = {v["name"] for v in cuops.variants("conv2d", device.type)}
    for s in _CONV_STEPS:
        if s in fwd:
            impls[s] = (lambda s: lambda x, w: cuops.conv2d(x, w, padding=1, variant=s))(s)
    return Case("fp32", f"conv 3x3 {c}->{c}@{hw} n{n} {kind}{' cl' if channels_last else ''}",
                "TFLOP/s", 2 * n * c * c * 9 * hw * hw, make, impls, baseline="cudnn",
                bytes_per_set=4 * (2 * n * c * hw * hw + 9 * c * c),
                truth=lambda x, w: F.conv2d(x.double(), w.double(), padding=1))


def cases(device: torch.device, quick: bool) -> list:
    """On the CPU: one small product of each kind (exercises the suite)."""
    use_true_fp32(device)
    if device.type != "cuda":
        return [matmul_case(device, 64, 256, 64, kind) for kind in ("normal", "wide")]
    out = []
    for m, k, n in _MATMUL[:3] if quick else _MATMUL:
        for kind in ("normal", "wide"):
            out.append(matmul_case(device, m, k, n, kind))
    for c, hw in _CONV[:1] if quick else _CONV:
        for cl in (False, True):
            out.append(conv_case(device, c, hw, "normal", cl))
    for cl in (False, True):
        out.append(conv_case(device, 64, 56, "wide", cl))
    return out
