"""cuops.conv2d and its gradients against F.conv2d.

Every CUDA variant (forward, dgrad, wgrad ladders) and the CPU kernels over a
configuration grid x dtypes x layouts; gradcheck; opcheck; torch.compile;
autocast; bad inputs; cuops.nn.Conv2d. CUDA params carry the `gpu` marker.
"""

import contextlib
import importlib

import pytest
import torch
import torch.nn.functional as F

import cuops
import cuops.nn  # noqa: F401  (cuops.nn.Conv2d)
from cuops.ops.conv2d import TUNING_TABLES
from tests.utils import (DEVICES, FLOAT_DTYPES, REL_TOL, assert_rel_close, poison_allocator,
                         run_python)

_conv_mod = importlib.import_module("cuops.ops.conv2d")  # the module (argument helpers)

# The CUDA ladders (empty in a CPU-only build), as name -> supported dtypes.
FWD_VARIANTS = {v["name"]: v["dtypes"] for v in cuops.variants("conv2d", "cuda")}
GRAD_VARIANTS = {v["name"]: v["dtypes"] for v in cuops.variants("conv2d_backward_input", "cuda")}
HALF = (torch.float16, torch.bfloat16)


def _supports(device, op, variant, dtype):
    """`variant` (None: the default) of `op` on `device` accepts `dtype`."""
    return variant is None or any(v["name"] == variant and dtype in v["dtypes"]
                                  for v in cuops.variants(op, device))

# (input shape, weight shape, kwargs, bias?)
CONFIGS = {
    "3x3_pad1": ((2, 4, 7, 9), (6, 4, 3, 3), dict(padding=1), True),
    "stride2": ((2, 3, 9, 8), (5, 3, 3, 3), dict(stride=2), False),
    "asym_all": ((2, 4, 10, 11), (4, 2, 3, 2),
                 dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2), True),
    "same_even": ((1, 3, 8, 7), (4, 3, 4, 2), dict(padding="same"), True),
    "same_dil": ((2, 2, 9, 9), (3, 2, 3, 3), dict(padding="same", dilation=2), False),
    "valid": ((2, 3, 6, 6), (2, 3, 3, 3), dict(padding="valid"), True),
    "depthwise": ((2, 6, 8, 8), (6, 1, 3, 3), dict(padding=1, groups=6), True),
    "depthwise_x2_s2": ((2, 4, 9, 9), (8, 1, 3, 3), dict(stride=2, padding=1, groups=4), False),
    # C % 8 == 0: depthwise_nhwc's vector path (channels_last); Q % 4 != 0
    "depthwise_c16": ((2, 16, 9, 10), (16, 1, 3, 3), dict(padding=1, groups=16), True),
    "depthwise_c8_s2_dil": ((1, 8, 11, 7), (8, 1, 3, 3),
                            dict(stride=2, padding=(2, 1), dilation=2, groups=8), False),
    "1x1": ((2, 8, 5, 5), (4, 8, 1, 1), {}, True),
    "7x7_s2": ((1, 3, 20, 20), (8, 3, 7, 7), dict(stride=2, padding=3), False),
    "1x5": ((2, 3, 6, 9), (4, 3, 1, 5), dict(padding=(0, 2)), True),
    "tiles": ((2, 20, 9, 9), (70, 20, 3, 3), dict(padding=1), True),
    "groups4": ((2, 8, 6, 6), (12, 2, 3, 3), dict(padding=1, groups=4), True),
    "kernel_eq_input": ((2, 3, 3, 3), (4, 3, 3, 3), {}, False),
    "batch0": ((0, 4, 5, 5), (6, 4, 3, 3), dict(padding=1), True),
    "unbatched": ((4, 6, 6), (5, 4, 3, 3), dict(padding=1), True),
}
LAYOUTS = ["nchw", "x_cl", "w_cl", "both_cl"]


def _layout(t, cl):
    return t.to(memory_format=torch.channels_last) if cl and t.dim() == 4 else t


def _inputs(cfg, dtype, device, layout, requires_grad=False):
    xs, ws, kw, has_bias = CONFIGS[cfg]
    x = _layout(torch.randn(xs, dtype=dtype, device=device), layout in ("x_cl", "both_cl"))
    w = _layout(torch.randn(ws, dtype=dtype, device=device), layout in ("w_cl", "both_cl"))
    b = torch.randn(ws[0], dtype=dtype, device=device) if has_bias else None
    if requires_grad:
        for t in (x, w, b):
            if t is not None:
                t.requires_grad_(True)
    return x, w, b, kw


def _ref64(x, w, b, kw):
    d = lambda t: None if t is None else t.detach().double().cpu()  # noqa: E731
    return F.conv2d(d(x), d(w), d(b), **kw)


def _cpu_variants(op):
    """The CPU default and every CPU step by name."""
    return [pytest.param("cpu", None, id="cpu")] + [
        pytest.param("cpu", v["name"], id=f"cpu-{v['name']}") for v in cuops.variants(op, "cpu")]


def _device_variants():
    out = _cpu_variants("conv2d")
    for v in FWD_VARIANTS:
        out.append(pytest.param("cuda", v, id=f"cuda-{v}", marks=pytest.mark.gpu))
    out.append(pytest.param("cuda", None, id="cuda-default", marks=pytest.mark.gpu))
    return out


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("device,variant", _device_variants())
def test_forward(device, variant, cfg, dtype, layout):
    if not _supports(device, "conv2d", variant, dtype):
        pytest.skip(f"{variant} does not support {dtype}")
    torch.manual_seed(0)
    x, w, b, kw = _inputs(cfg, dtype, device, layout)
    ref = _ref64(x, w, b, kw)
    poison_allocator(device, 4 * max(ref.numel(), 1) * 8)
    out = cuops.conv2d(x, w, b, **kw, variant=variant)
    assert out.dtype == dtype and out.device == x.device
    assert_rel_close(out, ref.to(dtype) if out.numel() == 0 else ref, dtype=dtype, what=cfg)
    # Output memory format as torch picks it (same device, same dtype).
    torch_out = F.conv2d(x, w, b, **kw)
    assert out.stride() == torch_out.stride(), f"strides {out.stride()} != torch's {torch_out.stride()}"


@pytest.mark.parametrize("device", DEVICES)
def test_forward_strided_views(device):
    """Non-dense operands (sliced input, transposed weight) go through strides."""
    torch.manual_seed(0)
    x = torch.randn(2, 5, 9, 21, device=device, dtype=torch.float64)[:, 1:, :, ::2]
    w = torch.randn(6, 4, 3, 3, device=device, dtype=torch.float64).transpose(2, 3)
    b = torch.randn(12, device=device, dtype=torch.float64)[::2]
    out = cuops.conv2d(x, w, b, stride=(1, 2), padding=1)
    assert_rel_close(out, _ref64(x, w, b, dict(stride=(1, 2), padding=1)))


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
            x = _layout(torch.randn(xs, device="cuda", dtype=dtype), cl)
            w = _layout(torch.randn(ws, device="cuda", dtype=dtype), cl)
            b = torch.randn(ws[0], device="cuda", dtype=dtype)
            ref = _ref64(x, w, b, kw)
            poison_allocator("cuda", ref.numel() * 8)
            assert_rel_close(cuops.conv2d(x, w, b, **kw, variant=variant), ref, dtype=dtype)


# ---------------------------------------------------------------------------
# Gradients: dgrad and wgrad ladders and the bias reduction vs torch autograd.
# ---------------------------------------------------------------------------

GRAD_CONFIGS = ["3x3_pad1", "stride2", "asym_all", "same_even", "depthwise_x2_s2", "7x7_s2",
                "tiles", "batch0", "unbatched", "1x5", "same_dil", "groups4", "depthwise",
                "depthwise_c16", "depthwise_c8_s2_dil"]


def _grad_device_variants():
    out = _cpu_variants("conv2d_backward_input")
    for v in GRAD_VARIANTS:
        out.append(pytest.param("cuda", v, id=f"cuda-{v}", marks=pytest.mark.gpu))
    return out


