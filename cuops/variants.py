"""The kernel ladder of each op: list the variants, pick one.

Variants are registered by the C++ library (csrc/cuops.h, `Ladder`), in
teaching order (naive first). The default is chosen there too, by the
ladder's default rules (the fastest correct variant for the dtype and, where
a rule says so, the problem, as measured in docs/*-worklog.md); Python only
passes on a variant the user named.
"""

import contextlib

import torch

from . import _C
from ._registry import DTYPE_BY_NAME

# (op, device type) -> variant name chosen by use_variant(). A plain dict, not
# a ContextVar: torch.compile traces (and guards on) dict reads, not ContextVars.
_override: dict = {}


def cuda_built() -> bool:
    """True when the extension was compiled with its CUDA kernels."""
    return bool(_C.cuda_built())


def variants(op: str, device: str = "cuda") -> list:
    """The variants of `op` on `device` ("cuda" or "cpu"), in ladder order.

    Each is a dict: name, summary, dtypes (torch dtypes it supports),
    default_when (a (dtype, condition) pair for each default rule that picks
    it: condition None when the rule has none, "otherwise" when it follows
    rules with conditions) and default_for (the dtypes for which some rule
    picks it)."""
    out = []
    for v in _C.variants():
        if v["op"] == op and v["device"] == device:
            when = [(DTYPE_BY_NAME[d], cond or None) for d, cond in v["default_when"]]
            out.append(
                {
                    "name": v["name"],
                    "summary": v["summary"],
                    "dtypes": [DTYPE_BY_NAME[d] for d in v["dtypes"]],
                    "default_for": list(dict.fromkeys(d for d, _ in when)),
                    "default_when": when,
                }
            )
    if not out and op not in {v["op"] for v in _C.variants()}:
        known = sorted({v["op"] for v in _C.variants()})
        raise ValueError(f"cuops.variants: unknown op {op!r}; known ops: {known}")
    return out


@contextlib.contextmanager
def use_variant(op: str, name: str, device: str = "cuda"):
    """Run calls of cuops.<op> on `device` with the variant `name`:

        with cuops.use_variant("matmul", "warptile"):
            y = cuops.matmul(a, b)

    Applies to the Python API (cuops.add, cuops.nn modules, ...); a direct
    torch.ops.cuops call takes its `variant` argument instead."""
    names = [v["name"] for v in variants(op, device)]
    if name not in names:
        raise ValueError(f"cuops.use_variant: unknown {device} variant {name!r} of {op}; "
                         f"available: {names}")
    key = (op, device)
    previous = _override.get(key)
    try:
        _override[key] = name
        _C.set_variant_override(op, device, name)  # for the C++ autograd (csrc/*_autograd.cpp)
        yield
    finally:
        if previous is None:
            _override.pop(key, None)
        else:
            _override[key] = previous
        _C.set_variant_override(op, device, previous)


def pick(op: str, tensor: torch.Tensor, variant, caller: str = ""):
    """The variant to pass to torch.ops.cuops.<op>: the explicit one, else the
    use_variant() override for the tensor's device, else None (the default).
    `caller` (default "cuops.<op>") names the function in errors."""
    if variant is not None:
        if not isinstance(variant, str):
            raise TypeError(f"{caller or 'cuops.' + op}: argument 'variant' must be a str (a "
                            f"name from cuops.variants({op!r})) or None, but got "
                            f"{type(variant).__name__}")
        return variant
    if not _override:
        return None
    return _override.get((op, tensor.device.type))
