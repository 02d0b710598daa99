"""Targeted shapes of single conv2d ladder steps (GPU unless said): split-K,
the fp32 register-tiled and 3xTF32 steps, the narrow step, the tuning tables,
the tensor-core gradients, and the dgrad phase decomposition (CPU and CUDA:
the same host planning). The Hopper steps: test_conv2d_wgmma.py.
"""

import contextlib
import importlib

import pytest
import torch
import torch.nn.functional as F

import cuops
from cuops.ops.conv2d import TUNING_TABLES
from tests.conv2d_cases import (HALF, LAYOUTS, as_layout, check_dgrad, grad_problem, grad_truth,
                                random_conv, ref64)
from tests.utils import FLOAT_DTYPES, REL_TOL, assert_rel_close, poison_allocator, run_python

_conv_mod = importlib.import_module("cuops.ops.conv2d")  # the module (argument helpers)


# ---------------------------------------------------------------------------
# Targeted shapes of the newer steps (GPU): split-K forward, the fp32 and
# narrow steps, the Hopper steps, tensor-core dgrad (stride 1 as a
# flipped-weight forward, fallbacks) and wgrad.
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
    x, w, b = random_conv(xs, ws, dtype, cl)
    ref = ref64(x, w, b, kw)
    for bias in (b, None):
        want = ref if bias is not None else ref64(x, w, None, kw)
        poison_allocator("cuda", want.numel() * 16)
        out = cuops.conv2d(x, w, bias, **kw, variant="implicit_gemm_mma_splitk")
        assert out.stride() == F.conv2d(x, w, bias, **kw).stride()
        assert_rel_close(out, want, dtype=dtype, what=f"splitk {xs} {ws} {kw}")
        # deterministic: the same bits twice
        assert torch.equal(out, cuops.conv2d(x, w, bias, **kw, variant="implicit_gemm_mma_splitk"))


# The fp32 tile steps (FP32_STEPS): implicit_gemm_regtile (true fp32) and its
# slots (<= 64 filters of a group share the tile: pixel slots forward; group or
# pixel-chunk slots in the wgrad), implicit_gemm_3xtf32 (tf32 tensor cores,
# split operands) and its Hopper engine (where these shapes fit it; else the
# former): the 1e-5 relative
# tolerance fails TF32's 10-bit mantissa by ~100x. 128x128 tiles, the three x loaders
# (pixel-fast NCHW, tap-fast channels_last, 4-channel channels_last pieces),
# 1, 2 or 4 groups per tile, and the three epilogues (vector along q, vector
# along k, scalar).
# (x shape, w shape, kwargs)
FP32_STEPS = ["implicit_gemm_regtile", "implicit_gemm_regtile_slots", "implicit_gemm_3xtf32",
              "implicit_gemm_wgmma_3xtf32"]
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
    x = as_layout(torch.randn(xs, device="cuda"), layout in ("x_cl", "both_cl"))
    w = as_layout(torch.randn(ws, device="cuda"), layout in ("w_cl", "both_cl"))
    b = torch.randn(ws[0], device="cuda")
    for bias in (b, None):
        want = ref64(x, w, bias, kw)
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
    x = as_layout(torch.randn(2, 12, 13, 18, device="cuda"), cl)
    w = as_layout(torch.randn(20, 12, 3, 5, device="cuda"), cl)
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
        want = ref64(x, w, b, kw)
        poison_allocator("cuda", want.numel() * 16)
        out = cuops.conv2d(x, w, b, **kw, variant=step)
        assert_rel_close(out, want, dtype=torch.float32, what=f"{step} view {tuple(x.stride())}")


# The fp32 wgrads beyond the forward's shapes: many pixel chunks per slot plan
# (implicit_gemm_regtile_slots: taps on the tile rows, 2-4 slots of <= 64
# filters: groups, or pixel chunks).
WGRAD_SHAPES = REGTILE_SHAPES + [
    ((4, 3, 64, 64), (64, 3, 7, 7), dict(stride=2, padding=3)),  # stem: 2 chunk slots, 16 chunks
    ((8, 64, 28, 28), (64, 16, 3, 3), dict(padding=1, groups=4)),     # K/groups 16: 4 group slots
    ((4, 40, 20, 20), (160, 8, 3, 3), dict(padding=1, groups=5)),     # K/groups 32: 4 + 1 slots
    ((6, 32, 21, 19), (24, 32, 3, 3), dict(stride=2, padding=1)),     # K 24: 4 chunk slots, odd npq
    ((2, 48, 30, 30), (96, 24, 3, 3), dict(padding=1, groups=2)),     # K/groups 48: 2 group slots
]


