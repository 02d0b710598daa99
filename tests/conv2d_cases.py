"""Shared cases and helpers of the conv2d tests (tests/test_conv2d*.py): the
configuration grid, layouts, float64 references and the gradient truth."""

import pytest
import torch
import torch.nn.functional as F

import cuops
from tests.utils import REL_TOL, assert_rel_close, poison_allocator

# The CUDA ladders (empty in a CPU-only build), as name -> supported dtypes.
FWD_VARIANTS = {v["name"]: v["dtypes"] for v in cuops.variants("conv2d", "cuda")}
# The gradient steps of either ladder (a step only one ladder has runs with
# the other's default): name -> supported dtypes.
GRAD_VARIANTS = {v["name"]: v["dtypes"]
                 for op in ("conv2d_backward_input", "conv2d_backward_weight")
                 for v in cuops.variants(op, "cuda")}
HALF = (torch.float16, torch.bfloat16)


def supports(device, op, variant, dtype):
    """`variant` (None: the default) of `op` on `device` accepts `dtype`."""
    return variant is None or any(v["name"] == variant and dtype in v["dtypes"]
                                  for v in cuops.variants(op, device))


def grad_steps(device, variant):
    """The gradient ladders (dgrad, wgrad) on `device` that have `variant`."""
    return [op for op in ("conv2d_backward_input", "conv2d_backward_weight")
            if any(v["name"] == variant for v in cuops.variants(op, device))]

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


def as_layout(t, cl):
    return t.to(memory_format=torch.channels_last) if cl and t.dim() == 4 else t


def random_conv(xs, ws, dtype, cl, device="cuda"):
    """Random x of shape xs and weight of shape ws (both channels_last when
    `cl`) and a bias of the weight's filter count."""
    x = as_layout(torch.randn(xs, device=device, dtype=dtype), cl)
    w = as_layout(torch.randn(ws, device=device, dtype=dtype), cl)
    return x, w, torch.randn(ws[0], device=device, dtype=dtype)


def config_inputs(cfg, dtype, device, layout, requires_grad=False):
    xs, ws, kw, has_bias = CONFIGS[cfg]
    x = as_layout(torch.randn(xs, dtype=dtype, device=device), layout in ("x_cl", "both_cl"))
    w = as_layout(torch.randn(ws, dtype=dtype, device=device), layout in ("w_cl", "both_cl"))
    b = torch.randn(ws[0], dtype=dtype, device=device) if has_bias else None
    if requires_grad:
        for t in (x, w, b):
            if t is not None:
                t.requires_grad_(True)
    return x, w, b, kw


def ref64(x, w, b, kw):
    d = lambda t: None if t is None else t.detach().double().cpu()  # noqa: E731
    return F.conv2d(d(x), d(w), d(b), **kw)


def cpu_variants(op):
    """The CPU default and every CPU step by name."""
    return [pytest.param("cpu", None, id="cpu")] + [
        pytest.param("cpu", v["name"], id=f"cpu-{v['name']}") for v in cuops.variants(op, "cpu")]


# The gradient truth: fp64 autograd of F.conv2d on explicitly padded x.
# pad4 = (top, bottom, left, right), the op's convention.
def grad_truth(x, w, g, stride, pad4, dil, groups):
    xr = x.detach().double().cpu().requires_grad_(True)
    wr = w.detach().double().cpu().requires_grad_(True)
    xp = F.pad(xr, (pad4[2], pad4[3], pad4[0], pad4[1]))
    y = F.conv2d(xp, wr, None, stride, 0, dil, groups)
    return torch.autograd.grad(y, [xr, wr], g.detach().double().cpu())


def out_size(xs, ws, stride, pad4, dil):
    """(P, Q): the forward's output rows and columns (< 1: no valid output)."""
    P = (xs[2] + pad4[0] + pad4[1] - dil[0] * (ws[2] - 1) - 1) // stride[0] + 1
    Q = (xs[3] + pad4[2] + pad4[3] - dil[1] * (ws[3] - 1) - 1) // stride[1] + 1
    return P, Q


def grad_problem(xs, ws, stride, pad4, dil, groups, dtype, x_cl, g_cl, device="cuda"):
    """Random x, w and grad_output (channels_last as asked) of the forward."""
    x = as_layout(torch.randn(xs, device=device, dtype=dtype), x_cl)
    w = as_layout(torch.randn(ws, device=device, dtype=dtype), x_cl)
    P, Q = out_size(xs, ws, stride, pad4, dil)
    g = as_layout(torch.randn((xs[0], ws[0], P, Q), device=device, dtype=dtype), g_cl)
    return x, w, g


def check_dgrad(xs, ws, stride, pad4, dil, groups, dtype, cl, variants, device="cuda"):
    x, w, g = grad_problem(xs, ws, stride, pad4, dil, groups, dtype, cl, cl, device)
    want, _ = grad_truth(x, w, g, stride, pad4, dil, groups)
    what = f"dgrad x {xs} w {ws} stride {stride} pad {pad4} dil {dil} groups {groups}"
    tol = 4e-5 if dtype == torch.float32 else REL_TOL[dtype] * 2
    for v in variants:
        poison_allocator(device, 16 * (x.numel() + w.numel()) + 4096)
        got = torch.ops.cuops.conv2d_backward_input(g, w, list(xs), list(stride), list(pad4),
                                                    list(dil), groups, v)
        assert got.shape == want.shape and got.dtype == dtype, what
        assert_rel_close(got, want, tol=tol, what=f"{what} ({v})")
