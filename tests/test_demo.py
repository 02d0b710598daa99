"""`python -m cuops demo` end to end on the CPU (two epochs in one process, one
through the DDP code path with the torchrun env vars and world size 1, and one
under torchrun with 2 gloo processes: the CPU suite must stay short)."""

import argparse
import os
import re
import socket
import subprocess
import sys

import pytest
import torch

from cuops import demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _check_output(out: str, epochs: int = 1, min_accuracy: float = 0.0):
    assert "digits (scikit-learn): 1438 train / 359 test images" in out
    assert "cuops.convert replaced 3 Conv2d, 2 Linear" in out
    header = next(line for line in out.splitlines() if line.startswith("run "))
    for col in ("train loss", "test accuracy", "time/epoch"):
        assert col in header
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith(("torch ", "cuops "))}
    assert set(rows) == {"torch", "cuops"}
    for row in rows.values():
        loss, acc = float(row[1]), float(row[2])
        assert 0 < loss < 2.5 and min_accuracy <= acc <= 100, row
    # What must agree: cuops's gradients from torch's parameters, at every step
    # of the first epoch (float32 rounding only).
    m = re.search(r"at each of the first epoch's (\d+) steps.*\n.*largest relative difference "
                  r"from torch's: ([^\s,]+).*, loss (\S+)", out)
    assert m, out
    assert int(m.group(1)) > 0 and float(m.group(2)) < 1e-4 and float(m.group(3)) < 1e-5
    # The trajectories may diverge (training amplifies rounding); the output says which.
    m = re.search(r"largest parameter difference between the runs: (\S+) \(largest \|parameter\|: "
                  r"(\S+)\) after (\d+) epochs", out)
    assert m, out
    assert int(m.group(3)) == epochs
    together = float(m.group(1)) <= 1e-3 * float(m.group(2))
    assert ("The trajectories stayed together" in out) == together
    assert ("The trajectories diverged" in out) == (not together)


def _args(**kw):
    return argparse.Namespace(**{"device": "cpu", "epochs": 1, "seed": 0, **kw})


def test_demo_cpu(capsys):
    threads, tf32 = torch.get_num_threads(), torch.backends.cudnn.allow_tf32
    assert demo.main(_args(epochs=2)) == 0
    _check_output(capsys.readouterr().out, epochs=2, min_accuracy=70)
    assert torch.get_num_threads() == threads  # restored
    assert torch.backends.cudnn.allow_tf32 == tf32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_ddp_code_path_world_size_1(capsys, monkeypatch):
    for k, v in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(k, v)
    assert demo.main(_args(seed=1)) == 0
    out = capsys.readouterr().out
    assert "1 processes (DDP, gloo)" in out
    _check_output(out)
    assert not torch.distributed.is_initialized()  # torn down


def test_demo_torchrun_two_processes():
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "cuops", "demo", "--device", "cpu", "--epochs", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 processes (DDP, gloo)" in p.stdout
    _check_output(p.stdout)
    assert p.stdout.count("train loss") == 1  # only rank 0 prints


def test_bad_epochs():
    with pytest.raises(ValueError, match="--epochs"):
        demo.main(_args(epochs=0))


def test_cuda_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        demo.main(_args(device="cuda"))


@pytest.mark.gpu
@pytest.mark.parametrize("device", [None, "cuda"])
def test_demo_cuda_single_process(device, capsys):
    # "cuda" without an index must work (torch.cuda.set_device needs one).
    assert demo.main(_args(device=device, epochs=1)) == 0
    assert "largest parameter difference" in capsys.readouterr().out
