"""cuops.conv2d and its gradients against F.conv2d: the ladders.

Every CUDA variant (forward, dgrad, wgrad ladders) and the CPU kernels over a
configuration grid x dtypes x layouts; gradcheck; opcheck; torch.compile;
autocast; bad inputs; cuops.nn.Conv2d. CUDA params carry the `gpu` marker.
The targeted shapes of single steps: test_conv2d_steps.py (tensor-core,
fp32, narrow, tuning tables, dgrad phases), test_conv2d_wgmma.py (Hopper),
test_conv2d_depthwise.py, test_conv2d_pointwise.py; the shared cases:
conv2d_cases.py.
"""

import contextlib

import pytest
import torch
import torch.nn.functional as F

import cuops
import cuops.nn  # noqa: F401  (cuops.nn.Conv2d)
from tests.conv2d_cases import (CONFIGS, FWD_VARIANTS, GRAD_VARIANTS, HALF, LAYOUTS, as_layout,
                                config_inputs, cpu_variants, grad_steps, random_conv, ref64,
                                supports)
from tests.utils import DEVICES, FLOAT_DTYPES, REL_TOL, assert_rel_close, poison_allocator


def _device_variants():
    out = cpu_variants("conv2d")
    for v in FWD_VARIANTS:
        out.append(pytest.param("cuda", v, id=f"cuda-{v}", marks=pytest.mark.gpu))
    out.append(pytest.param("cuda", None, id="cuda-default", marks=pytest.mark.gpu))
    return out


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("device,variant", _device_variants())
def test_forward(device, variant, cfg, dtype, layout):
    if not supports(device, "conv2d", variant, dtype):
        pytest.skip(f"{variant} does not support {dtype}")
    torch.manual_seed(0)
    x, w, b, kw = config_inputs(cfg, dtype, device, layout)
    ref = ref64(x, w, b, kw)
    poison_allocator(device, 4 * max(ref.numel(), 1) * 8)
    out = cuops.conv2d(x, w, b, **kw, variant=variant)
    assert out.dtype == dtype and out.device == x.device
    assert_rel_close(out, ref.to(dtype) if out.numel() == 0 else ref, dtype=dtype, what=cfg)
    # Output memory format as torch picks it (same device, same dtype).
    torch_out = F.conv2d(x, w, b, **kw)
    assert out.stride() == torch_out.stride(), f"strides {out.stride()} != torch's {torch_out.stride()}"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("device,variant", _device_variants())
def test_forward_zero_input_channels(device, variant, dtype):
    """No input channels: every step returns the (N, K, P, Q) sum over nothing
    -- the bias, or zeros -- in both layouts (64 filters: the tile steps' own
    paths, not their small-problem fallbacks)."""
    if not supports(device, "conv2d", variant, dtype):
        pytest.skip(f"{variant} does not support {dtype}")
    b = torch.randn(64, dtype=dtype, device=device)
    for cl in (False, True):
        x = as_layout(torch.randn(2, 0, 6, 7, dtype=dtype, device=device), cl)
        w = as_layout(torch.randn(64, 0, 3, 3, dtype=dtype, device=device), cl)
        poison_allocator(device, 2 * 64 * 6 * 7 * 16)
        out = cuops.conv2d(x, w, b, padding=1, variant=variant)
        assert torch.equal(out, b.view(1, 64, 1, 1).expand(2, 64, 6, 7)), (variant, cl)
        out = cuops.conv2d(x, w, None, padding=1, variant=variant)
        assert out.shape == (2, 64, 6, 7) and not out.any(), (variant, cl)


@pytest.mark.parametrize("device", DEVICES)
def test_forward_strided_views(device):
    """Non-dense operands (sliced input, transposed weight) go through strides."""
    torch.manual_seed(0)
    x = torch.randn(2, 5, 9, 21, device=device, dtype=torch.float64)[:, 1:, :, ::2]
    w = torch.randn(6, 4, 3, 3, device=device, dtype=torch.float64).transpose(2, 3)
    b = torch.randn(12, device=device, dtype=torch.float64)[::2]
    out = cuops.conv2d(x, w, b, stride=(1, 2), padding=1)
    assert_rel_close(out, ref64(x, w, b, dict(stride=(1, 2), padding=1)))


@pytest.mark.gpu
@pytest.mark.parametrize("variant,dtype", [(v, d) for v, dtypes in FWD_VARIANTS.items()
                                           if torch.float32 in dtypes
                                           for d in (torch.float16, torch.float32)
                                           if d in dtypes], ids=str)
