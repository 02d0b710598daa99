"""cuops.conv2d and its gradients: public function, autograd.

Kernels: csrc/cpu/conv2d_cpu.cpp, csrc/cuda/conv2d_cuda.cpp (ladders) and
csrc/cuda/conv2d/*.cu (one file per step); checks, output allocation and the
fake kernels in csrc/conv2d.cpp; autocast (as F.conv2d) in
csrc/autocast.cpp; autograd in csrc/conv2d_autograd.cpp. Tests:
tests/test_conv2d*.py. Benchmark: `python -m cuops bench conv2d`. Worklog:
docs/conv2d-worklog.md.

The ops take padding as (top, bottom, left, right); `cuops.conv2d` turns
F.conv2d's ints, pairs, "same" and "valid" into that.
"""

import torch

from ..variants import pick
from ._common import (INT64_MAX, INT64_MIN, check_int64, check_tensor, check_tuning_knob, is_int,
                      register_fake)

from .. import _C

# Sizes of the conv2d steps' development tuning tables (CUOPS_CONV_CONFIG;
# csrc/cuda/conv2d/tuning.h), as C++ reports them: 1 = the default entry only
# (product build), more with CUOPS_EXPLORE=1, none without CUDA kernels (the
# knob then has no effect). Used by the tests and scripts/explore/tune_conv.py.
TUNING_TABLES = _C.tuning_tables().get("conv2d", {})
if TUNING_TABLES:
    check_tuning_knob("CUOPS_CONV_CONFIG", TUNING_TABLES)

_OP = "cuops.conv2d"


def _pair(v, arg: str) -> list:
    # A pair of plain ints (nn.Conv2d's attributes): the per-layer call, kept cheap.
    if type(v) is tuple and len(v) == 2 and type(v[0]) is int and type(v[1]) is int \
            and INT64_MIN <= min(v) and max(v) <= INT64_MAX:
        return [v[0], v[1]]
    if is_int(v):
        out = [v, v]
    elif isinstance(v, (tuple, list)) and len(v) in (1, 2) and all(is_int(e) for e in v):
        out = [v[0], v[-1]]  # a 1-element sequence counts for both
    else:
        raise TypeError(f"{_OP}: argument '{arg}' must be an int or a pair of ints, but got "
                        f"{v!r}")
    for e in out:
        check_int64(e, _OP, arg)
    return out


def _padding4(padding, weight, stride, dilation) -> list:
    """F.conv2d's padding argument as (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return [0, 0, 0, 0]
        if padding != "same":
            raise ValueError(f"{_OP}: invalid padding string {padding!r}, should be one of "
                             "'valid' or 'same'")
        if any(s != 1 for s in stride):
            raise ValueError(f"{_OP}: padding='same' is not supported for strided convolutions "
                             f"(stride={tuple(stride)})")
        if weight.dim() != 4:
            return [0, 0, 0, 0]  # the op reports the rank error
        out = []
        for d, k in zip(dilation, weight.shape[2:]):
            total = d * (k - 1)
            # As torch: an odd total pads one more at the bottom/right.
            out += [total // 2, total - total // 2]
        return out
    ph, pw = _pair(padding, "padding")
    return [ph, ph, pw, pw]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           variant=None):
    """2-D convolution (cross-correlation) with F.conv2d's semantics.

    input (N, C, H, W) or unbatched (C, H, W); weight (K, C/groups, kH, kW);
    bias (K,) or None. stride, dilation: int or pair. padding: int, pair,
    "valid" or "same" (stride 1; an even dilated kernel pads the extra row and
    column at the bottom/right, as torch does). NCHW and channels_last
    inputs; the output is channels_last when input or weight is. `variant`
    picks a kernel (cuops.variants("conv2d")); None picks the fastest for the
    problem. Differentiable (own dgrad/wgrad kernels); autocasts like F.conv2d.
    """
    check_tensor(input, _OP, "input")
    check_tensor(weight, _OP, "weight")
    if bias is not None:
        check_tensor(bias, _OP, "bias")
    if not is_int(groups):
        raise TypeError(f"{_OP}: argument 'groups' must be an int, but got {groups!r}")
    check_int64(groups, _OP, "groups")
    stride = _pair(stride, "stride")
    dilation = _pair(dilation, "dilation")
    pad = _padding4(padding, weight, stride, dilation)
    # Called directly: the C++ autograd kernel skips the graph itself when no
    # gradient can flow (csrc/conv2d_autograd.cpp), cheaper than _common.call.
    return torch.ops.cuops.conv2d.default(input, weight, bias, stride, pad, dilation, groups,
                                          pick("conv2d", input, variant))


# Fake kernels: C++ (csrc/conv2d.cpp, conv2d_meta and the gradients').
register_fake("conv2d")
register_fake("conv2d_backward_input")
register_fake("conv2d_backward_weight")


# Autograd: C++ (csrc/conv2d_autograd.cpp): grad_input by the dgrad op,
# grad_weight by the wgrad op, grad_bias = sum_to(grad_output) over (N, P, Q).
