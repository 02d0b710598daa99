"""The Hopper convolution steps (GPU, sm_90): implicit_gemm_wgmma (forward;
dgrad as the phases over it; wgrad) and implicit_gemm_wgmma_3xtf32 (fp32 on
the tf32 engine), their operand layouts and tuning entries. gpu_check.sh runs
every test named *wgmma* in a process of its own, first.
"""

import pytest
import torch
import torch.nn.functional as F

import cuops
from cuops.ops.conv2d import TUNING_TABLES
from tests.conv2d_cases import as_layout, ref64
from tests.utils import assert_rel_close, poison_allocator, run_python


# implicit_gemm_wgmma (Hopper): the gather producer over taps, channel tiles,
# padding, stride, dilation, M and K tails, both tile widths. (x, w, kwargs)
WGMMA_SHAPES = [
    ((2, 64, 14, 15), (64, 64, 3, 3), dict(padding=1)),               # M tail, 128 x 128 tiles
    ((4, 128, 28, 28), (200, 128, 3, 3), dict(padding=1)),            # K tail (200), 2 c tiles
    ((2, 64, 29, 31), (96, 64, 3, 3), dict(stride=2, padding=1)),     # stride 2, odd sizes
    ((1, 64, 20, 20), (64, 64, 7, 7), dict(padding=3, dilation=1)),   # 49 taps
    ((2, 64, 16, 16), (64, 64, 3, 3), dict(padding=2, dilation=2)),   # dilation
    ((3, 192, 9, 9), (128, 192, 1, 1), {}),                           # 1x1, 3 c tiles
    ((16, 64, 56, 56), (256, 64, 3, 3), dict(padding=1)),             # 128 x 256 tiles
]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("w_cl", [False, True], ids=["w_kcrs", "w_cl"])
@pytest.mark.parametrize("shape", range(len(WGMMA_SHAPES)))
def test_wgmma_conv_cuda(shape, w_cl, dtype):
    """The step against float64, with and without bias; the filter in KCRS
    order (copied) and channels_last (read as is); deterministic; on an sm_90
    device its kernel is the one that ran."""
    torch.manual_seed(0)
    xs, ws, kw = WGMMA_SHAPES[shape]
    x = as_layout(torch.randn(xs, device="cuda", dtype=dtype), True)
    w = as_layout(torch.randn(ws, device="cuda", dtype=dtype), w_cl)
    b = torch.randn(ws[0], device="cuda", dtype=dtype)
    for bias in (b, None):
        want = ref64(x, w, bias, kw)
        poison_allocator("cuda", want.numel() * 16)
        out = cuops.conv2d(x, w, bias, **kw, variant="implicit_gemm_wgmma")
        assert_rel_close(out, want.to(dtype), dtype=dtype, what=f"wgmma {xs} {ws} {kw}")
        assert torch.equal(out, cuops.conv2d(x, w, bias, **kw, variant="implicit_gemm_wgmma"))
    if torch.cuda.get_device_capability() == (9, 0):
        from tests.utils import kernel_names
        names = kernel_names(lambda: cuops.conv2d(x, w, b, **kw, variant="implicit_gemm_wgmma"))
        assert names is None or any("conv_wgmma_kernel" in n for n in names), names


# Its gradients. dgrad: the phases over the forward step (dy channels_last,
# K % 64 == 0: the forward's x), stride 1 as one phase writing dx, stride 2
# as four phases writing strided views of dx. wgrad: dy^T by the copy engine,
# im2col(x) gathered (C % 64 == 0), split over pixels. Shapes where one of
# them does not apply check its fallback. (x, w, kwargs)
WGMMA_GRAD_SHAPES = [
    ((2, 64, 14, 15), (64, 64, 3, 3), dict(padding=1)),               # M and N tails
    ((2, 128, 29, 31), (128, 128, 3, 3), dict(stride=2, padding=1)),  # 4 phases, odd sizes
    ((2, 64, 28, 28), (128, 64, 1, 1), dict(stride=2)),               # 1x1/2: 3 zero phases
    ((1, 72, 40, 40), (64, 72, 7, 7), dict(stride=2, padding=3)),     # 7x7/2; wgrad: C = 72
    ((3, 192, 9, 9), (200, 192, 3, 3), dict(padding=2, dilation=2)),  # dgrad: K = 200
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),               # many pixel splits
]


# The Hopper steps' kernels by dtype: (step, dgrad's forward kernel, wgrad
# kernel, channels per 128-byte row: what K (dgrad) and C (wgrad) must divide).
WGMMA_GRAD_STEPS = {torch.float16: ("implicit_gemm_wgmma", "conv_wgmma_kernel",
                                    "wgrad_wgmma_kernel", 64),
                    torch.bfloat16: ("implicit_gemm_wgmma", "conv_wgmma_kernel",
                                     "wgrad_wgmma_kernel", 64),
                    torch.float32: ("implicit_gemm_wgmma_3xtf32", "conv_tf32_wgmma_kernel",
                                    "wgrad_tf32_wgmma_kernel", 32)}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", list(WGMMA_GRAD_STEPS), ids=str)
