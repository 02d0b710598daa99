"""Bad inputs, one row each, through every entry point: cuops.<op>,
torch.ops.cuops.<op>, cuops.nn modules and cuops.convert-ed models. Each row
checks the exception type and that the message names the function called
and the offending parameter (as that function spells them); the same rows
run under FakeTensorMode (what torch.compile and torch.export execute),
which must raise the identical error, and a few through torch.compile. Rows
with out-of-range integers run in a child process, so an overflow that
crashed the process would fail the row instead of the run."""

import json

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

import cuops
import cuops.nn
from tests.utils import run_python

I32, I64, F16, BF16, F64 = torch.int32, torch.int64, torch.float16, torch.bfloat16, torch.float64
BOOL, C64 = torch.bool, torch.complex64
ops = torch.ops.cuops


def T(*shape, dtype=torch.float32, device="cpu"):
    """A tensor of `shape` (ones for dtypes randn cannot fill)."""
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype, device=device)
    return torch.ones(shape, dtype=dtype, device=device)


def X(**kw):  # a conv input (N, C, H, W)
    return T(1, 2, 5, 5, **kw)


def W(**kw):  # its weight (K, C, kH, kW)
    return T(3, 2, 3, 3, **kw)


def G(**kw):  # the conv2d(X, W) output's gradient
    return T(1, 3, 3, 3, **kw)


P = [1, 1], [0, 0, 0, 0], [1, 1], 1  # stride, padding, dilation, groups of the gradient ops


def model():
    """A small converted model: conv (2 -> 3 channels, 3x3), flatten, linear 27 -> 4."""
    return cuops.convert(nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(27, 4)))


def row(name, fn, exc, *words, sub=False, gpu=False):
    """fn() must raise `exc` whose message contains every one of `words`.
    sub: run in a child process. gpu: needs CUDA."""
    marks = [pytest.mark.gpu] if gpu else []
    return pytest.param(fn, exc, words, sub, id=name, marks=marks)


