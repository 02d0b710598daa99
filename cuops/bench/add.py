"""Benchmark cases of cuops.add: GB/s (bytes of a, b read and out written)."""

import torch

import cuops

from . import DTYPE_LABELS, Case

# Device-to-device copy bandwidth (bytes read + written) measured on the H100
# (docs/add-worklog.md): the ceiling of a memory-bound op. Other devices:
# None, i.e. torch.add's own rate.
COPY_GBPS = {"H100": 3000.0}


def _ceiling(device: torch.device):
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in COPY_GBPS.items() if k in name), None)


def cases(device: torch.device, quick: bool) -> list:
    if device.type == "cuda":
        sizes = [1 << 20, 1 << 24, 1 << 28] if quick else [1 << 20, 1 << 22, 1 << 24, 1 << 26, 1 << 28]
    else:
        sizes = [1 << 16, 1 << 20] if quick else [1 << 16, 1 << 20, 1 << 22]
    out = []
    ceiling = _ceiling(device)
    for dtype in (torch.float32, torch.bfloat16):
        for n in sizes:
            nbytes = 3 * n * dtype.itemsize

            def make(n=n, dtype=dtype):
                return (torch.randn(n, device=device, dtype=dtype),
                        torch.randn(n, device=device, dtype=dtype))

            impls = {"torch": lambda a, b: torch.add(a, b, alpha=0.5)}
            for v in cuops.variants("add", device.type):
                impls[v["name"]] = (lambda name: lambda a, b: cuops.add(a, b, 0.5, variant=name))(v["name"])
            name = DTYPE_LABELS[dtype]
            out.append(Case("add", f"{name} n={n >> 20}M" if n >= 1 << 20 else f"{name} n={n >> 10}K",
                            "GB/s", nbytes, make, impls, bytes_per_set=nbytes, compile=True,
                            ceiling=ceiling))
    return out
