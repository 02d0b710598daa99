"""Targeted cases of single CUDA matmul steps (GPU): the big mma tiles, the
64-bit offsets, warptile_static, mma_3xtf32 / mma_tf32 and the TF32 flag,
the tuning tables, the planner's gemv and split-K paths, and the Hopper
wgmma step by name (the planner's Hopper rules: test_matmul_wgmma.py)."""

import math

import pytest
import torch

import cuops
from cuops.ops.matmul import TUNING_TABLES
from tests.matmul_cases import (CUDA_VARIANTS, DTYPE_IDS, supports, skip_unsupported, tol_for,
                                reference, check)
from tests.utils import (FLOAT_DTYPES, REL_TOL, assert_rel_close, make, poison_allocator, rel_err,
                         run_python, kernel_names, TF32X3_FACTOR, TF32X3_SLACK)


@pytest.mark.gpu
@pytest.mark.parametrize("variant", CUDA_VARIANTS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS.get)
def test_cuda_irregular_large(variant, dtype):
    skip_unsupported("cuda", variant, dtype)
    if variant == "naive" and dtype == torch.float64:
        pytest.skip("slow")
    m, k, n = 8205, 2949, 5921
    a, b = make((m, k), dtype, "cuda"), make((k, n), dtype, "cuda")
    check("cuda", variant, dtype, a, b)
    check("cuda", variant, dtype, a[:2049, :1031], b.mT[:2049, :1031].mT)  # transposed B, sliced


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
@pytest.mark.parametrize("la", ["contiguous", "transposed"])
@pytest.mark.parametrize("lb", ["contiguous", "transposed"])
def test_cuda_mma_big_tiles_layouts(dtype, la, lb):
    """Enough 128x128 tiles for the big-tile default (on sm_90: stages filled by
    the tensor copy engine, one kernel per operand layout), with M/N/K edges
    (1512 = 11.8 tiles, 1608, K = 1000 = 15.6 k tiles) and 16-byte strides."""
    m, k, n = 1512, 1000, 1608
    a, b = make((m, k), dtype, "cuda", la), make((k, n), dtype, "cuda", lb)
    check("cuda", "mma_sync", dtype, a, b)
    check("cuda", "mma_sync", dtype, a, b, make((n,), dtype, "cuda"), fn="gemm")
    check("cuda", "mma_sync", dtype, a[:, :512], b[:512])  # K a whole number of k tiles


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
def test_cuda_mma_big_tiles_edges(dtype):
    """Big-tile default with K shorter than one k tile (the copy engine's box
    is mostly zero-fill), and a big batched product, which the copy engine
    does not take (the cp.async kernel runs)."""
    check("cuda", "mma_sync", dtype, make((2304, 8), dtype, "cuda"), make((8, 2304), dtype, "cuda"))
    check("cuda", "mma_sync", dtype, make((2, 1536, 256), dtype, "cuda"),
          make((2, 256, 1536), dtype, "cuda"))


@pytest.mark.gpu
@pytest.mark.parametrize("variant", CUDA_VARIANTS)
def test_cuda_64bit_offsets(variant):
    """An operand of more than 2^31 elements (offsets need 64 bits)."""
    dtype = torch.float16 if supports("cuda", variant, torch.float16) else torch.float32
    a = torch.randn(33000, 1024, 64, dtype=dtype, device="cuda")  # 2.16e9 elements
    b = make((64, 8), dtype, "cuda")
    out = cuops.matmul(a, b, variant=variant)
    for z in (0, 17000, 32999):
        assert_rel_close(out[z], torch.matmul(a[z].double(), b.double()).to(dtype),
                         tol=tol_for(dtype, 64, variant))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
def test_cuda_mma_padded_copy(dtype):
    """mma_sync copies an operand whose rows are not 16-byte aligned into a
    padded buffer (single GEMM, enough work) and runs the cp.async path; the
    batched and the small cases keep the general path. Both must be right."""
    m, k, n = 1000, 1001, 1003  # odd leading dims: A and B are copied
    a, b = make((m, k), dtype, "cuda"), make((k, n), dtype, "cuda")
    check("cuda", "mma_sync", dtype, a, b)
    check("cuda", "mma_sync", dtype, a, make((k, 1000), dtype, "cuda"))  # only A copied
    check("cuda", "mma_sync", dtype, make((m, k), dtype, "cuda")[:, 1:], b[1:])  # misaligned A
    bias = make((n,), dtype, "cuda")
    check("cuda", "mma_sync", dtype, a, b, bias, fn="gemm")
    check("cuda", "mma_sync", dtype, a, b.mT.contiguous().mT)  # B K-contiguous, ld 1001
    check("cuda", "mma_sync", dtype, a[None], b[None])  # a batch of one: copied too
    check("cuda", "mma_sync", dtype, make((2, 300, k), dtype, "cuda"),
          make((2, k, 301), dtype, "cuda"))  # batched: general path, no copy
    check("cuda", "mma_sync", dtype, a[:33], b[:, :35])  # too little work: general path