def test_forward_large_cuda(variant, dtype):
    """Realistic sizes: many tiles, K and C/groups*R*S not multiples of 64/16."""
    torch.manual_seed(0)
    for xs, ws, kw in [((4, 67, 30, 31), (130, 67, 3, 3), dict(padding=1)),
                       ((3, 96, 29, 29), (96, 1, 5, 5), dict(padding=2, groups=96)),
                       ((2, 64, 56, 56), (64, 64, 3, 3), dict(padding=1))]:
        for cl in (False, True):
            x, w, b = random_conv(xs, ws, dtype, cl)
            ref = ref64(x, w, b, kw)
            poison_allocator("cuda", ref.numel() * 8)
            assert_rel_close(cuops.conv2d(x, w, b, **kw, variant=variant), ref, dtype=dtype)


# ---------------------------------------------------------------------------
# Gradients: dgrad and wgrad ladders and the bias reduction vs torch autograd.
# ---------------------------------------------------------------------------

GRAD_CONFIGS = ["3x3_pad1", "stride2", "asym_all", "same_even", "depthwise_x2_s2", "7x7_s2",
                "tiles", "batch0", "unbatched", "1x5", "same_dil", "groups4", "depthwise",
                "depthwise_c16", "depthwise_c8_s2_dil"]


def _grad_device_variants():
    out = cpu_variants("conv2d_backward_input")
    for v in GRAD_VARIANTS:
        out.append(pytest.param("cuda", v, id=f"cuda-{v}", marks=pytest.mark.gpu))
    return out