ROWS = [
    # ---- cuops.add ----------------------------------------------------------------------------
    row("add-int64-a", lambda: cuops.add(T(3, dtype=I64), T(3)), TypeError, "cuops.add", "'a'", "Long"),
    row("add-bool-b", lambda: cuops.add(T(3), T(3, dtype=BOOL)), TypeError, "cuops.add", "'b'", "Bool"),
    row("add-complex-op", lambda: ops.add(T(3, dtype=C64), T(3)), TypeError, "cuops.add", "'a'", "ComplexFloat"),
    row("add-shapes", lambda: cuops.add(T(2, 3), T(4)), ValueError, "cuops.add", "'a' [2, 3]", "'b' [4]"),
    row("add-shapes-op", lambda: ops.add(T(5, 1, 3), T(2, 4)), ValueError, "cuops.add", "'a'", "'b'", "size 3 vs 4"),
    row("add-alpha-bool", lambda: cuops.add(T(3), T(3), alpha=True), TypeError, "cuops.add", "'alpha'", "bool"),
    row("add-alpha-complex-op", lambda: ops.add(T(3), T(3), 1j), TypeError, "cuops.add", "'alpha'", "complex"),
    row("add-alpha-str", lambda: cuops.add(T(3), T(3), "2"), TypeError, "cuops.add", "'alpha'", "str"),
    row("add-alpha-2**64", lambda: cuops.add(T(3), T(3), alpha=2**64), OverflowError, "cuops.add", "'alpha'"),
    row("add-list", lambda: cuops.add([1.0], T(1)), TypeError, "cuops.add", "'a'", "Tensor", "list"),
    row("add-two-numbers", lambda: cuops.add(1, 2), TypeError, "cuops.add", "'a'", "Tensor"),
    row("add-17-dims", lambda: cuops.add(T(*[1] * 17), T(1)), ValueError, "cuops.add", "'a'", "17 dimensions"),
    row("add-meta-cpu", lambda: cuops.add(T(3, device="meta"), T(3)), RuntimeError, "cuops.add", "'a'", "'b'", "meta"),
    row("add-meta-shapes", lambda: cuops.add(T(2, 3, device="meta"), T(4, device="meta")), ValueError, "cuops.add", "'a' [2, 3]"),
    row("add-variant", lambda: cuops.add(T(3), T(3), variant="nope"), ValueError, "cuops.add", "'nope'"),
    row("add-cuda-cpu", lambda: cuops.add(T(3, device="cuda"), T(3)), RuntimeError, "cuops.add", "'a'", "'b'", gpu=True),
    # ---- cuops.sum_to -------------------------------------------------------------------------
    row("sum_to-int32", lambda: cuops.sum_to(T(3, dtype=I32), (1,)), TypeError, "cuops.sum_to", "'x'", "Int"),
    row("sum_to-size", lambda: cuops.sum_to(T(4, 5), (3,)), ValueError, "cuops.sum_to", "size [3]", "'x'"),
    row("sum_to-longer-op", lambda: ops.sum_to(T(5), [2, 5]), ValueError, "cuops.sum_to", "size [2, 5]", "'x'"),
    row("sum_to-size-None", lambda: cuops.sum_to(T(4), None), TypeError, "cuops.sum_to", "'size'", "None"),
    row("sum_to-size-str", lambda: cuops.sum_to(T(4), "ab"), TypeError, "cuops.sum_to", "'size'", "'ab'"),
    row("sum_to-size-float", lambda: cuops.sum_to(T(4), (4.0,)), TypeError, "cuops.sum_to", "'size'"),
    row("sum_to-size-2**63", lambda: cuops.sum_to(T(4), [2**63]), ValueError, "cuops.sum_to", "'size'", "int64", sub=True),
    row("sum_to-scale-bool", lambda: cuops.sum_to(T(4), (4,), True), TypeError, "cuops.sum_to", "'scale'", "bool"),
    row("sum_to-scale-complex-op", lambda: ops.sum_to(T(4), [4], 1j), TypeError, "cuops.sum_to", "'scale'"),
    # ---- cuops.matmul -------------------------------------------------------------------------
    row("matmul-int64", lambda: cuops.matmul(T(3, 4, dtype=I64), T(4, 5, dtype=I64)), TypeError, "cuops.matmul", "'a'", "Long"),
    row("matmul-bool-b", lambda: cuops.matmul(T(3, 4), T(4, 5, dtype=BOOL)), TypeError, "cuops.matmul", "'b'", "Bool"),
    row("matmul-complex-op", lambda: ops.matmul(T(3, 4, dtype=C64), T(4, 5, dtype=C64)), TypeError, "cuops.matmul", "'a'"),
    row("matmul-fp32-fp64", lambda: cuops.matmul(T(3, 4), T(4, 5, dtype=F64)), TypeError, "cuops.matmul", "'a'", "'b'", "Double"),
    row("matmul-fp16-bf16", lambda: cuops.matmul(T(3, 4, dtype=F16), T(4, 5, dtype=BF16)), TypeError, "cuops.matmul", "same dtype"),
    row("matmul-inner", lambda: cuops.matmul(T(3, 4), T(5, 6)), ValueError, "cuops.matmul", "'a' has shape [3, 4]", "'b' has shape [5, 6]"),
    row("matmul-inner-1d-1d", lambda: cuops.matmul(T(3), T(4)), ValueError, "cuops.matmul", "'a' has shape [3]", "'b'"),
    row("matmul-inner-1d-2d", lambda: cuops.matmul(T(3), T(4, 5)), ValueError, "cuops.matmul", "'a'", "'b' has shape [4, 5]"),
    row("matmul-inner-3d-1d-op", lambda: ops.matmul(T(2, 3, 4), T(5)), ValueError, "cuops.matmul", "'a'", "'b' has shape [5]"),
    row("matmul-batch", lambda: cuops.matmul(T(2, 3, 4), T(3, 4, 5)), ValueError, "cuops.matmul", "batch", "'a' [2, 3, 4]", "'b'"),
    row("matmul-batch-4d", lambda: cuops.matmul(T(2, 1, 3, 4), T(3, 5, 4, 2)), ValueError, "cuops.matmul", "batch", "size 2 vs 3"),
    row("matmul-0d", lambda: cuops.matmul(T(), T(3)), ValueError, "cuops.matmul", "'a' of shape []", "1-D"),
    row("matmul-float-b", lambda: cuops.matmul(T(3, 4), 2.0), TypeError, "cuops.matmul", "'b'", "Tensor", "float"),
    row("matmul-17-dims", lambda: cuops.matmul(T(*[1] * 17), T(1, 1)), ValueError, "cuops.matmul", "'a'", "17 dimensions"),
    row("matmul-meta-cpu", lambda: cuops.matmul(T(3, 4, device="meta"), T(4, 5)), RuntimeError, "cuops.matmul", "'a'", "'b'", "meta"),
    row("matmul-meta-inner", lambda: cuops.matmul(T(3, 4, device="meta"), T(5, 6, device="meta")), ValueError, "cuops.matmul", "'a'"),
    row("matmul-variant", lambda: cuops.matmul(T(3, 4), T(4, 5), variant="nope"), ValueError, "cuops.matmul", "'nope'"),
    row("matmul-cuda-cpu", lambda: cuops.matmul(T(3, 4, device="cuda"), T(4, 5)), RuntimeError, "cuops.matmul", "'a'", "'b'", gpu=True),
    row("matmul-variant-dtype", lambda: cuops.matmul(T(3, 4, device="cuda"), T(4, 5, device="cuda"), variant="mma_sync"),
        TypeError, "cuops.matmul", "'mma_sync'", "Float", gpu=True),
    # ---- cuops.linear, cuops.nn.Linear, cuops.gemm --------------------------------------------
    row("linear-int64", lambda: cuops.linear(T(3, 4, dtype=I64), T(5, 4, dtype=I64)), TypeError, "cuops.linear", "'input'", "Long"),
    row("linear-fp64-weight", lambda: cuops.linear(T(3, 4), T(5, 4, dtype=F64)), TypeError, "cuops.linear", "'input'", "'weight'"),
    row("linear-int-bias", lambda: cuops.linear(T(3, 4), T(5, 4), T(5, dtype=I64)), TypeError, "cuops.linear", "'bias'", "Long"),
    row("linear-bias-length", lambda: cuops.linear(T(3, 4), T(5, 4), T(4)), ValueError, "cuops.linear", "'bias'", "[5]", "[4]"),
    row("linear-bias-2d-op", lambda: ops.linear(T(3, 4), T(5, 4), T(1, 5)), ValueError, "cuops.linear", "'bias'", "[1, 5]"),
    row("linear-features", lambda: cuops.linear(T(3, 4), T(2, 5)), ValueError, "cuops.linear", "'input'", "'weight'", "4 features"),
    row("linear-weight-1d", lambda: cuops.linear(T(3, 4), T(4)), ValueError, "cuops.linear", "'weight'", "2-D"),
    row("linear-input-0d", lambda: cuops.linear(T(), T(5, 4)), ValueError, "cuops.linear", "'input'", "1-D"),
    row("linear-meta-weight", lambda: cuops.linear(T(3, 4), T(5, 4, device="meta")), RuntimeError, "cuops.linear", "'weight'", "meta"),
    row("linear-variant", lambda: cuops.linear(T(3, 4), T(5, 4), variant="nope"), ValueError, "cuops.linear", "'nope'"),
    row("linear-variant-int", lambda: cuops.linear(T(3, 4), T(5, 4), variant=3), TypeError, "cuops.linear", "'variant'", "int"),
    row("linear-list-weight", lambda: cuops.linear(T(3, 4), [[1.0]]), TypeError, "cuops.linear", "'weight'", "Tensor"),
    row("linear-cuda-bias", lambda: cuops.linear(T(3, 4, device="cuda"), T(5, 4, device="cuda"), T(5)),
        RuntimeError, "cuops.linear", "'bias'", "cpu", gpu=True),
    row("nn.Linear-int64", lambda: cuops.nn.Linear(4, 5)(T(3, 4, dtype=I64)), TypeError, "cuops.linear", "'input'", "Long"),
    row("nn.Linear-features", lambda: cuops.nn.Linear(4, 5)(T(3, 3)), ValueError, "cuops.linear", "'input'", "3 features"),
    row("nn.Linear-fp64-input", lambda: cuops.nn.Linear(4, 5)(T(3, 4, dtype=F64)), TypeError, "cuops.linear", "'input'", "'weight'"),
    row("gemm-bias-op", lambda: ops.gemm(T(3, 4), T(4, 5), T(4), None), ValueError, "cuops.gemm", "'bias'", "[5]"),
    row("gemm-1d", lambda: cuops.gemm(T(4), T(4, 5)), ValueError, "cuops.gemm", "'a'", "2 dimensions"),
    row("gemm-variant", lambda: cuops.gemm(T(3, 4), T(4, 5), variant="nope"), ValueError, "cuops.gemm", "'nope'"),
    # ---- cuops.conv2d -------------------------------------------------------------------------
    row("conv-int64", lambda: cuops.conv2d(X(dtype=I64), W(dtype=I64)), TypeError, "cuops.conv2d", "'input'", "Long"),
    row("conv-bool-weight", lambda: cuops.conv2d(X(), W(dtype=BOOL)), TypeError, "cuops.conv2d", "'weight'", "Bool"),
    row("conv-fp32-fp64", lambda: cuops.conv2d(X(), W(dtype=F64)), TypeError, "cuops.conv2d", "'input'", "'weight'", "Double"),
    row("conv-int-bias", lambda: cuops.conv2d(X(), W(), T(3, dtype=I64)), TypeError, "cuops.conv2d", "'bias'", "Long"),
    row("conv-bias-length", lambda: cuops.conv2d(X(), W(), T(4)), ValueError, "cuops.conv2d", "'bias'", "length 3"),
    row("conv-input-2d", lambda: cuops.conv2d(T(5, 5), W()), ValueError, "cuops.conv2d", "'input'", "2-D"),
    row("conv-input-5d", lambda: cuops.conv2d(T(1, 1, 2, 5, 5), W()), ValueError, "cuops.conv2d", "'input'", "5-D"),
    row("conv-weight-3d", lambda: cuops.conv2d(X(), T(3, 2, 3)), ValueError, "cuops.conv2d", "'weight'", "3-D"),
    row("conv-channels", lambda: cuops.conv2d(T(1, 4, 5, 5), W()), ValueError, "cuops.conv2d", "'input'", "2 channels", "4 channels"),
    row("conv-groups-divide", lambda: cuops.conv2d(T(1, 4, 5, 5), T(3, 2, 3, 3), groups=2), ValueError, "cuops.conv2d", "groups=2"),
    row("conv-kernel-larger", lambda: cuops.conv2d(T(1, 2, 2, 2), W()), ValueError, "cuops.conv2d", "kernel size", "'input'"),
    row("conv-dilated-larger", lambda: cuops.conv2d(X(), W(), dilation=3), ValueError, "cuops.conv2d", "dilation included"),
    row("conv-stride-0", lambda: cuops.conv2d(X(), W(), stride=0), ValueError, "cuops.conv2d", "'stride'", "positive"),
    row("conv-stride-negative", lambda: cuops.conv2d(X(), W(), stride=(1, -1)), ValueError, "cuops.conv2d", "'stride'"),
    row("conv-stride-3", lambda: cuops.conv2d(X(), W(), stride=(1, 2, 3)), TypeError, "cuops.conv2d", "'stride'", "pair"),
    row("conv-stride-float", lambda: cuops.conv2d(X(), W(), stride=1.5), TypeError, "cuops.conv2d", "'stride'", "1.5"),
    row("conv-stride-bool", lambda: cuops.conv2d(X(), W(), stride=True), TypeError, "cuops.conv2d", "'stride'", "True"),
    row("conv-padding-negative", lambda: cuops.conv2d(X(), W(), padding=-1), ValueError, "cuops.conv2d", "'padding'"),
    row("conv-padding-3", lambda: cuops.conv2d(X(), W(), padding=(1, 1, 1)), TypeError, "cuops.conv2d", "'padding'", "pair"),
    row("conv-padding-str", lambda: cuops.conv2d(X(), W(), padding="full"), ValueError, "cuops.conv2d", "padding", "'full'"),
    row("conv-same-stride", lambda: cuops.conv2d(X(), W(), padding="same", stride=2), ValueError, "cuops.conv2d", "padding='same'", "stride"),
    row("conv-dilation-0", lambda: cuops.conv2d(X(), W(), dilation=0), ValueError, "cuops.conv2d", "'dilation'"),
    row("conv-dilation-list", lambda: cuops.conv2d(X(), W(), dilation=[1.0, 1]), TypeError, "cuops.conv2d", "'dilation'"),
    row("conv-groups-0", lambda: cuops.conv2d(X(), W(), groups=0), ValueError, "cuops.conv2d", "'groups'"),
    row("conv-groups-negative", lambda: cuops.conv2d(X(), W(), groups=-2), ValueError, "cuops.conv2d", "'groups'"),
    row("conv-groups-float", lambda: cuops.conv2d(X(), W(), groups=1.0), TypeError, "cuops.conv2d", "'groups'"),
    row("conv-groups-bool", lambda: cuops.conv2d(X(), W(), groups=True), TypeError, "cuops.conv2d", "'groups'"),
    # zero-size dims: errors exactly where F.conv2d errors (test_zero_size_as_torch)
    row("conv-zero-out-channels", lambda: cuops.conv2d(X(), T(0, 2, 3, 3)), ValueError, "cuops.conv2d", "'weight'", "output channel"),
    row("conv-zero-kernel", lambda: cuops.conv2d(X(), T(3, 2, 0, 3)), ValueError, "cuops.conv2d", "'weight'", "empty kernel"),
    row("conv-zero-height", lambda: cuops.conv2d(T(1, 2, 0, 5), W()), ValueError, "cuops.conv2d", "'input'", "0 x 5"),
    row("conv-zero-width-padded", lambda: cuops.conv2d(T(1, 2, 5, 0), T(3, 2, 1, 1), padding=1), ValueError,
        "cuops.conv2d", "'input'", "empty spatial"),
    row("conv-unbatched-zero-height", lambda: cuops.conv2d(T(2, 0, 5), T(3, 2, 1, 1), padding=1), ValueError,
        "cuops.conv2d", "'input'", "empty spatial"),
    row("conv-stride-2**63", lambda: cuops.conv2d(X(), W(), stride=2**63), ValueError, "cuops.conv2d", "'stride'", "int64", sub=True),
    row("conv-groups-2**63", lambda: cuops.conv2d(X(), W(), groups=2**63), ValueError, "cuops.conv2d", "'groups'", "int64", sub=True),
    row("conv-padding-2**62", lambda: cuops.conv2d(X(), W(), padding=2**62), ValueError, "cuops.conv2d", "'padding'", "overflows", sub=True),
    row("conv-dilation-2**62", lambda: cuops.conv2d(X(), T(3, 2, 5, 5), dilation=2**62), ValueError,
        "cuops.conv2d", "'dilation'", "overflows", sub=True),
    row("conv-meta-input", lambda: cuops.conv2d(X(device="meta"), W()), RuntimeError, "cuops.conv2d", "'input'", "'weight'", "meta"),
    row("conv-meta-channels", lambda: cuops.conv2d(T(1, 4, 5, 5, device="meta"), W(device="meta")), ValueError,
        "cuops.conv2d", "'input'", "4 channels"),
    row("conv-weight-None", lambda: cuops.conv2d(X(), None), TypeError, "cuops.conv2d", "'weight'", "Tensor"),
    row("conv-variant", lambda: cuops.conv2d(X(), W(), variant="nope"), ValueError, "cuops.conv2d", "'nope'"),
    row("conv-variant-bytes", lambda: cuops.conv2d(X(), W(), variant=b"cpu"), TypeError, "cuops.conv2d", "'variant'", "bytes"),
    row("use_variant-name", lambda: cuops.use_variant("conv2d", "nope", device="cpu").__enter__(), ValueError,
        "cuops.use_variant", "'nope'", "conv2d"),
    row("variants-op", lambda: cuops.variants("conv3d"), ValueError, "cuops.variants", "'conv3d'"),
    row("conv-op-stride-length", lambda: ops.conv2d(X(), W(), None, [1], [0] * 4, [1, 1], 1), ValueError, "cuops.conv2d", "'stride'"),
    row("conv-op-padding-length", lambda: ops.conv2d(X(), W(), None, [1, 1], [0, 0], [1, 1], 1), ValueError,
        "cuops.conv2d", "'padding'", "4 elements"),
    row("conv-op-padding-negative", lambda: ops.conv2d(X(), W(), None, [1, 1], [0, 0, -1, 0], [1, 1], 1), ValueError,
        "cuops.conv2d", "'padding'"),
    # torch's own argument parser for a torch.ops call (the schema's names)
    row("conv-op-stride-float", lambda: ops.conv2d(X(), W(), None, 1.5, [0] * 4, [1, 1], 1), RuntimeError, "cuops::conv2d", "'stride'"),
    row("conv-cuda-weight-cpu", lambda: cuops.conv2d(X(device="cuda"), W()), RuntimeError, "cuops.conv2d", "'weight'", gpu=True),
    row("conv-cuda-variant-dtype", lambda: cuops.conv2d(X(device="cuda"), W(device="cuda"), variant="implicit_gemm_mma"),
        TypeError, "cuops.conv2d", "'implicit_gemm_mma'", "Float", gpu=True),
    row("nn.Conv2d-int64", lambda: cuops.nn.Conv2d(2, 3, 3)(X(dtype=I64)), TypeError, "cuops.conv2d", "'input'", "Long"),
    row("nn.Conv2d-channels", lambda: cuops.nn.Conv2d(2, 3, 3)(T(1, 4, 5, 5)), ValueError, "cuops.conv2d", "'input'", "4 channels"),
    row("nn.Conv2d-small-input", lambda: cuops.nn.Conv2d(2, 3, 5)(T(1, 2, 3, 3)), ValueError, "cuops.conv2d", "kernel size"),
    row("nn.Conv2d-padding_mode", lambda: cuops.nn.Conv2d(2, 3, 3, padding_mode="mirror"), ValueError,
        "cuops.nn.Conv2d", "padding_mode", "'mirror'"),
    row("convert-fp64-input", lambda: model()(X(dtype=F64)), TypeError, "cuops.conv2d", "'input'", "'weight'", "Double"),
    row("convert-channels", lambda: model()(T(1, 3, 5, 5)), ValueError, "cuops.conv2d", "'input'", "3 channels"),
    row("convert-features", lambda: model()(T(1, 2, 6, 6)), ValueError, "cuops.linear", "'input'", "48 features"),
    # ---- the conv2d gradient ops (dgrad, wgrad) -----------------------------------------------
    row("dgrad-int64", lambda: ops.conv2d_backward_input(G(dtype=I64), W(), [1, 2, 5, 5], *P), TypeError,
        "cuops.conv2d_backward_input", "'grad_output'", "Long"),
    row("dgrad-fp64-weight", lambda: ops.conv2d_backward_input(G(), W(dtype=F64), [1, 2, 5, 5], *P), TypeError,
        "cuops.conv2d_backward_input", "'grad_output'", "'weight'"),
    row("dgrad-grad-shape", lambda: ops.conv2d_backward_input(G(), W(), [1, 2, 6, 5], *P), ValueError,
        "cuops.conv2d_backward_input", "'grad_output'", "[1, 3, 4, 3]"),
    row("dgrad-input_size-3", lambda: ops.conv2d_backward_input(G(), W(), [2, 5, 5], *P), ValueError,
        "cuops.conv2d_backward_input", "'input_size'", "4 elements"),
    row("dgrad-input_size-negative", lambda: ops.conv2d_backward_input(G(), W(), [1, 2, -5, 5], *P), ValueError,
        "cuops.conv2d_backward_input", "'input_size'", "non-negative"),
    row("dgrad-meta-weight", lambda: ops.conv2d_backward_input(G(), W(device="meta"), [1, 2, 5, 5], *P), RuntimeError,
        "cuops.conv2d_backward_input", "'weight'", "meta"),
    row("wgrad-fp64-input", lambda: ops.conv2d_backward_weight(G(), X(dtype=F64), [3, 2, 3, 3], *P), TypeError,
        "cuops.conv2d_backward_weight", "'grad_output'", "'input'"),
    row("wgrad-input-3d", lambda: ops.conv2d_backward_weight(G(), T(2, 5, 5), [3, 2, 3, 3], *P), ValueError,
        "cuops.conv2d_backward_weight", "'input'", "4-D"),
    row("wgrad-weight_size-3", lambda: ops.conv2d_backward_weight(G(), X(), [3, 2, 3], *P), ValueError,
        "cuops.conv2d_backward_weight", "'weight_size'", "4 elements"),
    row("wgrad-groups-0", lambda: ops.conv2d_backward_weight(G(), X(), [3, 2, 3, 3], [1, 1], [0] * 4, [1, 1], 0), ValueError,
        "cuops.conv2d_backward_weight", "'groups'"),
    # The raw ops on CUDA tensors: the checks throw through the CUDA entry points (each of
    # these rows crashed the process on torch 2.11 + an H100, 2026-12-07, while those were
    # nvcc-compiled; csrc/op_entry.h).
    row("conv-op-cuda-padding-length", lambda: ops.conv2d(X(device="cuda"), W(device="cuda"), None, [1, 1], [0, 0],
        [1, 1], 1), ValueError, "cuops.conv2d", "'padding'", "4 elements", sub=True, gpu=True),
    row("dgrad-cuda-padding-length", lambda: ops.conv2d_backward_input(G(device="cuda"), W(device="cuda"), [1, 2, 5, 5],
        [1, 1], [0, 0], [1, 1], 1), ValueError, "cuops.conv2d_backward_input", "'padding'", "4 elements", sub=True, gpu=True),
    row("wgrad-cuda-padding-length", lambda: ops.conv2d_backward_weight(G(device="cuda"), X(device="cuda"), [3, 2, 3, 3],
        [1, 1], [0, 0], [1, 1], 1), ValueError, "cuops.conv2d_backward_weight", "'padding'", "4 elements", sub=True, gpu=True),
    row("wgrad-cuda-grad-shape", lambda: ops.conv2d_backward_weight(T(1, 3, 4, 3, device="cuda"), X(device="cuda"),
        [3, 2, 3, 3], *P), ValueError, "cuops.conv2d_backward_weight", "'grad_output'", sub=True, gpu=True),
    row("add-cuda-shapes-op", lambda: ops.add(T(5, 1, 3, device="cuda"), T(2, 4, device="cuda")), ValueError,
        "cuops.add", "'a'", "'b'", "size 3 vs 4", sub=True, gpu=True),
    row("gemm-cuda-bias-op", lambda: ops.gemm(T(3, 4, device="cuda"), T(4, 5, device="cuda"), T(4, device="cuda"), None),
        ValueError, "cuops.gemm", "'bias'", "[5]", sub=True, gpu=True),
    row("gemm-cuda-inner-op", lambda: ops.gemm(T(3, 4, device="cuda"), T(5, 6, device="cuda"), None, None),
        ValueError, "cuops.gemm", "'a'", "'b'", sub=True, gpu=True),
    row("wgrad-dilation-2**62", lambda: ops.conv2d_backward_weight(G(), X(), [3, 2, 5, 5], [1, 1], [0] * 4, [2**62] * 2, 1),
        ValueError, "cuops.conv2d_backward_weight", "'dilation'", "overflows", sub=True),
]

