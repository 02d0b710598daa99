"""Smoke test of an installed cuops, run from outside the source tree (CI's
packaging step: sdist -> wheel -> fresh venv): the import, a forward and a
backward of each op against torch, cuops.convert on a small model, and
`python -m cuops info`. CPU only.

    cd /tmp && /path/to/venv/bin/python /path/to/cuops/scripts/smoke_test.py
"""

import os
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch import nn

import cuops

source_tree = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
assert not os.path.abspath(cuops.__file__).startswith(source_tree + os.sep), (
    f"imported the source tree's cuops ({cuops.__file__}), not the installed one")
print(f"cuops {cuops.__version__} from {os.path.dirname(cuops.__file__)}, torch {torch.__version__}")


def check(name, ours, theirs, *inputs):
    """Forward and backward of `ours` against `theirs` on copies of `inputs`."""
    a = [t.clone().requires_grad_() for t in inputs]
    b = [t.clone().requires_grad_() for t in inputs]
    out, ref = ours(*a), theirs(*b)
    torch.testing.assert_close(out, ref)
    grad = torch.randn_like(ref)
    out.backward(grad)
    ref.backward(grad)
    for x, y in zip(a, b):
        torch.testing.assert_close(x.grad, y.grad)
    print(f"  {name}: forward and backward match torch")


torch.manual_seed(0)
check("add", lambda x, y: cuops.add(x, y, alpha=2), lambda x, y: torch.add(x, y, alpha=2),
      torch.randn(4, 5), torch.randn(5))
check("matmul", cuops.matmul, torch.matmul, torch.randn(3, 4, 5), torch.randn(5, 6))
check("linear", cuops.linear, F.linear, torch.randn(4, 8), torch.randn(6, 8), torch.randn(6))
check("conv2d", lambda x, w, b: cuops.conv2d(x, w, b, stride=2, padding=1),
      lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
      torch.randn(2, 3, 9, 9), torch.randn(4, 3, 3, 3), torch.randn(4))

model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
x = torch.randn(2, 3, 8, 8)
ref = model(x)
cuops.convert(model)
assert model.cuops_report.counts == {"Conv2d": 1, "Linear": 1}, model.cuops_report
torch.testing.assert_close(model(x), ref)
model(x).sum().backward()
assert all(p.grad is not None for p in model.parameters())
print("  convert: 1 Conv2d, 1 Linear replaced; same output; backward ran")

subprocess.run([sys.executable, "-m", "cuops", "info"], check=True)
print("smoke test passed")
