"""cuops.conv2d and its gradients: public function, fake kernels, autograd,
autocast.

Kernels: csrc/cpu/conv2d_cpu.cpp, csrc/cuda/conv2d_cuda.cu (ladders) and
csrc/cuda/conv2d/*.cu (one file per step); checks and output allocation in
csrc/conv2d.cpp. Tests: tests/test_conv2d.py. Benchmark:
`python -m cuops bench conv2d`. Worklog: docs/conv2d-worklog.md.

The ops take padding as (top, bottom, left, right); `cuops.conv2d` turns
F.conv2d's ints, pairs, "same" and "valid" into that.
"""

import torch
from torch._prims_common import suggest_memory_format

from ..variants import pick
from ._common import (INT64_MAX, call, check_int64, check_same_dtype_device, check_tensor,
                      check_tuning_knob, check_variant, is_int, register_autograd)

from .. import _C

# Sizes of the conv2d steps' development tuning tables (CUOPS_CONV_CONFIG;
# csrc/cuda/conv2d/tuning.h), as C++ reports them: 1 = the default entry only
# (product build), more with CUOPS_EXPLORE=1, none without CUDA kernels (the
# knob then has no effect). Used by the tests and scripts/explore/tune_conv.py.
TUNING_TABLES = {name: n for name, n in _C.tuning_tables().items()
                 if any(v["op"] == "conv2d" and v["name"] == name for v in _C.variants())}
if TUNING_TABLES:
    check_tuning_knob("CUOPS_CONV_CONFIG", TUNING_TABLES)

_OP = "cuops.conv2d"
_DGRAD = "cuops.conv2d_backward_input"
_WGRAD = "cuops.conv2d_backward_weight"


def _pair(v, arg: str) -> list:
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
    # call(): skips the Python autograd kernel when no gradient can flow.
    return call(torch.ops.cuops.conv2d.default, (input, weight, bias), input, weight, bias,
                stride, pad, dilation, groups, pick("conv2d", input, variant))


# ---------------------------------------------------------------------------
# Checks and shapes, mirrored from csrc/conv2d.cpp (same errors, same words):
# the fake kernels run them under torch.compile where C++ does not run.
# ---------------------------------------------------------------------------


def _check_args(op, stride, padding, dilation, groups):
    if len(stride) != 2:
        raise ValueError(f"{op}: 'stride' must have 2 elements (h, w), but got {list(stride)}")
    if len(padding) != 4:
        raise ValueError(f"{op}: 'padding' must have 4 elements (top, bottom, left, right), "
                         f"but got {list(padding)}")
    if len(dilation) != 2:
        raise ValueError(f"{op}: 'dilation' must have 2 elements (h, w), but got "
                         f"{list(dilation)}")
    if stride[0] <= 0 or stride[1] <= 0:
        raise ValueError(f"{op}: 'stride' must be positive, but got {list(stride)}")
    if dilation[0] <= 0 or dilation[1] <= 0:
        raise ValueError(f"{op}: 'dilation' must be positive, but got {list(dilation)}")
    if any(v < 0 for v in padding):
        raise ValueError(f"{op}: 'padding' must be non-negative, but got {list(padding)}")
    if groups <= 0:
        raise ValueError(f"{op}: 'groups' must be positive, but got {groups}")


def _check_shapes(op, in_name, ins, wt, stride, padding, dilation, groups):
    """Returns the output size (P, Q)."""
    ins, wt = list(ins), list(wt)
    C, H, W, K = ins[1], ins[2], ins[3], wt[0]
    if K <= 0:
        raise ValueError(f"{op}: 'weight' must have at least one output channel, but got "
                         f"shape {wt}")
    if K % groups != 0:
        raise ValueError(f"{op}: 'weight' has {K} output channels (shape {wt}), which is not "
                         f"divisible by groups={groups}")
    if C != wt[1] * groups:
        raise ValueError(f"{op}: expected '{in_name}' to have {wt[1] * groups} channels "
                         f"(weight.size(1)={wt[1]} * groups={groups}), but got {C} channels "
                         f"('{in_name}' shape {ins}, 'weight' shape {wt})")
    if wt[2] <= 0 or wt[3] <= 0:
        raise ValueError(f"{op}: 'weight' has an empty kernel, shape {wt}")
    ph, pw = H + padding[0] + padding[1], W + padding[2] + padding[3]
    # C++ refuses int64 overflow (plain ints only: symbolic sizes come from
    # real tensors, and comparing them would add guards).
    if any(type(v) is int and v > INT64_MAX for v in (ph, pw)):
        raise ValueError(f"{op}: 'padding' {list(padding)} is too large: the padded input size "
                         "overflows int64")
    eh, ew = dilation[0] * (wt[2] - 1) + 1, dilation[1] * (wt[3] - 1) + 1
    if any(type(v) is int and v > INT64_MAX for v in (eh, ew)):
        raise ValueError(f"{op}: 'dilation' {list(dilation)} is too large: the dilated kernel "
                         "size overflows int64")
    if eh > ph or ew > pw:
        raise ValueError(f"{op}: kernel size ({eh} x {ew}, dilation included) is larger than "
                         f"the padded input ({ph} x {pw}; '{in_name}' shape {ins}, 'weight' "
                         f"shape {wt})")
    return (ph - eh) // stride[0] + 1, (pw - ew) // stride[1] + 1