def _aligned(rows, cols, device, transposed=False, pad=4, batch=()):
    """A rows x cols fp32 matrix whose unit-stride dim is cols (rows when
    `transposed`) and whose leading stride is a multiple of 4 elements (a
    sliced, padded buffer): the 16-byte loads of warptile_static are legal
    whatever the extents."""
    inner, outer = (rows, cols) if transposed else (cols, rows)
    ld = (inner + 3) // 4 * 4 + pad
    t = torch.randn(*batch, outer, ld, device=device)[..., :inner]
    return t.mT if transposed else t


@pytest.mark.gpu
def test_cuda_warptile_static():
    """The four layout kernels of warptile_static (A K- or M-contiguous x B N-
    or K-contiguous, 16-byte loads), interior tiles (no bounds tests, full and
    partial last K slice), edge tiles, batch, bias, more batch items than one
    launch holds, and the fallbacks to warptile (no unit stride, misaligned
    start, odd leading stride)."""
    v, dt = "warptile_static", torch.float32
    layouts = [(False, False), (False, True), (True, False), (True, True)]  # (A^T, B^T) storage
    for ta, tb in layouts:
        for m, k, n in [(256, 128, 384), (1024, 520, 768), (256, 131, 128), (128, 7, 256)]:
            check("cuda", v, dt, _aligned(m, k, "cuda", ta), _aligned(k, n, "cuda", tb))
        for m in (1, 17, 129):
            for k in (1, 17, 129):
                for n in (1, 17, 129):
                    check("cuda", v, dt, _aligned(m, k, "cuda", ta), _aligned(k, n, "cuda", tb))
        a, b = _aligned(300, 200, "cuda", ta), _aligned(200, 520, "cuda", tb)
        bias = make((520,), dt, "cuda")
        check("cuda", v, dt, a, b, bias, fn="gemm")
        check("cuda", v, dt, a[:256], b[:, :384], bias[:384], fn="gemm")  # interior + bias
        check("cuda", v, dt, _aligned(130, 40, "cuda", ta, batch=(3,)),
              _aligned(40, 260, "cuda", tb, batch=(3,)))  # batch (grid.z)
        check("cuda", v, dt, _aligned(256, 64, "cuda", ta, batch=(2,)),
              _aligned(64, 128, "cuda", tb))  # shared B (may fold the batch into M)
    # 70001 batch items > 65535: two launches (z0 = 0, 65535); every operand aligned.
    check("cuda", v, dt, make((70001, 2, 4), dt, "cuda"), make((70001, 4, 4), dt, "cuda"))
    # Fallbacks to gemm_warptile: no unit stride, misaligned start, odd leading dim.
    check("cuda", v, dt, make((2, 70, 33), dt, "cuda", "sliced"), make((2, 33, 45), dt, "cuda"))
    check("cuda", v, dt, make((129, 64), dt, "cuda"), make((64, 260), dt, "cuda", "sliced"))
    a = make((1, 65 * 40 + 1), dt, "cuda")[0, 1:].view(65, 40)
    check("cuda", v, dt, a, make((40, 48), dt, "cuda"))
    check("cuda", v, dt, make((200, 130), dt, "cuda"), make((130, 300), dt, "cuda")[:, 1:])
    check("cuda", v, dt, make((8205, 2949), dt, "cuda")[:1000], make((2949, 333), dt, "cuda"))


# ---------------------------------------------------------------------------
# mma_3xtf32: fp32 on tf32 tensor cores with split operands
# ---------------------------------------------------------------------------


def tf32_rna(x: torch.Tensor) -> torch.Tensor:
    """fp32 -> tf32 as cvt.rna.tf32.f32 (finite inputs): round the low 13
    mantissa bits to nearest, ties away from zero. On the sign-magnitude bit
    pattern, adding half of the dropped ulp to the magnitude and truncating
    does exactly that (a carry into the exponent is the correct rounding)."""
    bits = x.contiguous().view(torch.int32)
    return ((bits + 0x1000) & ~0x1FFF).view(torch.float32)


def tf32_split(x: torch.Tensor):
    """x -> (big, small) as split_tf32 in csrc/cuda/mma_ptx.cuh."""
    big = tf32_rna(x)
    return big, tf32_rna(x - big)  # x - big is exact in fp32


def test_3xtf32_split_arithmetic():
    """The arithmetic of mma_3xtf32, emulated on the CPU: big*big + big*small
    + small*big reproduces the fp32 products to ~2^-22 relative (the dropped
    small*small and the rounding of small), where big*big alone (plain TF32)
    is off by ~2^-11."""
    g = torch.Generator().manual_seed(0)
    n = 200_000

    def operand():  # random signs and magnitudes 2^-20..2^20, full mantissas
        mag = torch.exp2(torch.rand(n, generator=g, dtype=torch.float64) * 40 - 20)
        sign = torch.randint(0, 2, (n,), generator=g) * 2 - 1
        return (mag * sign).float()

    a, b = operand(), operand()
    (ab, as_), (bb, bs) = tf32_split(a), tf32_split(b)
    for x, big, small in ((a, ab, as_), (b, bb, bs)):
        for part in (big, small):  # both are tf32 numbers: the low 13 bits are zero
            assert ((part.view(torch.int32) & 0x1FFF) == 0).all()
        assert ((x - big).abs() <= x.abs() * 2.0**-11).all()  # big: nearest tf32
        rest = (x.double() - big.double() - small.double()).abs()
        assert (rest <= x.abs().double() * 2.0**-22).all()  # small: nearest tf32 of the rest
    d = torch.float64  # every product of two tf32 numbers (11 x 11 bits) is exact in fp64
    exact = a.to(d) * b.to(d)
    three = ab.to(d) * bb.to(d) + ab.to(d) * bs.to(d) + as_.to(d) * bb.to(d)
    rel3 = ((three - exact) / exact).abs()
    rel1 = ((ab.to(d) * bb.to(d) - exact) / exact).abs()
    # Bound: |small*small| + |big| * |rounding of small| x 2 <= ~3 * 2^-22.
    assert rel3.max().item() <= 3 * 2.0**-22
    assert rel3.mean().item() <= 2.0**-24  # typically near fp32's own product rounding (2^-24)
    assert rel1.mean().item() >= 2.0**-14  # plain TF32: ~2^-12 on average, 2^-10 at worst
    assert rel1.mean().item() > 256 * rel3.mean().item()