@pytest.mark.parametrize("layout", ["nchw", "both_cl"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("cfg", GRAD_CONFIGS)
@pytest.mark.parametrize("device,variant", _grad_device_variants())
def test_backward(device, variant, cfg, dtype, layout):
    if not _supports(device, "conv2d_backward_input", variant, dtype):
        pytest.skip(f"{variant} does not support {dtype}")
    torch.manual_seed(0)
    x, w, b, kw = _inputs(cfg, dtype, device, layout, requires_grad=True)
    fwd_variant = "implicit_gemm" if device == "cuda" else None
    out = cuops.conv2d(x, w, b, **kw, variant=fwd_variant)
    g = torch.randn_like(out)
    poison_allocator(device, 8 * (x.numel() + w.numel()) + 1024)
    if variant is None:
        grads = torch.autograd.grad(out, [t for t in (x, w, b) if t is not None], g)
    else:
        # A dgrad-only step (implicit_gemm_mma_phases) runs with the default wgrad.
        wgrad_steps = {v["name"] for v in cuops.variants("conv2d_backward_weight", device)}
        with contextlib.ExitStack() as stack:
            stack.enter_context(cuops.use_variant("conv2d_backward_input", variant, device))
            if variant in wgrad_steps:
                stack.enter_context(cuops.use_variant("conv2d_backward_weight", variant, device))
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


# ---------------------------------------------------------------------------
# Targeted shapes of the newer steps (GPU): split-K forward, tensor-core
# dgrad (stride 1 as a flipped-weight forward, fallbacks) and wgrad, and the
# channels_last depthwise kernel.
# ---------------------------------------------------------------------------

# (x shape, w shape, kwargs): 64x64 tiles far below one wave, GEMM-K >= 16 BK
# tiles -> split-K. KT tails (R*S*Cg % 32 != 0), Cg % 8 != 0 (general A), groups.
SPLITK_SHAPES = [
    ((4, 256, 7, 7), (192, 256, 3, 3), dict(padding=1)),          # 12 tiles, 9 splits
    ((32, 512, 7, 7), (512, 512, 3, 3), dict(padding=1)),         # ResNet 512@7
    ((2, 60, 9, 9), (100, 60, 3, 3), dict(padding=1)),            # Cg % 8 != 0, KT tail
    ((2, 128, 6, 5), (96, 64, 3, 3), dict(padding=(1, 0), groups=2)),
    ((1, 48, 8, 8), (40, 48, 5, 5), dict(padding="same", dilation=2)),
]


@pytest.mark.gpu
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("shape", range(len(SPLITK_SHAPES)))
def test_forward_splitk_cuda(shape, dtype, cl):
    torch.manual_seed(0)
    xs, ws, kw = SPLITK_SHAPES[shape]
    x = _layout(torch.randn(xs, device="cuda", dtype=dtype), cl)
    w = _layout(torch.randn(ws, device="cuda", dtype=dtype), cl)
    b = torch.randn(ws[0], device="cuda", dtype=dtype)
    ref = _ref64(x, w, b, kw)
    for bias in (b, None):
        want = ref if bias is not None else _ref64(x, w, None, kw)
        poison_allocator("cuda", want.numel() * 16)
        out = cuops.conv2d(x, w, bias, **kw, variant="implicit_gemm_mma_splitk")
        assert out.stride() == F.conv2d(x, w, bias, **kw).stride()
        assert_rel_close(out, want, dtype=dtype, what=f"splitk {xs} {ws} {kw}")
        # deterministic: the same bits twice
        assert torch.equal(out, cuops.conv2d(x, w, bias, **kw, variant="implicit_gemm_mma_splitk"))


# The fp32 tile steps (FP32_STEPS): implicit_gemm_regtile (true fp32) and
# implicit_gemm_3xtf32 (tf32 tensor cores, split operands): the 1e-5 relative
# tolerance fails TF32's 10-bit mantissa by ~100x. 128x128 tiles, the three x loaders
# (pixel-fast NCHW, tap-fast channels_last, 4-channel channels_last pieces),
# 1, 2 or 4 groups per tile, and the three epilogues (vector along q, vector
# along k, scalar).
# (x shape, w shape, kwargs)
FP32_STEPS = ["implicit_gemm_regtile", "implicit_gemm_3xtf32"]
REGTILE_SHAPES = [
    ((2, 64, 33, 35), (128, 64, 3, 3), dict(padding=1)),             # odd P, Q: scalar stores
    ((1, 16, 40, 64), (16, 16, 3, 3), dict(padding=1)),              # Q % 4 == 0: vector along q
    ((2, 260, 9, 9), (300, 260, 3, 3), dict(padding=1)),             # 3 n tiles, k tail
    ((1, 3, 67, 71), (64, 3, 11, 11), dict(stride=4, padding=2)),    # 11x11 s4 stem, C = 3
    ((2, 5, 17, 19), (7, 5, 5, 5), dict(stride=2, padding=2)),       # C, K odd
    ((3, 12, 20, 21), (20, 3, 3, 3), dict(padding=1, groups=4)),     # groups 4, C/groups 3
    ((2, 16, 15, 16), (24, 8, 7, 7), dict(padding=3, groups=2)),     # groups 2, 7x7
    ((2, 32, 12, 12), (33, 32, 1, 1), {}),                           # 1x1, K % 4 != 0
    ((1, 24, 14, 13), (40, 24, 3, 3), dict(padding=2, dilation=2)),  # dilation 2
    ((2, 8, 16, 16), (12, 8, 3, 3), dict(stride=2)),                 # no padding
    ((1, 4, 3, 3), (2, 4, 3, 3), {}),                                # one output pixel
    ((1, 8, 5, 6), (8, 8, 3, 2), dict(padding=(2, 0))),              # padding > kernel reach
    # group slots: K/groups <= 32 -> 4 groups per tile, <= 64 -> 2 (tails: empty slots)
    ((2, 64, 10, 12), (256, 8, 3, 3), dict(padding=1, groups=8)),    # K/groups 32, 4 slots
    ((2, 30, 9, 11), (144, 10, 3, 3), dict(padding=1, groups=3)),    # K/groups 48, 2 slots + tail
    ((2, 32, 14, 15), (64, 8, 3, 3), dict(stride=2, groups=4)),      # C/groups 8 (16-byte pieces)
    ((1, 20, 7, 9), (10, 4, 1, 3), dict(padding=(0, 1), groups=5)),  # 5 groups: 4 + 1 slots
]


@pytest.mark.gpu
@pytest.mark.parametrize("step", FP32_STEPS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", range(len(REGTILE_SHAPES)))
def test_forward_regtile_cuda(shape, layout, step):
    torch.manual_seed(0)
    xs, ws, kw = REGTILE_SHAPES[shape]
    x = _layout(torch.randn(xs, device="cuda"), layout in ("x_cl", "both_cl"))
    w = _layout(torch.randn(ws, device="cuda"), layout in ("w_cl", "both_cl"))
    b = torch.randn(ws[0], device="cuda")
    for bias in (b, None):
        want = _ref64(x, w, bias, kw)
        poison_allocator("cuda", want.numel() * 16)
        out = cuops.conv2d(x, w, bias, **kw, variant=step)
        assert out.stride() == F.conv2d(x, w, bias, **kw).stride()
        assert_rel_close(out, want, dtype=torch.float32, what=f"{step} {xs} {ws} {kw}")
        assert torch.equal(out, cuops.conv2d(x, w, bias, **kw, variant=step))


@pytest.mark.gpu
@pytest.mark.parametrize("step", FP32_STEPS)
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("pad4", [[1, 0, 0, 1], [0, 2, 1, 1], [3, 0, 0, 2]], ids=str)
def test_forward_regtile_asymmetric_padding_cuda(pad4, cl, step):
    """(top, bottom, left, right) padding: only top/left enter the gather."""
    torch.manual_seed(0)
    x = _layout(torch.randn(2, 12, 13, 18, device="cuda"), cl)
    w = _layout(torch.randn(20, 12, 3, 5, device="cuda"), cl)
    b = torch.randn(20, device="cuda")
    t, bo, le, ri = pad4
    want = F.conv2d(F.pad(x.double().cpu(), (le, ri, t, bo)), w.double().cpu(), b.double().cpu())
    poison_allocator("cuda", want.numel() * 16)
    out = torch.ops.cuops.conv2d(x, w, b, [1, 1], pad4, [1, 1], 1, step)
    assert_rel_close(out, want, dtype=torch.float32, what=f"{step} {pad4}")


@pytest.mark.gpu
@pytest.mark.parametrize("step", FP32_STEPS)
def test_forward_regtile_views_cuda(step):
    """Non-dense and misaligned operands: sliced channels (channels_last with
    an odd channel offset: no 16-byte pieces), a column-sliced NCHW input, a
    spatially transposed input and weight, a strided bias."""
    torch.manual_seed(0)
    base_cl = torch.randn(2, 17, 11, 12, device="cuda").to(memory_format=torch.channels_last)
    base = torch.randn(2, 16, 11, 25, device="cuda")
    cases = [
        (base_cl[:, 1:], torch.randn(24, 16, 3, 3, device="cuda"), dict(padding=1)),
        (base[:, :, :, 1::2], torch.randn(24, 16, 3, 3, device="cuda"), dict(padding=1)),
        (base.transpose(2, 3), torch.randn(8, 16, 3, 5, device="cuda").transpose(2, 3),
         dict(stride=2, padding=(1, 2))),
        (base[:, :8], torch.randn(12, 4, 3, 3, device="cuda"), dict(padding=1, groups=2)),
    ]
    for x, w, kw in cases:
        b = torch.randn(2 * w.shape[0], device="cuda")[::2]
        want = _ref64(x, w, b, kw)
        poison_allocator("cuda", want.numel() * 16)
        out = cuops.conv2d(x, w, b, **kw, variant=step)
        assert_rel_close(out, want, dtype=torch.float32, what=f"{step} view {tuple(x.stride())}")


@pytest.mark.gpu
@pytest.mark.parametrize("step", FP32_STEPS)
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("shape", range(len(REGTILE_SHAPES)))
def test_backward_weight_regtile_cuda(shape, cl, step):
    """The fp32 wgrad step on the forward's shapes (true fp32, split pixel
    sums: the long-reduction fp32 tolerance of test_backward), deterministic."""
    torch.manual_seed(0)
    xs, ws, kw = REGTILE_SHAPES[shape]
    x = _layout(torch.randn(xs, device="cuda"), cl)
    w = _layout(torch.randn(ws, device="cuda"), cl).requires_grad_(True)
    out = cuops.conv2d(x, w, None, **kw)
    g = torch.randn_like(out)

    def wgrad():
        with cuops.use_variant("conv2d_backward_weight", step, "cuda"):
            return torch.autograd.grad(out, w, g, retain_graph=True)[0]

    poison_allocator("cuda", 16 * w.numel() + 1024)
    got = wgrad()
    wr = w.detach().double().cpu().requires_grad_(True)
    want = torch.autograd.grad(F.conv2d(x.double().cpu(), wr, None, **kw), wr,
                               g.double().cpu())[0]
    assert_rel_close(got, want, tol=4e-5, what=f"{step} wgrad {xs} {ws} {kw}")
    assert torch.equal(got, wgrad())


@pytest.mark.gpu
@pytest.mark.parametrize("step", FP32_STEPS)
def test_backward_weight_regtile_empty_batch_cuda(step):
    """N == 0: the empty reduction writes zeros (poisoned output)."""
    x = torch.randn(0, 6, 7, 7, device="cuda")
    dy = torch.randn(0, 8, 7, 7, device="cuda")
    poison_allocator("cuda", 1 << 16)
    dw = torch.ops.cuops.conv2d_backward_weight(dy, x, [8, 3, 3, 3], [1, 1], [1, 1, 1, 1],
                                                [1, 1], 2, step)
    assert dw.shape == (8, 3, 3, 3) and torch.equal(dw, torch.zeros_like(dw))


@pytest.mark.gpu
@pytest.mark.parametrize("data", ["normal", "wide"])
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
def test_3xtf32_accuracy_cuda(cl, data):
    """implicit_gemm_3xtf32, forward and both gradients, is as accurate as
    cuDNN's true fp32 (within the matmul step's factor) and far more than
    TF32, on normal data and on values 2^-20..2^20 with random signs."""
    from tests.test_matmul import TF32X3_FACTOR, TF32X3_SLACK
    from tests.utils import rel_err

    g = torch.Generator(device="cuda").manual_seed(1)

    def operand(shape):
        if data == "normal":
            t = torch.randn(shape, device="cuda", generator=g)
        else:
            mag = torch.exp2(torch.rand(shape, device="cuda", generator=g) * 40 - 20)
            t = mag * (torch.randint(0, 2, shape, device="cuda", generator=g) * 2 - 1)
        return _layout(t, cl)

    x, w, dy = operand((4, 64, 28, 28)), operand((96, 64, 3, 3)), operand((4, 96, 28, 28))
    step = "implicit_gemm_3xtf32"

    def passes(conv):  # forward, dgrad, wgrad of one layer through `conv`
        xr, wr = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        y = conv(xr, wr)
        return (y, *torch.autograd.grad(y, (xr, wr), dy))

    x64, w64 = x.double().requires_grad_(True), w.double().requires_grad_(True)
    y64 = F.conv2d(x64, w64, padding=1)
    truth = (y64, *torch.autograd.grad(y64, (x64, w64), dy.double()))
    flags = torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = False
        fp32 = passes(lambda a, b: F.conv2d(a, b, padding=1))
        torch.backends.cudnn.allow_tf32 = True
        tf32 = passes(lambda a, b: F.conv2d(a, b, padding=1))
    finally:
        torch.backends.cudnn.allow_tf32 = flags
    with contextlib.ExitStack() as stack:
        for op in ("conv2d_backward_input", "conv2d_backward_weight"):
            stack.enter_context(cuops.use_variant(op, step, "cuda"))
        ours = passes(lambda a, b: cuops.conv2d(a, b, padding=1, variant=step))
    for name, o, r, t, want in zip(("forward", "dgrad", "wgrad"), ours, fp32, tf32, truth):
        err, err_fp32, err_tf32 = rel_err(o, want), rel_err(r, want), rel_err(t, want)
        assert err <= TF32X3_FACTOR * err_fp32 + TF32X3_SLACK, (name, err, err_fp32)
        if err_tf32 > 10 * err_fp32:  # cuDNN did take TF32 (it may pick an fp32 kernel)
            assert err * 50 <= err_tf32, (name, err, err_tf32)


# implicit_gemm_narrow: K/groups <= 8 filters (4 or 8 per thread), and its
# dgrad for C/groups <= 8 (the phases of an RGB stem). (x, w, kwargs)
NARROW_SHAPES = [
    ((2, 16, 19, 21), (3, 16, 3, 3), dict(padding=1)),               # a 3-class head
    ((2, 64, 12, 13), (1, 64, 1, 1), {}),                            # K = 1, 1x1
    ((3, 5, 17, 18), (8, 5, 5, 5), dict(stride=2, padding=2)),       # K = 8, odd C
    ((2, 12, 10, 11), (9, 4, 3, 3), dict(padding=1, groups=3)),      # K/groups 3 (4 wide)
    ((1, 3, 45, 47), (6, 3, 7, 7), dict(stride=2, padding=3)),       # stem-like, K = 6 (8 wide)
    ((2, 600, 6, 7), (4, 600, 1, 3), dict(padding=(0, 1))),          # taps > one staged chunk
    ((1, 8, 9, 9), (2, 8, 3, 3), dict(padding=2, dilation=2)),       # dilation
]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("shape", range(len(NARROW_SHAPES)))
def test_narrow_cuda(shape, cl, dtype):
    """Forward with few filters, and dgrad of the transposed problem (the
    filters' count is the dgrad's C), against float64; deterministic."""
    torch.manual_seed(0)
    xs, ws, kw = NARROW_SHAPES[shape]
    x = _layout(torch.randn(xs, device="cuda", dtype=dtype), cl)
    w = _layout(torch.randn(ws, device="cuda", dtype=dtype), cl)
    b = torch.randn(ws[0], device="cuda", dtype=dtype)
    want = _ref64(x, w, b, kw)
    poison_allocator("cuda", want.numel() * 16)
    out = cuops.conv2d(x, w, b, **kw, variant="implicit_gemm_narrow")
    assert_rel_close(out, want.to(dtype), dtype=dtype, what=f"narrow {xs} {ws} {kw}")
    assert torch.equal(out, cuops.conv2d(x, w, b, **kw, variant="implicit_gemm_narrow"))
    # dgrad where C/groups <= 8: x of C = K channels, w transposed to (C', K, R, S)
    g = kw.get("groups", 1)
    wt = _layout(torch.randn(xs[1], ws[0] // g, *ws[2:], device="cuda", dtype=dtype), cl)
    xt = _layout(torch.randn(xs[0], ws[0], *xs[2:], device="cuda", dtype=dtype), cl)
    kwt = {k: v for k, v in kw.items() if k != "groups"} | {"groups": g}
    dy = torch.randn_like(F.conv2d(xt.double(), wt.double(), **kwt)).to(dtype)
    dy = _layout(dy, cl)
    x64 = xt.detach().double().cpu().requires_grad_(True)
    want_dx = torch.autograd.grad(F.conv2d(x64, wt.double().cpu(), **kwt), x64, dy.double().cpu())[0]
    stride = kwt.get("stride", 1)
    pad = kwt.get("padding", 0)
    pad = (pad, pad) if isinstance(pad, int) else pad
    dil = kwt.get("dilation", 1)
    poison_allocator("cuda", want_dx.numel() * 16)
    dx = torch.ops.cuops.conv2d_backward_input(
        dy, wt, list(xt.shape), [stride] * 2, [pad[0], pad[0], pad[1], pad[1]], [dil] * 2, g,
        "implicit_gemm_narrow")
    assert_rel_close(dx, want_dx.to(dtype), tol=4 * REL_TOL[dtype], what=f"narrow dgrad {xs}")


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
    x = _layout(torch.randn(xs, device="cuda", dtype=dtype), True)
    w = _layout(torch.randn(ws, device="cuda", dtype=dtype), w_cl)
    b = torch.randn(ws[0], device="cuda", dtype=dtype)
    for bias in (b, None):
        want = _ref64(x, w, bias, kw)
        poison_allocator("cuda", want.numel() * 16)
        out = cuops.conv2d(x, w, bias, **kw, variant="implicit_gemm_wgmma")
        assert_rel_close(out, want.to(dtype), dtype=dtype, what=f"wgmma {xs} {ws} {kw}")
        assert torch.equal(out, cuops.conv2d(x, w, bias, **kw, variant="implicit_gemm_wgmma"))
    if torch.cuda.get_device_capability() == (9, 0):
        from tests.test_matmul import _kernel_names
        names = _kernel_names(lambda: cuops.conv2d(x, w, b, **kw, variant="implicit_gemm_wgmma"))
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


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", range(len(WGMMA_GRAD_SHAPES)))
def test_wgmma_backward_cuda(shape, dtype):
    """dx and dw (channels_last, as torch makes it here: the wgrad's copy out
    of its KCRS result) against float64 autograd; deterministic; on an sm_90
    device the wgmma kernels ran exactly where they apply."""
    torch.manual_seed(0)
    xs, ws, kw = WGMMA_GRAD_SHAPES[shape]
    x = _layout(torch.randn(xs, device="cuda", dtype=dtype), True)
    w = torch.randn(ws, device="cuda", dtype=dtype)
    x64, w64 = (t.detach().double().cpu().requires_grad_(True) for t in (x, w))
    y64 = F.conv2d(x64, w64, **kw)
    dy = _layout(torch.randn(y64.shape, device="cuda", dtype=dtype), True)
    want_dx, want_dw = torch.autograd.grad(y64, (x64, w64), dy.double().cpu())
    s, pad, d = kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1)
    args = ([s, s], [pad] * 4, [d, d], 1, "implicit_gemm_wgmma")

    def dgrad():
        return torch.ops.cuops.conv2d_backward_input(dy, w, list(xs), *args)

    def wgrad():
        return torch.ops.cuops.conv2d_backward_weight(dy, x, list(ws), *args)

    for name, run, want in (("dgrad", dgrad, want_dx), ("wgrad", wgrad, want_dw)):
        poison_allocator("cuda", want.numel() * 16)
        got = run()
        assert_rel_close(got, want.to(dtype), dtype=dtype, what=f"wgmma {name} {xs} {ws} {kw}")
        assert torch.equal(got, run())
    if torch.cuda.get_device_capability() == (9, 0):
        from tests.test_matmul import _kernel_names
        for run, applies, kernel in ((dgrad, ws[0] % 64 == 0, "conv_wgmma_kernel"),
                                     (wgrad, xs[1] % 64 == 0, "wgrad_wgmma_kernel")):
            names = _kernel_names(run)
            assert names is None or any(kernel in n for n in names) == applies, names


# Every entry of the split-K table (CUOPS_CONV_CONFIG, read once per process:
# one subprocess per entry) is correct on the split-K shapes above.
# Table sizes from C++ (csrc/cuda/conv2d/tuning.h): 1 in a product build, all
# entries in a CUOPS_EXPLORE=1 build, 0 (no tables) without the CUDA kernels.
N_SPLIT_CONFIGS = TUNING_TABLES.get("implicit_gemm_mma_splitk", 0)
_NEEDS_TABLES = pytest.mark.skipif(not TUNING_TABLES, reason="no CUDA kernels: no tuning tables")
# One checker for both knob tables: shapes (a list in this module) x fp16/bf16
# x channels_last (fast A path, with bias) / NCHW (general A path, no bias),
# each variant named, against the float64 reference, outputs poisoned first.
_KNOB_SCRIPT = r"""
import sys, torch, cuops
import tests.test_conv2d as t
from tests.utils import assert_rel_close, poison_allocator
shapes, variants = getattr(t, sys.argv[1]), sys.argv[2].split(",")
for xs, ws, kw in shapes:
    for dtype in (torch.float16, torch.bfloat16):
        for cl in (True, False):
            torch.manual_seed(0)
            x = t._layout(torch.randn(xs, device="cuda", dtype=dtype), cl)
            w = t._layout(torch.randn(ws, device="cuda", dtype=dtype), cl)
            b = torch.randn(ws[0], device="cuda", dtype=dtype) if cl else None
            want = t._ref64(x, w, b, kw)
            for variant in variants:
                poison_allocator("cuda", want.numel() * 16)
                out = cuops.conv2d(x, w, b, **kw, variant=variant)
                assert_rel_close(out, want, dtype=dtype,
                                 what=f"{variant} {xs} {ws} {kw} {dtype} cl={cl}")
print("OK")
"""


def _run_split_config(knob):
    return run_python(_KNOB_SCRIPT, {"CUOPS_CONV_CONFIG": knob}, "SPLITK_SHAPES",
                      "implicit_gemm_mma_splitk")


@pytest.mark.gpu
@pytest.mark.parametrize("cfg", range(N_SPLIT_CONFIGS))
def test_cuda_splitk_configs(cfg):
    r = _run_split_config(f"implicit_gemm_mma_splitk={cfg}")
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]


@_NEEDS_TABLES
def test_conv_config_errors():
    r = _run_split_config(f"implicit_gemm_mma_splitk={N_SPLIT_CONFIGS}")
    assert r.returncode != 0 and "out of range" in r.stderr
    r = _run_split_config("splitk=1")
    assert r.returncode != 0 and "CUOPS_CONV_CONFIG" in r.stderr


# Every entry of the kernel-configuration table (CUOPS_CONV_CONFIG=
# "implicit_gemm_mma=<i>": forced tile / warp layout / BK / fragment
# double-buffering, in both tensor-core steps) on shapes that reach every
# loader branch: channels_last = fast A (Cg = 8/24/40 wrap (r, s) inside a BK=64
# step; Ktot % BK != 0), NCHW = general A; Cg % 8 != 0; groups; stride and
# dilation; M and Kg tails (Kg = 72); GEMM-K long enough for split-K. One
# subprocess per entry (the knob is read once per process).
N_TILE_CONFIGS = TUNING_TABLES.get("implicit_gemm_mma", 0)
TILE_SHAPES = [
    ((3, 64, 9, 7), (72, 64, 3, 3), dict(padding=1)),                    # Kg tail, M tail
    ((2, 8, 11, 10), (24, 8, 3, 3), dict(padding=1)),                    # Cg 8: Ktot 72
    ((2, 24, 10, 9), (40, 24, 3, 3), dict(stride=2, padding=1)),         # Cg 24, stride 2
    ((2, 40, 12, 11), (48, 40, 3, 3), dict(padding=2, dilation=2)),      # Cg 40, dilation 2
    ((2, 60, 9, 9), (100, 60, 3, 3), dict(padding=1)),                   # Cg % 8 != 0
    ((2, 128, 6, 5), (96, 64, 3, 3), dict(padding=(1, 0), groups=2)),    # groups
    ((2, 16, 7, 7), (130, 16, 1, 1), {}),                                # 1x1, Ktot < BK
    ((4, 256, 7, 7), (192, 256, 3, 3), dict(padding=1)),                 # few tiles: splits
    ((8, 512, 7, 7), (512, 512, 3, 3), dict(padding=1)),                 # ResNet 512@7
]


@pytest.mark.gpu
@pytest.mark.parametrize("cfg", range(N_TILE_CONFIGS))
def test_cuda_tile_configs(cfg):
    r = run_python(_KNOB_SCRIPT, {"CUOPS_CONV_CONFIG": f"implicit_gemm_mma={cfg}"}, "TILE_SHAPES",
                   "implicit_gemm_mma,implicit_gemm_mma_splitk")
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]


@_NEEDS_TABLES
def test_conv_tile_config_errors():
    """Out-of-range / malformed implicit_gemm_mma=<i> raise ValueError at import."""
    r = run_python("import cuops", {"CUOPS_CONV_CONFIG": f"implicit_gemm_mma={N_TILE_CONFIGS}"})
    assert r.returncode != 0 and "ValueError" in r.stderr and "out of range" in r.stderr
    r = run_python("import cuops", {"CUOPS_CONV_CONFIG": "implicit_gemm_mma=x"})
    assert r.returncode != 0 and "ValueError" in r.stderr and "implicit_gemm_mma=<index>" in r.stderr
    knob = f"implicit_gemm_mma={N_TILE_CONFIGS - 1},implicit_gemm_mma_splitk={N_SPLIT_CONFIGS - 1}"
    r = run_python("import cuops", {"CUOPS_CONV_CONFIG": knob})
    assert r.returncode == 0, r.stderr[-3000:]


# dgrad / wgrad on tensor cores: stride 1 with asymmetric ("same", even
# kernel) padding, dilation, groups, Kg % 8 != 0; a padding larger than the
# dilated kernel (padding' < 0) and strides take the SIMT fallback of
# implicit_gemm_mma; implicit_gemm_mma_phases runs them all on tensor cores.
MMA_GRAD_SHAPES = [
    ((2, 64, 14, 14), (64, 64, 3, 3), dict(padding=1)),
    ((2, 32, 9, 8), (48, 32, 4, 2), dict(padding="same")),
    ((2, 16, 11, 10), (24, 16, 3, 3), dict(padding="same", dilation=2)),
    ((2, 64, 8, 8), (96, 16, 3, 3), dict(padding=1, groups=4)),
    ((2, 12, 7, 9), (20, 12, 3, 1), dict(padding=(2, 0), dilation=(2, 1))),
    ((2, 24, 8, 8), (40, 24, 1, 1), dict(padding=0)),
    ((2, 16, 6, 6), (16, 16, 3, 3), dict(padding=3)),             # padding' < 0: fallback
    ((2, 32, 13, 13), (64, 32, 3, 3), dict(stride=2, padding=1)),  # stride 2: fallback
    ((1, 3, 20, 20), (16, 3, 7, 7), dict(stride=2, padding=3)),
]


@pytest.mark.gpu
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("shape", range(len(MMA_GRAD_SHAPES)))
def test_backward_mma_cuda(shape, dtype, cl):
    torch.manual_seed(0)
    xs, ws, kw = MMA_GRAD_SHAPES[shape]
    x = _layout(torch.randn(xs, device="cuda", dtype=dtype), cl)
    w = _layout(torch.randn(ws, device="cuda", dtype=dtype), cl)
    y = F.conv2d(x, w, None, **kw)
    g = _layout(torch.randn(y.shape, device="cuda", dtype=dtype), cl)
    xr = x.detach().double().cpu().requires_grad_(True)
    wr = w.detach().double().cpu().requires_grad_(True)
    want_x, want_w = torch.autograd.grad(F.conv2d(xr, wr, None, **kw), [xr, wr],
                                         g.double().cpu())
    s2 = _conv_mod._pair(kw.get("stride", 1), "stride")
    d2 = _conv_mod._pair(kw.get("dilation", 1), "dilation")
    p4 = _conv_mod._padding4(kw.get("padding", 0), w, s2, d2)
    groups = kw.get("groups", 1)
    poison_allocator("cuda", 16 * (x.numel() + w.numel()))
    gx = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), s2, p4, d2, groups,
                                               "implicit_gemm_mma")
    gw = torch.ops.cuops.conv2d_backward_weight(g, x, list(ws), s2, p4, d2, groups,
                                                "implicit_gemm_mma")
    tol = REL_TOL[dtype] * 2
    assert_rel_close(gx, want_x, tol=tol, what=f"dgrad {xs} {ws} {kw}")
    assert_rel_close(gw, want_w, tol=tol, what=f"wgrad {xs} {ws} {kw}")
    gx = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), s2, p4, d2, groups,
                                               "implicit_gemm_mma_phases")
    assert_rel_close(gx, want_x, tol=tol, what=f"dgrad (phases) {xs} {ws} {kw}")


