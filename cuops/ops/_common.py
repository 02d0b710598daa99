"""Helpers shared by the op modules (argument checks that must also hold
under fake tensors, where the C++ checks do not run)."""

import numbers
import os

import torch

from .. import _C
from .._registry import FLOAT_DTYPES


def check_float(t: torch.Tensor, op: str, arg: str) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: argument '{arg}' has unsupported dtype {c10_name(t.dtype)}; "
                        "supported dtypes are float16, bfloat16, float32 and float64")


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


def c10_name(dtype: torch.dtype) -> str:
    """The dtype as the C++ checks print it (c10 names: Float, Long, ...), so
    fake and real kernels raise identical messages."""
    return _C.dtype_name(dtype)


def check_same_dtype_device(op: str, a, a_name: str, b, b_name: str) -> None:
    """Both float tensors of one dtype on one device (csrc/cuops.h's
    check_float_dtype / check_same_dtype / check_same_device)."""
    check_float(a, op, a_name)
    check_float(b, op, b_name)
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: expected '{a_name}' and '{b_name}' to have the same dtype, but "
                        f"got {a_name}.dtype={c10_name(a.dtype)} and "
                        f"{b_name}.dtype={c10_name(b.dtype)}")
    if a.device != b.device:
        raise RuntimeError(f"{op}: expected '{a_name}' and '{b_name}' to be on the same device, "
                           f"but got {a_name} on {a.device} and {b_name} on {b.device}")


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


def check_max_dims(t: torch.Tensor, op: str, arg: str) -> None:
    """csrc/cuops.h's check_max_dims: the rank the strided kernels index."""
    if t.dim() > _C.MAX_DIMS:
        raise ValueError(f"{op}: argument '{arg}' has {t.dim()} dimensions; at most "
                         f"{_C.MAX_DIMS} are supported")


def check_variant(op: str, ladder: str, device: torch.device, variant, dtype) -> None:
    """A named kernel variant exists in cuops.variants(ladder, device) and
    supports `dtype`: the C++ check (csrc/cuops.h), for the fake kernels."""
    if variant:
        _C.check_variant(op, ladder, device.type, variant, dtype)


def check_tensor(x, op: str, arg: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: argument '{arg}' must be a Tensor, but got {type(x).__name__}")


# torch renamed this helper across versions (2.11 vs 2.14); both return False
# when symbolic shapes leave it undecided.
_dense = getattr(torch._prims_common, "is_non_overlapping_and_dense_or_false", None) or getattr(
    torch._prims_common, "is_non_overlapping_and_dense")


def is_dense(t: torch.Tensor) -> bool:
    """Tensor.is_non_overlapping_and_dense(), usable on fake tensors."""
    return bool(_dense(t))


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


_below_autograd = torch._C._AutoDispatchBelowAutograd
_is_compiling = torch.compiler.is_compiling


def call(op, tensors, *args):
    """op(*args), skipping the Python autograd kernel when no gradient can flow.

    torch.library.register_autograd installs a Python kernel at the Autograd
    key that runs on every call (~12 us), even when it only re-dispatches.
    When grad mode is off or no input requires grad, calling below autograd
    gives the same result (it is exactly what that kernel would do) at the
    cost of a C++ op call. Under torch.compile the op is called normally."""
    if not _is_compiling() and not (
        torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    ):
        with _below_autograd():
            return op(*args)
    return op(*args)
