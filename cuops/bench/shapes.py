"""The shape classes where cuops is furthest behind cuBLAS/cuDNN: strided and
stem convolution backward passes, 1x1 convolutions, huge and grouped fp32
convolutions, ConvNeXt's 7x7 depthwise layers, large-K, matrix-vector,
decode-sized and small/batched GEMMs.
`python -m cuops bench shapes`; the before/after check of the kernels
written for them.

Each case times the PyTorch baseline, the cuops default (impl "cuops": the
ratio that matters, baseline time / cuops time) and the variants that the
matmul and conv2d suites time on such a problem (cuops/bench/matmul.py,
conv2d.py: the same rules, teaching steps only up to their size limits).
fp32 is true fp32 on both sides (TF32 off). The matmul cases also report each
impl's accuracy against a float64 product of the same inputs (columns
`rel err`, `err/base`: bench.rel_error). The biggest problems (over
_HEAVY_FLOPS or _HEAVY_BYTES) take fewer calls: a call of a slow variant there
is tens of milliseconds. On the CPU every class runs at a tiny size (_tiny),
to exercise the suite.
"""

import dataclasses

import torch

from . import DTYPE_LABELS, use_true_fp32
from .conv2d import layer_cases
from .matmul import product_case

HALF = (torch.float16, torch.bfloat16)
FP16 = (torch.float16,)
FP32 = (torch.float32,)
BF16 = (torch.bfloat16,)

# (N, C, H, W), (K, C/groups, R, S), stride, padding, groups, dtypes, passes, in --quick
# [, channels_last]. fp16/bf16 run channels_last, fp32 NCHW (as in the conv2d suite)
# unless the row says otherwise.
_CONV = [
    # ResNet stem: 7x7 stride 2, 3 -> 64 at 224 (fp16/bf16 channels_last, and fp32 NCHW)
    ((32, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1, HALF, ("bwd",), True),
    ((32, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1, FP32, ("bwd",), False),
    # ResNet stage entry: 3x3 stride 2, 128 -> 128, 56 -> 28
    ((32, 128, 56, 56), (128, 128, 3, 3), 2, 1, 1, HALF, ("bwd",), True),
    # bottleneck expansion 1x1 64 -> 256 at 56, and the strided 1x1 downsample 256 -> 512
    ((32, 64, 56, 56), (256, 64, 1, 1), 1, 0, 1, FP16, ("fwd", "bwd"), True),
    ((32, 256, 56, 56), (512, 256, 1, 1), 2, 0, 1, FP16, ("fwd", "bwd"), False),
    # huge fp32 activations: 3x3 64 -> 128 at 512x1024, 1x1 64 -> 128 at 512^2
    ((8, 64, 512, 1024), (128, 64, 3, 3), 1, 1, 1, FP32, ("fwd",), False),
    ((16, 64, 512, 512), (128, 64, 1, 1), 1, 0, 1, FP32, ("fwd",), False),
    # grouped 3x3 (4 groups, ResNeXt-like) and the AlexNet stem, 11x11 stride 4
    ((32, 128, 56, 56), (128, 32, 3, 3), 1, 1, 4, FP32, ("fwd", "bwd"), True),
    ((32, 3, 224, 224), (64, 3, 11, 11), 4, 2, 1, FP32, ("fwd", "bwd"), True),
    # fp32 channels_last 3x3 (ResNet's first stage): the tf32 wgmma engine's layout
    ((32, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, FP32, ("fwd", "bwd"), False, True),
    # ConvNeXt's 7x7 depthwise, 96 channels at 56 (batch 64, bf16 channels_last)
    ((64, 96, 56, 56), (96, 1, 7, 7), 1, 3, 96, BF16, ("fwd", "bwd"), True),
]

# (batch, M, K, N), dtypes, in --quick: a [batch, M, K] @ b [batch, K, N].
_MATMUL = [
    (((), 256, 524288, 256), FP32, False),  # large K
    (((), 2048, 262144, 1), (torch.float32, torch.bfloat16), True),  # matrix-vector
    (((), 16, 4096, 4096), BF16, True),  # decode-sized M
    (((), 1, 4096, 4096), BF16, False),  # M = 1
    (((), 1000, 1000, 1000), BF16, True),  # small, no multiple of the tiles
    (((512,), 1024, 128, 1024), BF16, True),  # many short-K products
]

# Above these a case takes _HEAVY_BUDGET's warm-up calls and repetitions
# instead of Case's defaults (5 and 30).
_HEAVY_FLOPS = 5e10
_HEAVY_BYTES = 1 << 30
_HEAVY_BUDGET = dict(warmup=2, reps=10)


def _tiny(dims: tuple, limits: tuple) -> tuple:
    """dims clamped to limits: a shape class at a size the CPU runs in ms."""
    return tuple(min(d, lim) for d, lim in zip(dims, limits))


def _conv_name(xs, ws, stride, groups) -> str:
    """"7x7/2 3->64@224 n32", "3x3 g4 128->128@56 n32"."""
    n, c, h, w = xs
    k, _, r, s = ws
    return (f"{r}x{s}{f'/{stride}' if stride > 1 else ''}{f' g{groups}' if groups > 1 else ''} "
            f"{c}->{k}@{h if h == w else f'{h}x{w}'} n{n}")


def _budgeted(case):
    """The case with _HEAVY_BUDGET where its problem is one of the biggest."""
    if case.work > _HEAVY_FLOPS or case.bytes_per_set > _HEAVY_BYTES:
        return dataclasses.replace(case, **_HEAVY_BUDGET)
    return case


def cases(device: torch.device, quick: bool) -> list:
    """Every class (--quick: those marked, in their first dtype); on the CPU
    at a tiny size, in fp32 for the convolutions (channels_last where the GPU
    case is fp16/bf16)."""
    on_cuda = device.type == "cuda"
    use_true_fp32(device)
    out = []
    for xs, ws, stride, padding, groups, dtypes, passes, in_quick, *layout in _CONV:
        if quick and not in_quick:
            continue
        cl = layout[0] if layout else dtypes != FP32
        if not on_cuda:
            dtypes = FP32
            n, c, h, w = _tiny(xs, (2, 8 * groups, 24, 24))
            xs, ws = (n, c, h, w), (min(ws[0], 8 * groups), c // groups, *ws[2:])
        name = _conv_name(xs, ws, stride, groups)
        for dtype in dtypes[:1] if quick else dtypes:
            # direct kernels (small=True) only at the CPU's tiny sizes
            out += [_budgeted(dataclasses.replace(c, label="conv2d " + c.label))
                    for c in layer_cases(device, name, xs, ws, stride, padding, groups,
                                         not on_cuda, dtype, passes, channels_last=cl,
                                         op="shapes", default=True)]
    for (batch, m, k, n), dtypes, in_quick in _MATMUL:
        if quick and not in_quick:
            continue
        if not on_cuda:
            batch = tuple(min(b, 4) for b in batch)
            m, k, n = _tiny((m, k, n), (64, 1024, 64))
        sa, sb = (*batch, m, k), (*batch, k, n)
        shape = f"{'x'.join(map(str, sa))}@{'x'.join(map(str, sb))}"
        for dtype in dtypes[:1] if quick else dtypes:
            label = f"matmul {shape} {DTYPE_LABELS[dtype]}"
            out.append(_budgeted(product_case(device, dtype, label, sa, sb, op="shapes",
                                              default=True)))
    return out
