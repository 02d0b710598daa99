"""Pointwise (1x1, unpadded) conv2d problems: the "gemm" step of all three
ladders, on both devices.
"""

import importlib

import pytest
import torch
import torch.nn.functional as F

import cuops
from tests.conv2d_cases import HALF, as_layout, ref64, grad_truth
from tests.utils import DEVICES, FLOAT_DTYPES, REL_TOL, assert_rel_close, poison_allocator

_conv_mod = importlib.import_module("cuops.ops.conv2d")  # the module (argument helpers)


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
        x = as_layout(torch.randn(xs, device=device, dtype=dtype), layout in ("x_cl", "both_cl"))
        w = as_layout(torch.randn(ws, device=device, dtype=dtype), layout in ("w_cl", "both_cl"))
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
        want = ref64(x, w, b, kw)
    g = torch.randn(want.shape, device=device, dtype=dtype)
    if layout == "views":
        g = torch.randn(*want.shape[:3], 2 * want.shape[3], device=device, dtype=dtype)[..., ::2]
    elif layout != "nchw":
        g = as_layout(g, True)
    want_x, want_w = torch.zeros(xs, dtype=torch.float64), torch.zeros(ws, dtype=torch.float64)
    if xs[1] > 0:
        want_x, want_w = grad_truth(x, w, g, s2, p4, d2, groups)
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
        want_x, want_w = grad_truth(x, w, g, [1, 1], p4, [1, 1], 1)
        gx = torch.ops.cuops.conv2d_backward_input(g, w, list(x.shape), [1, 1], p4, [1, 1], 1,
                                                   "gemm")
        gw = torch.ops.cuops.conv2d_backward_weight(g, x, list(w.shape), [1, 1], p4, [1, 1], 1,
                                                    "gemm")
        tol = 4e-5 if dtype == torch.float32 else REL_TOL[dtype] * 2
        assert_rel_close(gx, want_x, tol=tol, what=f"dgrad {p4}")
        assert_rel_close(gw, want_w, tol=tol, what=f"wgrad {p4}")
