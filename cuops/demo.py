"""The main job, `python -m cuops demo`: train a small CNN on scikit-learn's
digits twice — once with torch's layers, once after cuops.convert — from the
same initialization and the same data order, and compare.

What is comparable: at every step of the first epoch, cuops's gradients from
torch's parameters and batch against torch's own (float32 rounding apart,
~1e-6 relative), then each run's final loss and accuracy. The trajectories
themselves may diverge: training amplifies rounding (the note main() prints).

The digits dataset (1,797 real 8x8 handwritten digits) ships inside
scikit-learn: nothing is downloaded. The model is Conv2d/ReLU layers and a
Linear head: every Conv2d and Linear runs on cuops kernels after the
conversion (forward and backward), the rest (ReLU, loss, optimizer) is torch.

    python -m cuops demo [--device cpu|cuda] [--epochs N] [--seed S]
    torchrun --nproc-per-node 2 -m cuops demo      # DistributedDataParallel

Under torchrun (RANK/WORLD_SIZE/LOCAL_RANK set) each process trains on its
DistributedSampler shard (gloo on the CPU, nccl on GPUs, one GPU per
process) and only rank 0 prints. The data order comes from seeded
generators, so both runs see the same batches.
"""

from __future__ import annotations

import copy
import os
import statistics
import textwrap
import time

import torch
import torch.nn.functional as F
from torch import nn

import cuops
from cuops._optional import require

DEFAULT_EPOCHS = 12
BATCH_SIZE = 32  # global (split across processes under torchrun)
LR, MOMENTUM = 0.02, 0.9


def make_model() -> nn.Module:
    """A small CNN for 1x8x8 digits: three convolutions (one strided), two Linear."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),  # 8x8 -> 4x4
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def load_digits(device, seed: int):
    """(x_train, y_train, x_test, y_test) on `device`: a seeded 80/20 split,
    pixels standardized with the training set's mean and std."""
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1)  # N,1,8,8, values 0..16
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = len(x) // 5
    test, train = perm[:n_test], perm[n_test:]
    mean, std = x[train].mean(), x[train].std()
    x = (x - mean) / std
    return x[train].to(device), y[train].to(device), x[test].to(device), y[test].to(device)


class _Dist:
    """The process layout: torchrun's env vars, or a single process."""

    def __init__(self, device_arg):
        self.enabled = "WORLD_SIZE" in os.environ and "RANK" in os.environ
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        kind = device_arg or ("cuda" if torch.cuda.is_available() else "cpu")
        if kind.startswith("cuda") and self.enabled:
            self.device = torch.device("cuda", self.local_rank)  # one GPU per process
        else:
            self.device = torch.device(kind)
        if self.device.type == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError("cuops demo: --device cuda, but torch sees no CUDA device; "
                                   "use --device cpu")
            if self.device.index is None:  # set_device needs an index ("cuda" -> current GPU)
                self.device = torch.device("cuda", torch.cuda.current_device())
            torch.cuda.set_device(self.device)
        if self.enabled:
            import torch.distributed as dist

            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend, rank=self.rank, world_size=self.world)
            self.backend = backend

    def say(self, *a, **k):
        if self.rank == 0:
            print(*a, **k, flush=True)

    def all_reduce(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        if self.enabled:
            import torch.distributed as dist

            dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return t

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self):
        if self.enabled:
            import torch.distributed as dist

            # Every rank reaches teardown before any leaves: a gloo rank whose
            # peer already closed its sockets can abort in its own destroy.
            dist.barrier()
            dist.destroy_process_group()


