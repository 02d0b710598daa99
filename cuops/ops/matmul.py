"""cuops.matmul, cuops.linear (and the op behind both, cuops.gemm): public
functions and autograd.

    torch.ops.cuops.gemm(a, b, bias, variant)    a [..., M, K] @ b [..., K, N] + bias[N]
    torch.ops.cuops.matmul(a, b, variant)         torch.matmul semantics
    torch.ops.cuops.linear(x, w, bias, variant)   torch.nn.functional.linear

matmul and linear are CompositeImplicitAutograd in C++ (csrc/matmul.cpp):
views around gemm, so autograd, compile, export and autocast all go through
gemm, the only op with kernels (csrc/cpu/matmul_cpu.cpp, the CUDA ladder in
csrc/cuda/matmul/; checks, output and the fake kernel in csrc/matmul.cpp).
Autocast (csrc/autocast.cpp) casts gemm's inputs to the autocast dtype as
torch.matmul does.

When a copy is made: never for views the kernels read through their
strides, except on the CUDA `mma_sync` path (fp16/bf16). There an operand
that cannot take the 16-byte cp.async path (a leading stride that is not a
multiple of 8 elements, e.g. a contiguous 8205x2949 matrix; a base address
not 16-byte aligned; no unit-stride dim) is copied once into a row-major
buffer with rows padded to a multiple of 8 elements, when the problem is a
single GEMM (no batch after folding), M*N*K >= 2^24 and the other operand's
outer dim is >= 64, i.e. when the copy costs well under 1% of the product.
Otherwise such operands take the element-wise general path (no copy).
(linear's bias is made contiguous, N elements, if it is a strided view.)

Host overhead: gemm's autograd is C++ (csrc/matmul_autograd.cpp) and skips
the graph itself when no input requires grad, so the public functions call
the ops directly.

Tuning knob (development only): CUOPS_MATMUL_CONFIG="mma_sync=2,warptile=1"
picks entries of the CUDA kernels' configuration tables (read once per
process); see docs/matmul-worklog.md and scripts/explore/tune_matmul.py.

Tests: tests/test_matmul*.py. Benchmark: `python -m cuops bench matmul`.
Worklog: docs/matmul-worklog.md.
"""

import torch

from .. import _C
from ..variants import pick
from ._common import check_tensor, check_tuning_knob, register_fake

# Sizes of the CUDA kernels' tuning tables, from C++ (csrc/cuda/matmul/kernels.h:
# entry 0 only, unless built with CUOPS_EXPLORE=1; none in a CPU-only build).
TUNING_TABLES = _C.tuning_tables().get("matmul", {})
if TUNING_TABLES:
    check_tuning_knob("CUOPS_MATMUL_CONFIG", TUNING_TABLES)

_OP = "cuops.gemm"


def matmul(a, b, *, variant=None):
    """Matrix product with torch.matmul's semantics: 1-D . 1-D (dot), 1-D / 2-D
    mixes, 2-D, and batched inputs with broadcast batch dimensions.

    Both inputs must have the same floating dtype (float16, bfloat16, float32,
    float64; no silent promotion, as torch.matmul) and device; under
    torch.autocast they are cast like torch.matmul. Transposed and sliced views
    are read through their strides, without a copy. `variant` picks a kernel
    of the ladder by name (cuops.variants("matmul")); None picks the fastest.
    """
    check_tensor(a, "cuops.matmul", "a")
    check_tensor(b, "cuops.matmul", "b")
    return torch.ops.cuops.matmul.default(a, b, pick("matmul", a, variant))


def linear(input, weight, bias=None, *, variant=None):
    """y = input @ weight.T + bias, like torch.nn.functional.linear (same
    parameter names), with the bias added in the GEMM's epilogue (no extra
    pass over y). weight.T is a view. `variant`: as for matmul."""
    check_tensor(input, "cuops.linear", "input")
    check_tensor(weight, "cuops.linear", "weight")
    if bias is not None:
        check_tensor(bias, "cuops.linear", "bias")
    return torch.ops.cuops.linear.default(input, weight, bias,
                                          pick("matmul", input, variant, "cuops.linear"))


def gemm(a, b, bias=None, *, variant=None):
    """a [..., M, K] @ b [..., K, N] (+ bias [N]), both at least 2-D, batch
    dimensions broadcast: the op matmul and linear are built on."""
    check_tensor(a, _OP, "a")
    check_tensor(b, _OP, "b")
    return torch.ops.cuops.gemm.default(a, b, bias, pick("matmul", a, variant, _OP))


# Fake kernel: C++ (csrc/matmul.cpp, gemm_meta).
register_fake("gemm")


# Autograd: C++ (csrc/matmul_autograd.cpp), with our own kernels only:
#   grad_a = grad @ b^T, grad_b = a^T @ grad   (b.mT / a.mT are strided views)
# each summed over the batch dimensions its input was broadcast along
# (cuops.sum_to); grad_bias = grad summed down to [N].
