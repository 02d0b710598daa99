"""cuops.add and cuops.sum_to: public functions, fake kernels, autograd.

Kernels: csrc/cpu/add_cpu.cpp, csrc/cuda/add_cuda.cu (shared checks and
plans in csrc/add.cpp). Tests: tests/test_add.py. Benchmark:
`python -m cuops bench add`. Worklog: docs/add-worklog.md.
"""

import numbers

import torch

from ..variants import pick
from ._common import (call, check_float, check_int64, check_max_dims, check_real_number,
                      check_tensor, check_variant, is_dense, is_int, register_autograd)

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


# ---------------------------------------------------------------------------
# Fake kernels: output metadata exactly as the C++ kernels produce it.
# ---------------------------------------------------------------------------


def _broadcast_error(sa, sb) -> str:
    """csrc/add.cpp's message: the first mismatch from the right."""
    nd = max(len(sa), len(sb))
    for i in range(1, nd + 1):
        da = sa[-i] if i <= len(sa) else 1
        db = sb[-i] if i <= len(sb) else 1
        if da != db and da != 1 and db != 1:
            return (f"{_OP}: shapes of 'a' {list(sa)} and 'b' {list(sb)} cannot be broadcast "
                    f"together (size {da} vs {db} at dimension {nd - i})")
    return f"{_OP}: shapes of 'a' {list(sa)} and 'b' {list(sb)} cannot be broadcast together"


def _add_meta(a, b, alpha):
    # The C++ checks (csrc/add.cpp, plan_add), in their order.
    check_float(a, _OP, "a")
    check_float(b, _OP, "b")
    check_real_number(alpha, _OP, "alpha")
    check_max_dims(a, _OP, "a")
    check_max_dims(b, _OP, "b")
    device = a.device
    if a.device != b.device:  # a 0-dim CPU tensor may join any device, as in torch
        if b.dim() == 0 and b.device.type == "cpu":
            device = a.device
        elif a.dim() == 0 and a.device.type == "cpu":
            device = b.device
        else:
            raise RuntimeError(f"{_OP}: expected 'a' and 'b' to be on the same device, but got "
                               f"a on {a.device} and b on {b.device}")
    try:
        shape = torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(_broadcast_error(a.shape, b.shape)) from None
    return shape, torch.result_type(a, b), device


@torch.library.register_fake("cuops::add")
def _add_fake(a, b, alpha=1, variant=None):
    shape, dtype, device = _add_meta(a, b, alpha)
    check_variant(_OP, "add", device, variant, dtype)
    for like in (a, b):  # strides follow the first dense input of the output's shape
        if like.shape == shape and is_dense(like):
            return torch.empty_strided(shape, like.stride(), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


@torch.library.register_fake("cuops::sum_to")
def _sum_to_fake(x, size, scale=1):
    # csrc/add.cpp, plan_sum_to: `size` is `x`'s shape with leading dims
    # dropped and any dims set to 1.
    check_float(x, _SUM_TO, "x")
    check_real_number(scale, _SUM_TO, "scale")
    check_max_dims(x, _SUM_TO, "x")
    lead = x.dim() - len(size)
    if lead < 0 or any(s != n and s != 1 for s, n in zip(size, x.shape[lead:])):
        raise ValueError(f"{_SUM_TO}: size {list(size)} is not broadcast-compatible with 'x' of "
                         f"shape {list(x.shape)}")
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