IN_PROCESS = [r for r in ROWS if not r.values[3]]
IN_CHILD = [r for r in ROWS if r.values[3]]


def _check(err: BaseException, exc, words):
    assert type(err) is exc, f"{type(err).__name__}: {err}"
    for w in words:
        assert w in str(err), f"{w!r} not in: {err}"


def _raise(fn) -> BaseException:
    with pytest.raises(Exception) as info:
        fn()
    return info.value


def test_enough_rows():
    assert len({r.id for r in ROWS}) == len(ROWS) >= 40


@pytest.mark.parametrize("fn, exc, words, sub", IN_PROCESS)
def test_bad_input(fn, exc, words, sub):
    _check(_raise(fn), exc, words)


@pytest.mark.parametrize("fn, exc, words, sub", IN_PROCESS)
def test_bad_input_fake(fn, exc, words, sub):
    """Under FakeTensorMode (the tensors made inside fn are fake, so the fake
    kernels and the composites' traced checks run): the same error, word for word."""
    real = _raise(fn)
    with FakeTensorMode():
        fake_err = _raise(fn)
    assert type(fake_err) is type(real) and str(fake_err) == str(real)


def test_fake_device_errors():
    """The fake kernels see the devices fake tensors stand for (csrc/module.cpp),
    so a device error names them as the real kernel does (fake CUDA tensors
    need no GPU)."""
    with FakeTensorMode():
        a = torch.randn(3, device="cuda")
        with pytest.raises(RuntimeError, match=r"cuops\.add: .* but got a on cuda:0 and b on cpu$"):
            ops.add(a, torch.randn(3))
        assert ops.add(a, torch.tensor(2.0)).device == a.device  # a 0-dim CPU tensor joins
        with pytest.raises(RuntimeError, match=r"cuops\.conv2d: .* but got input on cuda:0 and "
                                               r"weight on cpu$"):
            ops.conv2d(X(device="cuda"), W())