# The phase decomposition of dgrad (one stride-1 forward per output phase of
# dx, conv2d_dgrad_by_phases: CUDA implicit_gemm_mma_phases, CPU phases; the
# planning is the same host code, so the CPU runs prove it) and the wgrad's
# padded-channel copy of x (C/groups % 8 != 0), against fp64 autograd of
# F.conv2d on explicitly padded x. pad4 = (top, bottom, left, right), the
# op's convention.
def _grad_truth(x, w, g, stride, pad4, dil, groups):
    xr = x.detach().double().cpu().requires_grad_(True)
    wr = w.detach().double().cpu().requires_grad_(True)
    xp = F.pad(xr, (pad4[2], pad4[3], pad4[0], pad4[1]))
    y = F.conv2d(xp, wr, None, stride, 0, dil, groups)
    return torch.autograd.grad(y, [xr, wr], g.detach().double().cpu())


def _grad_problem(xs, ws, stride, pad4, dil, groups, dtype, x_cl, g_cl, device="cuda"):
    """Random x, w and grad_output (channels_last as asked) of the forward."""
    x = _layout(torch.randn(xs, device=device, dtype=dtype), x_cl)
    w = _layout(torch.randn(ws, device=device, dtype=dtype), x_cl)
    P = (xs[2] + pad4[0] + pad4[1] - dil[0] * (ws[2] - 1) - 1) // stride[0] + 1
    Q = (xs[3] + pad4[2] + pad4[3] - dil[1] * (ws[3] - 1) - 1) // stride[1] + 1
    g = _layout(torch.randn((xs[0], ws[0], P, Q), device=device, dtype=dtype), g_cl)
    return x, w, g


