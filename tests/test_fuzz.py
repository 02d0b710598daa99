"""Property-based fuzzing of add, matmul/linear and conv2d against torch's own
ops computed in float64, forward and backward.

Hypothesis draws the problem (shapes with 0/1-sized dims, broadcasting,
strided views: permuted, sliced, expanded, channels_last; dtypes; alpha;
conv arguments), a seed for the values, and on CUDA the kernel variant.
Each result and gradient must be within REL_TOL of its dtype, relative to
the op applied to the absolute values (the size of the summed terms).

Runs are seeded (reproducible). On the CPU the "ci" profile keeps the whole
file to about a minute on 2 cores; on a GPU the "gpu" profile runs
CUOPS_FUZZ_EXAMPLES examples per test (default 200):

    CUOPS_FUZZ_EXAMPLES=2000 pytest -m gpu tests/test_fuzz.py

CUOPS_FUZZ_SEED shifts the seeds (another sample of the same space).
Problems the fuzzer found stay as explicit cases (@examples: the recorded
draws), run before the random ones.
"""

import contextlib
import os
import zlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import cuops
from tests.utils import DEVICES, FLOAT_DTYPES, REL_TOL, TF32_VARIANTS, assert_rel_close

# "ci": the bounded CPU run (each test sets its max_examples); "gpu": the large
# run, CUOPS_FUZZ_EXAMPLES examples per test (also on the CPU when set).
settings.register_profile(
    "ci", deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "gpu", settings.get_profile("ci"),
    max_examples=int(os.environ.get("CUOPS_FUZZ_EXAMPLES", "200")))

# Dimension sizes: 0 and 1 often, then small and odd ones; on a GPU also sizes
# past the kernels' tile edges and pipeline depths (too slow for the CPU run).
SIZES = [0, 1, 1, 2, 3, 4, 5, 7, 8, 13, 17, 33]
GPU_SIZES = [64, 65, 127, 130, 257]


def size(data, device, label):
    return data.draw(st.sampled_from(SIZES + (GPU_SIZES if device == "cuda" else [])), label=label)


def fuzz(body, device, ci_examples):
    """Run body(data, device) as a seeded hypothesis test: the "gpu" profile
    on CUDA (and wherever CUOPS_FUZZ_EXAMPLES is set), else "ci" with
    `ci_examples` examples. The body's explicit cases (@examples) run first."""
    if device == "cuda" or "CUOPS_FUZZ_EXAMPLES" in os.environ:
        profile = settings.get_profile("gpu")
    else:
        profile = settings(settings.get_profile("ci"), max_examples=ci_examples)

    @seed(zlib.crc32(body.__name__.encode()) + int(os.environ.get("CUOPS_FUZZ_SEED", "0")))
    @profile
    @given(data=st.data())
    def run(data):
        body(data, device)

    for case in getattr(body, "examples", ()):
        body(_Replay(case), device)
    run()


class _Replay:
    """A stand-in for hypothesis' `data` that replays a recorded problem: a
    dict of the values each draw(label=...) returned (the report of a
    failing example lists them). A label not in it draws None: the variant
    draws, so the default kernels run."""

    def __init__(self, case):
        self.case = case

    def draw(self, strategy, label):
        return self.case.get(label)


def examples(*cases):
    """Explicit problems (dicts label -> value) a body always runs first:
    the ones the fuzzer once found."""
    def deco(body):
        body.examples = cases
        return body
    return deco


# ---------------------------------------------------------------------------
# Strided operands: one storage tensor, then view ops (permute, slice with a
# step, expand), replayed on float64 copies for the reference.
# ---------------------------------------------------------------------------


@st.composite
def layouts(draw, shape):
    """How to lay out a tensor of `shape` in memory: a dim order (4-D:
    channels_last often), and half of the time a slice step and offset per
    dim and dims read through stride 0 (expanded)."""
    nd = len(shape)
    orders = [list(range(nd))] + ([[0, 2, 3, 1]] if nd == 4 else [])
    order = draw(st.one_of(st.sampled_from(orders), st.permutations(range(nd)))) if nd else []
    lay = dict(order=order, step=[1] * nd, offset=[0] * nd, expand=[False] * nd)
    if draw(st.booleans()):  # a dense tensor
        return lay
    lay.update(step=[draw(st.sampled_from([1, 2])) for _ in range(nd)],
               offset=[draw(st.sampled_from([0, 1])) for _ in range(nd)],
               expand=[draw(st.sampled_from([False, False, True])) for _ in range(nd)])
    return lay


