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

from . import DTYPE_LABELS, Case

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


def cases(device: torch.device, quick: bool) -> list:
    on_cuda = device.type == "cuda"
    if on_cuda:
        # True fp32 for cuDNN too (our fp32 kernels do not use TF32), and its
        # best algorithm per shape. Set for the whole benchmark run.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    layers = _LAYERS_CUDA if on_cuda else _LAYERS_CPU
    if quick:
        layers = layers[:1] + layers[3:4] + layers[-1:] if on_cuda else layers[:1]
    dtypes = (torch.float32, torch.float16, torch.bfloat16) if on_cuda else (torch.float32,)
    # name -> the dtypes it supports
    fwd_variants = {v["name"]: v["dtypes"] for v in cuops.variants("conv2d", device.type)}
    grad_variants = {v["name"]: v["dtypes"]
                     for v in cuops.variants("conv2d_backward_input", device.type)}
    out = []
    for name, xs, ws, stride, padding, groups, small in layers:
        for dtype in dtypes:
            if dtype == torch.bfloat16 and name not in ("r50 3x3 64@56", "dw 3x3 256@56"):
                continue  # bf16 runs the same kernels as fp16: two layers suffice
            cl = dtype != torch.float32
            fmt = torch.channels_last if cl else torch.contiguous_format
            flops, ys = _flops(xs, ws, stride, padding)
            nbytes = (2 * (torch.Size(xs).numel() + torch.Size(ys).numel())
                      + torch.Size(ws).numel()) * dtype.itemsize
            label = f"{name} {DTYPE_LABELS[dtype]}{' cl' if cl else ''}"
            depthwise = groups == xs[1] and groups > 1

            def make(xs=xs, ws=ws, ys=ys, dtype=dtype, fmt=fmt):
                x = torch.randn(xs, device=device, dtype=dtype).to(memory_format=fmt)
                w = torch.randn(ws, device=device, dtype=dtype).to(memory_format=fmt)
                g = torch.randn(ys, device=device, dtype=dtype).to(memory_format=fmt)
                return x, w, g

            kw = dict(stride=stride, padding=padding, groups=groups)
            base = "cudnn" if on_cuda else "torch"
            fwd = {base: lambda x, w, g, kw=kw: F.conv2d(x, w, None, **kw)}
            for v, v_dtypes in fwd_variants.items():
                if dtype not in v_dtypes:
                    continue
                if v == "direct" and not small:
                    continue  # minutes per call on the big layers
                if v.startswith("depthwise") and not depthwise:
                    continue  # it would just run implicit_gemm
                if v == "implicit_gemm_mma_splitk" and depthwise:
                    continue  # no split on depthwise: = implicit_gemm_mma
                fwd[v] = (lambda v, kw: lambda x, w, g: cuops.conv2d(x, w, None, **kw,
                                                                     variant=v))(v, kw)
            out.append(Case("conv2d", f"fwd {label}", "TFLOP/s", flops, make, fwd,
                            baseline=base, bytes_per_set=nbytes))

            s2, p4, d2 = [stride] * 2, [padding] * 4, [1, 1]

            def torch_bwd(x, w, g, s2=s2, padding=padding, groups=groups):
                return torch.ops.aten.convolution_backward(
                    g, x, w, None, s2, [padding] * 2, [1, 1], False, [0, 0], groups,
                    [True, True, False])

            bwd = {base: torch_bwd}
            for v, v_dtypes in grad_variants.items():
                if dtype not in v_dtypes:
                    continue
                if v == "direct" and not small:
                    continue
                if v == "implicit_gemm_mma" and depthwise:
                    continue  # depthwise tiles would be 1/64 full

                def ours(x, w, g, v=v, s2=s2, p4=p4, groups=groups):
                    gi = torch.ops.cuops.conv2d_backward_input(g, w, list(x.shape), s2, p4, d2,
                                                               groups, v)
                    gw = torch.ops.cuops.conv2d_backward_weight(g, x, list(w.shape), s2, p4, d2,
                                                                groups, v)
                    return gi, gw

                bwd[v] = ours
            out.append(Case("conv2d", f"bwd {label}", "TFLOP/s", 2 * flops, make, bwd,
                            baseline=base, bytes_per_set=nbytes))
    return out
