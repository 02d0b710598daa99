"""The Hopper wgrad's division by invariant integers (csrc/cuda/conv2d/fast_div.cuh),
checked on the host against C++'s `/`: the header is plain C++ outside nvcc."""

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_fast_div_matches_division(tmp_path):
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path / "fast_div_check"
    subprocess.run([cxx, "-O2", "-std=c++17", f"-I{ROOT / 'csrc'}",
                    str(ROOT / "tests" / "cpp" / "fast_div_check.cpp"), "-o", str(exe)],
                   check=True, capture_output=True, timeout=120)
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "wrong 0" in out.stdout
