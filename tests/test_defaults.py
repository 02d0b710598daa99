"""Every op through every entry point with its trailing arguments left at
their defaults: the plainest calls users make, forward and backward, against
torch in float64, plus gradcheck and opcheck of the same calls.

The dispatcher drops trailing arguments equal to their schema defaults before
a Python kernel sees the call (cuops/ops/_common.py, register_autograd), so a
default call takes a different path through autograd than one that spells
its arguments out. The table must cover every op in the cuops namespace
(test_table_covers_every_op)."""

import pytest
import torch
import torch.nn.functional as F

import cuops
from tests.utils import DEVICES, REL_TOL, assert_rel_close

OPS = torch.ops.cuops


def _t(*shape):
    return lambda dtype, device: torch.randn(shape, dtype=dtype, device=device)


def _module(cls, *args):
    """An nn module built with defaults; its weight (and bias, if any) become
    extra inputs so the reference sees the same tensors."""
    def make(dtype, device):
        torch.manual_seed(0)
        return cls(*args, dtype=dtype, device=device)
    return make


# name -> (op names it exercises, input factories, cuops call, torch reference).
# A module entry's first factory builds the module; its parameters follow the input.
CALLS = {
    "cuops.add": (["add"], [_t(3, 4), _t(4)], cuops.add, torch.add),
    "torch.ops.cuops.add": (["add"], [_t(3, 4), _t(4)], OPS.add, torch.add),
    "cuops.sum_to": (["sum_to"], [_t(3, 4)], lambda x: cuops.sum_to(x, [1, 4]),
                     lambda x: x.sum(0, keepdim=True)),
    "torch.ops.cuops.sum_to": (["sum_to"], [_t(3, 4)], lambda x: OPS.sum_to(x, [4]),
                               lambda x: x.sum(0)),
    "cuops.gemm": (["gemm"], [_t(2, 3, 5), _t(5, 4)], cuops.gemm, torch.matmul),
    "torch.ops.cuops.gemm": (["gemm"], [_t(3, 5), _t(5, 4)], OPS.gemm, torch.matmul),
    "cuops.matmul": (["matmul", "gemm"], [_t(3, 5), _t(5, 4)], cuops.matmul, torch.matmul),
    "cuops.matmul-1d": (["matmul", "gemm"], [_t(5), _t(2, 5, 4)], cuops.matmul, torch.matmul),
    "torch.ops.cuops.matmul": (["matmul", "gemm"], [_t(2, 3, 5), _t(5)], OPS.matmul,
                               torch.matmul),
    "cuops.linear": (["linear", "gemm"], [_t(2, 5), _t(4, 5)], cuops.linear, F.linear),
    "torch.ops.cuops.linear": (["linear", "gemm"], [_t(3, 2, 5), _t(4, 5)], OPS.linear,
                               F.linear),
    "cuops.nn.Linear": (["linear", "gemm"], [_module(cuops.nn.Linear, 5, 4), _t(3, 5)],
                        None, F.linear),
    "cuops.nn.Linear-no-bias": (["linear", "gemm"],
                                [_module(lambda *a, **k: cuops.nn.Linear(*a, bias=False, **k),
                                         5, 4), _t(3, 5)], None, F.linear),
    "cuops.conv2d": (["conv2d", "sum_to"], [_t(2, 4, 6, 6), _t(3, 4, 1, 1)], cuops.conv2d,
                     F.conv2d),
    "cuops.conv2d-3x3": (["conv2d"], [_t(2, 4, 6, 5), _t(3, 4, 3, 3)], cuops.conv2d, F.conv2d),
    "cuops.conv2d-unbatched": (["conv2d"], [_t(4, 6, 6), _t(3, 4, 1, 1)], cuops.conv2d,
                               F.conv2d),
    "torch.ops.cuops.conv2d": (["conv2d"], [_t(2, 4, 6, 6), _t(3, 4, 1, 1)], OPS.conv2d,
                               F.conv2d),
    "cuops.nn.Conv2d": (["conv2d", "sum_to"], [_module(cuops.nn.Conv2d, 4, 3, 1), _t(2, 4, 5, 5)],
                        None, F.conv2d),
    "cuops.nn.Conv2d-no-bias": (["conv2d"],
                                [_module(lambda *a, **k: cuops.nn.Conv2d(*a, bias=False, **k),
                                         4, 3, 1), _t(2, 4, 5, 5)], None, F.conv2d),
    # The gradient ops have no defaults but `variant` (and no autograd of their own).
    "torch.ops.cuops.conv2d_backward_input": (
        ["conv2d_backward_input"], [_t(2, 3, 6, 6), _t(3, 4, 1, 1)],
        lambda g, w: OPS.conv2d_backward_input(g, w, [2, 4, 6, 6], [1, 1], [0] * 4, [1, 1], 1),
        lambda g, w: torch.nn.grad.conv2d_input([2, 4, 6, 6], w, g)),
    "torch.ops.cuops.conv2d_backward_weight": (
        ["conv2d_backward_weight"], [_t(2, 3, 6, 6), _t(2, 4, 6, 6)],
        lambda g, x: OPS.conv2d_backward_weight(g, x, [3, 4, 1, 1], [1, 1], [0] * 4, [1, 1], 1),
        lambda g, x: torch.nn.grad.conv2d_weight(x, [3, 4, 1, 1], g)),
}
NO_AUTOGRAD = {"conv2d_backward_input", "conv2d_backward_weight"}


