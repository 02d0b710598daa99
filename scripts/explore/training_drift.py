"""How far five SGD steps of a converted ResNet-18 drift from the same training
in float64, against torch's own fp32 drift, over several random batches: the
GPU side of training_chaos.py (tests/test_convert.py's
test_resnet18_training_tracks_torch judges one batch). Rows: torch, cuops's
defaults, and cuops with every convolution pinned to one step (--variants), so
that a kernel whose arithmetic drifts shows as a column, not as chance.

    python scripts/explore/training_drift.py [--seeds 6] [--variants implicit_gemm_regtile]
"""

import argparse
import copy

import torch

import cuops
from training_chaos import train5_params  # the test's five SGD steps (a script beside this one)


def main():
    import torchvision

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--variants", nargs="*", default=["implicit_gemm_regtile"])
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print("seed  run                      max |loss - fp64| per step (5)           params rel")
    for seed in range(args.seeds):
        torch.manual_seed(0)
        ref = torchvision.models.resnet18(num_classes=10).cuda()
        torch.manual_seed(seed + 1)
        x = torch.randn(16, 3, 64, 64, device="cuda")
        t = torch.randint(0, 10, (16,), device="cuda")
        truth_l, truth_p = train5_params(copy.deepcopy(ref).double(), x.double(), t)
        runs = {"torch": copy.deepcopy(ref), "cuops": cuops.convert(copy.deepcopy(ref))}
        for v in args.variants:
            net = cuops.convert(copy.deepcopy(ref))
            for m in net.modules():
                if hasattr(m, "variant"):
                    m.variant = v
            runs[f"cuops {v}"] = net
        for name, net in runs.items():
            losses, params = train5_params(net, x, t)
            d = " ".join(f"{abs(a - b):.1e}" for a, b in zip(losses, truth_l))
            rel = ((params - truth_p).norm() / truth_p.norm()).item()
            print(f"{seed:4d}  {name:24s} {d}   {rel:.2e}")


if __name__ == "__main__":
    main()