def _on_hopper():
    return torch.cuda.get_device_capability() == (9, 0)


SPLIT_TF32_STEPS = ["mma_3xtf32", "wgmma_3xtf32"]


@pytest.mark.gpu
@pytest.mark.parametrize("v", SPLIT_TF32_STEPS)
def test_cuda_3xtf32_layouts_edges(v):
    """The four layout kernels of the 3xTF32 steps (A K- or M-contiguous x B
    N- or K-contiguous: mma_3xtf32's 16-byte cp.async, wgmma_3xtf32's tensor
    maps, B transposed by its transform warpgroup when N-contiguous), tails in
    M, N and K (zero-filled chunks, a K that is not a multiple of 4 or of the
    32-wide k tile), bias, batch (grid.z; wgmma: stacked maps), more batch
    items than grid.z holds, and the fallbacks (misaligned start, odd leading
    stride, no unit stride; wgmma_3xtf32: M or N < 64 and every problem off
    sm_90 -> mma_3xtf32 -> warptile_static)."""
    dt = torch.float32
    for ta, tb in [(False, False), (False, True), (True, False), (True, True)]:
        for m, k, n in [(256, 128, 384), (1024, 520, 768), (256, 131, 128), (128, 7, 256),
                        (129, 33, 257), (1, 5, 1), (3, 1, 130), (64, 8, 64), (200, 1000, 130),
                        (64, 9, 65)]:
            check("cuda", v, dt, _aligned(m, k, "cuda", ta), _aligned(k, n, "cuda", tb))
        a, b = _aligned(300, 200, "cuda", ta), _aligned(200, 520, "cuda", tb)
        bias = make((520,), dt, "cuda")
        check("cuda", v, dt, a, b, bias, fn="gemm")
        check("cuda", v, dt, a[:256], b[:, :384], bias[:384], fn="gemm")
        check("cuda", v, dt, _aligned(130, 40, "cuda", ta, batch=(3,)),
              _aligned(40, 260, "cuda", tb, batch=(3,)))
        check("cuda", v, dt, _aligned(256, 64, "cuda", ta, batch=(2,)),
              _aligned(64, 128, "cuda", tb))
    check("cuda", v, dt, make((70001, 2, 4), dt, "cuda"), make((70001, 4, 4), dt, "cuda"))
    check("cuda", v, dt, make((2, 70, 33), dt, "cuda", "sliced"), make((2, 33, 45), dt, "cuda"))
    a = make((1, 65 * 40 + 1), dt, "cuda")[0, 1:].view(65, 40)
    check("cuda", v, dt, a, make((40, 48), dt, "cuda"))
    check("cuda", v, dt, make((200, 130), dt, "cuda"), make((130, 300), dt, "cuda")[:, 1:])
    # More output tiles than SMs: a persistent block walks several tiles (the
    # ring's position and phase carried over, the accumulators reset per tile).
    for ta, tb in [(False, False), (False, True), (True, False), (True, True)]:
        check("cuda", v, dt, _aligned(2048, 200, "cuda", ta), _aligned(200, 2048, "cuda", tb))
    check("cuda", v, dt, _aligned(384, 96, "cuda", False, batch=(20,)),
          _aligned(96, 520, "cuda", True, batch=(20,)))
    # Deterministic: the same bits on every run.
    a, b = make((1000, 3000), dt, "cuda"), make((3000, 700), dt, "cuda")
    first = cuops.matmul(a, b, variant=v)
    assert torch.equal(first, cuops.matmul(a, b, variant=v))
    if v.startswith("wgmma") and _on_hopper():
        names = kernel_names(lambda: cuops.matmul(a, b, variant=v))
        assert names is None or any("tf32_wgmma" in n for n in names), names