@pytest.fixture(scope="module")
def child_results():
    """Run every `sub` row in one child interpreter; {id: [type name, message]}."""
    script = (
        "import json, sys\n"
        "import tests.test_errors as t\n"
        "out = {}\n"
        "for r in t.IN_CHILD:\n"
        "    try:\n"
        "        r.values[0]()\n"
        "        out[r.id] = ['no error', '']\n"
        "    except Exception as e:\n"
        "        out[r.id] = [type(e).__name__, str(e)]\n"
        "print(json.dumps(out))\n")
    proc = run_python(script, {})
    assert proc.returncode == 0, f"child process died (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fn, exc, words, sub", IN_CHILD)
def test_bad_input_child(child_results, request, fn, exc, words, sub):
    name, msg = child_results[request.node.callspec.id]
    assert name == exc.__name__, f"{name}: {msg}"
    for w in words:
        assert w in msg, f"{w!r} not in: {msg}"


COMPILED = ["add-shapes", "sum_to-longer-op", "matmul-inner-1d-2d", "linear-bias-length", "conv-channels",
            "dgrad-grad-shape"]


@pytest.mark.parametrize("name", COMPILED)
def test_bad_input_compiled(name):
    """torch.compile runs the checks while tracing (fake tensors) and stops
    with its own RuntimeError, which carries the eager error's message."""
    fn = next(r.values[0] for r in ROWS if r.id == name)
    real = _raise(fn)
    torch._dynamo.reset()
    err = _raise(torch.compile(fn, fullgraph=True, backend="eager"))
    assert isinstance(err, RuntimeError) and str(real) in str(err), str(err)


