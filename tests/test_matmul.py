"""cuops.matmul / cuops.linear / cuops.gemm against torch.matmul, for every
CUDA variant of the ladder and the CPU kernel: shapes, layouts, torch's
semantics, autograd, compile, export, autocast, errors, cuops.nn.Linear. The
targeted cases of single CUDA steps: test_matmul_steps.py; the shared
helpers: matmul_cases.py."""

import pytest
import torch

import cuops
import cuops.nn
from tests.matmul_cases import (CUDA_VARIANTS, IMPLS, DTYPE_IDS, supports, skip_unsupported,
                                tol_for, check)
from tests.utils import FLOAT_DTYPES, assert_rel_close, make


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------

SHAPES_2D = [  # (M, K, N)
    (1, 1, 1), (17, 17, 17), (1, 17, 1), (7, 13, 11), (64, 64, 64), (129, 65, 257),
    (3, 1, 5), (1, 300, 133), (200, 9, 1), (37, 131, 67),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("device,variant", IMPLS)
@pytest.mark.parametrize("mkn", SHAPES_2D, ids=str)
def test_2d(device, variant, dtype, mkn):
    skip_unsupported(device, variant, dtype)
    m, k, n = mkn
    check(device, variant, dtype, make((m, k), dtype, device), make((k, n), dtype, device))


@pytest.mark.parametrize("la", ["contiguous", "transposed", "sliced"])
@pytest.mark.parametrize("lb", ["contiguous", "transposed", "sliced"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("device,variant", IMPLS)
def test_layouts(device, variant, dtype, la, lb):
    """Transposed and sliced views are read through their strides (every
    loader path: vectors along m/n, along k, element loads, tails)."""
    skip_unsupported(device, variant, dtype)
    for m, k, n in [(70, 33, 45), (128, 64, 136), (5, 24, 8)]:
        a = make((2, m, k), dtype, device, la)
        b = make((2, k, n), dtype, device, lb)
        check(device, variant, dtype, a, b)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("device,variant", IMPLS)
def test_misaligned_offsets(device, variant, dtype):
    """Views starting at an odd element: the vector paths must fall back."""
    skip_unsupported(device, variant, dtype)
    a = make((1, 65 * 40 + 1), dtype, device)[0, 1:].view(65, 40)
    b = make((40 * 48 + 3,), dtype, device)[3:].view(40, 48)
    check(device, variant, dtype, a, b)


MIXES = [  # torch.matmul's shape rules
    ((13,), (13,)),            # dot -> 0-D
    ((13,), (13, 7)),          # vector-matrix
    ((6, 13), (13,)),          # matrix-vector
    ((13,), (3, 13, 7)),       # vector @ batched
    ((3, 6, 13), (13,)),       # batched @ vector
    ((3, 6, 13), (13, 7)),     # batched @ matrix (folded into one GEMM)
    ((6, 13), (3, 13, 7)),     # matrix @ batched (broadcast a)
    ((2, 1, 6, 13), (3, 13, 7)),  # broadcast batch dims
    ((4, 3, 6, 13), (4, 1, 13, 7)),
    ((1, 6, 13), (5, 13, 7)),
    ((5, 6, 0), (5, 0, 7)),    # K = 0: zeros
    ((5, 0, 4), (5, 4, 7)),    # M = 0
    ((5, 6, 4), (5, 4, 0)),    # N = 0
    ((0, 6, 4), (4, 7)),       # batch = 0
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=DTYPE_IDS.get)
@pytest.mark.parametrize("device,variant", IMPLS)
@pytest.mark.parametrize("sa,sb", MIXES, ids=str)
def test_matmul_semantics(device, variant, dtype, sa, sb):
    skip_unsupported(device, variant, dtype)
    a, b = make(sa, dtype, device), make(sb, dtype, device)
    out = cuops.matmul(a, b, variant=variant)
    ref = torch.matmul(a.double(), b.double())
    assert out.shape == ref.shape
    if ref.numel():
        assert_rel_close(out, ref.to(dtype), tol=tol_for(dtype, a.shape[-1], variant))
    if 0 in sa[-1:] and ref.numel():  # K == 0 gives exact zeros
        assert (out == 0).all()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS.get)
@pytest.mark.parametrize("device,variant", IMPLS)
def test_bias_and_linear(device, variant, dtype):
    skip_unsupported(device, variant, dtype)
    for batch, k, n in [((), 33, 47), ((3,), 64, 128), ((2, 5), 17, 1), ((4,), 0, 9)]:
        x = make((*batch, 19, k), dtype, device)
        w = make((n, k), dtype, device)
        bias = make((n,), dtype, device)
        check(device, variant, dtype, x, w, bias, fn="linear")
        check(device, variant, dtype, x, w.mT, bias, fn="gemm")
    out = cuops.linear(make((5,), dtype, device), make((3, 5), dtype, device),
                       make((3,), dtype, device), variant=variant)
    assert out.shape == (3,)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=DTYPE_IDS.get)
@pytest.mark.parametrize("device,variant", IMPLS)
def test_linear_strided_batch(device, variant, dtype):
    """Inputs whose batch items are not one run of rows, against a shared
    weight: a channels-first tensor seen as NHWC (ConvNeXt's blocks), a
    sliced batch dim, an expanded one. gemm copies them so the batch folds
    into one GEMM; the values must not change, nor the input."""
    skip_unsupported(device, variant, dtype)
    nchw = make((2, 24, 5, 7), dtype, device)
    cases = [nchw.permute(0, 2, 3, 1),                        # [N, H, W, C], C stride H*W
             make((4, 3, 6, 24), dtype, device)[::2],          # every other batch item
             make((1, 6, 24), dtype, device).expand(3, 6, 24)]  # one item seen 3 times
    w, bias = make((10, 24), dtype, device), make((10,), dtype, device)
    for x in cases:
        before = x.clone()
        check(device, variant, dtype, x, w, bias, fn="linear")
        check(device, variant, dtype, x, w.mT, None, fn="gemm")
        assert torch.equal(x, before)


@pytest.mark.parametrize("device,variant", IMPLS)
def test_huge_batch(device, variant):
    """More batch items than a grid dimension holds (65535), no folding."""
    dt = torch.float32 if supports(device, variant, torch.float32) else torch.float16
    a = make((70001, 2, 3), dt, device)
    b = make((70001, 3, 2), dt, device)
    check(device, variant, dt, a, b)
    # Broadcast a over b's batch: cannot fold into M either.
    check(device, variant, dt, make((2, 3), dt, device), b)


# ---------------------------------------------------------------------------
# Autograd, compile, export, opcheck
# ---------------------------------------------------------------------------

GRAD_DEVICES = [pytest.param("cpu", None, id="cpu")] + [
    pytest.param("cuda", v, id=f"cuda-{v}", marks=pytest.mark.gpu)
    for v in CUDA_VARIANTS if supports("cuda", v, torch.float64)]


@pytest.mark.parametrize("device,variant", GRAD_DEVICES)
def test_gradcheck(device, variant):
    d = dict(dtype=torch.float64, device=device, requires_grad=True)
    cases = [
        (lambda a, b, c: torch.ops.cuops.gemm(a, b, c, variant),
         (torch.randn(2, 1, 4, 5, **d), torch.randn(3, 5, 6, **d), torch.randn(6, **d))),
        (lambda a, b: cuops.matmul(a, b, variant=variant),
         (torch.randn(3, 4, 5, **d), torch.randn(5, 2, **d))),           # folded weight grad
        (lambda a, b: cuops.matmul(a, b, variant=variant),
         (torch.randn(5, **d), torch.randn(2, 5, 3, **d))),
        (lambda a, b: cuops.matmul(a, b, variant=variant),
         (torch.randn(4, **d), torch.randn(4, **d))),
        (lambda a, b: cuops.matmul(a, b, variant=variant),
         (torch.randn(7, 4, **d).mT, torch.randn(2, 7, 3, **d))),      # transposed view
        (lambda x, w, c: cuops.linear(x, w, c, variant=variant),
         (torch.randn(2, 3, 5, **d), torch.randn(4, 5, **d), torch.randn(4, **d))),
    ]
    for fn, args in cases:
        assert torch.autograd.gradcheck(fn, args)
    a, b = torch.randn(3, 4, **d), torch.randn(4, 2, **d)
    assert torch.autograd.gradgradcheck(lambda a, b: cuops.matmul(a, b, variant=variant), (a, b))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_opcheck(device):
    f = dict(dtype=torch.float32, device=device)
    a, b, bias = torch.randn(2, 3, 4, **f), torch.randn(4, 5, **f), torch.randn(5, **f)
    for args in [(a, b, bias, None), (a, b, None, None), (a.requires_grad_(), b, bias, None)]:
        torch.library.opcheck(torch.ops.cuops.gemm.default, args)
    x = torch.randn(3, 4, **f, requires_grad=True)
    torch.library.opcheck(torch.ops.cuops.matmul.default, (x, torch.randn(4, **f), None))
    torch.library.opcheck(torch.ops.cuops.matmul.default, (x, torch.randn(2, 4, 6, **f), None))
    torch.library.opcheck(torch.ops.cuops.linear.default,
                          (x, torch.randn(6, 4, **f), torch.randn(6, **f), None))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_compile_forward_backward(device):
    torch._dynamo.reset()

    def f(x, w, bias, v):
        h = cuops.linear(x, w, bias)
        return cuops.matmul(h, v).sum()

    def f_ref(x, w, bias, v):
        return torch.matmul(torch.nn.functional.linear(x, w, bias), v).sum()

    # CPU: aot_eager keeps the CPU suite fast (dynamo + fake tensors + AOT
    # autograd are what matter for our op); the GPU run uses inductor.
    backend = "inductor" if device == "cuda" else "aot_eager"
    cf = torch.compile(f, fullgraph=True, backend=backend)
    d = dict(dtype=torch.float32, device=device)
    args = [torch.randn(2, 6, 8, **d), torch.randn(5, 8, **d), torch.randn(5, **d),
            torch.randn(5, 3, **d)]
    args = [t.requires_grad_() for t in args]
    out = cf(*args)
    grads = torch.autograd.grad(out, args)
    ref_args = [t.detach().double().requires_grad_() for t in args]
    ref = f_ref(*ref_args)
    ref_grads = torch.autograd.grad(ref, ref_args)
    # The loss is a sum that may cancel: judged against the summed terms' size.
    scale = f_ref(*[t.detach().double().abs() for t in args])
    assert_rel_close(out, ref.float(), tol=1e-5, scale=scale)
    for g, rg in zip(grads, ref_grads):
        assert_rel_close(g, rg.float(), tol=1e-5)


def test_export():
    class M(torch.nn.Module):
        def forward(self, a, b):
            return cuops.matmul(a, b) + 1

    ep = torch.export.export(M(), (torch.randn(2, 3, 4), torch.randn(4, 5)))
    assert "cuops.matmul" in str(ep.graph)  # export keeps the composite op
    assert "cuops.gemm" in str(ep.run_decompositions().graph)  # which lowers to gemm
    a, b = torch.randn(2, 3, 4), torch.randn(4, 5)
    assert_rel_close(ep.module()(a, b), (a.double() @ b.double() + 1).float())


# ---------------------------------------------------------------------------
# Autocast
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("device,dtype", [
    ("cpu", torch.bfloat16),
    pytest.param("cuda", torch.float16, marks=pytest.mark.gpu),
    pytest.param("cuda", torch.bfloat16, marks=pytest.mark.gpu),
])
def test_autocast(device, dtype):
    a = torch.randn(8, 16, device=device)
    b = torch.randn(16, 4, device=device, dtype=dtype)  # mixed: allowed under autocast
    w, bias = torch.randn(4, 16, device=device), torch.randn(4, device=device)
    with torch.autocast(device, dtype=dtype):
        out, ref = cuops.matmul(a, b), torch.matmul(a, b)
        lin, lin_ref = cuops.linear(a, w, bias), torch.nn.functional.linear(a, w, bias)
        dbl = cuops.matmul(a.double(), b.double())  # fp64 is not cast
    assert out.dtype == ref.dtype == dtype
    assert lin.dtype == lin_ref.dtype == dtype
    assert dbl.dtype == torch.float64
    assert_rel_close(out, ref.to(dtype))
    assert_rel_close(lin, lin_ref.to(dtype))


# ---------------------------------------------------------------------------
# Errors (C++ and fake kernels agree on the exception type)
# ---------------------------------------------------------------------------


def test_errors():
    a, b = torch.randn(3, 4), torch.randn(5, 6)
    with pytest.raises(ValueError, match=r"inner dimensions.*\[3, 4\].*\[5, 6\]"):
        cuops.matmul(a, b)
    with pytest.raises(ValueError, match="at least 1-D"):
        cuops.matmul(torch.tensor(1.0), b)
    with pytest.raises(ValueError, match="batch dimensions"):
        cuops.matmul(torch.randn(2, 3, 4), torch.randn(3, 4, 5))
    with pytest.raises(TypeError, match="same dtype"):
        cuops.matmul(torch.randn(3, 4), torch.randn(4, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="unsupported dtype"):
        cuops.matmul(torch.ones(3, 4, dtype=torch.int32), torch.ones(4, 5, dtype=torch.int32))
    with pytest.raises(ValueError, match="unknown cpu variant 'nope'"):
        cuops.matmul(torch.randn(3, 4), torch.randn(4, 5), variant="nope")
    with pytest.raises(TypeError, match="must be a Tensor"):
        cuops.matmul([1.0], torch.randn(1, 2))
    with pytest.raises(ValueError, match=r"'bias' must have shape \[5\]"):
        torch.ops.cuops.gemm(torch.randn(3, 4), torch.randn(4, 5), torch.randn(4), None)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        torch.ops.cuops.gemm(torch.randn(4), torch.randn(4, 5), None, None)
    with pytest.raises(ValueError, match="'weight' must be 2-D"):
        cuops.linear(torch.randn(3, 4), torch.randn(4))
    with pytest.raises(ValueError, match="has 4 features"):
        cuops.linear(torch.randn(3, 4), torch.randn(2, 5))


def test_fake_errors():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        a, b = torch.randn(3, 4), torch.randn(5, 6)
        with pytest.raises(ValueError, match="inner dimensions"):
            torch.ops.cuops.gemm(a, b, None, None)
        with pytest.raises(TypeError, match="same dtype"):
            torch.ops.cuops.gemm(a, torch.randn(4, 2, dtype=torch.float16), None, None)
        with pytest.raises(ValueError, match="batch dimensions"):
            torch.ops.cuops.gemm(torch.randn(2, 3, 4), torch.randn(3, 4, 5), None, None)
        assert torch.ops.cuops.gemm(torch.randn(2, 1, 3, 4), torch.randn(5, 4, 6),
                                    torch.randn(6), None).shape == (2, 5, 3, 6)


@pytest.mark.gpu
def test_cuda_errors():
    a, b = torch.randn(3, 4, device="cuda"), torch.randn(4, 5)
    with pytest.raises(RuntimeError, match="same device"):
        cuops.matmul(a, b)
    with pytest.raises(TypeError, match="does not support dtype"):
        cuops.matmul(a, b.cuda(), variant="mma_sync")
    with pytest.raises(ValueError, match="unknown cuda variant"):
        cuops.matmul(a, b.cuda(), variant="nope")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_variants_listed(device):
    """The ladder has, per dtype, exactly one default that holds without a
    condition, and it supports that dtype."""
    ladder = cuops.variants("matmul", device)
    assert ladder
    fallbacks = [(t, v) for v in ladder for t, cond in v["default_when"]
                 if cond in (None, "otherwise")]
    assert sorted((t for t, _ in fallbacks), key=str) == sorted(FLOAT_DTYPES, key=str)
    assert all(t in v["dtypes"] for t, v in fallbacks)


# ---------------------------------------------------------------------------
# cuops.nn.Linear
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("bias", [True, False])
def test_nn_linear_drop_in(device, bias):
    torch.manual_seed(0)
    ref = torch.nn.Linear(12, 7, bias=bias, device=device)
    mine = cuops.nn.Linear(12, 7, bias=bias, device=device)
    assert isinstance(mine, torch.nn.Linear)
    assert mine.state_dict().keys() == ref.state_dict().keys()
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(4, 3, 12, device=device)
    assert_rel_close(mine(x), ref(x).double(), tol=1e-5)
    y = mine(x).sum()
    y.backward()
    ref(x).sum().backward()
    assert_rel_close(mine.weight.grad, ref.weight.grad.double(), tol=1e-5)
    if bias:
        assert_rel_close(mine.bias.grad, ref.bias.grad.double(), tol=1e-5)
    mine.reset_parameters()
    assert repr(mine).startswith("Linear(in_features=12, out_features=7")
    ref.load_state_dict(mine.state_dict())  # and back
