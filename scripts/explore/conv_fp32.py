"""fp32 conv2d forward (true fp32) against cuDNN with TF32 off, per variant.

    PYTHONPATH=. python scripts/explore/conv_fp32.py [--variants implicit_gemm,implicit_gemm_regtile]

Shapes: the large 3x3 layer that implicit_gemm ran at 0.20x cuDNN, its
groups-4 form, an 11x11 stride-4 stem, and the ResNet-50 fp32 layers of
`python -m cuops bench conv2d`; NCHW and channels_last. Prints ms, TFLOP/s and
cuDNN time / ours (docs/conv2d-worklog.md, 2026-12-06).
"""

import argparse

import torch
import torch.nn.functional as F

import cuops
from cuops.bench import time_fn

# name, x shape, w shape, kwargs
SHAPES = [
    ("3x3 64->128 512x1024 b8", (8, 64, 512, 1024), (128, 64, 3, 3), dict(padding=1)),
    ("3x3 64->128 g4 512x1024 b8", (8, 64, 512, 1024), (128, 16, 3, 3), dict(padding=1, groups=4)),
    ("11x11/4 stem 3->64@224 b32", (32, 3, 224, 224), (64, 3, 11, 11), dict(stride=4, padding=2)),
    ("r50 3x3 64@56 b32", (32, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),
    ("r50 3x3 256@14 b32", (32, 256, 14, 14), (256, 256, 3, 3), dict(padding=1)),
    ("r50 3x3 512@7 b32", (32, 512, 7, 7), (512, 512, 3, 3), dict(padding=1)),
    ("r50 1x1 256->64@56 b32", (32, 256, 56, 56), (64, 256, 1, 1), {}),
    ("r50 stem 7x7/2@224 b32", (32, 3, 224, 224), (64, 3, 7, 7), dict(stride=2, padding=3)),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="implicit_gemm,implicit_gemm_regtile")
    args = ap.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    print(torch.cuda.get_device_name(), flush=True)
    for name, xs, ws, kw in SHAPES:
        for cl in (False, True):
            fmt = torch.channels_last if cl else torch.contiguous_format
            x = torch.randn(xs, device=dev).contiguous(memory_format=fmt)
            w = torch.randn(ws, device=dev).contiguous(memory_format=fmt)
            b = torch.randn(ws[0], device=dev)
            ref = F.conv2d(x, w, b, **kw)
            flops = 2.0 * ref.numel() * ws[1] * ws[2] * ws[3]
            t_ref = time_fn(lambda: F.conv2d(x, w, b, **kw), [()], dev)
            line = f"{name:28s} {'cl  ' if cl else 'nchw'} cudnn {t_ref:8.3f} ms"
            for v in args.variants.split(","):
                out = cuops.conv2d(x, w, b, **kw, variant=v)
                err = ((out - ref).norm() / ref.norm()).item()
                t = time_fn(lambda v=v: cuops.conv2d(x, w, b, **kw, variant=v), [()], dev)
                line += f" | {v} {t:8.3f} ms {flops / t / 1e9:6.1f} TF/s {t_ref / t:5.2f}x err {err:.1e}"
            print(line, flush=True)
            del x, w, b, ref
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