def _cl(*ts) -> torch.memory_format:
    """torch's rule: channels_last when any of the 4-D tensors suggests it,
    except float64 on CUDA (no NHWC double path in cuDNN: torch returns
    contiguous). Mirrors output_format() in csrc/conv2d.cpp."""
    if ts[0].device.type == "cuda" and ts[0].dtype == torch.float64:
        return torch.contiguous_format
    for t in ts:
        if t.dim() == 4 and suggest_memory_format(t) == torch.channels_last:
            return torch.channels_last
    return torch.contiguous_format


def _empty_batch_format(x, out_shape) -> torch.memory_format:
    """Batch 0: channels_last when the output has the input's shape and the
    input's strides run in NHWC order (torch builds the empty output from the
    input, then views it); empty_batch_format() in csrc/conv2d.cpp."""
    if x.dim() == 4 and tuple(x.shape) == tuple(out_shape):
        st = x.stride()
        if st[1] < st[3] < st[2]:
            return torch.channels_last
    return torch.contiguous_format


@torch.library.register_fake("cuops::conv2d")
def _conv2d_fake(input, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0),
                 dilation=(1, 1), groups=1, variant=None):
    if input.dim() not in (3, 4):
        raise ValueError(f"{_OP}: expected 'input' to be 3-D (C, H, W) or 4-D (N, C, H, W), "
                         f"but got a {input.dim()}-D tensor of shape {list(input.shape)}")
    if weight.dim() != 4:
        raise ValueError(f"{_OP}: expected 'weight' to be 4-D (out_channels, "
                         f"in_channels/groups, kH, kW), but got a {weight.dim()}-D tensor of "
                         f"shape {list(weight.shape)}")
    check_same_dtype_device(_OP, input, "input", weight, "weight")
    if bias is not None:
        check_same_dtype_device(_OP, input, "input", bias, "bias")
        if bias.dim() != 1 or bias.shape[0] != weight.shape[0]:
            raise ValueError(f"{_OP}: expected 'bias' to be 1-D of length {weight.shape[0]} "
                             f"(weight.size(0)), but got shape {list(bias.shape)}")
    _check_args(_OP, stride, padding, dilation, groups)
    x = input.unsqueeze(0) if input.dim() == 3 else input
    P, Q = _check_shapes(_OP, "input", x.shape, weight.shape, stride, padding, dilation, groups)
    if x.shape[0] != 0 and x.shape[1] != 0 and (x.shape[2] == 0 or x.shape[3] == 0):
        raise ValueError(f"{_OP}: 'input' of shape {list(input.shape)} has an empty spatial "
                         "dimension; only its batch or channel dimension may be 0")
    out_shape = (x.shape[0], weight.shape[0], P, Q)
    fmt = _cl(x, weight) if x.shape[0] != 0 else _empty_batch_format(x, out_shape)
    out = torch.empty(out_shape, dtype=input.dtype, device=input.device, memory_format=fmt)
    check_variant(_OP, "conv2d", input.device, variant, input.dtype)
    return out.squeeze(0) if input.dim() == 3 else out


def _check_grad(op, grad_output, other, other_name, size, size_name):
    if grad_output.dim() != 4:
        raise ValueError(f"{op}: expected 'grad_output' to be 4-D (N, K, P, Q), but got shape "
                         f"{list(grad_output.shape)}")
    if other.dim() != 4:
        raise ValueError(f"{op}: expected '{other_name}' to be 4-D, but got shape "
                         f"{list(other.shape)}")
    if len(size) != 4:
        raise ValueError(f"{op}: expected '{size_name}' to have 4 elements, but got {list(size)}")
    if any(v < 0 for v in size):
        raise ValueError(f"{op}: '{size_name}' must be non-negative, but got {list(size)}")
    check_same_dtype_device(op, grad_output, "grad_output", other, other_name)


def _check_grad_output_shape(op, g, want):
    if list(g.shape) != list(want):
        raise ValueError(f"{op}: expected 'grad_output' of shape {list(want)}, but got "
                         f"{list(g.shape)}")