@pytest.mark.gpu
@pytest.mark.parametrize("v", SPLIT_TF32_STEPS)
@pytest.mark.parametrize("data", ["normal", "wide"])
@pytest.mark.parametrize("k", [64, 4096, 65536])
def test_cuda_3xtf32_accuracy(k, data, v):
    """The 3xTF32 steps are as accurate as true fp32 (within TF32X3_FACTOR)
    and far more accurate than plain TF32, on normal data and on values
    2^-20..2^20 with random signs."""
    m = n = 256 if k > 4096 else 512
    g = torch.Generator(device="cuda").manual_seed(k)

    def operand(shape):
        if data == "normal":
            return torch.randn(shape, device="cuda", generator=g)
        mag = torch.exp2(torch.rand(shape, device="cuda", generator=g) * 40 - 20)
        return mag * (torch.randint(0, 2, shape, device="cuda", generator=g) * 2 - 1)

    a, b = operand((m, k)), operand((k, n))
    ref = torch.matmul(a.double(), b.double())
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        err_fp32 = rel_err(torch.matmul(a, b), ref)
        torch.backends.cuda.matmul.allow_tf32 = True
        err_tf32 = rel_err(torch.matmul(a, b), ref)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
    poison_allocator("cuda", m * n * 4)
    err = rel_err(cuops.matmul(a, b, variant=v), ref)
    assert err <= TF32X3_FACTOR * err_fp32 + TF32X3_SLACK, (err, err_fp32)
    assert err * 50 <= err_tf32, (err, err_tf32)


def _tf32_step():
    """The step the planner runs for a large fp32 product under allow_tf32
    (rule 6 on sm_90, mma_tf32 elsewhere)."""
    return "wgmma_tf32" if _on_hopper() else "mma_tf32"


@pytest.mark.gpu
def test_cuda_tf32_follows_torch_flag(no_tf32):
    """fp32 matmul/linear take TF32 products exactly where torch does: with
    torch.backends.cuda.matmul.allow_tf32 set the default runs a TF32 step (the
    same bits; an error like cuBLAS TF32's, far above true fp32's), without
    it true fp32; the convolutions stay true fp32 either way."""
    torch.manual_seed(0)
    a, b = torch.randn(2048, 2048, device="cuda"), torch.randn(2048, 2048, device="cuda")
    ref = torch.matmul(a.double(), b.double())
    fp32 = cuops.matmul(a, b)
    x = torch.randn(8, 256, 32, 32, device="cuda").to(memory_format=torch.channels_last)
    w = torch.randn(512, 256, 1, 1, device="cuda")
    conv = cuops.conv2d(x, w)
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        tf32 = cuops.matmul(a, b)
        assert torch.equal(tf32, cuops.matmul(a, b, variant=_tf32_step()))
        assert torch.equal(cuops.linear(a, b.mT), tf32)
        err_torch = rel_err(torch.matmul(a, b), ref)
        assert torch.equal(cuops.conv2d(x, w), conv)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
    err_tf32, err_fp32 = rel_err(tf32, ref), rel_err(fp32, ref)
    assert err_tf32 <= 2 * err_torch and err_tf32 > 20 * err_fp32, (err_tf32, err_torch, err_fp32)
    assert torch.equal(cuops.matmul(a, b), fp32)


@pytest.mark.gpu
def test_cuda_planner_fp32_on_hopper(no_tf32):
    """The planner's rule 6: under allow_tf32, unsplit fp32 products with
    enough 128x128 tiles run wgmma_tf32 on sm_90 (the same bits as the step
    by name; mma_tf32 elsewhere), A and B each K- or M/N-contiguous; a long K
    split into chunks (M-contiguous A: the chunks stack) takes it chunk by
    chunk, deterministically. True fp32 keeps the SIMT kernel
    (warptile_static's bits)."""
    dt = torch.float32
    # Enough output tiles that the planner does not split K.
    shapes = [((2304, 1024, 2304), "contiguous", "contiguous"),
              ((2048, 4096, 1536), "contiguous", "transposed"),
              ((2048, 1024, 2304), "transposed", "contiguous"),
              ((2304, 512, 2048), "transposed", "transposed")]
    for (m, k, n), la, lb in shapes:
        a, b = make((m, k), dt, "cuda", la), make((k, n), dt, "cuda", lb)
        assert torch.equal(cuops.matmul(a, b), cuops.matmul(a, b, variant="warptile_static"))
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        for (m, k, n), la, lb in shapes:
            a, b = make((m, k), dt, "cuda", la), make((k, n), dt, "cuda", lb)
            out = cuops.matmul(a, b)
            assert torch.equal(out, cuops.matmul(a, b, variant=_tf32_step())), (m, k, n, la, lb)
            assert_rel_close(out, reference(a, b).to(dt), tol=tol_for(torch.float16, k))
        if _on_hopper():  # where the build has the kernel, the planner runs it
            named = kernel_names(lambda: cuops.matmul(a, b, variant="wgmma_tf32"))
            if named is not None and any("tf32_wgmma" in n for n in named):
                names = kernel_names(lambda: cuops.matmul(a, b))
                assert names is None or any("tf32_wgmma" in n for n in names), names
        # Long K: 64 chunks of 256 on the wgmma kernel and a last one of 64.
        a = make((256, 16448), dt, "cuda", "transposed")
        b = make((16448, 256), dt, "cuda")
        out = cuops.matmul(a, b)
        assert torch.equal(out, cuops.matmul(a, b))
        assert_rel_close(out, reference(a, b).to(dt), tol=tol_for(torch.float16, 16448))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False