def _build(name, dtype, device):
    """(cuops callable, reference callable, inputs requiring grad)."""
    _ops, makers, fn, ref = CALLS[name]
    built = [m(dtype, device) for m in makers]
    if isinstance(built[0], torch.nn.Module):
        mod, x = built
        params = [p for p in (mod.weight, mod.bias) if p is not None]
        inputs = [x.requires_grad_(), *params]
        return (lambda x, *_: mod(x)), ref, inputs
    grad = not set(_ops) & NO_AUTOGRAD
    return fn, ref, [t.requires_grad_(grad) for t in built]


def test_table_covers_every_op():
    ops = {n.split("::")[1].split(".")[0] for n in torch._C._dispatch_get_all_op_names()
           if n.startswith("cuops::")}
    covered = {op for entry in CALLS.values() for op in entry[0]}
    assert ops <= covered, f"ops without a default-argument call: {sorted(ops - covered)}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64],
                         ids=lambda d: str(d).split(".")[1])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", CALLS)
def test_default_call_forward_backward(name, device, dtype):
    torch.manual_seed(1)
    fn, ref, inputs = _build(name, dtype, device)
    out = fn(*inputs)
    truth_in = [t.detach().double().requires_grad_(t.requires_grad) for t in inputs]
    truth = ref(*truth_in)
    assert out.dtype == dtype and out.device.type == device
    assert_rel_close(out, truth, tol=4 * REL_TOL[dtype], what=f"{name} output")
    if not inputs[0].requires_grad:
        return
    g = torch.randn_like(truth)
    out.backward(g.to(dtype))
    truth.backward(g)
    for i, (t, r) in enumerate(zip(inputs, truth_in)):
        assert t.grad is not None, f"{name}: no gradient for input {i}"
        assert_rel_close(t.grad, r.grad, tol=4 * REL_TOL[dtype], what=f"{name} grad {i}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", [n for n, c in CALLS.items() if not set(c[0]) & NO_AUTOGRAD])
def test_default_call_gradcheck(name, device):
    torch.manual_seed(2)
    fn, _ref, inputs = _build(name, torch.float64, device)
    assert torch.autograd.gradcheck(fn, inputs)


# opcheck of each op with every trailing default left out (the schema fills them).
OPCHECK = {
    "add": (OPS.add.default, [_t(3, 4), _t(4)], ()),
    "sum_to": (OPS.sum_to.default, [_t(3, 4)], ([4],)),
    "gemm": (OPS.gemm.default, [_t(2, 3, 5), _t(5, 4)], ()),
    "matmul": (OPS.matmul.default, [_t(3, 5), _t(5)], ()),
    "linear": (OPS.linear.default, [_t(3, 5), _t(4, 5)], ()),
    "conv2d": (OPS.conv2d.default, [_t(2, 4, 6, 6), _t(3, 4, 1, 1)], ()),
    "conv2d_backward_input": (OPS.conv2d_backward_input.default, [_t(2, 3, 6, 6), _t(3, 4, 1, 1)],
                              ([2, 4, 6, 6], [1, 1], [0] * 4, [1, 1], 1)),
    "conv2d_backward_weight": (OPS.conv2d_backward_weight.default,
                               [_t(2, 3, 6, 6), _t(2, 4, 6, 6)],
                               ([3, 4, 1, 1], [1, 1], [0] * 4, [1, 1], 1)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", OPCHECK)
def test_default_call_opcheck(name, device):
    op, makers, rest = OPCHECK[name]
    grad = name not in NO_AUTOGRAD
    tensors = [m(torch.float32, device).requires_grad_(grad) for m in makers]
    torch.library.opcheck(op, (*tensors, *rest))


def test_opcheck_table_covers_every_op():
    ops = {n.split("::")[1].split(".")[0] for n in torch._C._dispatch_get_all_op_names()
           if n.startswith("cuops::")}
    assert ops == set(OPCHECK)