class Operand:
    """A tensor built from a random storage by view ops, and the same views of
    float64 copies (the reference and its absolute values), each with its own
    autograd leaf."""

    def __init__(self, shape, lay, dtype, device, gen):
        shape, nd = list(shape), len(shape)
        self.shape, self.lay = shape, lay
        full = [1 if lay["expand"][d] else shape[d] * lay["step"][d] + lay["offset"][d]
                for d in range(nd)]
        order = lay["order"]
        stored = torch.randn([full[d] for d in order], generator=gen, dtype=torch.float64)
        # The storage in the permuted order, viewed back in logical order.
        self.base = stored.to(device).permute([order.index(d) for d in range(nd)])
        self.dtype = dtype

    def _view(self, base):
        lay = self.lay
        for d, n in enumerate(self.shape):
            if not lay["expand"][d]:  # n elements `step` apart, from `offset` on
                base = base.narrow(d, lay["offset"][d], (n - 1) * lay["step"][d] + 1 if n else 0)
                base = base[(slice(None),) * d + (slice(None, None, lay["step"][d]),)]
        return base.expand(self.shape)

    def make(self, kind: str) -> torch.Tensor:
        """kind: "test" (the dtype under test), "ref" (float64), "abs" (|float64|)."""
        base = self.base.to(self.dtype).double() if kind != "test" else self.base.to(self.dtype)
        if kind == "abs":
            base = base.abs()
        return self._view(base.detach().requires_grad_(True))


def draw_operand(data, label, shape, dtype, device, gen):
    return Operand(shape, data.draw(layouts(shape), label=label), dtype, device, gen)


def check(device, dtype, gen, run, ref_fn, operands, tol_dtypes=(), what=""):
    """run(*tensors) against ref_fn(*float64 tensors, absolute=False/True),
    forward and the gradients of every operand, with a random output grad
    (drawn from `gen`, the example's generator)."""
    tests = [o.make("test") for o in operands]
    refs = [o.make("ref") for o in operands]
    abss = [o.make("abs") for o in operands]
    out = run(*tests)
    ref = ref_fn(*refs, absolute=False)
    scale = ref_fn(*abss, absolute=True)
    tol = max(REL_TOL[d] for d in (dtype, *tol_dtypes))
    assert out.device.type == device
    assert_rel_close(out, ref, tol=tol, scale=scale, what=f"{what} forward")
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(device, out.dtype)
    grads = torch.autograd.grad(out, tests, g, allow_unused=True)
    ref_grads = torch.autograd.grad(ref, refs, g.double(), allow_unused=True)
    scale_grads = torch.autograd.grad(scale, abss, g.double().abs(), allow_unused=True)
    for i, (gr, rr, sr) in enumerate(zip(grads, ref_grads, scale_grads)):
        rr = torch.zeros_like(refs[i]) if rr is None else rr
        sr = torch.zeros_like(refs[i]) if sr is None else sr
        gr = torch.zeros_like(tests[i]) if gr is None else gr
        assert gr.dtype == tests[i].dtype, f"{what} grad {i} dtype {gr.dtype}"
        assert_rel_close(gr, rr, tol=tol, scale=sr, what=f"{what} grad of operand {i}")
    return out


def draw_variant(data, op, device, dtype, label="variant"):
    """Any variant of the device's ladder that supports the dtype (None: the
    default). The CPU ladders' steps that run the CUDA steps' host planning
    (conv2d's phases, gemm) are fuzzed on the CPU this way too."""
    names = [v["name"] for v in cuops.variants(op, device) if dtype in v["dtypes"]]
    return data.draw(st.sampled_from([None, *names]), label=label)


def broadcast_pair(data, nd, label):
    """Two shapes that broadcast together: suffixes of one full shape with some
    dims set to 1."""
    full = [size(data, "cpu", f"{label} dim {i}") for i in range(nd)]
    out = []
    for name in "ab":
        drop = data.draw(st.integers(0, nd), label=f"{label} {name} drops")
        ones = [data.draw(st.booleans(), label=f"{label} {name} one {i}") for i in range(nd)]
        out.append([1 if o else s for s, o in zip(full, ones)][drop:])
    return out


# ---------------------------------------------------------------------------
# add: broadcasting, type promotion, 0-dim tensors and Python numbers, alpha
# ---------------------------------------------------------------------------


