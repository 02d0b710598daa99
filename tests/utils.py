"""Shared test helpers: devices, tolerances by dtype, poisoned outputs."""

import os
import subprocess
import sys

import pytest
import torch

from cuops._registry import FLOAT_DTYPES  # noqa: F401  (csrc/cuops.h's kAllFloat)

# Relative-norm error bounds ||out - ref|| / ||ref|| by dtype of the inputs.
REL_TOL = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float32: 1e-5, torch.float64: 1e-12}
# Steps whose fp32 products round the operands to TF32 (fp16's 10-bit
# mantissa): checked at fp16's tolerance.
TF32_VARIANTS = frozenset({"mma_tf32", "wgmma_tf32"})

# Devices as pytest params: the CUDA one carries the `gpu` marker (skipped without CUDA).
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def rel_err(out: torch.Tensor, ref: torch.Tensor, scale=None) -> float:
    """||out - ref|| / ||scale||, scale = ref by default. Random tests pass the
    op applied to the inputs' absolute values as `scale`: the size of the
    terms that were summed, so cancellation in ref cannot fail a correct
    result (rounding error is relative to the terms, not to their sum)."""
    out, ref = out.detach().double().cpu(), ref.detach().double().cpu()
    denom = (ref if scale is None else scale.detach().double().cpu()).norm().item()
    diff = (out - ref).norm().item()
    return diff / denom if denom > 0 else diff


def assert_rel_close(out: torch.Tensor, ref: torch.Tensor, dtype=None, tol=None, what="",
                     scale=None):
    """Shape, dtype and values by relative-norm error; NaN never passes."""
    assert out.shape == ref.shape, f"{what} shape {tuple(out.shape)} != {tuple(ref.shape)}"
    assert not torch.isnan(out).any(), f"{what} has NaN (an element was not written?)"
    tol = tol if tol is not None else REL_TOL[dtype or out.dtype]
    err = rel_err(out, ref, scale)
    assert err <= tol, f"{what} relative error {err:.3e} > {tol:.1e}"


def poison_allocator(device, nbytes: int) -> None:
    """Leave NaN-filled memory in the allocator's cache so a kernel that forgets
    to write an element of its (freshly allocated) output is caught by a NaN
    check. Our ops allocate their outputs, so this poisons them before the run."""
    if nbytes <= 0:
        return
    t = torch.empty(nbytes // 4 + 64, dtype=torch.float32, device=device)
    t.fill_(float("nan"))
    del t


def make(shape, dtype, device, layout="contiguous"):
    """Random input (never zeros) in a given layout: contiguous, channels_last,
    transposed (last two dims swapped in memory), or sliced (a strided view)."""
    if layout == "contiguous":
        return torch.randn(shape, dtype=dtype, device=device)
    if layout == "channels_last":
        return torch.randn(shape, dtype=dtype, device=device).to(memory_format=torch.channels_last)
    if layout == "transposed":
        t = torch.randn(*shape[:-2], shape[-1], shape[-2], dtype=dtype, device=device)
        return t.transpose(-1, -2)
    if layout == "sliced":
        big = torch.randn(*shape[:-1], 2 * shape[-1] + 1, dtype=dtype, device=device)
        return big[..., 1::2]
    raise ValueError(layout)


def run_python(script: str, env: dict, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `script` in a fresh interpreter with `env` added to the environment
    and the repository on PYTHONPATH: for the development knobs that are read
    once per process (CUOPS_MATMUL_CONFIG, CUOPS_CONV_CONFIG)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # PYTHONFAULTHANDLER: a child that crashes prints where (in its stderr).
    full = dict(os.environ, PYTHONFAULTHANDLER="1", **env,
                PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", script, *args], env=full, cwd=root,
                          capture_output=True, text=True, timeout=timeout)


def kernel_names(fn):
    """Names of the CUDA kernels `fn` launches, or None where the profiler
    records no kernels (no CUPTI)."""
    acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    try:
        with torch.profiler.profile(activities=acts) as prof:
            fn()
            torch.cuda.synchronize()
        names = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    except RuntimeError:  # no profiler support here: nothing to tell
        return None
    return names or None


# The accuracy bar of mma_3xtf32 against cuBLAS's true fp32 (TF32 off), both
# measured against an fp64 product of the same inputs: within this factor,
# plus the split's own per-product bound (2^-22) as slack. 2x: the two sum
# in different orders (per-k-tile mma sums added in fp32 vs cuBLAS's own,
# possibly split-K, order), so either may win by a small factor; the CUTLASS
# maintainers report 3xTF32 slightly less accurate than fp32 SIMT below
# K ~ 256 and more accurate above. The slack matters only at small K, where
# fp32's error (~1e-7) is below what three products can reproduce.
TF32X3_FACTOR, TF32X3_SLACK = 2.0, 2.0**-22
