"""The ladders' default rules: what cuops.variants() reports as the default is
what a call without a variant runs.

Each case names a problem, the step its default rule picks and the rule's
condition. The test checks that the registry reports that (dtype, condition)
for the step, then that the default call equals the explicit call of the step
bit for bit. Steps sum in different orders, so on the CPU cases (chosen so)
the other step's result differs: equality identifies the step that ran.
"""

import pytest
import torch

import cuops

OPS = torch.ops.cuops
GEMM_RULE = "C/groups*R*S >= 16 and K/groups >= 4"  # csrc/cpu/conv2d_cpu.cpp
POINTWISE_RULE = "1x1, no padding"  # csrc/cuda/conv2d_cuda.cpp, csrc/cpu/conv2d_cpu.cpp
TF32_ENGINE_RULE = "fp32, C % 32 == 0, K >= 64, groups 1, sm_90a build on sm_90"  # conv2d_cuda.cpp


def _default_when(op, device, step):
    return next(v for v in cuops.variants(op, device) if v["name"] == step)["default_when"]


def _inputs(x_shape, w_shape, dtype, device, channels_last):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, generator=g, dtype=torch.float64).to(dtype).to(device)
    w = torch.randn(w_shape, generator=g, dtype=torch.float64).to(dtype).to(device)
    b = torch.randn(w_shape[0], generator=g, dtype=torch.float64).to(dtype).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, w, b


def _call(op, x, w, b, groups, variant, stride=1):
    """`op` of the forward conv2d(x, w, b, stride, padding=1, groups) (padding 0
    for a 1x1 weight); the gradients take a fixed grad_output of the forward's
    output shape."""
    pad = (w.shape[-1] - 1) // 2
    if op == "conv2d":
        return cuops.conv2d(x, w, b, stride, padding=pad, groups=groups, variant=variant)
    y = cuops.conv2d(x, w, b, stride, padding=pad, groups=groups, variant=None)
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(1),
                     dtype=torch.float64).to(y.dtype).to(y.device)
    dy = dy.contiguous(memory_format=torch.channels_last) if x.stride(1) == 1 else dy
    args = ([stride, stride], [pad] * 4, [1, 1], groups)
    if op == "conv2d_backward_input":
        return OPS.conv2d_backward_input(dy, w, list(x.shape), *args, variant=variant)
    return OPS.conv2d_backward_weight(dy, x, list(w.shape), *args, variant=variant)


