"""The depthwise steps of the three conv2d ladders (GPU): the channels_last
vector and sliding-window kernels, the NCHW plane kernel, their fallbacks and
tuning table, and the depthwise gradients.
"""

import pytest
import torch
import torch.nn.functional as F

import cuops
from cuops.ops.conv2d import TUNING_TABLES
from tests.conv2d_cases import (as_layout, grad_problem, grad_truth, out_size, random_conv,
                                 ref64)
from tests.utils import FLOAT_DTYPES, REL_TOL, assert_rel_close, poison_allocator, run_python


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
    x, w, b = random_conv(xs, ws, dtype, cl)
    kw = dict(kw, groups=xs[1])
    for bias in (b, None):
        want = ref64(x, w, bias, kw)
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
    assert_rel_close(out, ref64(x, w, None, dict(padding=1, groups=8)), dtype=torch.float16)


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
    ((2, 16, 12, 19), (16, 1, 7, 7), dict(padding=3)),      # 7x7 s1 (ConvNeXt); Q % 8 != 0
    ((2, 96, 14, 14), (96, 1, 7, 7), dict(padding=3)),      # ConvNeXt's third stage, C = 96
    ((1, 8, 5, 4), (8, 1, 7, 7), dict(padding=3)),          # 7x7 wider than the image
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
    w = as_layout(torch.randn(ws, device="cuda", dtype=dtype), layout.startswith("cl"))
    b = torch.randn(ws[0], device="cuda", dtype=dtype)
    for bias in (b, None):
        want = ref64(x, w, bias, kw)
        for variant in ("depthwise_nhwc_window", "depthwise_plane", None):
            poison_allocator("cuda", max(want.numel(), 1) * 16)
            out = cuops.conv2d(x, w, bias, **kw, variant=variant)
            assert out.stride() == F.conv2d(x, w, bias, **kw).stride()
            assert_rel_close(out, want.to(dtype) if want.numel() == 0 else want, dtype=dtype,
                             what=f"{variant} {xs} {ws} {kw} {layout}")