def _add(data, device):
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31), label="seed"))
    nd = data.draw(st.integers(0, 4), label="ndim")
    sa, sb = broadcast_pair(data, nd, "shape")
    da = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype a")
    db = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype b")
    b_number = data.draw(st.booleans(), label="b is a number") and len(sb) == 0
    # |alpha| >= 1/64: a tinier alpha underflows fp16 gradients to 0 (as in torch).
    alpha = data.draw(st.one_of(st.integers(-3, 3), st.floats(1 / 64, 4, width=32),
                                st.floats(-4, -1 / 64, width=32)), label="alpha")
    a = draw_operand(data, "layout a", sa, da, device, gen)
    b = draw_operand(data, "layout b", sb, db, device, gen)
    result = torch.result_type(a.make("test"), b.make("test"))  # the dtype the kernel runs in
    variant = draw_variant(data, "add", device, da if b_number else result)
    if b_number:  # a Python float: it does not widen a's dtype
        number = float(b.base.to(db).item())
        out = check(device, da, gen, lambda x: cuops.add(x, number, alpha, variant=variant),
                    lambda x, absolute: torch.add(x, abs(number) if absolute else number,
                                                  alpha=abs(alpha) if absolute else alpha),
                    [a], what="add(tensor, number)")
        assert out.dtype == torch.add(a.make("test"), number, alpha=alpha).dtype
        return
    out = check(device, da, gen, lambda x, y: cuops.add(x, y, alpha, variant=variant),
                lambda x, y, absolute: torch.add(x, y, alpha=abs(alpha) if absolute else alpha),
                [a, b], tol_dtypes=[db], what="add")
    assert out.dtype == result


@pytest.mark.parametrize("device", DEVICES)
def test_fuzz_add(device):
    fuzz(_add, device, ci_examples=300)


# ---------------------------------------------------------------------------
# matmul (1-D / 2-D / batched mixes, broadcast batch) and linear
# ---------------------------------------------------------------------------


PLAIN = dict(order=[0], step=[1], offset=[0], expand=[False])  # a contiguous 1-D layout


@examples(
    # The backward of a batched product with a shared 2-D b and K == 0 (here
    # a [2, 3, 0] @ b [0]) raised "cannot reshape tensor of 0 elements".
    {"seed": 0, "a ndim": 3, "b ndim": 1, "M": 3, "K": 0, "N": 1, "batch dim 0": 2,
     "batch a drops": 0, "batch a one 0": False, "batch b drops": 0, "batch b one 0": False,
     "dtype": torch.float32, "layout b": PLAIN,
     "layout a": dict(order=[0, 1, 2], step=[1] * 3, offset=[0] * 3, expand=[False] * 3)})
def _matmul(data, device):
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31), label="seed"))
    na = data.draw(st.integers(1, 4), label="a ndim")
    nb = data.draw(st.integers(1, 4), label="b ndim")
    m, k, n = (size(data, device, x) for x in "MKN")
    batch_a, batch_b = broadcast_pair(data, max(na, nb, 2) - 2, "batch")
    sa = [k] if na == 1 else batch_a[len(batch_a) - (na - 2):] + [m, k]
    sb = [k] if nb == 1 else batch_b[len(batch_b) - (nb - 2):] + [k, n]
    dtype = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype")
    a = draw_operand(data, "layout a", sa, dtype, device, gen)
    b = draw_operand(data, "layout b", sb, dtype, device, gen)
    variant = draw_variant(data, "matmul", device, dtype)
    out = check(device, dtype, gen, lambda x, y: cuops.matmul(x, y, variant=variant),
                lambda x, y, absolute: torch.matmul(x, y), [a, b], what=f"matmul {sa} @ {sb}",
                tol_dtypes=(torch.float16,) if variant in TF32_VARIANTS else ())
    assert out.dtype == dtype


@pytest.mark.parametrize("device", DEVICES)
def test_fuzz_matmul(device):
    fuzz(_matmul, device, ci_examples=250)


def _linear(data, device):
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31), label="seed"))
    lead = [size(data, "cpu", f"lead {i}") for i in range(data.draw(st.integers(0, 2),
                                                                    label="lead dims"))]
    k, n = size(data, device, "in_features"), size(data, device, "out_features")
    dtype = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype")
    ops = [draw_operand(data, "layout input", lead + [k], dtype, device, gen),
           draw_operand(data, "layout weight", [n, k], dtype, device, gen)]
    if data.draw(st.booleans(), label="bias"):
        ops.append(draw_operand(data, "layout bias", [n], dtype, device, gen))
    variant = draw_variant(data, "matmul", device, dtype)
    check(device, dtype, gen, lambda *t: cuops.linear(*t, variant=variant),
          lambda *t, absolute: F.linear(*t), ops, what=f"linear {lead + [k]} x [{n}, {k}]",
          tol_dtypes=(torch.float16,) if variant in TF32_VARIANTS else ())


@pytest.mark.parametrize("device", DEVICES)
def test_fuzz_linear(device):
    fuzz(_linear, device, ci_examples=100)


# ---------------------------------------------------------------------------
# conv2d: groups (depthwise too), stride, dilation, padding of every form,
# unbatched input, NCHW / channels_last / strided views, bias
# ---------------------------------------------------------------------------


