"""Benchmark cases of cuops.matmul: TFLOP/s (2*M*N*K per product) of every
variant and of cuBLAS (torch.matmul) in the same run.

fp32 is compared with TF32 off (true fp32 on both sides). A variant is timed
only on the dtypes it supports, and the slow teaching steps only on sizes
where a call takes well under a second (naive: up to 2048^3, smem_tiled: up
to 4096^3). Every fp16/bf16/fp32 case also reports each impl's accuracy
against a float64 product of the same inputs (bench.rel_error)."""

import math

import torch

import cuops

from . import DTYPE_LABELS, Case, use_true_fp32

# Largest FLOP count per call at which each teaching step is still timed.
_MAX_FLOPS = {"naive": 2 * 2048**3, "smem_tiled": 2 * 4096**3}


def variant_impls(device: torch.device, dtype: torch.dtype, flops: float) -> dict:
    """name -> fn(a, b) for each variant timed on a product of `flops` in
    `dtype`: those that list the dtype, the teaching steps up to _MAX_FLOPS."""
    impls = {}
    for v in cuops.variants("matmul", device.type):
        if dtype not in v["dtypes"] or flops > _MAX_FLOPS.get(v["name"], float("inf")):
            continue
        impls[v["name"]] = (lambda name: lambda a, b: cuops.matmul(a, b, variant=name))(v["name"])
    return impls


def truth(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The float64 product of the same inputs: the reference of the accuracy
    columns (Case.truth)."""
    return torch.matmul(a.double(), b.double())


def product_case(device, dtype, label, sa, sb, transpose_a=False, transpose_b=False,
                 op="matmul", default=False, **case_kw) -> Case:
    """The Case `label`: a @ b in `dtype` with a of shape sa and b of shape sb
    (as the op sees them); a transposed operand is a .mT view of a contiguous
    tensor. Work: 2*M*N*K per product of the batch. `default`: also time the
    default variant, as impl "cuops". Accuracy against a float64 truth,
    except for float64 products (no more precise truth to compare with).
    `op` and case_kw go to the Case (the shapes suite: op "shapes", fewer reps)."""
    batch = math.prod(torch.broadcast_shapes(sa[:-2], sb[:-2]))
    m, k, n = sa[-2], sa[-1], sb[-1]
    flops = 2 * batch * m * n * k

    def make():
        a = torch.randn(*(sa[:-2] + (k, m) if transpose_a else sa), device=device, dtype=dtype)
        b = torch.randn(*(sb[:-2] + (n, k) if transpose_b else sb), device=device, dtype=dtype)
        return (a.mT if transpose_a else a, b.mT if transpose_b else b)

    impls = {"torch": torch.matmul}
    if default:
        impls["cuops"] = cuops.matmul
    impls.update(variant_impls(device, dtype, flops))
    nbytes = (math.prod(sa) + math.prod(sb) + batch * m * n) * dtype.itemsize
    return Case(op, label, "TFLOP/s", flops, make, impls, bytes_per_set=nbytes,
                truth=truth if dtype != torch.float64 else None, **case_kw)


def cases(device: torch.device, quick: bool) -> list:
    out = []
    if device.type != "cuda":
        for dtype in (torch.float32, torch.bfloat16):
            dt = DTYPE_LABELS[dtype]
            for n in ([128] if quick else [128, 256, 512]):
                out.append(product_case(device, dtype, f"{dt} {n}^3", (n, n), (n, n)))
            out.append(product_case(device, dtype, f"{dt} batched 8x64x128@8x128x96",
                                    (8, 64, 128), (8, 128, 96)))
        return out

    use_true_fp32(device)  # the fp32 baseline is true fp32
    squares = [1024, 4096] if quick else [1024, 2048, 4096, 8192]
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        dt = DTYPE_LABELS[dtype]
        for n in squares:
            out.append(product_case(device, dtype, f"{dt} {n}^3", (n, n), (n, n)))
        if not quick:
            m, k, n = 8205, 2949, 5921
            out.append(product_case(device, dtype, f"{dt} {m}x{k}x{n}", (m, k), (k, n)))
            out.append(product_case(device, dtype, f"{dt} batched 128x512x1024@128x1024x2048",
                                    (128, 512, 1024), (128, 1024, 2048)))
            if dtype != torch.float32:
                # An LLM MLP's up and down projections (hidden 4096, 14336).
                for m, k, n in ((4096, 4096, 14336), (4096, 14336, 4096)):
                    out.append(product_case(device, dtype, f"{dt} {m}x{k}@{k}x{n}",
                                            (m, k), (k, n)))
        # The two backward products of a 4096^3 layer, through transposed views.
        n = 4096
        out.append(product_case(device, dtype, f"{dt} 4096^3 grad@B^T", (n, n), (n, n),
                                transpose_b=True))
        out.append(product_case(device, dtype, f"{dt} 4096^3 A^T@grad", (n, n), (n, n),
                                transpose_a=True))
    # The float64 path.
    for n in ([2048] if quick else [2048, 4096]):
        out.append(product_case(device, torch.float64, f"fp64 {n}^3", (n, n), (n, n)))
    return out