def _check_dgrad(xs, ws, stride, pad4, dil, groups, dtype, cl, variants, device="cuda"):
    x, w, g = _grad_problem(xs, ws, stride, pad4, dil, groups, dtype, cl, cl, device)
    want, _ = _grad_truth(x, w, g, stride, pad4, dil, groups)
    what = f"dgrad x {xs} w {ws} stride {stride} pad {pad4} dil {dil} groups {groups}"
    tol = 4e-5 if dtype == torch.float32 else REL_TOL[dtype] * 2
    for v in variants:
        poison_allocator(device, 16 * (x.numel() + w.numel()) + 4096)
        got = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), list(stride), list(pad4),
                                                    list(dil), groups, v)
        assert got.shape == want.shape and got.dtype == dtype, what
        assert_rel_close(got, want, tol=tol, what=f"{what} ({v})")


# The phase steps per device, and the dtypes their targeted tests run: CUDA's
# tensor-core step (fp16/bf16; None = the default, which is it), CPU's step
# over the forward ladder's default (every dtype; fp16 is the CPU's slowest).
PHASE_DEVICES = [
    pytest.param("cpu", ["phases"], id="cpu"),
    pytest.param("cuda", ["implicit_gemm_mma_phases", None], id="cuda", marks=pytest.mark.gpu),
]
_PHASE_DTYPES = {"cpu": (torch.float64, torch.float32, torch.bfloat16), "cuda": HALF}
_ALL_PHASE_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def _phase_dtype_ok(device, dtype):
    if dtype not in _PHASE_DTYPES[device]:
        pytest.skip(f"{dtype} is not in the {device} phase tests")