def _conv2d(data, device):
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31), label="seed"))
    groups = data.draw(st.sampled_from([1, 1, 2, 3, 4]), label="groups")
    depthwise = groups > 1 and data.draw(st.booleans(), label="depthwise")
    big = device == "cuda"  # GEMM-K (C/groups * kH * kW) past the tensor-core tiles
    cpg = 1 if depthwise else data.draw(st.integers(1, 24 if big else 4),
                                        label="channels per group")
    kpg = data.draw(st.integers(1, 40 if big else 3), label="out channels per group")
    kh, kw = data.draw(st.integers(1, 5), label="kH"), data.draw(st.integers(1, 5), label="kW")
    dil = [data.draw(st.integers(1, 3), label=f"dilation {i}") for i in range(2)]
    mode = data.draw(st.sampled_from(["int", "pair", "same", "valid", "four"]), label="padding")
    stride = ([1, 1] if mode == "same" else
              [data.draw(st.integers(1, 3), label=f"stride {i}") for i in range(2)])
    # (top, bottom, left, right); "four" calls the op, which takes any four
    if mode == "int":
        p = data.draw(st.integers(0, 3), label="pad")
        pad4, padding = [p] * 4, p
    elif mode == "pair":
        ph, pw = (data.draw(st.integers(0, 3), label=f"pad {x}") for x in "hw")
        pad4, padding = [ph, ph, pw, pw], (ph, pw)
    elif mode == "four":
        pad4 = [data.draw(st.integers(0, 3), label=f"pad {i}") for i in range(4)]
        padding = None
    else:
        eh, ew = dil[0] * (kh - 1), dil[1] * (kw - 1)
        pad4 = [0] * 4 if mode == "valid" else [eh // 2, eh - eh // 2, ew // 2, ew - ew // 2]
        padding = mode
    # H, W at least 1 and at least the dilated kernel minus the padding
    h_min = max(1, dil[0] * (kh - 1) + 1 - pad4[0] - pad4[1])
    w_min = max(1, dil[1] * (kw - 1) + 1 - pad4[2] - pad4[3])
    h = h_min + data.draw(st.integers(0, 30 if big else 9), label="H extra")
    w = w_min + data.draw(st.integers(0, 30 if big else 9), label="W extra")
    # C >= 1: with no input channel torch returns no output channel, cuops the
    # K channels of zeros (+ bias) (test_errors.py, test_zero_size_as_torch).
    unbatched = data.draw(st.booleans(), label="unbatched")
    nb = data.draw(st.sampled_from([0, 1, 1, 2, 3]), label="N")
    c, k = groups * cpg, groups * kpg
    xs = [c, h, w] if unbatched else [nb, c, h, w]
    dtype = data.draw(st.sampled_from(FLOAT_DTYPES), label="dtype")
    ops = [draw_operand(data, "layout input", xs, dtype, device, gen),
           draw_operand(data, "layout weight", [k, cpg, kh, kw], dtype, device, gen)]
    if data.draw(st.booleans(), label="bias"):
        ops.append(draw_operand(data, "layout bias", [k], dtype, device, gen))
    variant = draw_variant(data, "conv2d", device, dtype)
    dgrad = draw_variant(data, "conv2d_backward_input", device, dtype, label="dgrad variant")
    wgrad = draw_variant(data, "conv2d_backward_weight", device, dtype, label="wgrad variant")

    def run(x, wt, b=None):
        if padding is None:
            xb = x.unsqueeze(0) if unbatched else x
            y = torch.ops.cuops.conv2d(xb, wt, b, stride, pad4, dil, groups, variant)
            return y.squeeze(0) if unbatched else y
        return cuops.conv2d(x, wt, b, stride, padding, dil, groups, variant=variant)

    def ref(x, wt, b=None, *, absolute):
        x = F.pad(x, [pad4[2], pad4[3], pad4[0], pad4[1]])
        return F.conv2d(x, wt, b, stride, 0, dil, groups)

    with contextlib.ExitStack() as stack:  # the gradient ops' variants
        for op, v in (("conv2d_backward_input", dgrad), ("conv2d_backward_weight", wgrad)):
            if v is not None:
                stack.enter_context(cuops.use_variant(op, v, device))
        out = check(device, dtype, gen, run, ref, ops,
                    what=f"conv2d x {xs} w {[k, cpg, kh, kw]} stride {stride} pad {pad4} "
                         f"dilation {dil} groups {groups}")
    assert out.dtype == dtype
    if padding is not None and out.numel() > 0:  # the output layout torch picks
        torch_out = F.conv2d(*(o.make("test").detach() for o in ops), stride=stride,
                             padding=padding, dilation=dil, groups=groups)
        assert out.stride() == torch_out.stride(), (out.stride(), torch_out.stride())


@pytest.mark.parametrize("device", DEVICES)
def test_fuzz_conv2d(device):
    fuzz(_conv2d, device, ci_examples=120)
