"""Shared helpers of the matmul tests (tests/test_matmul*.py): the variants
by device, tolerances, the float64 reference and the checker."""

import math

import pytest
import torch

import cuops
from tests.utils import REL_TOL, TF32_VARIANTS, assert_rel_close, poison_allocator

CUDA_VARIANTS = [v["name"] for v in cuops.variants("matmul", "cuda")] if cuops.cuda_built() else []

# (device, variant): the CPU default, every CPU step, then every CUDA step (GPU-marked).
IMPLS = [pytest.param("cpu", None, id="cpu")] + [
    pytest.param("cpu", v["name"], id=f"cpu-{v['name']}") for v in cuops.variants("matmul", "cpu")
] + [
    pytest.param("cuda", name, id=f"cuda-{name}", marks=pytest.mark.gpu) for name in CUDA_VARIANTS
]
DTYPE_IDS = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32",
             torch.float64: "fp64"}


def supports(device, variant, dtype):
    if variant is None:
        return True
    v = next(v for v in cuops.variants("matmul", device) if v["name"] == variant)
    return dtype in v["dtypes"]


def skip_unsupported(device, variant, dtype):
    if not supports(device, variant, dtype):
        pytest.skip(f"{variant} does not support {dtype}")


def tol_for(dtype, k, variant=None):
    # Rounding error of a K-long fp32/fp64 sum grows ~sqrt(K); fp16/bf16 are
    # dominated by the final rounding to the output type.
    if variant in TF32_VARIANTS and dtype == torch.float32:
        dtype = torch.float16
    return REL_TOL[dtype] * max(1.0, math.sqrt(k / 256))


def reference(a, b, bias=None):
    ref = torch.matmul(a.double(), b.double())
    return ref + bias.double() if bias is not None else ref


def check(device, variant, dtype, a, b, bias=None, fn="matmul"):
    ref = reference(a, b, bias) if fn != "linear" else reference(a, b.mT, bias)
    # Error relative to the size of the summed terms (tests/utils.py: rel_err),
    # so that a cancelling sum -- likely where the output is a single dot
    # product (M = N = 1) -- cannot fail a correctly rounded result.
    b_abs = b.abs() if fn != "linear" else b.abs().mT
    scale = reference(a.abs(), b_abs, None if bias is None else bias.abs())
    poison_allocator(device, ref.numel() * 8)
    if fn == "matmul":
        out = cuops.matmul(a, b, variant=variant)
    elif fn == "linear":
        out = cuops.linear(a, b, bias, variant=variant)
    else:
        out = torch.ops.cuops.gemm(a, b, bias, variant)
    assert out.dtype == dtype and out.device.type == device
    k = a.shape[-1]
    if ref.numel() == 0:
        assert out.shape == ref.shape
    else:
        assert_rel_close(out, ref.to(dtype), tol=tol_for(dtype, k, variant),
                         what=f"{variant} {dtype}", scale=scale)