@pytest.mark.parametrize("shape", range(len(WGMMA_GRAD_SHAPES)))
def test_wgmma_backward_cuda(shape, dtype):
    """dx and dw (channels_last, as torch makes it here: the wgrad's copy out
    of its KCRS result) against float64 autograd; deterministic; on an sm_90
    device the wgmma kernels ran exactly where they apply (fp16/bf16:
    implicit_gemm_wgmma; fp32: implicit_gemm_wgmma_3xtf32 on the tf32 engine,
    the fp32 long-reduction tolerance)."""
    torch.manual_seed(0)
    step, dgrad_kernel, wgrad_kernel, row = WGMMA_GRAD_STEPS[dtype]
    xs, ws, kw = WGMMA_GRAD_SHAPES[shape]
    x = as_layout(torch.randn(xs, device="cuda", dtype=dtype), True)
    w = torch.randn(ws, device="cuda", dtype=dtype)
    x64, w64 = (t.detach().double().cpu().requires_grad_(True) for t in (x, w))
    y64 = F.conv2d(x64, w64, **kw)
    dy = as_layout(torch.randn(y64.shape, device="cuda", dtype=dtype), True)
    want_dx, want_dw = torch.autograd.grad(y64, (x64, w64), dy.double().cpu())
    s, pad, d = kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1)
    args = ([s, s], [pad] * 4, [d, d], 1, step)
    tol = 4e-5 if dtype == torch.float32 else None

    def dgrad():
        return torch.ops.cuops.conv2d_backward_input(dy, w, list(xs), *args)

    def wgrad():
        return torch.ops.cuops.conv2d_backward_weight(dy, x, list(ws), *args)

    for name, run, want in (("dgrad", dgrad, want_dx), ("wgrad", wgrad, want_dw)):
        poison_allocator("cuda", want.numel() * 16)
        got = run()
        assert_rel_close(got, want.to(dtype), dtype=dtype, tol=tol,
                         what=f"{step} {name} {xs} {ws} {kw}")
        assert torch.equal(got, run())
    if torch.cuda.get_device_capability() == (9, 0):
        from tests.utils import kernel_names
        for run, applies, kernel in ((dgrad, ws[0] % row == 0, dgrad_kernel),
                                     (wgrad, xs[1] % row == 0, wgrad_kernel)):
            names = kernel_names(run)
            assert names is None or any(kernel in n for n in names) == applies, names


# implicit_gemm_wgmma_phases (dgrad): all the output phases of a strided dgrad
# in one persistent launch. Four phases with 1, 2, 2, 4 taps (3x3/2, odd
# sizes), two (stride (2, 1)), 7x7/2, K = 200 (an N tail), 64 filters (the
# slim tile), 256 (the wide tile where it fills the GPU); falling back to one
# launch per phase: one phase with taps (1x1/2), nine phases (stride 3), a dy
# the gather cannot read (K % 64 != 0). (x, w, kwargs, the fused kernel runs)
WGMMA_PHASE_SHAPES = [
    ((2, 128, 29, 31), (128, 128, 3, 3), dict(stride=2, padding=1), True),
    ((2, 64, 15, 14), (64, 64, 3, 3), dict(stride=(2, 1), padding=1), True),
    ((1, 72, 40, 40), (64, 72, 7, 7), dict(stride=2, padding=3), True),
    ((2, 200, 16, 16), (128, 200, 3, 3), dict(stride=2, padding=1), True),
    ((2, 64, 20, 20), (128, 64, 3, 3), dict(stride=2, padding=1), True),
    ((8, 256, 56, 56), (256, 256, 3, 3), dict(stride=2, padding=1), True),
    ((2, 64, 28, 28), (128, 64, 1, 1), dict(stride=2), False),
    ((2, 64, 19, 19), (64, 64, 3, 3), dict(stride=3, padding=1), False),
    ((2, 64, 16, 16), (72, 64, 3, 3), dict(stride=2, padding=1), False),
]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", range(len(WGMMA_PHASE_SHAPES)))
def test_wgmma_phases_dgrad_cuda(shape, dtype):
    """dx against float64 autograd, outputs poisoned first, the same bits on
    a second run; on an sm_90 device the one-launch kernel ran exactly where
    its phases qualify."""
    torch.manual_seed(0)
    xs, ws, kw, fused = WGMMA_PHASE_SHAPES[shape]
    x64 = torch.randn(xs, dtype=torch.float64, requires_grad=True)
    w = torch.randn(ws, device="cuda", dtype=dtype)
    y64 = F.conv2d(x64, w.double().cpu(), **kw)
    dy = as_layout(torch.randn(y64.shape, device="cuda", dtype=dtype), True)
    want = torch.autograd.grad(y64, x64, dy.double().cpu())[0]
    s = kw["stride"] if isinstance(kw["stride"], tuple) else (kw["stride"],) * 2
    pad = kw.get("padding", 0)
    args = (list(s), [pad] * 4, [1, 1], 1, "implicit_gemm_wgmma_phases")

    def dgrad():
        return torch.ops.cuops.conv2d_backward_input(dy, w, list(xs), *args)

    poison_allocator("cuda", want.numel() * 16)
    got = dgrad()
    assert_rel_close(got, want.to(dtype), dtype=dtype, what=f"{xs} {ws} {kw}")
    assert torch.equal(got, dgrad())
    if torch.cuda.get_device_capability() == (9, 0):
        from tests.utils import kernel_names
        names = kernel_names(dgrad)
        assert names is None or any("conv_wgmma_phases_kernel" in n for n in names) == fused, \
            names


