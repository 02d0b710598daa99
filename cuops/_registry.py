"""Facts the C++ library owns, read from cuops._C so that Python never
restates them: the floating dtypes (csrc/cuops.h's kAllFloat) and the ops
that have a kernel ladder (the variant table the Ladder constructors fill)."""

from . import _C

# float16, bfloat16, float32, float64: every dtype a cuops kernel accepts.
FLOAT_DTYPES: tuple = tuple(_C.float_dtypes())

# c10 name ("Half", "Float", ...) -> torch dtype: how _C.variants() names dtypes.
DTYPE_BY_NAME: dict = {_C.dtype_name(t): t for t in FLOAT_DTYPES}


def ladder_ops() -> list:
    """The ops with a kernel ladder (on any device), in registration order."""
    return list(dict.fromkeys(v["op"] for v in _C.variants()))
