"""Benchmark cases of cuops.matmul: TFLOP/s (2*M*N*K per product) of every
variant and of cuBLAS (torch.matmul) in the same run.

fp32 is compared with TF32 off (true fp32 on both sides). A variant is timed
only on the dtypes it supports, and the slow teaching steps only on sizes
where a call takes well under a second (naive: up to 2048^3, smem_tiled: up
to 4096^3)."""

import torch

import cuops

from . import DTYPE_LABELS, Case

# Largest FLOP count per call at which each teaching step is still timed.
_MAX_FLOPS = {"naive": 2 * 2048**3, "smem_tiled": 2 * 4096**3}


def _case(device, dtype, label, sa, sb, flops, transpose_a=False, transpose_b=False):
    """a @ b with a of shape sa and b of shape sb (as the op sees them); a
    transposed operand is a .mT view of a contiguous tensor."""

    def make(sa=sa, sb=sb):
        a = torch.randn(*(sa[:-2] + (sa[-1], sa[-2]) if transpose_a else sa), device=device, dtype=dtype)
        b = torch.randn(*(sb[:-2] + (sb[-1], sb[-2]) if transpose_b else sb), device=device, dtype=dtype)
        return (a.mT if transpose_a else a, b.mT if transpose_b else b)

    impls = {"torch": torch.matmul}
    for v in cuops.variants("matmul", device.type):
        if dtype not in v["dtypes"] or flops > _MAX_FLOPS.get(v["name"], float("inf")):
            continue
        impls[v["name"]] = (lambda name: lambda a, b: cuops.matmul(a, b, variant=name))(v["name"])
    nbytes = (_numel(sa) + _numel(sb) + flops // (2 * sa[-1])) * dtype.itemsize
    return Case("matmul", f"{DTYPE_LABELS[dtype]} {label}", "TFLOP/s", flops, make, impls,
                bytes_per_set=nbytes)


def _numel(s):
    n = 1
    for d in s:
        n *= d
    return n


def cases(device: torch.device, quick: bool) -> list:
    out = []
    if device.type != "cuda":
        for dtype in (torch.float32, torch.bfloat16):
            for n in ([128] if quick else [128, 256, 512]):
                out.append(_case(device, dtype, f"{n}^3", (n, n), (n, n), 2 * n**3))
            out.append(_case(device, dtype, "batched 8x64x128@8x128x96", (8, 64, 128), (8, 128, 96),
                             2 * 8 * 64 * 128 * 96))
        return out

    torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 baseline is true fp32
    squares = [1024, 4096] if quick else [1024, 2048, 4096, 8192]
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for n in squares:
            out.append(_case(device, dtype, f"{n}^3", (n, n), (n, n), 2 * n**3))
        if not quick:
            m, k, n = 8205, 2949, 5921
            out.append(_case(device, dtype, f"{m}x{k}x{n}", (m, k), (k, n), 2 * m * k * n))
            out.append(_case(device, dtype, "batched 128x512x1024@128x1024x2048",
                             (128, 512, 1024), (128, 1024, 2048), 2 * 128 * 512 * 1024 * 2048))
        # The two backward products of a 4096^3 layer, through transposed views.
        n = 4096
        out.append(_case(device, dtype, "4096^3 grad@B^T", (n, n), (n, n), 2 * n**3,
                         transpose_b=True))
        out.append(_case(device, dtype, "4096^3 A^T@grad", (n, n), (n, n), 2 * n**3,
                         transpose_a=True))
    # The float64 path.
    for n in ([2048] if quick else [2048, 4096]):
        out.append(_case(device, torch.float64, f"{n}^3", (n, n), (n, n), 2 * n**3))
    return out
