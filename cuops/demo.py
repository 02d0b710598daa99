"""The main job (`python -m cuops demo`): until the training demo lands, a
short report — each op checked against torch and timed against it on the
device present."""

import torch

import cuops
from cuops import bench


def main(args) -> int:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"cuops {cuops.__version__} | torch {torch.__version__} | device: {name} | "
          f"CUDA kernels built: {cuops.cuda_built()}")
    print("\ncorrectness (max |cuops - torch|, every variant):")
    a = torch.randn(1000, 37, device=device)
    b = torch.randn(37, device=device)
    ref = torch.add(a, b, alpha=0.5)
    for v in cuops.variants("add", device.type):
        err = (cuops.add(a, b, 0.5, variant=v["name"]) - ref).abs().max().item()
        print(f"  add {v['name']:12s} {err:.2e} {'OK' if err <= 1e-6 else 'MISMATCH'}")
    print("\ntiming (median, same run):")
    print(bench.format_table(bench.run(["add"], device=device, quick=True)))
    return 0