# Run in a subprocess per table entry (CUOPS_MATMUL_CONFIG is read once per
# process). Every shape takes the fast path of the layout the tables are
# instantiated for (A K-contiguous, B N-contiguous: K and N multiples of 8),
# with M/N/K tails, a batch, a bias and enough tiles for the rasterization.
_TUNE_SCRIPT = r"""
import sys, torch, cuops
from cuops.ops.matmul import TUNING_TABLES
from tests.utils import assert_rel_close, make, poison_allocator
from tests.matmul_cases import tol_for, reference
cfg = int(sys.argv[1])
def run(dtype, variant, sa, sb, bias=False):
    a, b = make(sa, dtype, "cuda"), make(sb, dtype, "cuda")
    bb = make((sb[-1],), dtype, "cuda") if bias else None
    ref = reference(a, b, bb)
    poison_allocator("cuda", ref.numel() * 8)
    out = torch.ops.cuops.gemm(a, b, bb, variant)
    assert_rel_close(out, ref.to(dtype), tol=tol_for(dtype, sa[-1]),
                     what=f"config {cfg} {variant} {dtype} {sa}@{sb}")
shapes = [((256, 256), (256, 256)), ((300, 200), (200, 520)), ((129, 40), (40, 264)),
          ((1000, 1000), (1000, 1000)), ((2, 130, 96), (2, 96, 136)), ((7, 8), (8, 8)),
          ((2048, 2048), (2048, 2048)), ((517, 1000), (1000, 1032))]
# More 128x128 tiles than an H100's 264 block slots (stream-K entries split
# tiles between blocks only then): interior, and with M/N/K tails.
big = [((2304, 1024), (1024, 2304)), ((2300, 1000), (1000, 2312))]
for dtype in (torch.float16, torch.bfloat16) if cfg < TUNING_TABLES["mma_sync"] else ():
    for sa, sb in shapes + big:
        run(dtype, "mma_sync", sa, sb)
    run(dtype, "mma_sync", (300, 200), (200, 520), bias=True)
    run(dtype, "mma_sync", *big[1], bias=True)
if cfg < TUNING_TABLES["warptile_static"]:  # A K-contiguous, B N-contiguous (other layouts: the default configuration)
    for sa, sb in shapes + [((70, 36), (36, 44))]:
        run(torch.float32, "warptile_static", sa, sb)
    run(torch.float32, "warptile_static", (300, 200), (200, 520), bias=True)
if cfg < TUNING_TABLES["warptile"]:  # warptile's fp32 table: every layout uses it
    for sa, sb in shapes[:6] + [((70, 33), (33, 45))]:
        run(torch.float32, "warptile", sa, sb)
    run(torch.float32, "warptile", (300, 200), (200, 520), bias=True)
    a, b = make((2, 70, 33), torch.float32, "cuda", "transposed"), make((2, 33, 45), torch.float32, "cuda", "sliced")
    assert_rel_close(cuops.matmul(a, b, variant="warptile"), reference(a, b).float(), tol=1e-4)
if cfg < TUNING_TABLES.get("wgmma", 0):  # Hopper only; elsewhere it runs mma_sync
    for dtype in (torch.float16, torch.bfloat16):
        for sa, sb in shapes + big:
            run(dtype, "wgmma", sa, sb)
        run(dtype, "wgmma", *big[1], bias=True)
        run(dtype, "wgmma", (3, 200, 256), (3, 256, 264), bias=True)  # a batch wgmma stacks
        for la, lb in [("transposed", "contiguous"), ("contiguous", "transposed"),
                       ("transposed", "transposed")]:
            a, b = make((517, 1000), dtype, "cuda", la), make((1000, 1032), dtype, "cuda", lb)
            assert_rel_close(cuops.matmul(a, b, variant="wgmma"), reference(a, b).to(dtype),
                             tol=tol_for(dtype, 1000), what=f"config {cfg} wgmma {la} {lb}")
print("OK", cfg)
"""

# Entry 0 only unless built with CUOPS_EXPLORE=1; no tables in a CPU-only build.
N_MMA_CONFIGS = TUNING_TABLES.get("mma_sync", 0)
N_WARPTILE_CONFIGS = TUNING_TABLES.get("warptile", 0)
N_STATIC_CONFIGS = TUNING_TABLES.get("warptile_static", 0)
N_WGMMA_CONFIGS = TUNING_TABLES.get("wgmma", 0)


def _run_with_config(knob, *args):
    return run_python(_TUNE_SCRIPT, {"CUOPS_MATMUL_CONFIG": knob}, *args)


@pytest.mark.gpu
@pytest.mark.parametrize("cfg", range(max(TUNING_TABLES.values(), default=0)))
def test_cuda_tuning_configs(cfg):
    """Every entry of the tuning tables (CUOPS_MATMUL_CONFIG) is correct."""
    knob = ",".join(f"{step}={min(cfg, n - 1)}" for step, n in TUNING_TABLES.items())
    r = _run_with_config(knob, str(cfg))
    assert r.returncode == 0 and f"OK {cfg}" in r.stdout, r.stderr[-3000:]