@torch.library.register_fake("cuops::conv2d_backward_input")
def _dgrad_fake(grad_output, weight, input_size, stride, padding, dilation, groups,
                variant=None):
    _check_grad(_DGRAD, grad_output, weight, "weight", input_size, "input_size")
    _check_args(_DGRAD, stride, padding, dilation, groups)
    P, Q = _check_shapes(_DGRAD, "input_size", input_size, weight.shape, stride, padding,
                         dilation, groups)
    _check_grad_output_shape(_DGRAD, grad_output, [input_size[0], weight.shape[0], P, Q])
    check_variant(_DGRAD, "conv2d_backward_input", grad_output.device, variant, grad_output.dtype)
    return torch.empty(list(input_size), dtype=grad_output.dtype, device=grad_output.device,
                       memory_format=_cl(grad_output, weight))


@torch.library.register_fake("cuops::conv2d_backward_weight")
def _wgrad_fake(grad_output, input, weight_size, stride, padding, dilation, groups,
                variant=None):
    _check_grad(_WGRAD, grad_output, input, "input", weight_size, "weight_size")
    _check_args(_WGRAD, stride, padding, dilation, groups)
    P, Q = _check_shapes(_WGRAD, "input", input.shape, weight_size, stride, padding, dilation,
                         groups)
    _check_grad_output_shape(_WGRAD, grad_output, [input.shape[0], weight_size[0], P, Q])
    check_variant(_WGRAD, "conv2d_backward_weight", grad_output.device, variant,
                  grad_output.dtype)
    return torch.empty(list(weight_size), dtype=grad_output.dtype, device=grad_output.device,
                       memory_format=_cl(grad_output, input))


# ---------------------------------------------------------------------------
# Autograd: grad_input by the dgrad op, grad_weight by the wgrad op,
# grad_bias = sum of grad_output over (N, P, Q) by our reduction kernel.
# ---------------------------------------------------------------------------


def _setup_context(ctx, inputs, output):
    input, weight, bias, stride, padding, dilation, groups, _variant = inputs
    ctx.save_for_backward(input, weight)
    ctx.args = (list(stride), list(padding), list(dilation), groups)


def _backward(ctx, grad):
    x, w = ctx.saved_tensors
    stride, padding, dilation, groups = ctx.args
    if x.dim() == 3:  # unbatched: the ops see a batch of one
        x, grad = x.unsqueeze(0), grad.unsqueeze(0)
    gi = gw = gb = None
    if ctx.needs_input_grad[0]:
        gi = torch.ops.cuops.conv2d_backward_input(
            grad, w, list(x.shape), stride, padding, dilation, groups,
            pick("conv2d_backward_input", grad, None))
        if ctx.saved_tensors[0].dim() == 3:
            gi = gi.squeeze(0)
    if ctx.needs_input_grad[1]:
        gw = torch.ops.cuops.conv2d_backward_weight(
            grad, x, list(w.shape), stride, padding, dilation, groups,
            pick("conv2d_backward_weight", grad, None))
    if ctx.needs_input_grad[2]:
        gb = torch.ops.cuops.sum_to(grad, [grad.shape[1], 1, 1], 1).reshape(grad.shape[1])
    return gi, gw, gb, None, None, None, None, None


register_autograd("conv2d", _backward, setup_context=_setup_context)


# ---------------------------------------------------------------------------
# Autocast, as F.conv2d: under autocast every floating input except float64
# on the autocast device is cast to the context's dtype (torch's
# lower-precision list for CUDA and CPU). torch.library.register_autocast
# fixes the dtype at registration, so this registers the same kind of
# kernel, reading the dtype of the active context.
# ---------------------------------------------------------------------------

_autocast_lib = torch.library.Library("cuops", "IMPL")  # keeps the registrations alive


def _register_autocast(device_type: str) -> None:
    key_name = "Autocast" + torch._C._dispatch_key_for_device(device_type)
    key = getattr(torch._C.DispatchKey, key_name)
    op = torch.ops.cuops.conv2d.default

    def cast(t, dtype):
        if (isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != torch.float64
                and t.device.type == device_type):
            return t.to(dtype)
        return t

    def run(*args):
        dtype = torch.get_autocast_dtype(device_type)
        args = [cast(a, dtype) for a in args]
        with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(key)):
            return op(*args)

    if op.has_kernel_for_dispatch_key(key):
        op.py_kernels.pop(key, None)
    op.py_impl(key)(run)  # the path taken while tracing (torch.compile)
    _autocast_lib.impl("conv2d", lambda _keyset, *args: run(*args), key_name, with_keyset=True)


for _dev in ("cuda", "cpu"):
    if torch._C._is_autocast_available(_dev):
        _register_autocast(_dev)