class GradientCheck:
    """Called before each step of the torch run's first epoch: loss and
    gradients of `shadow` (a cuops-converted copy of the model) from the torch
    model's current parameters on the same batch, against torch's own. Keeps
    the largest relative difference (norm-wise, per parameter tensor)."""

    def __init__(self, shadow: nn.Module):
        self.shadow = shadow
        self.steps = 0
        self.grad = 0.0          # largest ||g_cuops - g_torch|| / ||g_torch||
        self.where = None        # its parameter and step
        self.loss = 0.0          # largest |loss_cuops - loss_torch| / |loss_torch|

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        self.shadow.load_state_dict(model.state_dict())
        losses, grads = [], []
        for m in (model, self.shadow):  # `model` itself, not its DDP wrapper: local gradients
            m.zero_grad(set_to_none=True)
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            losses.append(loss.detach())
            grads.append({n: p.grad for n, p in m.named_parameters()})
        self.steps += 1
        self.loss = max(self.loss, ((losses[1] - losses[0]).abs() / losses[0].abs()).item())
        for n, g in grads[0].items():
            rel = ((grads[1][n] - g).norm() / g.norm().clamp_min(1e-30)).item()
            if rel > self.grad:
                self.grad, self.where = rel, (n, self.steps)
        model.zero_grad(set_to_none=True)

    def reduce(self, dist: "_Dist") -> None:
        """The largest differences over all processes (rank 0 prints them)."""
        t = torch.tensor([self.grad, self.loss], dtype=torch.float64, device=dist.device)
        grad, self.loss = dist.all_reduce(t, "max").tolist()
        if grad != self.grad:  # another process saw it: its parameter and step are not known here
            self.where = None
        self.grad = grad


