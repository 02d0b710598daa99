"""Helpers shared by the op modules (argument checks that must also hold
under fake tensors, where the C++ checks do not run)."""

import numbers

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_float(t: torch.Tensor, op: str, arg: str) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: argument '{arg}' has unsupported dtype {t.dtype}; supported "
                        "dtypes are float16, bfloat16, float32 and float64")


def check_real_number(x, op: str, arg: str) -> None:
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, torch.SymInt, torch.SymFloat)):
        raise TypeError(f"{op}: argument '{arg}' must be a real number (int or float), "
                        f"but got {type(x).__name__}")


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