@pytest.mark.parametrize("layout", ["nchw", "both_cl"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("cfg", GRAD_CONFIGS)
@pytest.mark.parametrize("device,variant", _grad_device_variants())
def test_backward(device, variant, cfg, dtype, layout):
    ladders = grad_steps(device, variant) if variant is not None else []
    if variant is not None and not all(supports(device, op, variant, dtype) for op in ladders):
        pytest.skip(f"{variant} does not support {dtype}")
    torch.manual_seed(0)
    x, w, b, kw = config_inputs(cfg, dtype, device, layout, requires_grad=True)
    fwd_variant = "implicit_gemm" if device == "cuda" else None
    out = cuops.conv2d(x, w, b, **kw, variant=fwd_variant)
    g = torch.randn_like(out)
    poison_allocator(device, 8 * (x.numel() + w.numel()) + 1024)
    if variant is None:
        grads = torch.autograd.grad(out, [t for t in (x, w, b) if t is not None], g)
    else:
        # A step of one gradient ladder (implicit_gemm_mma_phases: dgrad only)
        # runs with the other's default.
        with contextlib.ExitStack() as stack:
            for op in ladders:
                stack.enter_context(cuops.use_variant(op, variant, device))
            grads = torch.autograd.grad(out, [t for t in (x, w, b) if t is not None], g)
    d = lambda t: t.detach().double().cpu().requires_grad_(True)  # noqa: E731
    xr, wr = d(x), d(w)
    br = d(b) if b is not None else None
    ref_out = F.conv2d(xr, wr, br, **kw)
    refs = torch.autograd.grad(ref_out, [t for t in (xr, wr, br) if t is not None],
                               g.detach().double().cpu())
    for name, got, want in zip(["grad_input", "grad_weight", "grad_bias"], grads, refs):
        assert got.dtype == dtype and got.shape == want.shape
        if got.numel() == 0:
            continue
        # bf16 outputs are rounded per element and sums can be long: 2x slack
        tol = REL_TOL[dtype] * (2 if dtype in HALF else 1)
        if dtype == torch.float32:
            tol = 1e-5 * 4  # long reductions (wgrad over N*P*Q) in fp32
        if want.norm() == 0:
            assert got.abs().max() == 0, f"{name} of an empty batch must be zero"
        else:
            assert_rel_close(got, want, tol=tol, what=f"{cfg} {name}")



def test_conv_empty_batch_layout():
    """Batch 0: torch's output layout (the input's when the shapes agree)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    cases = [((0, 8, 6, 6), (8, 1, 3, 3), dict(padding=1, groups=8)),
             ((0, 8, 6, 6), (8, 8, 3, 3), dict(padding=1)),
             ((0, 8, 6, 6), (8, 8, 3, 3), dict(padding=0)),
             ((0, 4, 5, 5), (6, 4, 3, 3), dict(padding=1)),
             ((0, 8, 6, 6), (16, 1, 3, 3), dict(padding=1, groups=8))]
    for xs, ws, kw in cases:
        for layout in ("nchw", "cl", "cl_slice"):
            n, c, h, w_ = xs
            x = torch.randn(xs)
            if layout == "cl":
                x = x.to(memory_format=torch.channels_last)
            elif layout == "cl_slice":
                x = torch.randn(n, c + 8, h, w_).to(memory_format=torch.channels_last)[:, 8:]
            for wcl in (False, True):
                w = as_layout(torch.randn(ws), wcl)
                want = F.conv2d(x, w, **kw).stride()
                assert cuops.conv2d(x, w, **kw).stride() == want, (xs, ws, kw, layout, wcl)
                with FakeTensorMode() as mode:  # the fake kernel (torch.compile's view)
                    got = cuops.conv2d(mode.from_tensor(x), mode.from_tensor(w), **kw)
                assert got.stride() == want, (xs, ws, kw, layout, wcl, "fake")


GRADCHECK_GRID = [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=2, padding=1, dilation=1, groups=1),
    dict(stride=1, padding="same", dilation=2, groups=2),
    dict(stride=(2, 1), padding=(2, 0), dilation=(1, 2), groups=1),
    dict(stride=3, padding=2, dilation=2, groups=2),
    dict(stride=1, padding=1, dilation=1, groups=4),  # depthwise
]


@pytest.mark.parametrize("kw", GRADCHECK_GRID, ids=lambda k: "-".join(f"{v}" for v in k.values()))
@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck(device, kw):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 7, 6, dtype=torch.float64, device=device, requires_grad=True)
    w = torch.randn(4, 4 // kw["groups"], 3, 2, dtype=torch.float64, device=device,
                    requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: cuops.conv2d(x, w, b, **kw), (x, w, b))


def test_use_variant_reaches_the_cpp_backward():
    # The gradient formulas are C++ (csrc/conv2d_autograd.cpp): use_variant's
    # choice is mirrored there, nested choices restore, leaving clears it.
    from cuops import _C
    assert _C.variant_override("conv2d_backward_input", "cpu") is None
    with cuops.use_variant("conv2d_backward_input", "phases", "cpu"):
        assert _C.variant_override("conv2d_backward_input", "cpu") == "phases"
        assert _C.variant_override("conv2d_backward_input", "cuda") is None
        with cuops.use_variant("conv2d_backward_input", "im2col_gemm", "cpu"):
            assert _C.variant_override("conv2d_backward_input", "cpu") == "im2col_gemm"
        assert _C.variant_override("conv2d_backward_input", "cpu") == "phases"
    assert _C.variant_override("conv2d_backward_input", "cpu") is None


@pytest.mark.gpu
def test_use_variant_reaches_the_cpp_backward_cuda():
    # A step that does not take float32, named for the dgrad: the C++ backward
    # must run it, so the ladder's dtype error surfaces from backward().
    x = torch.randn(2, 8, 6, 6, device="cuda", requires_grad=True)
    w = torch.randn(4, 8, 3, 3, device="cuda")
    y = cuops.conv2d(x, w, padding=1)
    with cuops.use_variant("conv2d_backward_input", "implicit_gemm_mma", "cuda"):
        with pytest.raises(TypeError, match="implicit_gemm_mma"):
            y.sum().backward()


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_unbatched_channels_last(device):
    x = torch.randn(3, 5, 5, dtype=torch.float64, device=device, requires_grad=True)
    w = torch.randn(2, 3, 2, 2, dtype=torch.float64, device=device)
    w = w.to(memory_format=torch.channels_last).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, w: cuops.conv2d(x, w, stride=2, padding=1), (x, w))


# ---------------------------------------------------------------------------
# PyTorch integration: opcheck, torch.compile, autocast.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 5, device=device, requires_grad=True)
    w = torch.randn(6, 2, 3, 3, device=device).to(memory_format=torch.channels_last)
    w.requires_grad_(True)
    b = torch.randn(6, device=device, requires_grad=True)
    torch.library.opcheck(torch.ops.cuops.conv2d.default,
                          (x, w, b, [2, 1], [1, 2, 0, 1], [1, 2], 2, None))
    x3 = torch.randn(4, 6, 5, device=device, requires_grad=True)
    torch.library.opcheck(torch.ops.cuops.conv2d.default,
                          (x3, w.detach().contiguous(), None, [1, 1], [1, 1, 1, 1], [1, 1], 2,
                           None))
    g = torch.randn(2, 6, 4, 2, device=device)
    torch.library.opcheck(torch.ops.cuops.conv2d_backward_input.default,
                          (g, w.detach(), [2, 4, 6, 5], [2, 1], [1, 2, 0, 1], [1, 2], 2, None))
    torch.library.opcheck(torch.ops.cuops.conv2d_backward_weight.default,
                          (g, x.detach(), [6, 2, 3, 3], [2, 1], [1, 2, 0, 1], [1, 2], 2, None))


def test_compiled_autograd_traces_the_backward():
    # conv2d's and gemm's gradient formulas are C++ Functions marked traceable:
    # compiled autograd takes the whole backward into one graph.
    from torch._dynamo import compiled_autograd
    torch._dynamo.reset()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    m = torch.randn(64, 5, dtype=torch.float64, requires_grad=True)

    def loss():
        y = cuops.conv2d(x, w, b, padding=1, stride=2)
        return cuops.matmul(y.flatten(1), m).square().sum()

    ref = torch.autograd.grad(loss(), [x, w, b, m])
    with compiled_autograd._enable(torch.compile(fullgraph=True, backend="aot_eager")):
        loss().backward()
    for t, r in zip([x, w, b, m], ref):
        assert_rel_close(t.grad, r, tol=1e-12)
    torch._dynamo.reset()


@pytest.mark.parametrize("device", DEVICES)
def test_compile_forward_backward(device):
    torch._dynamo.reset()
    torch.manual_seed(0)

    def f(x, w, b):
        y = cuops.conv2d(x, w, b, stride=2, padding="valid", groups=2)
        y = cuops.conv2d(y, w2, None, padding="same")
        return y

    w2 = torch.randn(4, 4, 2, 2, device=device, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 4, 9, 9, device=device, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, 3, 3, device=device, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, device=device, dtype=torch.float64, requires_grad=True)
    cf = torch.compile(f, fullgraph=True, backend="aot_eager")
    out = cf(x, w, b)
    ref = f(x, w, b)
    assert_rel_close(out, ref)
    gs = torch.autograd.grad(out.sum(), [x, w, b, w2])
    rs = torch.autograd.grad(ref.sum(), [x, w, b, w2])
    for a, r in zip(gs, rs):
        assert_rel_close(a, r)


def test_compile_inductor_dynamic():
    torch._dynamo.reset()
    m = cuops.nn.Conv2d(3, 4, 3, padding=1, dtype=torch.float64)
    cm = torch.compile(m, fullgraph=True, dynamic=True)
    for n, h in ((2, 8), (3, 10)):
        x = torch.randn(n, 3, h, h, dtype=torch.float64, requires_grad=True)
        out = cm(x)
        assert_rel_close(out, m(x))
        out.sum().backward()


@pytest.mark.parametrize("device", DEVICES)
def test_autocast(device):
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cpu" else torch.float16
    x = torch.randn(2, 3, 8, 8, device=device)
    w = torch.randn(4, 3, 3, 3, device=device, requires_grad=True)
    b = torch.randn(4, device=device, requires_grad=True)
    with torch.autocast(device, dtype=dtype):
        out = cuops.conv2d(x, w, b, padding=1)
        ref = F.conv2d(x, w, b, padding=1)
    assert out.dtype == ref.dtype == dtype
    assert_rel_close(out, ref, dtype=dtype)
    out.float().sum().backward()
    assert w.grad.dtype == torch.float32 and b.grad.dtype == torch.float32
    # float64 is not autocast (as torch)
    with torch.autocast(device, dtype=dtype):
        assert cuops.conv2d(x.double(), w.detach().double()).dtype == torch.float64


def test_autocast_compile():
    """The autocast kernels (csrc/autocast.cpp) of conv2d and gemm are traced by
    torch.compile: the compiled function casts as the eager one does."""
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
    lw = torch.randn(5, 4 * 8 * 8)

    def f(x, w):
        return cuops.linear(cuops.conv2d(x, w, padding=1).flatten(1), lw)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = f(x, w)
        torch._dynamo.reset()
        out = torch.compile(f, fullgraph=True, backend="aot_eager")(x, w)
    assert out.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(out, ref)


def test_fake_kernel_knows_the_device():
    """float64 conv2d on CUDA is contiguous even for channels_last inputs (as
    torch: cuDNN has no NHWC double path). The fake kernel sees the device a
    fake tensor stands for (csrc/module.cpp); fake CUDA tensors need no GPU."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        x = torch.randn(2, 4, 8, 8, device="cuda").to(memory_format=torch.channels_last)
        w = torch.randn(3, 4, 3, 3, device="cuda")
        assert cuops.conv2d(x, w).is_contiguous(memory_format=torch.channels_last)
        out = cuops.conv2d(x.double(), w.double())
        assert out.is_contiguous() and out.device == x.device


# ---------------------------------------------------------------------------
# Bad inputs: clear errors naming the argument and the shapes.
# ---------------------------------------------------------------------------


def _bad_cases():
    x = torch.randn(2, 4, 6, 6)
    w = torch.randn(6, 4, 3, 3)
    return [
        ((torch.randn(4, 6), w), {}, ValueError, r"'input' to be 3-D .* got a 2-D"),
        ((torch.randn(1, 2, 4, 6, 6), w), {}, ValueError, r"'input' to be 3-D .* got a 5-D"),
        ((x, torch.randn(6, 4, 3)), {}, ValueError, r"'weight' to be 4-D"),
        ((x, torch.randn(6, 3, 3, 3)), {}, ValueError,
         r"expected 'input' to have 3 channels .* got 4 channels"),
        ((x, torch.randn(6, 2, 3, 3)), dict(groups=4), ValueError, r"not divisible by groups=4"),
        ((x, torch.randn(6, 1, 3, 3)), dict(groups=3), ValueError, r"to have 3 channels"),
        ((x, torch.randn(6, 4, 7, 3)), {}, ValueError, r"kernel size \(7 x 3.*larger than the padded"),
        ((x, torch.randn(6, 4, 5, 5)), dict(dilation=2), ValueError, r"larger than the padded"),
        ((x, w), dict(stride=0), ValueError, r"'stride' must be positive"),
        ((x, w), dict(stride=(1, -1)), ValueError, r"'stride' must be positive"),
        ((x, w), dict(dilation=0), ValueError, r"'dilation' must be positive"),
        ((x, w), dict(padding=-1), ValueError, r"'padding' must be non-negative"),
        ((x, w), dict(groups=0), ValueError, r"'groups' must be positive"),
        ((x, w, torch.randn(5)), {}, ValueError, r"'bias' to be 1-D of length 6.*\[5\]"),
        ((x, w, torch.randn(6, 1)), {}, ValueError, r"'bias' to be 1-D"),
        ((x, w.double()), {}, TypeError, r"'input' and 'weight' to have the same dtype"),
        ((x, w, torch.randn(6).double()), {}, TypeError, r"'input' and 'bias' to have the same"),
        ((x.int(), w.int()), {}, TypeError, r"'input' has unsupported dtype"),
        ((x, w), dict(padding="full"), ValueError, r"invalid padding string"),
        ((x, w), dict(padding="same", stride=2), ValueError, r"not supported for strided"),
        ((x, w), dict(stride=(1, 2, 3)), TypeError, r"'stride' must be an int or a pair"),
        ((x, torch.randn(0, 4, 3, 3)), {}, ValueError, r"at least one output channel"),
        ((x, w), dict(variant="nope"), ValueError, r"unknown cpu variant 'nope'"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_cases())))
def test_bad_inputs(case):
    args, kw, err, match = _bad_cases()[case]
    with pytest.raises(err, match=match):
        cuops.conv2d(*args, **kw)


@pytest.mark.parametrize("case", [0, 3, 4, 6, 13, 15])
def test_bad_inputs_fake(case):
    """The fake kernels raise the same errors (torch.compile runs them)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    args, kw, err, match = _bad_cases()[case]
    with FakeTensorMode() as mode:
        args = tuple(mode.from_tensor(a) for a in args)
        with pytest.raises(err, match=match):
            cuops.conv2d(*args, **kw)


def test_bad_backward_inputs():
    g = torch.randn(2, 6, 4, 4)
    w = torch.randn(6, 4, 3, 3)
    with pytest.raises(ValueError,
                       match=r"expected 'grad_output' of shape \[2, 6, 5, 4\], but got \[2, 6, 4"):
        torch.ops.cuops.conv2d_backward_input(g, w, [2, 4, 7, 6], [1, 1], [0] * 4, [1, 1], 1)
    with pytest.raises(ValueError, match=r"'input_size' to have 4 elements"):
        torch.ops.cuops.conv2d_backward_input(g, w, [4, 6, 6], [1, 1], [0] * 4, [1, 1], 1)
    with pytest.raises(TypeError, match=r"'grad_output' and 'input' to have the same dtype"):
        torch.ops.cuops.conv2d_backward_weight(g, torch.randn(2, 4, 6, 6).double(),
                                               [6, 4, 3, 3], [1, 1], [0] * 4, [1, 1], 1)


@pytest.mark.gpu
def test_bad_inputs_cuda():
    x = torch.randn(2, 4, 6, 6, device="cuda")
    with pytest.raises(RuntimeError, match=r"'input' and 'weight' to be on the same device"):
        cuops.conv2d(x, torch.randn(6, 4, 3, 3))
    with pytest.raises(TypeError, match=r"variant 'implicit_gemm_mma' does not support dtype"):
        cuops.conv2d(x, torch.randn(6, 4, 3, 3, device="cuda"), variant="implicit_gemm_mma")


# ---------------------------------------------------------------------------
# Variant listing and cuops.nn.Conv2d.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_variants_listed(device):
    """Every ladder has, per dtype, one default that holds without a condition
    (the last rule), and a step of both gradient ladders has the same dtypes in
    both (test_backward names one variant for both). Steps of one ladder only
    run with the other's default: the dgrad-only ones -- the phase steps
    (implicit_gemm_mma_phases, phases, implicit_gemm_wgmma_phases),
    implicit_gemm_narrow and narrow_window, whose wgrad would be a plain
    implicit GEMM, and CUDA's im2col_gemm; the one wgrad-only step is CUDA's
    depthwise_window, whose dgrad is depthwise's (the forward's window kernel
    on the flipped filter)."""
    fwd, dgrad, wgrad = (cuops.variants(op, device) for op in
                         ("conv2d", "conv2d_backward_input", "conv2d_backward_weight"))
    for ladder in (fwd, dgrad, wgrad):
        fallbacks = [t for v in ladder for t, cond in v["default_when"]
                     if cond in (None, "otherwise")]
        assert sorted(fallbacks, key=str) == sorted(FLOAT_DTYPES, key=str)
    dgrad_steps = {v["name"]: v["dtypes"] for v in dgrad}
    wgrad_steps = {v["name"]: v["dtypes"] for v in wgrad}
    assert all(dgrad_steps[n] == d for n, d in wgrad_steps.items() if n in dgrad_steps), \
        (dgrad_steps, wgrad_steps)
    assert set(dgrad_steps) - set(wgrad_steps) <= {"implicit_gemm_mma_phases", "phases",
                                                   "implicit_gemm_narrow", "im2col_gemm",
                                                   "narrow_window",
                                                   "implicit_gemm_wgmma_phases"}
    assert set(wgrad_steps) - set(dgrad_steps) <= {"depthwise_window"}


@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
@pytest.mark.parametrize("device", DEVICES)
def test_nn_conv2d_drop_in(device, mode):
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, groups=2, padding_mode=mode,
                          device=device, dtype=torch.float64)
    ours = cuops.nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, groups=2, padding_mode=mode,
                           device=device, dtype=torch.float64)
    assert isinstance(ours, torch.nn.Conv2d)
    assert ours.weight.shape == ref.weight.shape and ours.bias.shape == ref.bias.shape
    ours.load_state_dict(ref.state_dict())
    ref.load_state_dict(ours.state_dict())
    assert set(ours.state_dict()) == set(ref.state_dict())
    x = torch.randn(2, 4, 7, 8, device=device, dtype=torch.float64, requires_grad=True)
    y, yr = ours(x), ref(x)
    assert_rel_close(y, yr)
    gy = torch.randn_like(y)
    g = torch.autograd.grad(y, [x, ours.weight, ours.bias], gy)
    gr = torch.autograd.grad(yr, [x, ref.weight, ref.bias], gy)
    for a, r in zip(g, gr):
        assert_rel_close(a, r)
    ours.reset_parameters()
    assert not torch.equal(ours.weight, ref.weight)


def test_nn_conv2d_same_and_bad_mode():
    m = cuops.nn.Conv2d(2, 3, 4, padding="same", bias=False, dtype=torch.float64)
    r = torch.nn.Conv2d(2, 3, 4, padding="same", bias=False, dtype=torch.float64)
    r.load_state_dict(m.state_dict())
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64)
    assert_rel_close(m(x), r(x))
    with pytest.raises(ValueError, match="padding_mode"):
        cuops.nn.Conv2d(2, 3, 3, padding_mode="mirror")