@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((1, 0, 5, 5), (3, 0, 3, 3), {}),                 # zero channels
    ((0, 2, 5, 5), (3, 2, 3, 3), {}),                 # empty batch
    ((0, 2, 0, 5), (3, 2, 1, 1), dict(padding=1)),    # empty batch, empty rows
    ((1, 2, 5, 0), (3, 2, 1, 1), dict(padding=1)),    # empty columns
    ((2, 0, 5), (3, 2, 1, 1), dict(padding=1)),       # unbatched, empty rows
    ((1, 2, 0, 5), (3, 2, 3, 3), {}),                 # empty rows, kernel too large
    ((1, 2, 5, 5), (0, 2, 3, 3), {}),                 # no output channel
    ((1, 2, 5, 5), (3, 2, 0, 3), {}),                 # empty kernel
])
def test_zero_size_as_torch(x_shape, w_shape, kw):
    """conv2d with zero-size dims errors exactly where F.conv2d errors.
    (Where both succeed the values agree; with zero input channels torch
    returns zero output channels, cuops the mathematically defined
    (N, K, P, Q) zeros: the shapes are not compared there.)"""
    def outcome(f):
        try:
            return f(T(*x_shape), T(*w_shape), **kw)
        except (RuntimeError, ValueError) as e:
            return e
    ref, ours = outcome(torch.nn.functional.conv2d), outcome(cuops.conv2d)
    assert isinstance(ours, Exception) == isinstance(ref, Exception), (ref, ours)
    if isinstance(ours, Exception):
        assert isinstance(ours, ValueError) and "cuops.conv2d" in str(ours)
    elif x_shape[-3] != 0:
        assert ours.shape == ref.shape
