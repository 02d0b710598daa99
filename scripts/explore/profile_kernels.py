"""One call of each kernel under study, inside a cudaProfilerStart/Stop range,
for Nsight Compute (`ncu --profile-from-start off`). Warm-up calls run
outside the range. Used by scripts/gpu_check.sh (PROFILE=1):

    ncu --clock-control none --profile-from-start off --section SpeedOfLight \
        --section WarpStateStats ... python scripts/explore/profile_kernels.py [case ...]
"""

import sys

import torch
import torch.nn.functional as F

import cuops


def conv(c, hw, variant, dtype=torch.float16, groups=1):
    cl = torch.channels_last
    x = torch.randn(32, c, hw, hw, device="cuda", dtype=dtype).to(memory_format=cl)
    w = torch.randn(c, c // groups, 3, 3, device="cuda", dtype=dtype).to(memory_format=cl)
    return lambda: cuops.conv2d(x, w, padding=1, groups=groups, variant=variant)


def mm(n, dtype, variant):
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    return lambda: cuops.matmul(a, b, variant=variant)


def skinny(m, k, n, dtype=torch.bfloat16):
    a = torch.randn(m, k, device="cuda", dtype=dtype)
    b = torch.randn(k, n, device="cuda", dtype=dtype)
    return lambda: cuops.matmul(a, b)


def stem_dgrad(variant=None):
    cl = torch.channels_last
    dy = torch.randn(32, 64, 112, 112, device="cuda", dtype=torch.bfloat16).to(memory_format=cl)
    w = torch.randn(64, 3, 7, 7, device="cuda", dtype=torch.bfloat16).to(memory_format=cl)
    return lambda: torch.ops.cuops.conv2d_backward_input(
        dy, w, [32, 3, 224, 224], [2, 2], [3, 3, 3, 3], [1, 1], 1, variant)


def wgrad(c, hw, k=None, stride=1, n=64, variant=None):
    """The 3x3 weight gradient of a ResNet-50 layer (batch 64, bf16, channels_last)."""
    cl, k = torch.channels_last, k or c
    out = (hw + 2 - 3) // stride + 1
    x = torch.randn(n, c, hw, hw, device="cuda", dtype=torch.bfloat16).to(memory_format=cl)
    dy = torch.randn(n, k, out, out, device="cuda", dtype=torch.bfloat16).to(memory_format=cl)
    return lambda: torch.ops.cuops.conv2d_backward_weight(
        dy, x, [k, c, 3, 3], [stride, stride], [1, 1, 1, 1], [1, 1], 1, variant)


def dw_wgrad(c, hw, r=7, n=64, variant=None):
    """A depthwise R x R weight gradient (ConvNeXt-T's 7x7 at batch 64, bf16, channels_last)."""
    cl = torch.channels_last
    x = torch.randn(n, c, hw, hw, device="cuda", dtype=torch.bfloat16).to(memory_format=cl)
    dy = torch.randn(n, c, hw, hw, device="cuda", dtype=torch.bfloat16).to(memory_format=cl)
    p = r // 2
    return lambda: torch.ops.cuops.conv2d_backward_weight(
        dy, x, [c, 1, r, r], [1, 1], [p] * 4, [1, 1], c, variant)


def dgrad_s2(c, hw, n=32, variant=None):
    """A 3x3 stride-2 dgrad (ResNet's 128@56/2 at batch 32, bf16, channels_last)."""
    cl, out = torch.channels_last, hw // 2
    dy = torch.randn(n, c, out, out, device="cuda", dtype=torch.bfloat16).to(memory_format=cl)
    w = torch.randn(c, c, 3, 3, device="cuda", dtype=torch.bfloat16).to(memory_format=cl)
    return lambda: torch.ops.cuops.conv2d_backward_input(
        dy, w, [n, c, hw, hw], [2, 2], [1, 1, 1, 1], [1, 1], 1, variant)


CASES = {
    "conv512@7": lambda: conv(512, 7, "implicit_gemm_mma"),
    "conv512@7s": lambda: conv(512, 7, "implicit_gemm_mma_splitk"),
    "conv256@14": lambda: conv(256, 14, "implicit_gemm_mma"),
    "conv128@28": lambda: conv(128, 28, "implicit_gemm_mma"),
    "mm_bf16": lambda: mm(4096, torch.bfloat16, "mma_sync"),
    "mm_bf16_8k": lambda: mm(8192, torch.bfloat16, "mma_sync"),
    "mm_fp32": lambda: mm(4096, torch.float32, None),
    "mm_fp32_3x": lambda: mm(4096, torch.float32, "wgmma_3xtf32"),
    "gemv_bf16": lambda: skinny(1, 4096, 4096),
    "decode16": lambda: skinny(16, 4096, 4096),
    "matvec_bf16": lambda: skinny(2048, 262144, 1),
    "stem_dgrad": stem_dgrad,
    "wgrad64@56": lambda: wgrad(64, 56),
    "wgrad256@14": lambda: wgrad(256, 14),
    "wgrad512@7": lambda: wgrad(512, 7),
    "wgrad128@56s2": lambda: wgrad(128, 56, stride=2),
    "dw_fp16": lambda: conv(256, 56, None, groups=256),
    "dwwgrad96@56": lambda: dw_wgrad(96, 56),
    "dwwgrad384@14": lambda: dw_wgrad(384, 14),
    "dgrad128@56s2": lambda: dgrad_s2(128, 56),
    "dgrad128@56s2p": lambda: dgrad_s2(128, 56, variant="implicit_gemm_wgmma_phases"),
    "dw_fp32": lambda: (lambda x, w: lambda: cuops.conv2d(x, w, padding=1, groups=256))(
        torch.randn(32, 256, 56, 56, device="cuda"), torch.randn(256, 1, 3, 3, device="cuda")),
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    fns = [CASES[n]() for n in names]
    for fn in fns:
        for _ in range(3):
            fn()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    for fn in fns:
        fn()
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()