# implicit_gemm_wgmma_3xtf32 (Hopper, fp32): the same gather with 32-channel k
# tiles on matmul's tf32 engine. The fp16/bf16 shapes plus one channel tile
# (C = 32), a filter count that is no multiple of 8 (K = 68: N tail, float2
# pairs) and a 1x1 with 3 channel tiles of 32. (x, w, kwargs)
WGMMA_TF32_SHAPES = WGMMA_SHAPES + [
    ((2, 32, 13, 17), (64, 32, 3, 3), dict(padding=1)),               # C = 32: one channel tile
    ((2, 96, 10, 11), (68, 96, 3, 3), dict(padding=1, stride=2)),    # K = 68, 3 channel tiles
    ((4, 96, 12, 12), (128, 96, 1, 1), {}),                           # 1x1
]


def _tf32_engine_ran(run, applies):
    """On an sm_90 device: the tf32 wgmma kernel ran exactly where it applies."""
    if torch.cuda.get_device_capability() == (9, 0):
        from tests.utils import kernel_names
        names = kernel_names(run)
        assert names is None or any("conv_tf32_wgmma_kernel" in n for n in names) == applies, names


@pytest.mark.gpu
@pytest.mark.parametrize("w_cl", [False, True], ids=["w_kcrs", "w_cl"])
@pytest.mark.parametrize("shape", range(len(WGMMA_TF32_SHAPES)))
def test_wgmma_3xtf32_conv_cuda(shape, w_cl):
    """fp32 forward at fp32 accuracy against float64, with and without bias,
    both filter layouts; deterministic; its kernel is the one that ran."""
    torch.manual_seed(0)
    xs, ws, kw = WGMMA_TF32_SHAPES[shape]
    x = as_layout(torch.randn(xs, device="cuda"), True)
    w = as_layout(torch.randn(ws, device="cuda"), w_cl)
    b = torch.randn(ws[0], device="cuda")
    step = "implicit_gemm_wgmma_3xtf32"
    for bias in (b, None):
        want = ref64(x, w, bias, kw)
        poison_allocator("cuda", want.numel() * 16)
        out = cuops.conv2d(x, w, bias, **kw, variant=step)
        assert out.stride() == F.conv2d(x, w, bias, **kw).stride()
        assert_rel_close(out, want.float(), dtype=torch.float32, what=f"{step} {xs} {ws} {kw}")
        assert torch.equal(out, cuops.conv2d(x, w, bias, **kw, variant=step))
    _tf32_engine_ran(lambda: cuops.conv2d(x, w, b, **kw, variant=step), True)
    # NCHW x: the engine reads a channels_last copy, same accuracy
    xn = x.contiguous()
    out = cuops.conv2d(xn, w, b, **kw, variant=step)
    assert_rel_close(out, ref64(xn, w, b, kw).float(), dtype=torch.float32, what=f"{step} nchw")
    _tf32_engine_ran(lambda: cuops.conv2d(xn, w, b, **kw, variant=step), True)