# Per padding 0..3 a channel mix (C/groups, K/groups): 8/16 (16-byte loads),
# 3/16 (GEMM-N = 3, the stem's dx), 8/5 (dy on the forward's general A path),
# 5/24; odd H and W. Kernel 1 (and 3 at stride 3 with padding 0) leave
# phases with one tap or none (zeros).
_PHASE_CHANNELS = [(8, 16), (3, 16), (8, 5), (5, 24)]


@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("dtype", _ALL_PHASE_DTYPES, ids=str)
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("device,variants", PHASE_DEVICES)
def test_dgrad_phases(device, variants, stride, kernel, groups, dtype, cl):
    _phase_dtype_ok(device, dtype)
    torch.manual_seed(0)
    for pad, (cg, kg) in enumerate(_PHASE_CHANNELS):
        xs, ws = (2, cg * groups, 13, 11), (kg * groups, cg, kernel, kernel)
        _check_dgrad(xs, ws, (stride, stride), (pad,) * 4, (1, 1), groups, dtype, cl,
                     variants, device)


# (x shape, w shape, stride, (top, bottom, left, right), dilation, groups)
PHASE_SHAPES = [
    ((2, 8, 1, 2), (8, 8, 1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1),  # phases with no dx row
    ((3, 16, 2, 3), (16, 16, 1, 1), (2, 2), (1, 0, 0, 1), (1, 1), 1),  # 1x1 s2: 3 phases zero
    ((2, 16, 9, 10), (16, 16, 3, 3), (2, 2), (2, 2, 2, 2), (2, 2), 1),  # gcd 2: odd phases zero
    ((2, 8, 11, 12), (24, 8, 3, 3), (3, 3), (2, 1, 2, 2), (2, 2), 1),  # stride 3, dilation 2
    ((2, 16, 12, 9), (32, 8, 4, 2), (2, 3), (1, 2, 0, 1), (1, 1), 2),  # asymmetric everything
    ((2, 24, 15, 14), (16, 24, 5, 3), (3, 2), (0, 3, 3, 0), (1, 3), 1),
    ((1, 32, 13, 13), (64, 32, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
    ((2, 64, 9, 9), (64, 64, 3, 3), (1, 1), (3, 3, 3, 3), (1, 1), 1),  # stride 1, padding' < 0
    ((2, 32, 10, 7), (48, 32, 4, 2), (1, 1), (1, 2, 0, 1), (2, 1), 1),  # stride 1 "same"-like
    ((2, 4, 1, 9), (6, 4, 1, 3), (3, 2), (0, 0, 1, 1), (1, 1), 1),  # H = 1: 2 row phases empty
    ((2, 4, 8, 1), (6, 4, 3, 1), (2, 3), (1, 1, 0, 0), (1, 1), 1),  # W = 1
    ((2, 4, 9, 9), (6, 4, 2, 2), (2, 2), (4, 3, 3, 4), (1, 1), 1),  # padding > kernel
    ((1, 6, 10, 11), (4, 3, 2, 2), (3, 3), (0, 1, 1, 0), (2, 2), 2),  # kernel < stride, dil 2
    ((2, 4, 12, 12), (4, 4, 3, 3), (3, 3), (3, 3, 3, 3), (3, 3), 1),  # gcd 3: one phase per axis
    ((2, 4, 7, 8), (6, 4, 7, 7), (3, 3), (4, 2, 5, 1), (1, 1), 1),  # kernel 7 > input
]


@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("dtype", _ALL_PHASE_DTYPES, ids=str)
@pytest.mark.parametrize("shape", range(len(PHASE_SHAPES)))
@pytest.mark.parametrize("device,variants", PHASE_DEVICES)
def test_dgrad_phases_shapes(device, variants, shape, dtype, cl):
    _phase_dtype_ok(device, dtype)
    torch.manual_seed(0)
    xs, ws, stride, pad4, dil, groups = PHASE_SHAPES[shape]
    _check_dgrad(xs, ws, stride, pad4, dil, groups, dtype, cl, variants, device)


def test_dgrad_phases_views_cpu():
    """The CPU phase step on non-dense operands: a sliced grad_output, a
    transposed weight, and a grad_input written through its strides."""
    torch.manual_seed(0)
    x = torch.randn(2, 6, 11, 10, dtype=torch.float64)
    w = torch.randn(8, 6, 3, 4, dtype=torch.float64).transpose(2, 3).contiguous().transpose(2, 3)
    y = F.conv2d(x, w, None, (2, 3), (1, 2), (1, 1))
    g = torch.randn(y.shape[0], y.shape[1] + 3, y.shape[2], 2 * y.shape[3],
                    dtype=torch.float64)[:, 2:-1, :, ::2]
    want, _ = _grad_truth(x, w, g, (2, 3), (1, 1, 2, 2), (1, 1), 1)
    got = torch.ops.cuops.conv2d_backward_input(g, w, list(x.shape), [2, 3], [1, 1, 2, 2], [1, 1],
                                                1, "phases")
    assert_rel_close(got, want, dtype=torch.float64, what="views")


@pytest.mark.gpu
@pytest.mark.parametrize("layout", ["nchw", "cl", "x_nchw"])
@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_stem_backward_cuda(dtype, layout):
    """The ResNet stem (C = 3, 7x7, stride 2, padding 3) at batch 2: dgrad
    through the phases (GEMM-N = 3), wgrad through the padded copy of x."""
    torch.manual_seed(0)
    xs, ws, stride, pad4, dil = (2, 3, 224, 224), (64, 3, 7, 7), (2, 2), (3, 3, 3, 3), (1, 1)
    x, w, g = _grad_problem(xs, ws, stride, pad4, dil, 1, dtype, layout == "cl",
                            layout != "nchw")
    want_x, want_w = _grad_truth(x, w, g, stride, pad4, dil, 1)
    args = (list(stride), list(pad4), list(dil), 1)
    tol = REL_TOL[dtype] * 2
    for v in ["implicit_gemm_mma_phases", None]:
        poison_allocator("cuda", 4 * x.numel())
        got = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), *args, v)
        assert_rel_close(got, want_x, tol=tol, what=f"stem dgrad ({v})")
    for v in ["implicit_gemm_mma", None]:
        poison_allocator("cuda", 4 * x.numel())
        got = torch.ops.cuops.conv2d_backward_weight(g, x, list(ws), *args, v)
        assert_rel_close(got, want_w, tol=tol, what=f"stem wgrad ({v})")


# wgrad with C/groups = 3 and 5: channels_last dy and x (the padded copy),
# NCHW x with channels_last dy (the copy changes the layout too), all NCHW
# (no copy: the general loaders).
WGRAD_PAD_SHAPES = [
    ((2, 3, 17, 15), (16, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((2, 5, 12, 13), (8, 5, 5, 5), (2, 2), (2, 2, 2, 2), (1, 1), 1),
    ((2, 10, 9, 9), (16, 5, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2),
    ((2, 6, 11, 9), (24, 3, 7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 2),
    ((3, 3, 10, 11), (64, 3, 3, 2), (2, 1), (0, 1, 2, 0), (2, 1), 1),
]


@pytest.mark.gpu
@pytest.mark.parametrize("layout", ["nchw", "cl", "x_nchw"])
@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("shape", range(len(WGRAD_PAD_SHAPES)))
def test_wgrad_padded_channels_cuda(shape, dtype, layout):
    torch.manual_seed(0)
    xs, ws, stride, pad4, dil, groups = WGRAD_PAD_SHAPES[shape]
    x, w, g = _grad_problem(xs, ws, stride, pad4, dil, groups, dtype, layout == "cl",
                            layout != "nchw")
    _, want = _grad_truth(x, w, g, stride, pad4, dil, groups)
    for v in ["implicit_gemm_mma", None]:
        poison_allocator("cuda", 16 * (x.numel() + w.numel()) + 4096)
        got = torch.ops.cuops.conv2d_backward_weight(g, x, list(ws), list(stride), list(pad4),
                                                     list(dil), groups, v)
        assert_rel_close(got, want, tol=REL_TOL[dtype] * 2,
                         what=f"wgrad x {xs} w {ws} {layout} ({v})")


# depthwise_nhwc: vector path (C % 8 == 0, channels_last) and its fallbacks
# (C % 8 != 0, multiplier 2, NCHW, a misaligned channel slice).
DW_SHAPES = [
    ((2, 256, 28, 28), (256, 1, 3, 3), dict(padding=1)),
    ((2, 32, 17, 13), (32, 1, 5, 5), dict(stride=2, padding=(2, 1), dilation=(1, 2))),
    ((3, 24, 10, 11), (24, 1, 3, 3), dict(padding="same")),
    ((2, 12, 9, 9), (12, 1, 3, 3), dict(padding=1)),              # C % 8 != 0
    ((2, 16, 9, 9), (32, 1, 3, 3), dict(padding=1)),              # multiplier 2
    ((1, 8, 5, 6), (8, 1, 2, 4), dict(padding="same")),
]


@pytest.mark.gpu
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64],
                         ids=str)
@pytest.mark.parametrize("shape", range(len(DW_SHAPES)))
def test_depthwise_nhwc_cuda(shape, dtype, cl):
    torch.manual_seed(0)
    xs, ws, kw = DW_SHAPES[shape]
    x = _layout(torch.randn(xs, device="cuda", dtype=dtype), cl)
    w = _layout(torch.randn(ws, device="cuda", dtype=dtype), cl)
    b = torch.randn(ws[0], device="cuda", dtype=dtype)
    kw = dict(kw, groups=xs[1])
    for bias in (b, None):
        want = _ref64(x, w, bias, kw)
        poison_allocator("cuda", want.numel() * 16)
        for variant in ("depthwise_nhwc", None):  # None: the default (depthwise_nhwc_window
            # for cl, depthwise_plane for NCHW)
            out = cuops.conv2d(x, w, bias, **kw, variant=variant)
            assert out.stride() == F.conv2d(x, w, bias, **kw).stride()
            assert_rel_close(out, want, dtype=dtype, what=f"dw {xs} {kw}")


@pytest.mark.gpu
def test_depthwise_nhwc_misaligned_cuda():
    """A channel slice starting at an odd offset: not 16-byte aligned -> fallback."""
    torch.manual_seed(0)
    base = torch.randn(2, 9, 8, 8, device="cuda", dtype=torch.float16)
    x = base.to(memory_format=torch.channels_last)[:, 1:]
    w = torch.randn(8, 1, 3, 3, device="cuda", dtype=torch.float16)
    out = cuops.conv2d(x, w, None, padding=1, groups=8, variant="depthwise_nhwc")
    assert_rel_close(out, _ref64(x, w, None, dict(padding=1, groups=8)), dtype=torch.float16)


# depthwise_nhwc_window (channels_last) and depthwise_plane (NCHW rows): the
# unrolled window shapes (3x3 s1, 3x3 s2, 5x5 s1) at strip/band edges, every
# other filter (general paths), and the layouts each step hands on.
# (x shape, w shape, kwargs); groups = C is added.
DW2_SHAPES = [
    ((2, 16, 12, 19), (16, 1, 3, 3), dict(padding=1)),      # 3x3 s1; Q % 8 != 0
    ((2, 256, 28, 28), (256, 1, 3, 3), dict(padding=1)),    # C = 256, interior strips
    ((2, 24, 13, 17), (24, 1, 3, 3), dict(stride=2, padding=1)),   # 3x3 s2
    ((2, 16, 11, 10), (16, 1, 3, 3), dict(padding=2, dilation=2)),  # dilation: general
    ((2, 8, 12, 21), (8, 1, 5, 5), dict(padding=2)),        # 5x5 s1
    ((2, 16, 9, 13), (16, 1, 1, 7), dict(padding=(0, 3))),  # 1x7: general
    ((2, 8, 7, 1), (8, 1, 3, 3), dict(padding=1)),          # W = 1
    ((2, 8, 6, 3), (8, 1, 3, 3), dict(padding=1)),          # W = 3
    ((1, 16, 5, 7), (16, 1, 3, 3), dict(padding=0)),        # W = 7, no padding
    ((2, 8, 9, 10), (8, 1, 2, 2), dict(padding="same")),    # asymmetric "same": general
    ((2, 16, 9, 11), (16, 1, 3, 3), dict(padding="same")),
    ((2, 12, 9, 9), (12, 1, 3, 3), dict(padding=1)),        # C % 8 != 0: window falls back
    ((2, 8, 10, 12), (16, 1, 3, 3), dict(padding=1)),       # multiplier 2
    ((0, 8, 6, 6), (8, 1, 3, 3), dict(padding=1)),          # batch 0
    ((1, 8, 40, 130), (8, 1, 3, 3), dict(padding=1)),       # plane: 2 x 2 tiles (Q > 128)
    ((1, 8, 37, 9), (8, 1, 5, 5), dict(padding=3)),         # padding > kernel/2, P % 8 != 0
    ((2, 8, 16, 33), (8, 1, 3, 3), dict(stride=2, padding=0)),
    ((1, 8, 4, 4), (8, 1, 3, 3), dict(stride=3, padding=1)),  # stride 3: general
]
DW2_LAYOUTS = ["nchw", "cl", "rows_view", "cl_slice"]


def _dw2_input(xs, dtype, layout):
    n, c, h, w = xs
    if layout == "nchw":
        return torch.randn(xs, device="cuda", dtype=dtype)
    if layout == "cl":
        return torch.randn(xs, device="cuda", dtype=dtype).to(memory_format=torch.channels_last)
    if layout == "rows_view":  # rows contiguous, row stride W + 3, start not 16-byte aligned
        return torch.randn(n, c, h, w + 3, device="cuda", dtype=dtype)[..., 1:w + 1]
    # channels_last view of channels 8..8+C of a wider tensor (16-byte aligned start)
    big = torch.randn(n, c + 8, h, w, device="cuda", dtype=dtype)
    return big.to(memory_format=torch.channels_last)[:, 8:]


@pytest.mark.gpu
@pytest.mark.parametrize("layout", DW2_LAYOUTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("shape", range(len(DW2_SHAPES)))
def test_depthwise_window_plane_cuda(shape, dtype, layout):
    torch.manual_seed(0)
    xs, ws, kw = DW2_SHAPES[shape]
    kw = dict(kw, groups=xs[1])
    x = _dw2_input(xs, dtype, layout)
    w = _layout(torch.randn(ws, device="cuda", dtype=dtype), layout.startswith("cl"))
    b = torch.randn(ws[0], device="cuda", dtype=dtype)
    for bias in (b, None):
        want = _ref64(x, w, bias, kw)
        for variant in ("depthwise_nhwc_window", "depthwise_plane", None):
            poison_allocator("cuda", max(want.numel(), 1) * 16)
            out = cuops.conv2d(x, w, bias, **kw, variant=variant)
            assert out.stride() == F.conv2d(x, w, bias, **kw).stride()
            assert_rel_close(out, want.to(dtype) if want.numel() == 0 else want, dtype=dtype,
                             what=f"{variant} {xs} {ws} {kw} {layout}")


# The entries >= 1 of depthwise_nhwc_window's table (CUOPS_EXPLORE builds:
# strips of 8 outputs for 3x3 s1) on the window shapes, in a subprocess
# (CUOPS_CONV_CONFIG is read once).
N_WINDOW_CONFIGS = TUNING_TABLES.get("depthwise_nhwc_window", 0)
_DW_WINDOW_SCRIPT = r"""
import torch, cuops
from tests.utils import assert_rel_close, poison_allocator
from tests.test_conv2d import DW2_SHAPES, _dw2_input, _layout, _ref64
for xs, ws, kw in DW2_SHAPES:
    kw = dict(kw, groups=xs[1])
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        for layout in ("cl", "cl_slice"):
            torch.manual_seed(0)
            x = _dw2_input(xs, dtype, layout)
            w = _layout(torch.randn(ws, device="cuda", dtype=dtype), True)
            b = torch.randn(ws[0], device="cuda", dtype=dtype)
            want = _ref64(x, w, b, kw)
            poison_allocator("cuda", max(want.numel(), 1) * 16)
            out = cuops.conv2d(x, w, b, **kw, variant="depthwise_nhwc_window")
            assert_rel_close(out, want.to(dtype) if want.numel() == 0 else want, dtype=dtype,
                             what=f"{xs} {ws} {kw} {dtype} {layout}")
print("OK")
"""


@pytest.mark.gpu
@pytest.mark.parametrize("cfg", range(1, N_WINDOW_CONFIGS))
def test_cuda_depthwise_window_config(cfg):
    r = run_python(_DW_WINDOW_SCRIPT, {"CUOPS_CONV_CONFIG": f"depthwise_nhwc_window={cfg}"})
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]


# ---------------------------------------------------------------------------
# Pointwise (1x1, unpadded) problems: the "gemm" step of all three ladders
# (and the default, which picks it on CUDA and for the CPU dgrad) against
# fp64 truth, on both devices: the planning is the same host code
# (csrc/conv2d_pointwise.cpp), over the CPU GEMM or the CUDA one. Orientations
# (channels_last: pixels as GEMM rows, fused bias; NCHW: a GEMM per image, a
# bias pass), strides (gathered x, scattered dx), groups, odd channel counts,
# the NCHW small-image round trip, views, batch 0 and C = 0.
# ---------------------------------------------------------------------------

# (x shape, w shape, kwargs, bias?)
POINTWISE_SHAPES = [
    ((2, 8, 5, 7), (6, 8, 1, 1), {}, True),
    ((3, 5, 9, 7), (3, 5, 1, 1), dict(stride=2), True),             # C, K odd; odd H, W
    ((1, 3, 11, 13), (5, 3, 1, 1), dict(stride=2), False),          # N = 1
    ((2, 6, 7, 9), (4, 3, 1, 1), dict(groups=2), True),              # groups: batched / looped
    ((2, 6, 7, 9), (4, 3, 1, 1), dict(groups=2, stride=(2, 1)), True),
    ((2, 16, 8, 9), (16, 16, 1, 1), dict(dilation=2), True),         # dilation unused by 1x1
    ((2, 12, 10, 11), (20, 12, 1, 1), dict(stride=(1, 3)), False),
    ((4, 64, 7, 7), (96, 64, 1, 1), {}, True),                       # NCHW: channels_last trip
    ((3, 8, 5, 5), (6, 4, 1, 1), dict(groups=2), True),              # ... with groups + bias
    ((2, 64, 28, 28), (256, 64, 1, 1), {}, True),                    # many tiles
    ((3, 4, 30, 30), (6, 2, 1, 1), dict(groups=2), False),           # fp32 NCHW wgrad: per image
    ((3, 67, 15, 17), (130, 67, 1, 1), dict(stride=2), True),        # tails, stride 2
    ((2, 5, 1, 1), (7, 5, 1, 1), {}, True),                          # 1x1 images
    ((1, 1, 6, 6), (1, 1, 1, 1), {}, True),                          # one channel
    ((0, 8, 5, 5), (4, 8, 1, 1), {}, True),                          # batch 0: dw = 0
    ((2, 0, 5, 5), (4, 0, 1, 1), {}, True),                          # C = 0
]
POINTWISE_LAYOUTS = ["nchw", "x_cl", "w_cl", "both_cl", "views"]


def _pointwise_inputs(xs, ws, dtype, layout, device="cuda"):
    n, c, h, w_ = xs
    if layout == "views":  # channel and column slices of bigger tensors, a strided weight
        x = torch.randn(n, c + 2, h, 2 * w_ + 1, device=device, dtype=dtype)[:, 1:c + 1, :, 1::2]
        w = torch.randn(ws[0], 2 * ws[1], 1, 1, device=device, dtype=dtype)[:, ::2]
    else:
        x = _layout(torch.randn(xs, device=device, dtype=dtype), layout in ("x_cl", "both_cl"))
        w = _layout(torch.randn(ws, device=device, dtype=dtype), layout in ("w_cl", "both_cl"))
    return x, w


@pytest.mark.parametrize("layout", POINTWISE_LAYOUTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("shape", range(len(POINTWISE_SHAPES)))
@pytest.mark.parametrize("device", DEVICES)
def test_pointwise_gemm(device, shape, dtype, layout):
    torch.manual_seed(0)
    xs, ws, kw, has_bias = POINTWISE_SHAPES[shape]
    x, w = _pointwise_inputs(xs, ws, dtype, layout, device)
    b = torch.randn(ws[0], device=device, dtype=dtype) if has_bias else None
    groups = kw.get("groups", 1)
    s2 = _conv_mod._pair(kw.get("stride", 1), "stride")
    d2 = _conv_mod._pair(kw.get("dilation", 1), "dilation")
    p4 = [0, 0, 0, 0]
    if xs[1] == 0:  # an empty sum: y = bias (F.conv2d returns no channels here)
        want = torch.zeros(xs[0], ws[0], xs[2], xs[3], dtype=torch.float64)
        want += 0 if b is None else b.double().cpu().view(1, -1, 1, 1)
    else:
        want = _ref64(x, w, b, kw)
    g = torch.randn(want.shape, device=device, dtype=dtype)
    if layout == "views":
        g = torch.randn(*want.shape[:3], 2 * want.shape[3], device=device, dtype=dtype)[..., ::2]
    elif layout != "nchw":
        g = _layout(g, True)
    want_x, want_w = torch.zeros(xs, dtype=torch.float64), torch.zeros(ws, dtype=torch.float64)
    if xs[1] > 0:
        want_x, want_w = _grad_truth(x, w, g, s2, p4, d2, groups)
    half = 2 if dtype in HALF else 1
    grad_tol = 4e-5 if dtype == torch.float32 else REL_TOL[dtype] * half
    for variant in ("gemm", None):  # None: the default ("gemm" on CUDA, CPU dgrad)
        what = f"{xs} {ws} {kw} {layout} {variant}"
        poison_allocator(device, 16 * (max(want.numel(), 1) + x.numel() + w.numel()))
        out = cuops.conv2d(x, w, b, **kw, variant=variant)
        assert out.shape == want.shape and out.dtype == dtype
        if out.numel():
            assert_rel_close(out, want, dtype=dtype, what=f"fwd {what}")
        if xs[1] > 0 and layout != "views":  # the memory format torch picks
            assert out.stride() == F.conv2d(x, w, b, **kw).stride(), what
        gx = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), s2, p4, d2, groups, variant)
        gw = torch.ops.cuops.conv2d_backward_weight(g, x, list(ws), s2, p4, d2, groups, variant)
        for name, got, ref in (("dgrad", gx, want_x), ("wgrad", gw, want_w)):
            assert got.shape == ref.shape and got.dtype == dtype, f"{name} {what}"
            if got.numel() == 0:
                continue
            if ref.norm() == 0:
                assert got.abs().max() == 0, f"{name} {what}: an empty sum must give 0"
            else:
                assert_rel_close(got, ref, tol=grad_tol, what=f"{name} {what}")


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("device", DEVICES)
def test_pointwise_not_pointwise(device, dtype):
    """1x1 problems the GEMM does not take (padding, bottom/right padding only)
    run the ladders' other defaults through the gemm step, correctly."""
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 7, device=device, dtype=dtype)
    w = torch.randn(5, 8, 1, 1, device=device, dtype=dtype)
    b = torch.randn(5, device=device, dtype=dtype)
    for p4 in ([1, 1, 1, 1], [0, 1, 0, 2]):  # top, bottom, left, right
        pt, pb, pl, pr = p4
        xp = F.pad(x.double().cpu(), (pl, pr, pt, pb))
        want = F.conv2d(xp, w.double().cpu(), b.double().cpu())
        out = torch.ops.cuops.conv2d(x, w, b, [1, 1], p4, [1, 1], 1, "gemm")
        assert_rel_close(out, want, dtype=dtype, what=str(p4))
        g = torch.randn(want.shape, device=device, dtype=dtype)
        want_x, want_w = _grad_truth(x, w, g, [1, 1], p4, [1, 1], 1)
        gx = torch.ops.cuops.conv2d_backward_input(g, w, list(x.shape), [1, 1], p4, [1, 1], 1,
                                                   "gemm")
        gw = torch.ops.cuops.conv2d_backward_weight(g, x, list(w.shape), [1, 1], p4, [1, 1], 1,
                                                    "gemm")
        tol = 4e-5 if dtype == torch.float32 else REL_TOL[dtype] * 2
        assert_rel_close(gx, want_x, tol=tol, what=f"dgrad {p4}")
        assert_rel_close(gw, want_w, tol=tol, what=f"wgrad {p4}")


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
                w = _layout(torch.randn(ws), wcl)
                want = F.conv2d(x, w, **kw).stride()
                assert cuops.conv2d(x, w, **kw).stride() == want, (xs, ws, kw, layout, wcl)
                with FakeTensorMode() as mode:  # the fake kernel (torch.compile's view)
                    got = cuops.conv2d(mode.from_tensor(x), mode.from_tensor(w), **kw)
                assert got.stride() == want, (xs, ws, kw, layout, wcl, "fake")


@pytest.mark.gpu
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("pad4", [[1, 0, 0, 1], [0, 2, 1, 1], [2, 2, 0, 0]], ids=str)
def test_depthwise_asymmetric_padding_cuda(pad4, cl):
    """(top, bottom, left, right) padding on the unrolled 3x3 s1 paths."""
    torch.manual_seed(0)
    x = _layout(torch.randn(2, 16, 9, 19, device="cuda", dtype=torch.float32), cl)
    w = torch.randn(16, 1, 3, 3, device="cuda", dtype=torch.float32)
    b = torch.randn(16, device="cuda", dtype=torch.float32)
    t, bo, le, ri = pad4
    want = F.conv2d(F.pad(x.double().cpu(), (le, ri, t, bo)), w.double().cpu(), b.double().cpu(),
                    groups=16)
    for variant in ("depthwise_nhwc_window", "depthwise_plane"):
        poison_allocator("cuda", want.numel() * 16)
        out = torch.ops.cuops.conv2d(x, w, b, [1, 1], pad4, [1, 1], 16, variant)
        assert_rel_close(out, want, dtype=torch.float32, what=f"{variant} {pad4}")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
def test_depthwise_big_cuda(cl, dtype):
    """The benchmark layer (dw 3x3 256@56, batch 32) through both new steps and the default."""
    torch.manual_seed(0)
    x = _layout(torch.randn(32, 256, 56, 56, device="cuda", dtype=dtype), cl)
    w = _layout(torch.randn(256, 1, 3, 3, device="cuda", dtype=dtype), cl)
    b = torch.randn(256, device="cuda", dtype=dtype)
    want = F.conv2d(x.double(), w.double(), b.double(), padding=1, groups=256)
    for variant in ("depthwise_nhwc_window", "depthwise_plane", None):
        poison_allocator("cuda", want.numel() * 8)
        out = cuops.conv2d(x, w, b, padding=1, groups=256, variant=variant)
        assert out.stride() == F.conv2d(x, w, b, padding=1, groups=256).stride()
        assert_rel_close(out, want, dtype=dtype, what=f"{variant} big")


# The gradient ladders' depthwise step (multiplier 1): dgrad as the phases
# through the forward's depthwise kernels (stride 1: depthwise_nhwc_window /
# depthwise_plane on the flipped filter, padding' = R-1-padding < 0 at
# padding 3; stride 2: per-tap kernels on strided dx views), wgrad's 8-channel
# vector path (channels_last, C % 8 == 0) and its scalar path (NCHW, fp64).
# Odd H and W; N = 1 and 2; every padding 0..3.
def _check_dw_backward(xs, k, stride, pad4, dil, dtype, cl, what=""):
    C = xs[1]
    ws = (C, 1, k, k) if isinstance(k, int) else (C, 1) + tuple(k)
    x, w, g = _grad_problem(xs, ws, stride, pad4, dil, C, dtype, cl, cl)
    want_x, want_w = _grad_truth(x, w, g, stride, pad4, dil, C)
    tol = REL_TOL[dtype] * 2 if dtype != torch.float32 else 4e-5
    args = (list(stride), list(pad4), list(dil), C, "depthwise")
    what = f"{what} x {xs} w {ws} stride {stride} pad {pad4} dil {dil} cl {cl}"
    poison_allocator("cuda", 16 * (x.numel() + w.numel()) + 4096)
    gx = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), *args)
    poison_allocator("cuda", 16 * (x.numel() + w.numel()) + 4096)
    gw = torch.ops.cuops.conv2d_backward_weight(g, x, list(ws), *args)
    if want_x.numel():
        assert_rel_close(gx, want_x, tol=tol, what=f"dgrad {what}")
    assert_rel_close(gw, want_w, tol=tol, what=f"wgrad {what}")
    return gx, gw