@pytest.mark.gpu
def test_cuda_tuning_config_errors():
    r = _run_with_config(f"mma_sync={N_MMA_CONFIGS}", "0")
    assert r.returncode != 0 and "out of range" in r.stderr
    r = _run_with_config("mma_sync=x", "0")
    assert r.returncode != 0 and "CUOPS_MATMUL_CONFIG" in r.stderr
    r = _run_with_config(f"warptile_static={N_STATIC_CONFIGS}", "0")
    assert r.returncode != 0 and "out of range" in r.stderr
    r = _run_with_config(f"wgmma={N_WGMMA_CONFIGS}", "0")
    assert r.returncode != 0 and "out of range" in r.stderr


# ---------------------------------------------------------------------------
# gemv (matrix-vector) and splitk (the planner)
# ---------------------------------------------------------------------------

PLANNED = ["gemv", "splitk", None]  # None: the default


def _vector_cases(dtype):
    """(a, b) pairs with M == 1 or N == 1 over the gemv kernels' layouts:
    K-contiguous matrix (kc), M/N-contiguous matrix (rc), no unit stride
    (element loads), strided and misaligned vectors, batched and broadcast
    vectors, K = 1, K not a multiple of any chunk."""
    d = "cuda"
    cases = []
    for m, k in [(300, 4099), (1, 1), (7, 1), (1000, 3), (33, 20001), (2, 70000)]:
        for la in ["contiguous", "transposed", "sliced"]:
            cases.append((make((m, k), dtype, d, la), make((k, 1), dtype, d)))  # N == 1
            cases.append((make((1, k), dtype, d), make((k, m), dtype, d, la)))  # M == 1
    cases.append((make((300, 999), dtype, d), make((999 * 3,), dtype, d)[::3]))  # strided vector
    cases.append((make((300, 999), dtype, d), make((1000,), dtype, d)[1:]))  # misaligned vector
    cases.append((make((1, 1000 * 300 + 1), dtype, d)[0, 1:].view(300, 1000),
                  make((1000,), dtype, d)))  # misaligned matrix rows
    cases.append((make((3, 5, 129, 257), dtype, d), make((3, 5, 257, 1), dtype, d)))  # batched
    cases.append((make((3, 1, 2049), dtype, d), make((3, 2049, 65), dtype, d, "transposed")))
    cases.append((make((4, 1, 64), dtype, d), make((64, 4096), dtype, d)))  # broadcast B
    cases.append((make((6, 513), dtype, d), make((2, 4, 513, 1), dtype, d)))  # broadcast A
    cases.append((make((70001, 1, 9), dtype, d), make((70001, 9, 1), dtype, d)))  # > 65535 items
    # rc with rows past R's last whole vector (R = 9 of a 16-wide aligned row)
    # and chunks of more than one 32-step run (K / 256 splits: chunk 264).
    wide = make((66000, 16), dtype, d)[:, :9]
    cases.append((make((1, 66000), dtype, d), wide))  # M == 1: W = B^T
    cases.append((wide.mT, make((66000, 1), dtype, d)))  # N == 1: W = A, M-contiguous
    return cases


@pytest.mark.gpu
@pytest.mark.parametrize("variant", PLANNED, ids=str)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS.get)
def test_cuda_gemv(variant, dtype):
    for a, b in _vector_cases(dtype):
        check("cuda", variant, dtype, a, b)
    # bias: one token through linear (M == 1), and bias[0] on a column (N == 1)
    x, w = make((1, 3001), dtype, "cuda"), make((700, 3001), dtype, "cuda")
    check("cuda", variant, dtype, x, w, make((700,), dtype, "cuda"), fn="linear")
    check("cuda", variant, dtype, w, x.mT, make((1,), dtype, "cuda"), fn="gemm")
    check("cuda", variant, dtype, make((2, 1, 3001), dtype, "cuda"), w.mT,
          make((700,), dtype, "cuda"), fn="gemm")


def _split_cases(dtype):
    """Products the planner splits or gives small tiles: too few tiles (decode
    M, ~1000^3, small batched), long K (K >= 8192 and >= 4 max(M, N)), K not a
    multiple of the chunk (a shorter last chunk), odd layouts (the general
    path's partials), batch and broadcast."""
    d = "cuda"
    cases = [
        (make((16, 4096), dtype, d), make((4096, 4096), dtype, d)),  # decode M
        (make((64, 4096), dtype, d), make((4096, 1024), dtype, d, "transposed")),
        (make((1000, 1000), dtype, d), make((1000, 1000), dtype, d)),
        (make((200, 5000), dtype, d), make((5000, 130), dtype, d)),  # K = 5000: short last chunk
        (make((65, 8193), dtype, d), make((8193, 67), dtype, d)),  # long K, odd K
        (make((3, 100, 5001), dtype, d), make((3, 5001, 70), dtype, d)),  # batched split
        (make((100, 5001), dtype, d), make((2, 5001, 70), dtype, d)),  # broadcast A
        (make((96, 3000), dtype, d, "transposed"), make((3000, 80), dtype, d, "sliced")),
        (make((1, 100 * 2500 + 1), dtype, d)[0, 1:].view(100, 2500),
         make((2500, 72), dtype, d)),  # misaligned A: general path
        (make((48, 256), dtype, d), make((256, 48), dtype, d)),  # tiny: no split
        (make((300, 20, 72), dtype, d), make((300, 72, 40), dtype, d)),  # batched small: 64x64
        (make((40, 33, 136), dtype, d), make((136, 200), dtype, d, "transposed")),
    ]
    if dtype != torch.float64:
        cases.append((make((128, 65536), dtype, d), make((65536, 96), dtype, d)))
    return cases


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS.get)
def test_cuda_splitk(dtype):
    for variant in ("splitk", None):
        for a, b in _split_cases(dtype):
            check("cuda", variant, dtype, a, b)
        x, w = make((8, 6000), dtype, "cuda"), make((300, 6000), dtype, "cuda")
        check("cuda", variant, dtype, x, w, make((300,), dtype, "cuda"), fn="linear")
        check("cuda", variant, dtype, make((2, 8, 6000), dtype, "cuda"), w,
              make((300,), dtype, "cuda"), fn="linear")