# id -> (op, device, dtype, x shape, w shape, groups, channels_last, step, condition,
#        the other step whose result must differ (CPU) or None)
CASES = {
    "cpu-small-K": ("conv2d", "cpu", torch.float32, (2, 8, 12, 12), (8, 1, 3, 3), 8, False,
                    "cpu", "otherwise", "im2col_gemm"),
    "cpu-3x3": ("conv2d", "cpu", torch.float32, (2, 16, 10, 10), (8, 16, 3, 3), 1, False,
                "im2col_gemm", GEMM_RULE, "cpu"),
    "cpu-dgrad-small-K": ("conv2d_backward_input", "cpu", torch.float32, (2, 8, 12, 12),
                          (8, 1, 3, 3), 8, False, "cpu", "otherwise", "im2col_gemm"),
    "cpu-dgrad-3x3": ("conv2d_backward_input", "cpu", torch.float32, (2, 16, 10, 10),
                      (8, 16, 3, 3), 1, False, "im2col_gemm", GEMM_RULE, "cpu"),
    "cpu-wgrad-small-K": ("conv2d_backward_weight", "cpu", torch.float32, (2, 8, 12, 12),
                          (8, 1, 3, 3), 8, False, "cpu", "otherwise", "im2col_gemm"),
    "cpu-wgrad-3x3": ("conv2d_backward_weight", "cpu", torch.float32, (2, 16, 10, 10),
                      (8, 16, 3, 3), 1, False, "im2col_gemm", GEMM_RULE, "cpu"),
    # (the other CPU steps sum the same K products in the same order: no bit differs)
    "cpu-dgrad-1x1": ("conv2d_backward_input", "cpu", torch.float32, (2, 16, 10, 10),
                      (8, 16, 1, 1), 1, False, "gemm", POINTWISE_RULE, None),
    "cpu-dgrad-1x1-cl": ("conv2d_backward_input", "cpu", torch.bfloat16, (2, 16, 10, 10),
                         (8, 16, 1, 1), 1, True, "gemm", POINTWISE_RULE, None),
    "cuda-depthwise-nhwc": ("conv2d", "cuda", torch.float32, (2, 32, 16, 16), (32, 1, 3, 3), 32,
                            True, "depthwise_nhwc_window",
                            "depthwise, x and y channel-contiguous", None),
    "cuda-depthwise-nchw": ("conv2d", "cuda", torch.float32, (2, 32, 16, 16), (32, 1, 3, 3), 32,
                            False, "depthwise_plane", "depthwise", None),
    "cuda-fp16-dense": ("conv2d", "cuda", torch.float16, (2, 64, 16, 16), (64, 64, 3, 3), 1, True,
                        "implicit_gemm_mma_splitk", "otherwise", None),
    "cuda-fp32-dense": ("conv2d", "cuda", torch.float32, (2, 48, 16, 16), (96, 48, 3, 3), 1,
                        False, "implicit_gemm_regtile", "otherwise", None),
    # fp32 on the Hopper tf32 engine, either layout (on sm_90 only; the rule names it)
    "cuda-fp32-engine": ("conv2d", "cuda", torch.float32, (2, 64, 16, 16), (64, 64, 3, 3), 1,
                         False, "implicit_gemm_wgmma_3xtf32", TF32_ENGINE_RULE, None),
    "cuda-fp32-engine-cl": ("conv2d", "cuda", torch.float32, (2, 64, 16, 16), (64, 64, 3, 3), 1,
                            True, "implicit_gemm_wgmma_3xtf32", TF32_ENGINE_RULE, None),
    # (C % 32 != 0: not the engine; K > 64: not the slots)
    "cuda-fp32-cl-wide": ("conv2d", "cuda", torch.float32, (2, 68, 16, 16), (96, 68, 3, 3), 1,
                          True, "implicit_gemm_3xtf32",
                          "fp32, x channels_last, C >= 64 and C % 4 == 0, groups 1", None),
    "cuda-fp32-slots": ("conv2d", "cuda", torch.float32, (2, 16, 16, 16), (32, 16, 3, 3), 1,
                        False, "implicit_gemm_regtile_slots", "fp32, K/groups <= 64", None),
    "cuda-dgrad-fp32-stem": ("conv2d_backward_input", "cuda", torch.float32, (2, 3, 16, 16),
                             (16, 3, 3, 3), 1, False, "implicit_gemm_narrow",
                             "fp32, C <= 8, groups 1, dy NCHW", None),
    "cuda-fp64-dense": ("conv2d", "cuda", torch.float64, (2, 64, 16, 16), (64, 64, 3, 3), 1,
                        False, "implicit_gemm", "otherwise", None),
    "cuda-dgrad-depthwise": ("conv2d_backward_input", "cuda", torch.float32, (2, 32, 16, 16),
                             (32, 1, 3, 3), 32, False, "depthwise", "depthwise", None),
    "cuda-wgrad-depthwise-cl": ("conv2d_backward_weight", "cuda", torch.float16, (2, 32, 16, 16),
                                (32, 1, 3, 3), 32, True, "depthwise", "depthwise", None),
    "cuda-dgrad-fp32-dense": ("conv2d_backward_input", "cuda", torch.float32, (2, 96, 16, 16),
                              (48, 96, 3, 3), 1, False, "implicit_gemm_regtile", "otherwise",
                              None),
    "cuda-dgrad-fp32-engine": ("conv2d_backward_input", "cuda", torch.float32, (2, 64, 16, 16),
                               (64, 64, 3, 3), 1, False, "implicit_gemm_wgmma_3xtf32",
                               "fp32, K % 32 == 0, C >= 64, groups 1, sm_90a build on sm_90",
                               None),
    "cuda-dgrad-fp32-slots": ("conv2d_backward_input", "cuda", torch.float32, (2, 48, 16, 16),
                              (64, 48, 3, 3), 1, False, "implicit_gemm_regtile_slots",
                              "fp32, C/groups <= 64", None),
    "cuda-dgrad-fp16-dense": ("conv2d_backward_input", "cuda", torch.float16, (2, 64, 16, 16),
                              (64, 64, 3, 3), 1, True, "implicit_gemm_mma_phases", "otherwise",
                              None),
    # dgrad on the Hopper forward (on sm_90 only; the rule names it)
    "cuda-dgrad-bf16-cl-long": ("conv2d_backward_input", "cuda", torch.bfloat16, (2, 64, 64, 64),
                                (64, 64, 3, 3), 1, True, "implicit_gemm_wgmma",
                                "dy channels_last, K % 64 == 0, C >= 64, groups 1, "
                                "N*P*Q >= 8192, sm_90", None),
    # the Hopper wgrad (elsewhere its step runs implicit_gemm_mma: the same bits)
    "cuda-wgrad-fp16-cl-wide": ("conv2d_backward_weight", "cuda", torch.float16, (2, 64, 16, 16),
                                (64, 64, 3, 3), 1, True, "implicit_gemm_wgmma",
                                "x channels_last, C % 64 == 0, K >= 64, groups 1", None),
    "cuda-wgrad-bf16-dense": ("conv2d_backward_weight", "cuda", torch.bfloat16, (2, 64, 16, 16),
                              (64, 64, 3, 3), 1, False, "implicit_gemm_mma", "otherwise", None),
    "cuda-wgrad-fp32-dense": ("conv2d_backward_weight", "cuda", torch.float32, (2, 48, 16, 16),
                              (96, 48, 3, 3), 1, False, "implicit_gemm_regtile", "otherwise",
                              None),
    "cuda-wgrad-fp32-engine": ("conv2d_backward_weight", "cuda", torch.float32, (2, 64, 16, 16),
                               (64, 64, 3, 3), 1, False, "implicit_gemm_wgmma_3xtf32",
                               TF32_ENGINE_RULE, None),
    "cuda-wgrad-fp32-slots": ("conv2d_backward_weight", "cuda", torch.float32, (2, 48, 16, 16),
                              (32, 48, 3, 3), 1, False, "implicit_gemm_regtile_slots",
                              "fp32, K/groups <= 64", None),
    "cuda-wgrad-fp64-dense": ("conv2d_backward_weight", "cuda", torch.float64, (2, 64, 16, 16),
                              (64, 64, 3, 3), 1, False, "implicit_gemm", "otherwise", None),
    "cuda-1x1-fp16": ("conv2d", "cuda", torch.float16, (2, 64, 16, 16), (128, 64, 1, 1), 1, True,
                      "gemm", POINTWISE_RULE, None),
    # strided 1x1 on Hopper: the wgmma forward's gather (on sm_90 only; the rule names it)
    "cuda-1x1-strided-cl": ("conv2d", "cuda", torch.bfloat16, (2, 64, 16, 16), (128, 64, 1, 1),
                            1, True, "implicit_gemm_wgmma", "1x1 strided, no padding, "
                            "x channels_last, C % 64 == 0, K >= 64, groups 1, sm_90", None),
    "cuda-1x1-fp32": ("conv2d", "cuda", torch.float32, (2, 64, 16, 16), (128, 64, 1, 1), 1,
                      False, "gemm", POINTWISE_RULE, None),
    "cuda-dgrad-1x1": ("conv2d_backward_input", "cuda", torch.float16, (2, 64, 16, 16),
                       (128, 64, 1, 1), 1, True, "gemm", POINTWISE_RULE, None),
    "cuda-wgrad-1x1": ("conv2d_backward_weight", "cuda", torch.float32, (2, 64, 16, 16),
                       (128, 64, 1, 1), 1, False, "gemm", POINTWISE_RULE, None),
    "cuda-wgrad-1x1-cl": ("conv2d_backward_weight", "cuda", torch.bfloat16, (2, 64, 16, 16),
                          (128, 64, 1, 1), 1, True, "gemm", POINTWISE_RULE, None),
    # a long pixel reduction: the Hopper wgrad (on sm_90 only; the rule names it)
    "cuda-wgrad-1x1-cl-long": ("conv2d_backward_weight", "cuda", torch.bfloat16, (4, 64, 48, 48),
                               (128, 64, 1, 1), 1, True, "implicit_gemm_wgmma",
                               "1x1, no padding, x channels_last, C % 64 == 0, K >= 64, groups 1, "
                               "N*P*Q >= 8192, sm_90", None),
}


