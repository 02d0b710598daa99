"""cuops.add and cuops.sum_to: public functions, autograd.

Kernels: csrc/cpu/add_cpu.cpp, csrc/cuda/add_kernels.cu (entry: add_cuda.cpp; shared checks, plans
and the fake kernels in csrc/add.cpp). Under autocast cuops.add casts
nothing and promotes mixed dtypes, as torch.add (csrc/autocast.cpp).
Tests: tests/test_add.py. Benchmark: `python -m cuops bench add`.
Worklog: docs/add-worklog.md.
"""

import numbers

import torch

from ..variants import pick
from ._common import (call, check_int64, check_real_number, check_tensor, is_int,
                      register_autograd, register_fake)

_OP = "cuops.add"
_SUM_TO = "cuops.sum_to"


def add(a, b, alpha=1, *, variant=None):
    """out = a + alpha * b, like torch.add.

    Broadcasting and type promotion follow torch (mixed float dtypes are
    converted to torch.result_type first; integer, bool and complex tensors are
    refused). Either of `a` and `b` may be a Python number. `variant` picks a
    CUDA kernel by name (see cuops.variants("add")); None picks the fastest.
    """
    if not isinstance(a, torch.Tensor) and isinstance(a, numbers.Number) and isinstance(b, torch.Tensor):
        a = torch.tensor(a, dtype=b.dtype)
    if not isinstance(b, torch.Tensor) and isinstance(b, numbers.Number) and isinstance(a, torch.Tensor):
        b = torch.tensor(b, dtype=a.dtype)
    check_tensor(a, _OP, "a")
    check_tensor(b, _OP, "b")
    check_real_number(alpha, _OP, "alpha")
    return call(torch.ops.cuops.add.default, (a, b), a, b, alpha, pick("add", a, variant))


def sum_to(x, size, scale=1):
    """Sum `x` down to the broadcast-compatible shape `size`, times `scale`:
    the gradient of a broadcast (torch's `sum_to_size`, scaled)."""
    check_tensor(x, _SUM_TO, "x")
    if not (isinstance(size, (tuple, list)) and all(is_int(v) for v in size)):
        raise TypeError(f"{_SUM_TO}: argument 'size' must be a sequence of ints (a shape), but "
                        f"got {size!r}")
    for v in size:
        check_int64(v, _SUM_TO, "size")
    check_real_number(scale, _SUM_TO, "scale")
    return call(torch.ops.cuops.sum_to.default, (x,), x, list(size), scale)


# Fake kernels: C++ (csrc/add.cpp, add_meta and sum_to_meta).
register_fake("add")
register_fake("sum_to")


# ---------------------------------------------------------------------------
# Autograd: d(a + alpha*b) = (g, alpha*g), each summed over the dimensions
# that were broadcast, in our own reduction kernel.
# ---------------------------------------------------------------------------


def _add_setup_context(ctx, inputs, output):
    a, b, alpha, _variant = inputs
    ctx.alpha = alpha
    ctx.meta = [(t.shape, t.dtype, t.device) for t in (a, b)]


def _add_backward(ctx, grad):
    grads = []
    for i, scale in ((0, 1), (1, ctx.alpha)):
        if not ctx.needs_input_grad[i]:
            grads.append(None)
            continue
        shape, dtype, device = ctx.meta[i]
        g = torch.ops.cuops.sum_to(grad, list(shape), scale)
        grads.append(g.to(dtype=dtype, device=device))
    return grads[0], grads[1], None, None


register_autograd("add", _add_backward, setup_context=_add_setup_context)


def _sum_to_setup_context(ctx, inputs, output):
    x, _size, scale = inputs
    ctx.x_shape, ctx.scale = x.shape, scale


def _sum_to_backward(ctx, grad):
    # The adjoint of a scaled sum is a scaled broadcast (a view, no copy).
    g = torch.ops.cuops.sum_to(grad, list(grad.shape), ctx.scale)
    return g.expand(ctx.x_shape), None, None


register_autograd("sum_to", _sum_to_backward, setup_context=_sum_to_setup_context)