def _err_vs_fp64(out, a, b):
    return rel_err(out, torch.matmul(a.double(), b.double()))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16],
                         ids=DTYPE_IDS.get)
@pytest.mark.parametrize("shape", [(64, 1 << 20, 1), (1, 1 << 20, 64), (2048, 1 << 18, 1),
                                   (128, 1 << 19, 128), (16, 1 << 17, 512)], ids=str)
def test_cuda_long_k_accuracy(dtype, shape):
    """Huge K: the planner's error vs an fp64 truth is no worse than
    torch.matmul's (cuBLAS); every path, the default too, gives the same bits
    on a second run."""
    m, k, n = shape
    torch.manual_seed(0)
    # Mostly positive terms (little cancellation), sums ~0.25 sqrt(K): in fp16's range.
    a = (torch.rand(m, k, device="cuda") + 0.5).to(dtype)
    b = ((torch.rand(k, n, device="cuda") - 0.25) / math.sqrt(k)).to(dtype)
    err_torch = _err_vs_fp64(torch.matmul(a, b), a, b)
    slack = 1e-3 * REL_TOL[dtype]
    for variant in (None, "splitk") + (("gemv",) if 1 in (m, n) else ()):
        out = cuops.matmul(a, b, variant=variant)
        err = _err_vs_fp64(out, a, b)
        assert err <= err_torch + slack, f"{variant}: error {err:.3e} > torch's {err_torch:.3e}"
        assert torch.equal(out, cuops.matmul(a, b, variant=variant)), "not deterministic"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS.get)
def test_cuda_planned_deterministic(dtype):
    """Split sums (gemv chunks, splitk partials) are added in a fixed order."""
    for a, b in [(make((300, 70001), dtype, "cuda"), make((70001, 1), dtype, "cuda")),
                 (make((1, 70001), dtype, "cuda"), make((70001, 300), dtype, "cuda")),
                 (make((16, 4096), dtype, "cuda"), make((4096, 1024), dtype, "cuda")),
                 (make((100, 20000), dtype, "cuda"), make((20000, 100), dtype, "cuda"))]:
        for variant in ("gemv", "splitk"):
            first = cuops.matmul(a, b, variant=variant)
            for _ in range(2):
                assert torch.equal(first, cuops.matmul(a, b, variant=variant)), variant


@pytest.mark.gpu
def test_cuda_planner_falls_through_on_big_products():
    """Where the output tiles fill the GPU and K is not long, the planner runs
    exactly the dtype's tile kernel: the same bits."""
    for dtype, step in [(torch.bfloat16, "mma_sync"), (torch.float16, "mma_sync"),
                        (torch.float32, "warptile_static"), (torch.float64, "warptile")]:
        a, b = make((2304, 1024), dtype, "cuda"), make((1024, 2304), dtype, "cuda")
        out = cuops.matmul(a, b)
        assert torch.equal(out, cuops.matmul(a, b, variant=step)), dtype
        assert torch.equal(out, cuops.matmul(a, b, variant="splitk")), dtype
        bias = make((2304,), dtype, "cuda")
        assert torch.equal(cuops.linear(a, b.mT, bias), cuops.linear(a, b.mT, bias, variant=step))


# ---------------------------------------------------------------------------
# wgmma (Hopper, sm_90a): its own edge cases. Problems it does not take go to
# mma_sync; on a compute-capability-9.0 GPU the profiler tells which ran.
# ---------------------------------------------------------------------------


def check_wgmma(dtype, a, b, bias=None, fn="matmul", runs_wgmma=True):
    """check() of the wgmma step, and on an sm_90 device that its kernel ran
    (runs_wgmma) or that the problem went to mma_sync (not runs_wgmma)."""
    check("cuda", "wgmma", dtype, a, b, bias, fn=fn)
    if not _on_hopper():
        return
    names = kernel_names(lambda: torch.ops.cuops.gemm(a, b if fn != "linear" else b.mT, bias,
                                                       "wgmma"))
    if names is not None:
        ran = any("gemm_wgmma_kernel" in n for n in names)
        assert ran == runs_wgmma, f"wgmma kernel ran: {ran}, kernels: {names}"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
