"""Helpers shared by the op modules: checks of the Python arguments that the
C++ ops cannot see (their Python types), the fake-kernel and autograd
registrations, and call()."""

import numbers
import os

import torch

from .. import _C


def check_tuning_knob(env: str, tables: dict) -> None:
    """Validate a development tuning knob (env="variant=<index>,...", the
    sizes of the C++ configuration tables in `tables`) with a clear
    ValueError at import, before any kernel reads it (C++ checks again:
    csrc/cuda/cuda_utils.cuh, tuning_config)."""
    for item in filter(None, os.environ.get(env, "").split(",")):
        name, _, idx = item.partition("=")
        if name not in tables or not idx.isdigit():
            names = " or ".join(f"'{n}=<index>'" for n in tables)
            raise ValueError(f"{env}: expected {names}, got {item!r}")
        if int(idx) >= tables[name]:
            raise ValueError(f"{env}: {name}={idx} is out of range (0..{tables[name] - 1})")


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def check_real_number(x, op: str, arg: str) -> None:
    if type(x) is float:  # the common cases first, without the slow ABC check
        return
    if type(x) is int:
        # A Scalar holds an int64 or a uint64 (as torch.add's alpha).
        if not INT64_MIN <= x < 2**64:
            raise OverflowError(f"{op}: argument '{arg}' = {x} is out of range for a 64-bit "
                                "integer (pass a float)")
        return
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, torch.SymInt, torch.SymFloat)):
        raise TypeError(f"{op}: argument '{arg}' must be a real number (int or float), "
                        f"but got {type(x).__name__}")


def check_int64(v, op: str, arg: str) -> None:
    """An int argument of the schema (int, int[], SymInt[]) fits in int64."""
    if type(v) is int and not INT64_MIN <= v <= INT64_MAX:
        raise ValueError(f"{op}: argument '{arg}' has a value out of range for int64: {v}")


def is_int(v) -> bool:
    """An int argument (a SymInt while tracing); bool is not one."""
    return isinstance(v, (int, torch.SymInt)) and not isinstance(v, bool)


def check_tensor(x, op: str, arg: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: argument '{arg}' must be a Tensor, but got {type(x).__name__}")


def register_autograd(name: str, backward, setup_context) -> None:
    """torch.library.register_autograd for cuops::<name>, with
    ctx.needs_input_grad covering every argument of the schema.

    The dispatcher drops trailing arguments that equal their schema defaults
    before it boxes a call into Python (so that serialized graphs stay
    compatible when defaults are added), and torch's generated
    autograd.Function sizes needs_input_grad by the arguments it was handed:
    for `conv2d(x, w)` it has two entries, not eight. setup_context already
    sees the defaults filled back in; this does the same for backward, so
    every formula may index any argument. A dropped argument equals its
    default (None for an optional tensor), so it needs no gradient."""
    n_args = len(getattr(torch.ops.cuops, name).default._schema.arguments)

    def backward_all_args(ctx, *grads):
        passed = ctx.needs_input_grad
        ctx.needs_input_grad = tuple(passed) + (False,) * (n_args - len(passed))
        try:
            return backward(ctx, *grads)
        finally:
            ctx.needs_input_grad = passed

    torch.library.register_autograd(f"cuops::{name}", backward_all_args,
                                    setup_context=setup_context)


def register_fake(name: str) -> None:
    """Register cuops::<name>'s fake kernel (torch.compile, torch.export, meta
    tensors): the C++ function _C.fake.<name> (csrc/module.cpp), i.e. the real
    kernels' own checks and output rules run over symbolic sizes, so output
    metadata and errors match the kernels by construction."""
    params = getattr(torch.ops.cuops, name).default._schema.arguments
    cpp = getattr(_C.fake, name)

    def fake(*args, **kwargs):
        # Trailing arguments equal to their defaults may arrive dropped (see
        # register_autograd); the C++ function takes every argument.
        rest = [kwargs.get(p.name, p.default_value) for p in params[len(args):]]
        return cpp(*args, *rest)

    fake.__name__ = fake.__qualname__ = f"fake_{name}"
    torch.library.register_fake(f"cuops::{name}", fake)


_below_autograd = torch._C._AutoDispatchBelowAutograd
_is_compiling = torch.compiler.is_compiling


def call(op, tensors, *args):
    """op(*args), skipping the Python autograd kernel when no gradient can flow.

    For the ops whose autograd is torch.library.register_autograd's Python
    kernel (add, sum_to): it runs on every call (~12 us), even when it only
    re-dispatches. (gemm and conv2d have C++ autograd kernels that skip the
    graph themselves; their public functions call the ops directly.)
    When grad mode is off or no input requires grad, calling below autograd
    gives the same result (it is exactly what that kernel would do) at the
    cost of a C++ op call. Under torch.compile the op is called normally."""
    if not _is_compiling() and not (
        torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    ):
        with _below_autograd():
            return op(*args)
    return op(*args)