@pytest.mark.gpu
@pytest.mark.parametrize("step", FP32_STEPS)
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("shape", range(len(WGRAD_SHAPES)))
def test_backward_weight_regtile_cuda(shape, cl, step):
    """The fp32 wgrad steps (true fp32, split pixel sums: the long-reduction
    fp32 tolerance of test_backward), deterministic."""
    torch.manual_seed(0)
    xs, ws, kw = WGRAD_SHAPES[shape]
    x = as_layout(torch.randn(xs, device="cuda"), cl)
    w = as_layout(torch.randn(ws, device="cuda"), cl).requires_grad_(True)
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
    from tests.utils import TF32X3_FACTOR, TF32X3_SLACK
    from tests.utils import rel_err

    g = torch.Generator(device="cuda").manual_seed(1)

    def operand(shape):
        if data == "normal":
            t = torch.randn(shape, device="cuda", generator=g)
        else:
            mag = torch.exp2(torch.rand(shape, device="cuda", generator=g) * 40 - 20)
            t = mag * (torch.randint(0, 2, shape, device="cuda", generator=g) * 2 - 1)
        return as_layout(t, cl)

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
    # narrow_window: several row and column tiles, R = S = 7, R > its 8
    # (falls back), the 11x11/4 stem (forward falls back, dgrad phases 3x3);
    # small grids give a thread 4 rows, the last shape 8
    ((1, 3, 150, 40), (3, 3, 3, 3), dict(padding=1)),                # 3 row tiles, 2 col tiles
    ((1, 8, 40, 37), (5, 8, 7, 7), dict(padding=3)),                 # 7x7, stride 1
    ((1, 4, 20, 20), (2, 4, 9, 9), dict(padding=4)),                 # 9x9: narrow's kernel
    ((2, 3, 64, 70), (4, 3, 11, 11), dict(stride=4, padding=2)),     # 11x11/4 stem-like
    ((36, 3, 128, 128), (3, 3, 3, 3), dict(padding=1)),              # a full grid: 8 rows a thread
]
NARROW_STEPS = ["implicit_gemm_narrow", "narrow_window"]


