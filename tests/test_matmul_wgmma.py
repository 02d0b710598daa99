"""The matmul planner's Hopper rules (GPU, sm_90): unsplit fp16/bf16 products
on the wgmma kernel (rule 5) and the split-K chunks of a weight gradient on
it with fp32 partials (rule 5b). gpu_check.sh runs every test named *wgmma*
in a process of its own, first."""

import pytest
import torch

import cuops
from tests.matmul_cases import DTYPE_IDS, tol_for, reference
from tests.utils import assert_rel_close, make, poison_allocator, kernel_names


def _on_hopper():
    return torch.cuda.is_available() and torch.cuda.get_device_capability() == (9, 0)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
def test_cuda_planner_takes_wgmma_on_hopper(dtype):
    """The planner's rule 5: on sm_90, unsplit fp16/bf16 products with enough
    128x128 tiles run the wgmma kernel (the same bits as the step by name):
    a big product, a 1000^3 one (64 tiles), a transposed operand, a dense
    batch; a decode-sized M stays with the split planner."""
    if not _on_hopper():
        pytest.skip("the wgmma kernel runs on sm_90 only")
    for (m, k, n), tb in [((2048, 1024, 2048), False), ((1000, 1000, 1000), False),
                          ((1536, 512, 1024), True)]:
        a = make((m, k), dtype, "cuda")
        b = make((k, n), dtype, "cuda", "transposed" if tb else "contiguous")
        out = cuops.matmul(a, b)
        assert torch.equal(out, cuops.matmul(a, b, variant="wgmma")), (m, k, n)
        assert_rel_close(out, reference(a, b).to(dtype), tol=tol_for(dtype, k))
    # A dense batch of products of at least 128 x 128 (enough tiles over the batch).
    a, b = make((48, 256, 128), dtype, "cuda"), make((48, 128, 320), dtype, "cuda")
    out = cuops.matmul(a, b)
    assert torch.equal(out, cuops.matmul(a, b, variant="wgmma"))
    assert_rel_close(out, reference(a, b).to(dtype), tol=tol_for(dtype, 128))
    names = kernel_names(lambda: cuops.matmul(a, b))
    assert names is None or any("gemm_wgmma_kernel" in n for n in names), names
    a, b = make((16, 4096), dtype, "cuda"), make((4096, 4096), dtype, "cuda")
    assert torch.equal(cuops.matmul(a, b), cuops.matmul(a, b, variant="splitk"))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=DTYPE_IDS.get)
def test_cuda_split_chunks_on_wgmma(dtype):
    """Rule 5b: a long-K product with M- and N-major operands (x^T . dy, a
    weight gradient) splits K into chunks that the wgmma kernel runs as a
    stacked batch into fp32 partials; the finish sums them in order. Whole
    chunks only (65536 = 32 x 2048), whole chunks plus a shorter last one on
    mma_sync (3000), an odd N and a K-major A (mma_sync for every chunk), and a
    linear layer's weight gradient through autograd. Values against float64,
    outputs poisoned, the same bits on a second run, the kernels that ran."""
    if not _on_hopper():
        pytest.skip("the wgmma kernel runs on sm_90 only")
    torch.manual_seed(0)
    cases = [((96, 65536, 384), "transposed", True),
             ((128, 3000, 80), "transposed", True),
             ((96, 65536, 99), "transposed", False),
             ((96, 65536, 384), "contiguous", False)]
    for (m, k, n), layout, chunks_on_wgmma in cases:
        a, b = make((m, k), dtype, "cuda", layout), make((k, n), dtype, "cuda")
        ref = reference(a, b)
        poison_allocator("cuda", ref.numel() * 8)
        out = cuops.matmul(a, b)
        assert_rel_close(out, ref.to(dtype), tol=tol_for(dtype, k), what=f"{m}x{k}x{n} {layout}")
        assert torch.equal(out, cuops.matmul(a, b))
        names = kernel_names(lambda: cuops.matmul(a, b))
        if names is not None:
            assert any("finish_partials" in n for n in names), names
            assert any("gemm_wgmma_kernel" in n for n in names) == chunks_on_wgmma, names
    # ConvNeXt-like: y = x @ W^T + b over 8192 rows of 96 features.
    x = make((2, 64, 64, 96), dtype, "cuda").requires_grad_(True)
    w = make((384, 96), dtype, "cuda").requires_grad_(True)
    bias = make((384,), dtype, "cuda").requires_grad_(True)
    dy = make((2, 64, 64, 384), dtype, "cuda")
    gx, gw, gb = torch.autograd.grad(cuops.linear(x, w, bias), (x, w, bias), dy)
    x64, w64, b64 = (t.detach().double().requires_grad_(True) for t in (x, w, bias))
    want = torch.autograd.grad(torch.nn.functional.linear(x64, w64, b64), (x64, w64, b64),
                               dy.double())
    for name, got, ref in zip(("x", "weight", "bias"), (gx, gw, gb), want):
        k = {"x": 384, "weight": 8192, "bias": 8192}[name]
        assert_rel_close(got, ref.to(dtype), tol=tol_for(dtype, k), what=f"linear grad {name}")