@pytest.mark.gpu
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("kernel", [3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_backward_cuda(stride, kernel, dtype, cl):
    torch.manual_seed(0)
    for pad in range(4):
        for xs in [(2, 16, 13, 11), (1, 24, 9, 15)]:
            _check_dw_backward(xs, kernel, (stride, stride), (pad,) * 4, (1, 1), dtype, cl)


# (x shape, kernel, stride, (top, bottom, left, right), dilation): the general
# tap loop, asymmetric strides and paddings, dilation, C % 8 != 0 (scalar
# channels_last path), one channel, 1x1 (phases with no tap: zeros), more
# channel groups than one block holds.
DW_BWD_SHAPES = [
    ((2, 16, 10, 9), (2, 4), (1, 1), (0, 1, 1, 2), (1, 1)),
    ((2, 8, 12, 11), 3, (2, 1), (1, 1, 2, 0), (1, 1)),
    ((1, 8, 11, 7), 3, (2, 2), (2, 2, 1, 1), (2, 2)),
    ((2, 16, 13, 13), 3, (1, 1), (2, 2, 2, 2), (2, 2)),
    ((2, 12, 9, 10), 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    ((3, 1, 7, 6), 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    ((2, 16, 7, 9), 1, (2, 2), (0, 0, 0, 0), (1, 1)),
    ((1, 264, 9, 7), 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    ((2, 16, 8, 8), 3, (3, 3), (1, 0, 2, 1), (1, 1)),
]


@pytest.mark.gpu
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("shape", range(len(DW_BWD_SHAPES)))
def test_depthwise_backward_shapes_cuda(shape, dtype, cl):
    torch.manual_seed(0)
    xs, k, stride, pad4, dil = DW_BWD_SHAPES[shape]
    _check_dw_backward(xs, k, stride, pad4, dil, dtype, cl)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_depthwise_backward_fallbacks_cuda(dtype):
    """Multiplier 2 (-> direct), an empty batch (dx empty, dw zeros), a
    misaligned channel slice and a non-contiguous pixel view (scalar paths)."""
    torch.manual_seed(0)
    # multiplier 2: not depthwise_x1, the direct steps
    x, w, g = _grad_problem((2, 8, 9, 9), (16, 1, 3, 3), (1, 1), (1,) * 4, (1, 1), 8, dtype,
                            True, True)
    want_x, want_w = _grad_truth(x, w, g, (1, 1), (1,) * 4, (1, 1), 8)
    args = ([1, 1], [1] * 4, [1, 1], 8, "depthwise")
    tol = REL_TOL[dtype] * 2 if dtype != torch.float32 else 4e-5
    assert_rel_close(torch.ops.cuops.conv2d_backward_input(g, w, [2, 8, 9, 9], *args), want_x,
                     tol=tol, what="multiplier 2 dgrad")
    assert_rel_close(torch.ops.cuops.conv2d_backward_weight(g, x, [16, 1, 3, 3], *args), want_w,
                     tol=tol, what="multiplier 2 wgrad")
    # empty batch
    x = torch.randn(0, 16, 9, 9, device="cuda", dtype=dtype)
    g = torch.randn(0, 16, 9, 9, device="cuda", dtype=dtype)
    w = torch.randn(16, 1, 3, 3, device="cuda", dtype=dtype)
    args = ([1, 1], [1] * 4, [1, 1], 16, "depthwise")
    poison_allocator("cuda", 1 << 16)
    assert torch.ops.cuops.conv2d_backward_input(g, w, [0, 16, 9, 9], *args).shape == x.shape
    gw = torch.ops.cuops.conv2d_backward_weight(g, x, [16, 1, 3, 3], *args)
    assert gw.shape == w.shape and (gw == 0).all()
    # a channel slice at an odd offset (not 16-byte aligned) and every other column
    for cl in (True, False):
        base = _layout(torch.randn(2, 17, 9, 22, device="cuda", dtype=dtype), cl)
        x = base[:, 1:, :, ::2]
        gbase = _layout(torch.randn(2, 17, 9, 22, device="cuda", dtype=dtype), cl)
        g = gbase[:, 1:, :, ::2]
        w = torch.randn(16, 1, 3, 3, device="cuda", dtype=dtype)
        want_x, want_w = _grad_truth(x, w, g, (1, 1), (1,) * 4, (1, 1), 16)
        assert_rel_close(torch.ops.cuops.conv2d_backward_input(g, w, [2, 16, 9, 11], *args),
                         want_x, tol=tol, what=f"sliced dgrad cl {cl}")
        assert_rel_close(torch.ops.cuops.conv2d_backward_weight(g, x, [16, 1, 3, 3], *args),
                         want_w, tol=tol, what=f"sliced wgrad cl {cl}")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
def test_depthwise_backward_big_cuda(cl, dtype):
    """The benchmark layer (dw 3x3 256@56, batch 32; stride 2 too): many
    pixel slices; the same bits on a second run (fixed split and order)."""
    torch.manual_seed(0)
    for stride in (1, 2):
        xs = (32, 256, 56, 56)
        x, w, g = _grad_problem(xs, (256, 1, 3, 3), (stride,) * 2, (1,) * 4, (1, 1), 256, dtype,
                                cl, cl)
        want_x, want_w = _grad_truth(x, w, g, (stride,) * 2, (1,) * 4, (1, 1), 256)
        args = ([stride] * 2, [1] * 4, [1, 1], 256, "depthwise")
        gx = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), *args)
        gw = torch.ops.cuops.conv2d_backward_weight(g, x, [256, 1, 3, 3], *args)
        tol = REL_TOL[dtype] * 2 if dtype != torch.float32 else 1e-4
        assert_rel_close(gx, want_x, tol=tol, what=f"big dgrad s{stride}")
        assert_rel_close(gw, want_w, tol=tol, what=f"big wgrad s{stride}")
        assert torch.equal(gw, torch.ops.cuops.conv2d_backward_weight(g, x, [256, 1, 3, 3],
                                                                      *args))
        assert torch.equal(gx, torch.ops.cuops.conv2d_backward_input(g, w, list(xs), *args))


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
    (the last rule), and every wgrad step is a dgrad step of the same dtypes
    (test_backward names one variant for both; the dgrad-only steps -- the
    phase steps and implicit_gemm_narrow, whose wgrad would be a plain
    implicit GEMM -- run with the default wgrad)."""
    fwd, dgrad, wgrad = (cuops.variants(op, device) for op in
                         ("conv2d", "conv2d_backward_input", "conv2d_backward_weight"))
    for ladder in (fwd, dgrad, wgrad):
        fallbacks = [t for v in ladder for t, cond in v["default_when"]
                     if cond in (None, "otherwise")]
        assert sorted(fallbacks, key=str) == sorted(FLOAT_DTYPES, key=str)
    dgrad_steps = {v["name"]: v["dtypes"] for v in dgrad}
    wgrad_steps = {v["name"]: v["dtypes"] for v in wgrad}
    assert all(dgrad_steps.get(n) == d for n, d in wgrad_steps.items()), (dgrad_steps, wgrad_steps)
    assert set(dgrad_steps) - set(wgrad_steps) <= {"implicit_gemm_mma_phases", "phases",
                                                   "implicit_gemm_narrow"}


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
