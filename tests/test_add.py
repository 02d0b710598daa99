"""cuops.add and cuops.sum_to against torch.add / Tensor.sum_to_size."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cuops
from tests.utils import DEVICES, FLOAT_DTYPES, assert_rel_close, make, poison_allocator

CUDA_VARIANTS = [v["name"] for v in cuops.variants("add", "cuda")]

# (device, variant) pairs: the default on each device, every CPU variant, every CUDA
# variant (GPU-marked).
IMPLS = [("cpu", None)] + [("cpu", v["name"]) for v in cuops.variants("add", "cpu")] + [
    pytest.param("cuda", v, marks=pytest.mark.gpu, id=f"cuda-{v}") for v in [None] + CUDA_VARIANTS
]


def check_add(a, b, alpha=1, variant=None):
    ref = torch.add(a, b, alpha=alpha)
    poison_allocator(ref.device, ref.numel() * ref.element_size())
    out = cuops.add(a, b, alpha, variant=variant)
    assert out.dtype == ref.dtype and out.device == ref.device
    assert not torch.isnan(out).any(), "unwritten (NaN) output elements"
    # torch may round a + alpha*b differently (fused or not): allow an ulp near cancellation.
    atol = {torch.float16: 1e-3, torch.bfloat16: 8e-3}.get(ref.dtype)
    torch.testing.assert_close(out, ref, atol=atol, rtol=None if atol is None else 1.6e-2)
    return out, ref


@pytest.mark.parametrize("device,variant", IMPLS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 33, 4097, 100_003])
def test_same_shape(device, variant, dtype, n):
    a, b = make((n,), dtype, device), make((n,), dtype, device)
    check_add(a, b, alpha=0.5, variant=variant)


@pytest.mark.parametrize("device,variant", IMPLS)
@pytest.mark.parametrize(
    "sa,sb",
    [((3, 1, 5), (4, 5)), ((2, 3, 4), (4,)), ((), (3,)), ((), ()), ((5, 1), (1, 6)),
     ((1,), (0,)), ((2, 0, 3), (1, 3)), ((2, 3, 4, 5), (3, 1, 5)), ((17, 1), (17, 33))],
)
def test_broadcast(device, variant, sa, sb):
    a, b = make(sa, torch.float32, device), make(sb, torch.float32, device)
    check_add(a, b, alpha=-2, variant=variant)
    check_add(b, a, alpha=3.5, variant=variant)


@pytest.mark.parametrize("device,variant", IMPLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layout", ["transposed", "sliced", "channels_last", "expanded", "mixed"])
def test_layouts(device, variant, dtype, layout):
    shape = (2, 3, 5, 7)
    if layout == "expanded":
        a = make((1, 3, 1, 7), dtype, device).expand(shape)
        b = make(shape, dtype, device)
    elif layout == "mixed":  # channels_last + contiguous: out follows a (torch's rule)
        a = make(shape, dtype, device, "channels_last")
        b = make(shape, dtype, device)
    else:
        a, b = make(shape, dtype, device, layout), make(shape, dtype, device, layout)
    out, ref = check_add(a, b, alpha=1.5, variant=variant)
    assert out.stride() == ref.stride(), f"strides {out.stride()} != torch's {ref.stride()}"


@pytest.mark.parametrize("device,variant", IMPLS)
def test_misaligned_views(device, variant):
    # Views starting one element in: not 16-byte aligned, so vector steps must fall back.
    base = make((2, 1001), torch.float16, device)
    check_add(base[0, 1:], base[1, :-1], variant=variant)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("alpha", [1, 0, -2.5, 3, 1e-3])
def test_alpha(device, alpha):
    check_add(make((64, 3), torch.float64, device), make((3,), torch.float64, device), alpha)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "da,db", [(torch.float16, torch.float32), (torch.bfloat16, torch.float16),
              (torch.float32, torch.float64), (torch.bfloat16, torch.float32)],
)
def test_type_promotion(device, da, db):
    # Mixed float dtypes follow torch.result_type (documented in the README).
    a, b = make((4, 5), da, device), make((4, 5), db, device)
    check_add(a, b)
    check_add(b, a)


@pytest.mark.parametrize("device", DEVICES)
def test_zero_dim_and_python_scalars(device):
    a = make((3, 4), torch.float16, device)
    check_add(a, torch.tensor(2.5, dtype=torch.float64))  # 0-dim CPU tensor: no widening
    torch.testing.assert_close(cuops.add(a, 2), torch.add(a, 2))
    torch.testing.assert_close(cuops.add(1.5, a, alpha=2), torch.add(1.5, a, alpha=2))


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=0, max_size=5),
    mask_a=st.lists(st.booleans(), min_size=5, max_size=5),
    mask_b=st.lists(st.booleans(), min_size=5, max_size=5),
    drop=st.integers(0, 2),
    alpha=st.floats(-4, 4, allow_nan=False),
)
def test_broadcast_property(shape, mask_a, mask_b, drop, alpha):
    # Random broadcastable pairs: some dims set to 1, leading dims dropped from b.
    sa = [1 if m else s for s, m in zip(shape, mask_a)]
    sb = [1 if m else s for s, m in zip(shape, mask_b)][min(drop, len(shape)):]
    check_add(torch.randn(sa), torch.randn(sb), alpha)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [torch.int32, torch.int64, torch.bool, torch.complex64])
def test_unsupported_dtype(bad):
    good = torch.randn(3)
    with pytest.raises(TypeError, match=r"cuops.add: argument 'a' has unsupported dtype"):
        cuops.add(torch.ones(3, dtype=bad), good)
    with pytest.raises(TypeError, match=r"argument 'b' has unsupported dtype"):
        cuops.add(good, torch.ones(3, dtype=bad))
    with pytest.raises(TypeError, match=r"argument 'b' has unsupported dtype"):
        torch.ops.cuops.add(good, torch.ones(3, dtype=bad))


def test_shapes_do_not_broadcast():
    with pytest.raises(ValueError, match=r"shapes of 'a' \[2, 3\] and 'b' \[4\] cannot be broadcast"):
        cuops.add(torch.randn(2, 3), torch.randn(4))


@pytest.mark.parametrize("alpha,kind", [(True, "bool"), (1j, "complex"), ("2", "str"), (None, "NoneType")])
def test_bad_alpha(alpha, kind):
    with pytest.raises(TypeError, match=rf"argument 'alpha' must be a real number.*{kind}"):
        cuops.add(torch.randn(3), torch.randn(3), alpha)


def test_bad_alpha_direct_op():
    with pytest.raises(TypeError, match=r"argument 'alpha' must be a real number"):
        torch.ops.cuops.add(torch.randn(3), torch.randn(3), True)


def test_not_a_tensor():
    with pytest.raises(TypeError, match=r"argument 'a' must be a Tensor"):
        cuops.add([1.0, 2.0], [3.0, 4.0])


def test_unknown_variant():
    names = ", ".join(v["name"] for v in cuops.variants("add", "cpu"))
    with pytest.raises(ValueError, match=rf"unknown cpu variant 'nope'; available: {names}$"):
        cuops.add(torch.randn(3), torch.randn(3), variant="nope")
    with pytest.raises(ValueError, match=r"unknown op"):
        cuops.variants("nope")


@pytest.mark.gpu
def test_device_mismatch():
    with pytest.raises(RuntimeError, match=r"expected 'a' and 'b' to be on the same device"):
        cuops.add(torch.randn(3, device="cuda"), torch.randn(3))


@pytest.mark.gpu
def test_use_variant_context():
    a, b = make((1000,), torch.float32, "cuda"), make((1000,), torch.float32, "cuda")
    with cuops.use_variant("add", "grid_stride"):
        torch.testing.assert_close(cuops.add(a, b), a + b)
    with pytest.raises(ValueError, match="unknown cuda variant"):
        with cuops.use_variant("add", "nope"):
            pass


# ---------------------------------------------------------------- sum_to


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "shape,size",
    [((4, 5), (4, 5)), ((4, 5), (5,)), ((4, 5), (1, 5)), ((4, 5), (4, 1)), ((4, 5), ()),
     ((3, 4, 5), (4, 1)), ((0, 5), (5,)), ((5, 0), (5, 1)), ((2, 3, 4, 5), (3, 1, 1)),
     ((70000, 3), (3,)), ((3, 70000), (3, 1)), ((2, 50, 3, 3), (1, 50, 1, 1)),
     # kept columns contiguous in x (bias gradients): the column reduction,
     # a partial last tile of 32 columns, rows not a multiple of its unroll
     ((1000, 37), (37,)), ((4, 301, 70), (70,)), ((130, 65, 1), (65, 1))],
)
def test_sum_to(device, dtype, shape, size):
    x = make(shape, dtype, device)
    ref = (x.double().sum_to_size(size) * 0.5) if len(size) else x.double().sum() * 0.5
    poison_allocator(device, max(1, ref.numel()) * 8)
    out = cuops.sum_to(x, size, 0.5)
    assert out.shape == ref.shape and out.dtype == dtype
    # Long fp32 sums (70000 terms) carry ~sqrt(n)*eps relative error.
    tol = {torch.float16: 3e-3, torch.bfloat16: 1.6e-2, torch.float32: 1e-4, torch.float64: 1e-12}
    assert_rel_close(out, ref, tol=tol[dtype], what="sum_to")


@pytest.mark.parametrize("device", DEVICES)
def test_sum_to_strided(device):
    x = make((30, 40), torch.float32, device).t()  # transposed view
    torch.testing.assert_close(cuops.sum_to(x, (1, 30)), x.sum(0, keepdim=True))
    x = make((6, 7, 8), torch.float32, device).expand(5, 6, 7, 8)
    torch.testing.assert_close(cuops.sum_to(x, (7, 1)), x.sum((0, 1, 3)).unsqueeze(1))
    # Contiguous kept columns under reduced dims that do not merge (every
    # other row of a slice): the column reduction's general row offsets.
    x = make((10, 20, 30, 40), torch.float32, device)[:, ::2]
    assert_rel_close(cuops.sum_to(x, (40,)), x.double().sum((0, 1, 2)), tol=1e-4, what="sum_to")


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(200704, 96), (70, 3, 384)], ids=str)
def test_sum_to_deterministic(shape):
    # The split reductions add their partials in a fixed order: same bits
    # every run (a bias gradient of a linear layer, of a channels_last conv).
    x = make(shape, torch.bfloat16, "cuda")
    first = cuops.sum_to(x, shape[-1:])
    for _ in range(3):
        assert torch.equal(cuops.sum_to(x, shape[-1:]), first)
    ref = x.double().sum(tuple(range(x.dim() - 1)))
    assert_rel_close(first, ref, tol=1.6e-2, what="sum_to bf16")


def test_sum_to_bad_size():
    with pytest.raises(ValueError, match=r"size \[3\] is not broadcast-compatible with 'x' of shape \[4, 5\]"):
        cuops.sum_to(torch.randn(4, 5), (3,))
    with pytest.raises(ValueError, match="not broadcast-compatible"):
        cuops.sum_to(torch.randn(5), (2, 5))


# ---------------------------------------------------------------- autograd, compile, opcheck


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (2, 2))])
def test_gradcheck(device, sa, sb):
    a = torch.randn(sa, dtype=torch.float64, device=device, requires_grad=True)
    b = torch.randn(sb, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: cuops.add(x, y, alpha=-1.5), (a, b))
    x = torch.randn(2, 3, 4, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: cuops.sum_to(t, (3, 1), 2.0), (x,))


@pytest.mark.parametrize("device", DEVICES)
def test_backward_mixed_dtype(device):
    a = torch.randn(3, 4, dtype=torch.float16, device=device, requires_grad=True)
    b = torch.randn(4, dtype=torch.float32, device=device, requires_grad=True)
    cuops.add(a, b, 2).sum().backward()
    assert a.grad.dtype == torch.float16 and b.grad.dtype == torch.float32
    torch.testing.assert_close(b.grad, torch.full((4,), 6.0, device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_autocast_as_torch_add(device):
    """Under autocast cuops.add casts nothing and promotes mixed dtypes, as
    torch.add (which is on none of autocast's lists)."""
    dtype = torch.bfloat16 if device == "cpu" else torch.float16
    x = torch.randn(4, 3, device=device)
    h = torch.randn(3, device=device, dtype=dtype)
    with torch.autocast(device, dtype=dtype):
        for a, b in ((x, x), (x, h), (h, h), (h, x.double())):
            out, ref = cuops.add(a, b), torch.add(a, b)
            assert out.dtype == ref.dtype, (a.dtype, b.dtype)
            torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    for sa, sb in [((3, 4), (4,)), ((2, 3), (2, 3))]:
        a = torch.randn(sa, device=device, requires_grad=True)
        b = torch.randn(sb, device=device, requires_grad=True)
        torch.library.opcheck(torch.ops.cuops.add.default, (a, b, 2.0, None))
    x = torch.randn(4, 5, device=device, requires_grad=True)
    torch.library.opcheck(torch.ops.cuops.sum_to.default, (x, [5], 1.5))


@pytest.mark.parametrize("device", DEVICES)
def test_compile_fullgraph(device):
    def f(a, b):
        return cuops.add(cuops.add(a, b, alpha=2), a).sum()

    a = torch.randn(8, 16, device=device, requires_grad=True)
    b = torch.randn(16, device=device, requires_grad=True)
    torch._dynamo.reset()
    out = torch.compile(f, fullgraph=True)(a, b)
    out.backward()
    torch.testing.assert_close(out, (2 * a + 2 * b).sum())
    torch.testing.assert_close(a.grad, torch.full_like(a, 2.0))
    torch.testing.assert_close(b.grad, torch.full_like(b, 16.0))


def test_export():
    class M(torch.nn.Module):
        def forward(self, a, b):
            return cuops.add(a, b, alpha=3)

    a, b = torch.randn(4, 5), torch.randn(5)
    ep = torch.export.export(M(), (a, b))
    assert any("cuops.add" in str(n.target) for n in ep.graph.nodes)
    torch.testing.assert_close(ep.module()(a, b), a + 3 * b)


# ---------------------------------------------------------------- large (GPU)


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("variant", CUDA_VARIANTS)
def test_more_than_2_pow_31_elements(variant):
    # 2^31 + 17 bf16 elements (4.3 GB): every index past 2^31 needs 64-bit math.
    n = (1 << 31) + 17
    a = torch.randn(n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(1, dtype=torch.bfloat16, device="cuda")
    out = cuops.add(a, b, alpha=2, variant=variant)  # broadcast b: general path
    idx = torch.cat([torch.randint(0, n, (100_000,), device="cuda"),
                     torch.arange(n - 1000, n, device="cuda")])
    torch.testing.assert_close(out[idx], torch.add(a[idx], b, alpha=2))
    del out
    poison_allocator("cuda", 2 * n)
    out = cuops.add(a, a, alpha=-1, variant=variant)  # same shape: flat fast path
    assert out[idx].abs().max().item() == 0