def _check_tf32_engine(x, w, dy, kw, what):
    """implicit_gemm_wgmma_3xtf32's forward, dx and dw of (x, w, dy) against
    float64, deterministic, and on an sm_90 device its engine's kernels ran
    wherever the step takes the problem (some operands through channels_last
    copies)."""
    step = "implicit_gemm_wgmma_3xtf32"
    xs, ws = tuple(x.shape), tuple(w.shape)
    x64, w64 = (t.detach().double().cpu().requires_grad_(True) for t in (x, w))
    y64 = F.conv2d(x64, w64, **kw)
    want_dx, want_dw = torch.autograd.grad(y64, (x64, w64), dy.double().cpu())
    s, pad, d = kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1)
    args = ([s, s], [pad] * 4, [d, d], 1, step)
    runs = (("forward", lambda: cuops.conv2d(x, w, **kw, variant=step), y64.detach(),
             "conv_tf32_wgmma_kernel", xs[1] % 32 == 0 and ws[0] >= 64),
            ("dgrad", lambda: torch.ops.cuops.conv2d_backward_input(dy, w, list(xs), *args),
             want_dx, "conv_tf32_wgmma_kernel", ws[0] % 32 == 0 and xs[1] >= 64),
            ("wgrad", lambda: torch.ops.cuops.conv2d_backward_weight(dy, x, list(ws), *args),
             want_dw, "wgrad_tf32_wgmma_kernel", xs[1] % 32 == 0 and ws[0] >= 64))
    for name, run, want, kernel, applies in runs:
        poison_allocator("cuda", want.numel() * 16)
        got = run()
        assert_rel_close(got, want.float(), dtype=torch.float32, tol=4e-5,
                         what=f"{step} {what} {name} {xs} {ws} {kw}")
        assert torch.equal(got, run())
        if torch.cuda.get_device_capability() == (9, 0):
            from tests.utils import kernel_names
            names = kernel_names(run)
            assert names is None or any(kernel in n for n in names) == applies, (name, names)


@pytest.mark.gpu
@pytest.mark.parametrize("layout", ["nchw", "x_nchw", "dy_nchw", "views"])
@pytest.mark.parametrize("shape", range(len(WGMMA_GRAD_SHAPES) - 1))
def test_wgmma_3xtf32_layouts_cuda(shape, layout):
    """Operands the gathers cannot read in place (NCHW x and/or dy; "views":
    NCHW windows of larger tensors, no dense strides) are read from
    channels_last copies: _check_tf32_engine."""
    torch.manual_seed(0)
    xs, ws, kw = WGMMA_GRAD_SHAPES[shape]

    def make(shape, cl):
        if layout == "views":  # a window of a larger NCHW tensor
            n, c, h, wd = shape
            return torch.randn(n, c, h + 3, wd + 5, device="cuda")[:, :, 2:2 + h, 3:3 + wd]
        return as_layout(torch.randn(shape, device="cuda"), cl)

    x = make(xs, layout == "dy_nchw")
    w = torch.randn(ws, device="cuda")
    dy = make(F.conv2d(x.cpu(), w.cpu(), **kw).shape, layout == "x_nchw")
    _check_tf32_engine(x, w, dy, kw, layout)


@pytest.mark.gpu
@pytest.mark.parametrize("case", ["1x1-image", "misaligned-cl", "expanded-dy"])
def test_wgmma_3xtf32_odd_operands_cuda(case):
    """Channel-contiguous operands the gather still cannot read: a 1x1 image
    (torch gives it strides (C, 1, 1, 1) in either memory format: pixels not
    16-byte multiples), a channels_last view at a 4-byte channel offset, and
    the stride-0 grad_output of `.sum()`: all through the copies."""
    torch.manual_seed(0)
    kw = dict(padding=1)
    w = torch.randn(64, 64, 3, 3, device="cuda")
    if case == "1x1-image":
        x = torch.randn(4, 64, 1, 1, device="cuda")
    elif case == "misaligned-cl":
        base = torch.randn(2, 65, 9, 10, device="cuda").to(memory_format=torch.channels_last)
        x = base[:, 1:]
    else:
        x = as_layout(torch.randn(2, 64, 9, 10, device="cuda"), True)
    y_shape = F.conv2d(x.cpu(), w.cpu(), **kw).shape
    if case == "expanded-dy":
        dy = torch.ones(1, device="cuda").expand(y_shape)
    else:
        dy = torch.randn(y_shape, device="cuda").contiguous(memory_format=torch.channels_last)
    _check_tf32_engine(x, w, dy, kw, case)


# The wgmma steps' other tuning entries (one wgmma batch in flight; the direct
# epilogue): both tests above again in a child process with the knob set (read once per process).
N_WGMMA_CONFIGS = TUNING_TABLES.get("implicit_gemm_wgmma", 0)


@pytest.mark.gpu
@pytest.mark.parametrize("cfg", range(1, max(N_WGMMA_CONFIGS, 1)))
def test_cuda_wgmma_configs(cfg):
    script = ("import sys, pytest\n"
              "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/test_conv2d_wgmma.py',"
              " '-k', 'test_wgmma_conv_cuda or test_wgmma_backward_cuda']))")
    r = run_python(script, {"CUOPS_CONV_CONFIG": f"implicit_gemm_wgmma={cfg}"})
    assert r.returncode == 0 and " passed" in r.stdout, (r.stdout[-3000:], r.stderr[-3000:])