def train(model, data, epochs: int, seed: int, dist: _Dist, label: str,
          check: GradientCheck | None = None) -> dict:
    """Train `model` in place; return its loss, accuracy and epoch times.
    `check`, if given, runs before every step of the first epoch (not timed)."""
    from torch.utils.data import DistributedSampler
    from tqdm import tqdm

    x_train, y_train, x_test, y_test = data
    # The same sampler (same seed) for both runs: same batches, same order.
    # With one process it is a seeded shuffle; under torchrun, a shard each.
    sampler = DistributedSampler(range(len(x_train)), num_replicas=dist.world, rank=dist.rank,
                                 shuffle=True, seed=seed)
    batch = max(1, BATCH_SIZE // dist.world)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    net = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        ids = [dist.device.index] if dist.device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)
    times, losses = [], []
    bar = tqdm(range(epochs), desc=f"{label:5s}", unit="epoch", disable=dist.rank != 0,
               dynamic_ncols=True)
    for epoch in bar:
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), device=dist.device)
        net.train()
        stats = torch.zeros(2, dtype=torch.float64, device=dist.device)  # loss sum, count
        dist.sync()
        t0, untimed = time.perf_counter(), 0.0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            if check is not None and epoch == 0:
                t1 = time.perf_counter()
                check(model, x_train[idx], y_train[idx])
                dist.sync()
                untimed += time.perf_counter() - t1
            loss = F.cross_entropy(net(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            stats[0] += loss.detach() * len(idx)  # no host sync inside the epoch
            stats[1] += len(idx)
        dist.sync()
        times.append(time.perf_counter() - t0 - untimed)
        dist.all_reduce(stats)
        losses.append((stats[0] / stats[1]).item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}", s_per_epoch=f"{times[-1]:.2f}")
    bar.close()
    model.eval()
    with torch.no_grad():  # every rank holds the same weights: evaluate the whole test set
        acc = (model(x_test).argmax(1) == y_test).double().mean().item()
    return {"loss": losses[-1], "acc": acc, "times": times, "first": times[0]}


def _table(rows: list) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(args) -> int:
    require("cuops demo", "demo", "sklearn", "tqdm")
    dist = _Dist(getattr(args, "device", None))
    threads = torch.get_num_threads()
    flags = _backend_flags()
    if dist.device.type == "cpu":
        # Layers this small gain nothing from intra-op threads and lose a lot
        # to their synchronization (10x on a busy 2-core machine): one thread.
        torch.set_num_threads(1)
    try:
        return _run(args, dist)
    finally:  # leave the process as we found it (tests call main() in-process)
        torch.set_num_threads(threads)
        _set_backend_flags(flags)
        dist.close()


_FLAGS = ((torch.backends.cuda.matmul, "allow_tf32"), (torch.backends.cudnn, "allow_tf32"),
          (torch.backends.cudnn, "deterministic"), (torch.backends.cudnn, "benchmark"))


def _backend_flags() -> list:
    return [getattr(mod, name) for mod, name in _FLAGS]


def _set_backend_flags(values) -> None:
    for (mod, name), v in zip(_FLAGS, values):
        setattr(mod, name, v)


def _run(args, dist: _Dist) -> int:
    device = dist.device
    epochs = args.epochs if getattr(args, "epochs", None) is not None else DEFAULT_EPOCHS
    seed = getattr(args, "seed", 0) or 0
    if epochs < 1:
        raise ValueError(f"cuops demo: --epochs must be at least 1, but got {epochs}")
    if device.type == "cuda" and not cuops.cuda_built():
        dist.say("cuops demo: this build of cuops has no CUDA kernels (built without nvcc or "
                 "with CUOPS_CUDA=0); rebuild on the GPU machine or pass --device cpu")
        return 1
    # Compare true fp32 with true fp32: no TF32 in torch's run, and cuDNN's
    # deterministic algorithms so that reruns repeat.
    _set_backend_flags([False, False, True, False])

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    procs = f" | {dist.world} processes (DDP, {dist.backend})" if dist.enabled else ""
    dist.say(f"cuops {cuops.__version__} | torch {torch.__version__} | device: {name}{procs}")
    data = load_digits(device, seed)
    dist.say(f"digits (scikit-learn): {len(data[0])} train / {len(data[2])} test images, 8x8; "
             f"{epochs} epochs, batch {BATCH_SIZE}, SGD lr {LR} momentum {MOMENTUM}, seed {seed}")

    torch.manual_seed(seed)
    torch_model = make_model().to(device)
    cuops_model = cuops.convert(copy.deepcopy(torch_model))  # the same initial weights
    report = cuops_model.cuops_report
    dist.say(f"model: {sum(p.numel() for p in torch_model.parameters()):,} parameters; "
             f"cuops.convert replaced "
             + ", ".join(f"{n} {t}" for t, n in sorted(report.counts.items()))
             + (f" (skipped {len(report.skipped)})" if report.skipped else ""))

    check = GradientCheck(cuops.convert(copy.deepcopy(torch_model)))
    results = {"torch": train(torch_model, data, epochs, seed, dist, "torch", check),
               "cuops": train(cuops_model, data, epochs, seed, dist, "cuops")}
    check.reduce(dist)

    diff, scale = 0.0, 0.0
    for (n, a), b in zip(torch_model.named_parameters(), cuops_model.parameters()):
        diff = max(diff, (a.detach() - b.detach()).abs().max().item())
        scale = max(scale, a.detach().abs().max().item())
    rows = [("run", "train loss", "test accuracy", "time/epoch", "first epoch")]
    for label, r in results.items():
        rows.append((label, f"{r['loss']:.4f}", f"{100 * r['acc']:.2f} %",
                     f"{statistics.median(r['times']):.3f} s", f"{r['first']:.3f} s"))
    dist.say("")
    where = f" ({check.where[0]}, step {check.where[1]})" if check.where else ""
    dist.say(f"gradient check: at each of the first epoch's {check.steps} steps, cuops's gradients "
             f"from torch's parameters\nand batch; largest relative difference from torch's: "
             f"{check.grad:.1e}{where}, loss {check.loss:.1e}")
    dist.say("")
    dist.say(_table(rows))
    dist.say("(time/epoch: median over epochs; the first epoch includes warm-up)")
    dist.say(f"largest parameter difference between the runs: {diff:.2e} "
             f"(largest |parameter|: {scale:.2f}) after {epochs} epochs")
    if diff > 1e-3 * scale:
        note = ("The trajectories diverged. Both runs compute the same thing, with float32 sums "
                "in another order, and training amplifies that rounding (for example, a ReLU "
                "whose input is exactly 0 in one run and 1e-8 in the other takes the other "
                "branch, and SGD carries the difference on). Compare the gradient check and the "
                "accuracies, not the weights.")
    else:
        note = ("The trajectories stayed together: the runs differ by float32 rounding only. "
                "(They can diverge on another CPU or seed: training amplifies rounding; the "
                "gradient check is what must agree.)")
    dist.say(textwrap.fill(note, 100))
    return 0
