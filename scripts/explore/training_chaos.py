"""How far apart two correct fp32 trainings end up: the yardstick behind
tests/test_convert.py::test_resnet18_training_tracks_torch (CPU; no cuops kernel runs).

The test trains a fresh ResNet-18 for five SGD-with-momentum steps on 16
random 64x64 images, in torch fp32, in cuops fp32 and in float64, and bounds
how much farther cuops drifts from the float64 run than torch does. Here the
"cuops" model is torch's with every convolution computed in float64 and
rounded to fp32 (the most accurate fp32 convolution there is), or that plus a
relative error of --noise on every convolution output (a wrong kernel), and
each seed prints both the per-parameter bounds the test used before 2026-12-07
and the whole-vector bounds it uses now. A bound that fails the exact
convolution on some seed judges chance, not kernels.

    python scripts/explore/training_chaos.py [--seeds 1 13] [--noise 0.01]
"""

import argparse
import copy
import pathlib
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision as tv

# The test's own training steps and chaos envelope, so that the model judges
# exactly what the test runs (importing the tests imports cuops; its kernels
# are not used here).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.test_convert import _chaos_envelope  # noqa: E402
from tests.test_convert import _train5 as train5  # noqa: E402
from tests.test_convert import _train5_params as train5_params  # noqa: E402


class _Conv64(torch.autograd.Function):
    """conv2d and its gradients in float64, rounded to fp32 (times 1 + noise)."""

    @staticmethod
    def forward(ctx, x, w, stride, padding, noise):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding)
        y = F.conv2d(x.double(), w.double(), None, stride, padding)
        if noise:
            y = y * (1 + noise * torch.randn_like(y))
        return y.float()

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        xd, wd = x.double().requires_grad_(), w.double().requires_grad_()
        with torch.enable_grad():
            y = F.conv2d(xd, wd, None, *ctx.conf)
        gx, gw = torch.autograd.grad(y, (xd, wd), g.double())
        return gx.float(), gw.float(), None, None, None


def exact_convs(model, noise):
    """model with every bias-free Conv2d computed by _Conv64 (ResNet's are)."""
    for m in list(model.modules()):
        for name, c in list(m.named_children()):
            if type(c) is nn.Conv2d:
                c.forward = (lambda c: lambda x: _Conv64.apply(x, c.weight, c.stride, c.padding,
                                                               noise))(c)
    return model


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs=2, default=(1, 13))
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--envelope", type=int, default=0,
                    help="judge by an envelope of this many perturbed torch runs instead")
    args = ap.parse_args()
    if args.envelope:
        return main_envelope(args)
    for seed in range(*args.seeds):
        torch.manual_seed(0)
        ref = tv.models.resnet18(num_classes=10)
        ours, truth = exact_convs(copy.deepcopy(ref), args.noise), copy.deepcopy(ref).double()
        torch.manual_seed(seed)
        x, t = torch.randn(16, 3, 64, 64), torch.randint(0, 10, (16,))
        lt, lo, l64 = train5(ref, x, t), train5(ours, x, t), train5(truth, x.double(), t)
        params = list(zip(ref.parameters(), ours.parameters(), truth.parameters()))
        # before: each parameter, and the losses against torch's
        old_p = max(rel_err(o, p64) / max(3 * rel_err(r, p64), 1e-2) for r, o, p64 in params)
        old_l = max(abs(a - b) / (1e-2 * max(1.0, abs(a))) for a, b in zip(lt, lo))
        # now: the losses and the whole parameter vector against float64's
        new_l = max(abs(o - c) / max(3 * abs(a - c), 1e-2 * max(1.0, abs(c)))
                    for a, o, c in zip(lt, lo, l64))
        flat = lambda i: torch.cat([p[i].detach().double().flatten() for p in params])
        new_p = rel_err(flat(1), flat(2)) / max(3 * rel_err(flat(0), flat(2)), 1e-2)
        verdict = lambda *r: "FAIL" if max(r) > 1 else "ok"
        print(f"seed {seed}: before: params {old_p:.2f} losses {old_l:.2f} {verdict(old_p, old_l)}"
              f"; now: params {new_p:.2f} losses {new_l:.2f} {verdict(new_p, new_l)}", flush=True)


def main_envelope(args):
    """The envelope bound: per step, cuops's loss within 3x the farthest
    perturbed torch run's distance from the float64 run (+ 1e-4 relative),
    and the parameter vector likewise; printed as the worst ratio (> 1 fails)
    for the exact convolutions and for --noise (default 1 %)."""
    noise = args.noise or 0.01
    for seed in range(*args.seeds):
        torch.manual_seed(0)
        ref = tv.models.resnet18(num_classes=10)
        torch.manual_seed(seed)
        x, t = torch.randn(16, 3, 64, 64), torch.randint(0, 10, (16,))
        l64, p64 = train5_params(copy.deepcopy(ref).double(), x.double(), t)
        env = _chaos_envelope(ref, x, t, args.envelope)
        row = []
        for n in (0.0, noise):
            lo, po = train5_params(exact_convs(copy.deepcopy(ref), n), x, t)
            worst = 0.0
            for i, c in enumerate(l64):
                spread = max(abs(le[i] - c) for le, _ in env)
                worst = max(worst, abs(lo[i] - c) / (3 * spread + 1e-4 * max(1.0, abs(c))))
            pspread = max(rel_err(pe, p64) for _, pe in env)
            worst = max(worst, rel_err(po, p64) / (3 * pspread + 1e-4))
            row.append(worst)
        print(f"seed {seed}: exact {row[0]:.2f} {'ok' if row[0] <= 1 else 'FAIL'}; "
              f"noise {noise:g} {row[1]:.2f} {'caught' if row[1] > 1 else 'MISSED'}", flush=True)


if __name__ == "__main__":
    main()
