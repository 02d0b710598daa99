"""Benchmark cases of cuops.conv2d: TFLOP/s of the forward and of the
backward (dgrad + wgrad) of every applicable variant, against cuDNN
(F.conv2d / aten.convolution_backward) in the same run.

Layers: ResNet-50 at batch 32 (3x3 at 56/28/14/7, the 1x1 256->64 at 56, the
7x7 stride-2 stem at 224) and a depthwise 3x3 layer; fp32 NCHW (TF32 off,
true fp32 as our kernels) and fp16/bf16 channels_last. cudnn.benchmark is on
so cuDNN runs its best algorithm. FLOPs = 2*N*K*P*Q*(C/groups)*R*S per pass
(the backward counts two: dgrad and wgrad; the bias gradient is not timed).
"""

import torch
import torch.nn.functional as F

import cuops

from . import DTYPE_LABELS, Case, use_true_fp32

# name, (N, C, H, W), (K, C/groups, R, S), stride, padding, groups, small
_LAYERS_CUDA = [
    ("r50 3x3 64@56", (32, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1, False),
    ("r50 3x3 128@28", (32, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1, False),
    ("r50 3x3 256@14", (32, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1, False),
    ("r50 3x3 512@7", (32, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1, True),
    ("r50 1x1 256->64@56", (32, 256, 56, 56), (64, 256, 1, 1), 1, 0, 1, False),
    ("r50 stem 7x7/2@224", (32, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1, False),
    ("dw 3x3 256@56", (32, 256, 56, 56), (256, 1, 3, 3), 1, 1, 256, True),
]
_LAYERS_CPU = [
    ("3x3 16->32@8", (8, 16, 8, 8), (32, 16, 3, 3), 1, 1, 1, True),
    ("dw 3x3 32@8", (8, 32, 8, 8), (32, 1, 3, 3), 1, 1, 32, True),
]


def _flops(xs, ws, stride, padding):
    n, _, h, w = xs
    k, cg, r, s = ws
    p = (h + 2 * padding - r) // stride + 1
    q = (w + 2 * padding - s) // stride + 1
    return 2.0 * n * k * p * q * cg * r * s, (n, k, p, q)


def layer_cases(device, name, xs, ws, stride, padding, groups, small, dtype,
                passes=("fwd", "bwd"), channels_last=None, op="conv2d", default=False,
                **case_kw) -> list:
    """The Cases of one layer in one dtype, labelled "<pass> <name> <dtype>[ cl]":
    x of shape xs, weight ws, channels_last or NCHW (None: channels_last for
    fp16/bf16, NCHW for fp32/fp64, as networks are run on the GPU),
    the forward (F.conv2d) and/or the backward (dgrad + wgrad), cuDNN (CPU:
    torch) and every applicable variant; the direct kernels only on `small`
    layers (minutes per call on the big ones). `default`: also time the
    default variants, as impl "cuops". `op` and case_kw go to the Cases."""
    on_cuda = device.type == "cuda"
    # name -> the dtypes it supports
    fwd_variants = {v["name"]: v["dtypes"] for v in cuops.variants("conv2d", device.type)}
    # The backward's variants: the names of the dgrad and wgrad ladders (the
    # same steps, and the dgrad-only implicit_gemm_mma_phases). A step that
    # only one of them has runs with the other's default; `dtypes` maps the
    # ladders that have it to its dtypes.
    grad_variants = {}
    for ladder in ("conv2d_backward_input", "conv2d_backward_weight"):
        for v in cuops.variants(ladder, device.type):
            grad_variants.setdefault(v["name"], {})[ladder] = v["dtypes"]
    cl = dtype in (torch.float16, torch.bfloat16) if channels_last is None else channels_last
    fmt = torch.channels_last if cl else torch.contiguous_format
    flops, ys = _flops(xs, ws, stride, padding)
    nbytes = (2 * (torch.Size(xs).numel() + torch.Size(ys).numel())
              + torch.Size(ws).numel()) * dtype.itemsize
    label = f"{name} {DTYPE_LABELS[dtype]}{' cl' if cl else ''}"
    depthwise = groups == xs[1] and groups > 1
    pointwise = ws[2:] == (1, 1) and padding == 0

    def make():
        x = torch.randn(xs, device=device, dtype=dtype).to(memory_format=fmt)
        w = torch.randn(ws, device=device, dtype=dtype).to(memory_format=fmt)
        g = torch.randn(ys, device=device, dtype=dtype).to(memory_format=fmt)
        return x, w, g

    kw = dict(stride=stride, padding=padding, groups=groups)
    base = "cudnn" if on_cuda else "torch"
    out = []
    if "fwd" in passes:
        fwd = {base: lambda x, w, g: F.conv2d(x, w, None, **kw)}
        if default:
            fwd["cuops"] = lambda x, w, g: cuops.conv2d(x, w, None, **kw)
        for v, v_dtypes in fwd_variants.items():
            if dtype not in v_dtypes:
                continue
            if v == "direct" and not small:
                continue  # minutes per call on the big layers
            if v.startswith("depthwise") and not depthwise:
                continue  # it would just run implicit_gemm
            if v == "implicit_gemm_mma_splitk" and depthwise:
                continue  # no split on depthwise: = implicit_gemm_mma
            if v == "gemm" and not pointwise:
                continue  # it would just run the ladder's default
            if v == "implicit_gemm_narrow" and ws[0] // groups > 8:
                continue  # it would just run implicit_gemm
            if v == "implicit_gemm_regtile_slots" and (ws[0] // groups > 64 or groups > 1):
                continue  # it would just run implicit_gemm_regtile
            if v == "narrow_window" and (ws[0] // groups > 8 or stride != 1):
                continue  # it would just run implicit_gemm_narrow
            if v == "implicit_gemm_wgmma" and (not cl or xs[1] % 64 or groups != 1):
                continue  # it would just run implicit_gemm_mma_splitk
            if v == "implicit_gemm_wgmma_3xtf32" and (not cl or xs[1] % 32 or groups != 1):
                continue  # it would just run implicit_gemm_3xtf32
            fwd[v] = (lambda v: lambda x, w, g: cuops.conv2d(x, w, None, **kw, variant=v))(v)
        out.append(Case(op, f"fwd {label}", "TFLOP/s", flops, make, fwd, baseline=base,
                        bytes_per_set=nbytes, **case_kw))

    if "bwd" in passes:
        s2, p4, d2 = [stride] * 2, [padding] * 4, [1, 1]

        def torch_bwd(x, w, g):
            return torch.ops.aten.convolution_backward(
                g, x, w, None, s2, [padding] * 2, [1, 1], False, [0, 0], groups,
                [True, True, False])

        def ours(v, ladders=("conv2d_backward_input", "conv2d_backward_weight")):
            vi = v if "conv2d_backward_input" in ladders else None
            vw = v if "conv2d_backward_weight" in ladders else None

            def run(x, w, g):
                gi = torch.ops.cuops.conv2d_backward_input(g, w, list(x.shape), s2, p4, d2,
                                                           groups, vi)
                gw = torch.ops.cuops.conv2d_backward_weight(g, x, list(w.shape), s2, p4, d2,
                                                            groups, vw)
                return gi, gw
            return run

        bwd = {base: torch_bwd}
        if default:
            bwd["cuops"] = ours(None)
        for v, ladders in grad_variants.items():
            if any(dtype not in v_dtypes for v_dtypes in ladders.values()):
                continue
            if v == "direct" and not small:
                continue
            if v.startswith("implicit_gemm_mma") and depthwise:
                continue  # depthwise tiles would be 1/64 full
            if v.startswith("depthwise") and not depthwise:
                continue  # it would just run direct
            if v == "gemm" and not pointwise:
                continue  # it would just run the ladder's default
            if v in ("implicit_gemm_narrow", "narrow_window") and xs[1] // groups > 8:
                continue  # its dgrad would just run implicit_gemm
            if v == "implicit_gemm_wgmma_3xtf32" and (not cl or groups != 1 or ws[0] % 32
                                                       or xs[1] % 32):
                continue  # dgrad (K % 32) and wgrad (C % 32) on the engine, or not timed
            if v == "implicit_gemm_regtile_slots" and min(ws[0], xs[1]) // groups > 64:
                continue  # dgrad (C/groups) and wgrad (K/groups) as implicit_gemm_regtile
            if v == "implicit_gemm_wgmma" and (not cl or groups != 1 or ws[0] % 64 or xs[1] % 64):
                continue  # dgrad (K % 64) and wgrad (C % 64) on the engine, or not timed
            bwd[v] = ours(v, tuple(ladders))
        out.append(Case(op, f"bwd {label}", "TFLOP/s", 2 * flops, make, bwd, baseline=base,
                        bytes_per_set=nbytes, **case_kw))
    return out


def cases(device: torch.device, quick: bool) -> list:
    on_cuda = device.type == "cuda"
    use_true_fp32(device)
    layers = _LAYERS_CUDA if on_cuda else _LAYERS_CPU
    if quick:
        layers = layers[:1] + layers[3:4] + layers[-1:] if on_cuda else layers[:1]
    dtypes = (torch.float32, torch.float16, torch.bfloat16) if on_cuda else (torch.float32,)
    out = []
    for name, xs, ws, stride, padding, groups, small in layers:
        for dtype in dtypes:
            if dtype == torch.bfloat16 and name not in ("r50 3x3 64@56", "dw 3x3 256@56"):
                continue  # bf16 runs the same kernels as fp16: two layers suffice
            out += layer_cases(device, name, xs, ws, stride, padding, groups, small, dtype)
    return out