@pytest.mark.gpu
@pytest.mark.parametrize("step", NARROW_STEPS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("shape", range(len(NARROW_SHAPES)))
def test_narrow_cuda(shape, cl, dtype, step):
    """Forward with few filters, and dgrad of the transposed problem (the
    filters' count is the dgrad's C), against float64; deterministic.
    narrow_window runs where the rows of x are contiguous, stride 1 (the
    dgrad's phases always), dilation 1, R, S <= 8; else the narrow step."""
    torch.manual_seed(0)
    xs, ws, kw = NARROW_SHAPES[shape]
    x, w, b = random_conv(xs, ws, dtype, cl)
    want = ref64(x, w, b, kw)
    poison_allocator("cuda", want.numel() * 16)
    out = cuops.conv2d(x, w, b, **kw, variant=step)
    assert_rel_close(out, want.to(dtype), dtype=dtype, what=f"{step} {xs} {ws} {kw}")
    assert torch.equal(out, cuops.conv2d(x, w, b, **kw, variant=step))
    # dgrad where C/groups <= 8: x of C = K channels, w transposed to (C', K, R, S)
    g = kw.get("groups", 1)
    wt = as_layout(torch.randn(xs[1], ws[0] // g, *ws[2:], device="cuda", dtype=dtype), cl)
    xt = as_layout(torch.randn(xs[0], ws[0], *xs[2:], device="cuda", dtype=dtype), cl)
    kwt = {k: v for k, v in kw.items() if k != "groups"} | {"groups": g}
    dy = torch.randn_like(F.conv2d(xt.double(), wt.double(), **kwt)).to(dtype)
    dy = as_layout(dy, cl)
    x64 = xt.detach().double().cpu().requires_grad_(True)
    want_dx = torch.autograd.grad(F.conv2d(x64, wt.double().cpu(), **kwt), x64, dy.double().cpu())[0]
    stride = kwt.get("stride", 1)
    pad = kwt.get("padding", 0)
    pad = (pad, pad) if isinstance(pad, int) else pad
    dil = kwt.get("dilation", 1)
    poison_allocator("cuda", want_dx.numel() * 16)
    def dgrad():
        return torch.ops.cuops.conv2d_backward_input(
            dy, wt, list(xt.shape), [stride] * 2, [pad[0], pad[0], pad[1], pad[1]], [dil] * 2,
            g, step)

    dx = dgrad()
    assert_rel_close(dx, want_dx.to(dtype), tol=4 * REL_TOL[dtype], what=f"{step} dgrad {xs}")
    assert torch.equal(dx, dgrad())


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
import tests.test_conv2d_steps as t
from tests.conv2d_cases import random_conv, ref64
from tests.utils import assert_rel_close, poison_allocator
shapes, variants = getattr(t, sys.argv[1]), sys.argv[2].split(",")
for xs, ws, kw in shapes:
    for dtype in (torch.float16, torch.bfloat16):
        for cl in (True, False):
            torch.manual_seed(0)
            x, w, b = random_conv(xs, ws, dtype, cl)
            b = b if cl else None
            want = ref64(x, w, b, kw)
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
    x, w, _ = random_conv(xs, ws, dtype, cl)
    y = F.conv2d(x, w, None, **kw)
    g = as_layout(torch.randn(y.shape, device="cuda", dtype=dtype), cl)
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
# The phase steps per device, and the dtypes their targeted tests run: CUDA's
# tensor-core step (fp16/bf16; None = the default, which is it), CPU's step
# over the forward ladder's default (every dtype; fp16 is the CPU's slowest).
PHASE_DEVICES = [
    pytest.param("cpu", ["phases"], id="cpu"),
    pytest.param("cuda", ["implicit_gemm_mma_phases", None], id="cuda", marks=pytest.mark.gpu),
]
# CUDA's im2col_gemm dgrad (cols = dy . w, then a gather per dx element) on
# the same geometry (its groups != 1 problems run the ladder's default).
IM2COL_DEVICES = [pytest.param("cuda", ["im2col_gemm"], id="cuda-im2col",
                               marks=pytest.mark.gpu)]
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
        check_dgrad(xs, ws, (stride, stride), (pad,) * 4, (1, 1), groups, dtype, cl,
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
    # the sub-filter packing: 144 taps (two launches of the tap table), and
    # channel blocks of 40 / 36 per group (32-wide tiles with tails)
    ((1, 4, 16, 15), (6, 4, 12, 12), (3, 3), (5, 6, 6, 5), (1, 1), 1),
    ((2, 80, 9, 9), (72, 40, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 2),
]


@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("dtype", _ALL_PHASE_DTYPES, ids=str)
@pytest.mark.parametrize("shape", range(len(PHASE_SHAPES)))
@pytest.mark.parametrize("device,variants", PHASE_DEVICES + IM2COL_DEVICES)
def test_dgrad_phases_shapes(device, variants, shape, dtype, cl):
    _phase_dtype_ok(device, dtype)
    torch.manual_seed(0)
    xs, ws, stride, pad4, dil, groups = PHASE_SHAPES[shape]
    check_dgrad(xs, ws, stride, pad4, dil, groups, dtype, cl, variants, device)


def test_dgrad_phases_views_cpu():
    """The CPU phase step on non-dense operands: a sliced grad_output, a
    transposed weight, and a grad_input written through its strides."""
    torch.manual_seed(0)
    x = torch.randn(2, 6, 11, 10, dtype=torch.float64)
    w = torch.randn(8, 6, 3, 4, dtype=torch.float64).transpose(2, 3).contiguous().transpose(2, 3)
    y = F.conv2d(x, w, None, (2, 3), (1, 2), (1, 1))
    g = torch.randn(y.shape[0], y.shape[1] + 3, y.shape[2], 2 * y.shape[3],
                    dtype=torch.float64)[:, 2:-1, :, ::2]
    want, _ = grad_truth(x, w, g, (2, 3), (1, 1, 2, 2), (1, 1), 1)
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
    x, w, g = grad_problem(xs, ws, stride, pad4, dil, 1, dtype, layout == "cl",
                            layout != "nchw")
    want_x, want_w = grad_truth(x, w, g, stride, pad4, dil, 1)
    args = (list(stride), list(pad4), list(dil), 1)
    tol = REL_TOL[dtype] * 2
    for v in ["implicit_gemm_mma_phases", "im2col_gemm", None]:
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
    x, w, g = grad_problem(xs, ws, stride, pad4, dil, groups, dtype, layout == "cl",
                            layout != "nchw")
    _, want = grad_truth(x, w, g, stride, pad4, dil, groups)
    for v in ["implicit_gemm_mma", None]:
        poison_allocator("cuda", 16 * (x.numel() + w.numel()) + 4096)
        got = torch.ops.cuops.conv2d_backward_weight(g, x, list(ws), list(stride), list(pad4),
                                                     list(dil), groups, v)
        assert_rel_close(got, want, tol=REL_TOL[dtype] * 2,
                         what=f"wgrad x {xs} w {ws} {layout} ({v})")