# The entries >= 1 of depthwise_nhwc_window's table (CUOPS_EXPLORE builds:
# other strip lengths and row unrolling, the per-tap 7x7) on the window shapes, in a subprocess
# (CUOPS_CONV_CONFIG is read once).
N_WINDOW_CONFIGS = TUNING_TABLES.get("depthwise_nhwc_window", 0)
_DW_WINDOW_SCRIPT = r"""
import torch, cuops
from tests.utils import assert_rel_close, poison_allocator
from tests.conv2d_cases import as_layout, ref64
from tests.test_conv2d_depthwise import DW2_SHAPES, _dw2_input
for xs, ws, kw in DW2_SHAPES:
    kw = dict(kw, groups=xs[1])
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        for layout in ("cl", "cl_slice"):
            torch.manual_seed(0)
            x = _dw2_input(xs, dtype, layout)
            w = as_layout(torch.randn(ws, device="cuda", dtype=dtype), True)
            b = torch.randn(ws[0], device="cuda", dtype=dtype)
            want = ref64(x, w, b, kw)
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



@pytest.mark.gpu
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("pad4", [[1, 0, 0, 1], [0, 2, 1, 1], [2, 2, 0, 0]], ids=str)
def test_depthwise_asymmetric_padding_cuda(pad4, cl):
    """(top, bottom, left, right) padding on the unrolled 3x3 s1 paths."""
    torch.manual_seed(0)
    x = as_layout(torch.randn(2, 16, 9, 19, device="cuda", dtype=torch.float32), cl)
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
    x = as_layout(torch.randn(32, 256, 56, 56, device="cuda", dtype=dtype), cl)
    w = as_layout(torch.randn(256, 1, 3, 3, device="cuda", dtype=dtype), cl)
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
def _check_dw_backward(xs, k, stride, pad4, dil, dtype, cl, what="", wgrad="depthwise"):
    C = xs[1]
    ws = (C, 1, k, k) if isinstance(k, int) else (C, 1) + tuple(k)
    x, w, g = grad_problem(xs, ws, stride, pad4, dil, C, dtype, cl, cl)
    want_x, want_w = grad_truth(x, w, g, stride, pad4, dil, C)
    tol = REL_TOL[dtype] * 2 if dtype != torch.float32 else 4e-5
    args = (list(stride), list(pad4), list(dil), C, "depthwise")
    what = f"{what} x {xs} w {ws} stride {stride} pad {pad4} dil {dil} cl {cl}"
    poison_allocator("cuda", 16 * (x.numel() + w.numel()) + 4096)
    gx = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), *args)
    poison_allocator("cuda", 16 * (x.numel() + w.numel()) + 4096)
    gw = torch.ops.cuops.conv2d_backward_weight(g, x, list(ws), *args[:-1], wgrad)
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
    x, w, g = grad_problem((2, 8, 9, 9), (16, 1, 3, 3), (1, 1), (1,) * 4, (1, 1), 8, dtype,
                            True, True)
    want_x, want_w = grad_truth(x, w, g, (1, 1), (1,) * 4, (1, 1), 8)
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
        base = as_layout(torch.randn(2, 17, 9, 22, device="cuda", dtype=dtype), cl)
        x = base[:, 1:, :, ::2]
        gbase = as_layout(torch.randn(2, 17, 9, 22, device="cuda", dtype=dtype), cl)
        g = gbase[:, 1:, :, ::2]
        w = torch.randn(16, 1, 3, 3, device="cuda", dtype=dtype)
        want_x, want_w = grad_truth(x, w, g, (1, 1), (1,) * 4, (1, 1), 16)
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
        x, w, g = grad_problem(xs, (256, 1, 3, 3), (stride,) * 2, (1,) * 4, (1, 1), 256, dtype,
                                cl, cl)
        want_x, want_w = grad_truth(x, w, g, (stride,) * 2, (1,) * 4, (1, 1), 256)
        args = ([stride] * 2, [1] * 4, [1, 1], 256, "depthwise")
        gx = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), *args)
        gw = torch.ops.cuops.conv2d_backward_weight(g, x, [256, 1, 3, 3], *args)
        tol = REL_TOL[dtype] * 2 if dtype != torch.float32 else 1e-4
        assert_rel_close(gx, want_x, tol=tol, what=f"big dgrad s{stride}")
        assert_rel_close(gw, want_w, tol=tol, what=f"big wgrad s{stride}")
        assert torch.equal(gw, torch.ops.cuops.conv2d_backward_weight(g, x, [256, 1, 3, 3],
                                                                      *args))
        assert torch.equal(gx, torch.ops.cuops.conv2d_backward_input(g, w, list(xs), *args))


# depthwise_window (wgrad; the default for these filters in channels_last): strips of 4 outputs along q for 5x5 / 7x7
# at unit horizontal stride and dilation (Q % 4 != 0, strips past the image
# edge, padding 0..3, vertical stride and dilation); 3x3, a horizontal
# stride and NCHW fall back to the depthwise step.
@pytest.mark.gpu
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_depthwise_window_wgrad_cuda(kernel, dtype, cl):
    torch.manual_seed(0)
    for stride, dil in [((1, 1), (1, 1)), ((2, 1), (1, 1)), ((1, 1), (2, 1)), ((1, 2), (1, 1))]:
        for pad in range(4):
            for xs in [(2, 16, 13, 11), (1, 24, 9, 6), (2, 8, 3, 2)]:
                ws = (xs[1], 1, kernel, kernel)
                if min(out_size(xs, ws, stride, (pad,) * 4, dil)) < 1:
                    continue  # no output: not a valid convolution
                _check_dw_backward(xs, kernel, stride, (pad,) * 4, dil, dtype, cl,
                                   wgrad="depthwise_window")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_depthwise_window_wgrad_big_cuda(dtype):
    """ConvNeXt's first 7x7 depthwise layer (96@56, batch 8, channels_last):
    many strip slices; the same bits on a second run."""
    torch.manual_seed(0)
    xs, ws = (8, 96, 56, 56), (96, 1, 7, 7)
    x, w, g = grad_problem(xs, ws, (1, 1), (3,) * 4, (1, 1), 96, dtype, True, True)
    _, want_w = grad_truth(x, w, g, (1, 1), (3,) * 4, (1, 1), 96)
    args = ([1, 1], [3] * 4, [1, 1], 96, "depthwise_window")
    poison_allocator("cuda", 1 << 20)
    gw = torch.ops.cuops.conv2d_backward_weight(g, x, list(ws), *args)
    tol = REL_TOL[dtype] * 2 if dtype != torch.float32 else 1e-4
    assert_rel_close(gw, want_w, tol=tol, what="ConvNeXt 7x7 wgrad")
    assert torch.equal(gw, torch.ops.cuops.conv2d_backward_weight(g, x, list(ws), *args))