STRIDE = {"cuda-1x1-strided-cl": 2}  # cases of another stride than 1

PARAMS = [pytest.param(name, marks=[pytest.mark.gpu] if case[1] == "cuda" else [], id=name)
          for name, case in CASES.items()]


@pytest.mark.parametrize("name", PARAMS)
def test_reported_default_is_the_one_that_runs(name):
    op, device, dtype, xs, ws, groups, cl, step, cond, other = CASES[name]
    if device == "cuda" and not cuops.cuda_built():
        pytest.skip("CUDA kernels not built")
    if cond.endswith("sm_90") and torch.cuda.get_device_capability() != (9, 0):
        pytest.skip("a rule of sm_90 devices")
    # The registry: this step is the default under this condition, and no other is.
    pickers = [v["name"] for v in cuops.variants(op, device)
               if (dtype, cond) in v["default_when"]]
    assert pickers == [step], f"{op}/{device}: rules picking {dtype} {cond!r}: {pickers}"
    # The call: the default runs that step.
    x, w, b = _inputs(xs, ws, dtype, device, cl)
    stride = STRIDE.get(name, 1)
    got = _call(op, x, w, b, groups, None, stride)
    assert torch.equal(got, _call(op, x, w, b, groups, step, stride)), (
        f"{name}: default is not {step}")
    if other is not None:
        assert not torch.equal(got, _call(op, x, w, b, groups, other, stride)), (
            f"{name}: {step} and {other} agree bit for bit; the case cannot tell them apart")


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_every_supported_dtype_has_a_default(device):
    """default_for is the dtypes some rule picks; every dtype a step supports
    reaches a rule without a condition (no problem is left without a step)."""
    for op in sorted({v["op"] for v in cuops._C.variants() if v["device"] == device}):
        vs = cuops.variants(op, device)
        for v in vs:
            assert v["default_for"] == list(dict.fromkeys(d for d, _ in v["default_when"]))
        supported = {d for v in vs for d in v["dtypes"]}
        unconditional = {d for v in vs for d, c in v["default_when"] if c in (None, "otherwise")}
        assert unconditional == supported, f"{op}/{device}"


def test_dtype_only_ladders():
    """Ladders whose rules are plain names report no conditions."""
    cpu = {v["name"]: v["default_when"] for v in cuops.variants("matmul", "cpu")}
    assert cpu == {"cpu": [(d, None) for d in (torch.float16, torch.bfloat16, torch.float32,
                                               torch.float64)]}
    if not cuops.cuda_built():
        return
    cuda = {v["name"]: v["default_for"] for v in cuops.variants("matmul", "cuda")}
    # The planner is the default of every dtype (it runs their tile kernels).
    assert cuda["splitk"] == [torch.float16, torch.bfloat16, torch.float32, torch.float64]
    assert all(cuda[v] == [] for v in cuda if v != "splitk")
    assert all(c is None for v in cuops.variants("add", "cuda") for _, c in v["default_when"])


def test_conditional_rules_are_reported():
    cpu = {v["name"]: v["default_when"] for v in cuops.variants("conv2d", "cpu")}
    assert (torch.float32, GEMM_RULE) in cpu["im2col_gemm"]
    assert (torch.float32, "otherwise") in cpu["cpu"]
