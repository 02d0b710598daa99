"""cuops.add and cuops.sum_to: public functions, fake kernels, autograd.

Kernels: csrc/cpu/add_cpu.cpp, csrc/cuda/add_cuda.cu (shared checks and
plans in csrc/add.cpp). Tests: tests/test_add.py. Benchmark:
`python -m cuops bench add`. Worklog: docs/add-worklog.md.
"""

import numbers

import torch

from ..variants import pick
from ._common import (call, check_float, check_real_number, check_tensor, is_dense,
                      register_autograd)

_OP = "cuops.add"


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
    check_tensor(x, "cuops.sum_to", "x")
    check_real_number(scale, "cuops.sum_to", "scale")
    return call(torch.ops.cuops.sum_to.default, (x,), x, list(size), scale)


# ---------------------------------------------------------------------------
# Fake kernels: output metadata exactly as the C++ kernels produce it.
# ---------------------------------------------------------------------------


def _add_meta(a, b):
    check_float(a, _OP, "a")
    check_float(b, _OP, "b")
    try:
        shape = torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(f"{_OP}: shapes of 'a' {list(a.shape)} and 'b' {list(b.shape)} "
                         "cannot be broadcast together") from None
    device = a.device
    if a.device != b.device:
        if b.dim() == 0 and b.device.type == "cpu":
            device = a.device
        elif a.dim() == 0 and a.device.type == "cpu":
            device = b.device
        else:
            raise RuntimeError(f"{_OP}: expected 'a' and 'b' to be on the same device, but got "
                               f"a on {a.device} and b on {b.device}")
    return shape, torch.result_type(a, b), device


@torch.library.register_fake("cuops::add")
def _add_fake(a, b, alpha=1, variant=None):
    shape, dtype, device = _add_meta(a, b)
    for like in (a, b):  # strides follow the first dense input of the output's shape
        if like.shape == shape and is_dense(like):
            return torch.empty_strided(shape, like.stride(), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


@torch.library.register_fake("cuops::sum_to")
def _sum_to_fake(x, size, scale=1):
    check_float(x, "cuops.sum_to", "x")
    return x.new_empty(size)


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
