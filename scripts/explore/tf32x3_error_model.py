"""A CPU model of the 3xTF32 engine's rounding (no GPU): how far its sums are
from a float64 truth next to a sequential fp32 FMA sum of the same terms.

The engine (csrc/cuda/matmul/wgmma/tf32.cuh, the conv2d step
implicit_gemm_wgmma_3xtf32): each fp32 operand is split into big = tf32(x)
and small = tf32(x - big) (cvt.rna: 10 mantissa bits, ties away); per
32-deep k tile a `part` accumulator takes A_small B_big, then A_big B_small,
then A_big B_big, one k8 wgmma at a time (each adds 8 exact products to
part and rounds to fp32: modelled both to nearest and toward zero, since
the tensor core's rounding is not documented); then acc += part in fp32.
The sequential sum is the register-tiled SIMT steps' order (one FMA per k).

Used to judge the fp32 default of 2026-12-07 (docs/conv2d-worklog.md): for
ResNet's reduction lengths (K = 576..4608) the model puts the engine's max
and RMS errors at 0.2-0.4x the sequential sum's, on normal and on
wide-range data. It matches the H100 measurements of ResNet-50's 128@28
layer (K = 1152): the register-tiled step measured max 1.32e-6 / RMS
5.98e-7 (model's sequential sum: 1.10e-6 / 5.79e-7), the engine RMS
1.69e-7 (model, rounding toward zero: 1.74e-7), cuDNN true fp32 max
2.9e-7 / RMS 3.1e-7: the engine's max error next to cuDNN's is the spread
of two small errors, not a loss of accuracy.

    python scripts/explore/tf32x3_error_model.py [--k 576 1152 4608] [--size 64]
"""

import argparse

import numpy as np


def tf32(x):
    """fp32 -> tf32, to nearest, ties away (cvt.rna.tf32.f32)."""
    u = x.astype(np.float32).view(np.uint32)
    return ((u + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


def to_nearest(x64):
    return x64.astype(np.float32)


def toward_zero(x64):
    f = x64.astype(np.float32)
    over = np.abs(f.astype(np.float64)) > np.abs(x64)
    f[over] = np.nextafter(f[over], np.float32(0))
    return f


def sequential(a, b):
    """One fp32 FMA per k (the product is exact in float64, one rounding)."""
    acc = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):
        acc = to_nearest(acc + np.outer(a[:, k].astype(np.float64), b[k].astype(np.float64)))
    return acc


def engine(a, b, rounding, k_tile=32, k_step=8):
    """The engine's order: per k tile, three split products into `part` by k8 steps."""
    a_big, b_big = tf32(a), tf32(b)
    a_small, b_small = tf32(a - a_big), tf32(b - b_big)
    acc = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k0 in range(0, a.shape[1], k_tile):
        part = np.zeros_like(acc)
        for x, y in ((a_small, b_big), (a_big, b_small), (a_big, b_big)):
            for j in range(k0, min(k0 + k_tile, a.shape[1]), k_step):
                s = x[:, j:j + k_step].astype(np.float64) @ y[j:j + k_step].astype(np.float64)
                part = rounding(part + s)
        acc = to_nearest(acc + part.astype(np.float64))
    return acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, nargs="+", default=[576, 1152, 4608])
    ap.add_argument("--size", type=int, default=64, help="M = N of the product")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for k in args.k:
        for wide in (False, True):
            a = rng.standard_normal((args.size, k)).astype(np.float32)
            b = rng.standard_normal((k, args.size)).astype(np.float32)
            if wide:  # magnitudes 2^-20 .. 2^20
                a *= np.float32(2.0) ** rng.integers(-20, 21, a.shape).astype(np.float32)
            truth = a.astype(np.float64) @ b.astype(np.float64)

            def err(out):
                d = out.astype(np.float64) - truth
                return np.abs(d).max() / np.abs(truth).max(), np.linalg.norm(d) / np.linalg.norm(truth)

            seq = err(sequential(a, b))
            for name, rounding in (("to nearest", to_nearest), ("toward zero", toward_zero)):
                e = err(engine(a, b, rounding))
                print(f"K={k:5d} {'wide  ' if wide else 'normal'} part rounded {name:11s}: "
                      f"max {e[0] / seq[0]:.2f}x, RMS {e[1] / seq[1]:.2f}x the sequential sum's "
                      f"(sequential: max {seq[0]:.2e}, RMS {seq[1]:.2e})")


if __name__ == "__main__":
    main()