@pytest.mark.parametrize("la", ["contiguous", "transposed"])
@pytest.mark.parametrize("lb", ["contiguous", "transposed"])
def test_cuda_wgmma_layouts(dtype, la, lb):
    """The four operand layouts (A K- or M-contiguous x B N- or K-contiguous:
    wgmma's transpose bits, TMA boxes of rows or of columns), with M, N, K
    tails (1000 = 7.8 tiles of 128, 1064 = 8.3 tiles of 128 and 4.2 of 256,
    K = 1000 = 15.6 k tiles of 64), bias, and 16-byte-aligned sliced views."""
    m, k, n = 1000, 1000, 1064
    a, b = make((m, k), dtype, "cuda", la), make((k, n), dtype, "cuda", lb)
    check_wgmma(dtype, a, b)
    check_wgmma(dtype, a, b, make((n,), dtype, "cuda"), fn="gemm")
    check_wgmma(dtype, a[:, :512], b[:512])  # K a whole number of k tiles
    check_wgmma(dtype, a[8:, 16:], b[16:, 8:])  # views whose starts stay 16-byte aligned


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
def test_cuda_wgmma_edges(dtype):
    """K shorter than one k tile (the copy engine zero-fills the rest of the
    box), the smallest M, N, K it takes, tails of one row/column past a tile,
    an N that is not a multiple of 8 (rows not 16-byte aligned),
    a linear layer with bias (B K-contiguous), and both tile widths over a
    persistent grid (more tiles than SMs)."""
    d = "cuda"
    check_wgmma(dtype, make((512, 40), dtype, d), make((40, 512), dtype, d))  # K < BK
    check_wgmma(dtype, make((64, 16), dtype, d), make((16, 64), dtype, d))  # the minimum
    check_wgmma(dtype, make((129, 72), dtype, d), make((72, 264), dtype, d))  # 1-row/8-col tails
    # N % 8 != 0: C's rows are not 16-byte aligned, so the epilogue does not stage them
    check_wgmma(dtype, make((129, 72), dtype, d), make((72, 258), dtype, d, "transposed"))
    x, w = make((777, 1024), dtype, d), make((1536, 1024), dtype, d)
    check_wgmma(dtype, x, w, make((1536,), dtype, d), fn="linear")
    check_wgmma(dtype, make((2048, 512), dtype, d), make((512, 4096), dtype, d))  # 128x256 tiles
    check_wgmma(dtype, make((1656, 200), dtype, d, "transposed"),
                make((200, 2040), dtype, d, "transposed"))  # 128x128 tiles (13 x 16)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
def test_cuda_wgmma_large_deterministic(dtype):
    """2048 x 2048 x 4096: many k tiles through the ring (its phases wrap many
    times), several tiles per block; the same bits on every run."""
    a, b = make((2048, 4096), dtype, "cuda"), make((4096, 2048), dtype, "cuda")
    check_wgmma(dtype, a, b)
    first = cuops.matmul(a, b, variant="wgmma")
    for _ in range(2):
        assert torch.equal(first, cuops.matmul(a, b, variant="wgmma"))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
def test_cuda_wgmma_routed(dtype):
    """Problems a tensor map cannot describe, or too small for its tiles, go to
    mma_sync: odd leading strides, a misaligned start, no unit stride, a
    batch of M/N-major operands whose K is not whole k tiles, M or N < 64,
    K < 16."""
    d = "cuda"
    cases = [
        (make((300, 1001), dtype, d), make((1001, 300), dtype, d)),  # odd leading strides
        (make((1, 65 * 400 + 1), dtype, d)[0, 1:].view(65, 400), make((400, 72), dtype, d)),
        (make((200, 96), dtype, d, "sliced"), make((96, 200), dtype, d)),  # no unit stride
        (make((2, 256, 200), dtype, d), make((2, 200, 256), dtype, d)),  # batch, K % 64 != 0
        (make((48, 512), dtype, d), make((512, 512), dtype, d)),  # M < 64
        (make((512, 512), dtype, d), make((512, 40), dtype, d)),  # N < 64
        (make((256, 8), dtype, d), make((8, 256), dtype, d)),  # K < 16
    ]
    for a, b in cases:
        check_wgmma(dtype, a, b, runs_wgmma=False)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
@pytest.mark.parametrize("la", ["contiguous", "transposed"])
@pytest.mark.parametrize("lb", ["contiguous", "transposed"])
def test_cuda_wgmma_batched(dtype, la, lb):
    """Dense batches: one tall tensor map per operand, product z's rows at z *
    rows. Every layout with M and N tails (a tile's rows past M or N read the
    next product: those rows of C are not stored), K whole k tiles; a bias;
    two batch dims that merge; K-major operands with a K tail (each row
    zero-filled past K); a broadcast operand (correct, through mma_sync)."""
    d = "cuda"
    a, b = make((3, 200, 256), dtype, d, la), make((3, 256, 264), dtype, d, lb)
    check_wgmma(dtype, a, b)
    check_wgmma(dtype, a, b, make((264,), dtype, d), fn="gemm")
    check_wgmma(dtype, make((2, 3, 136, 128), dtype, d, la), make((2, 3, 128, 136), dtype, d, lb))
    if la == "contiguous" and lb == "transposed":  # both K-major: any K
        check_wgmma(dtype, make((4, 130, 200), dtype, d), make((4, 200, 72), dtype, d, lb))
    check("cuda", "wgmma", dtype, make((200, 256), dtype, d, la), b)  # a broadcast over b's batch
