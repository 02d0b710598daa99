"""`python -m cuops`: with an optional dependency missing it prints one line
naming the extra to install and exits with 1 (simulated by sys.modules[name] =
None, which makes `import name` fail as if it were not installed); `info`'s
columns."""

import os
import subprocess
import sys

import pytest

from cuops.__main__ import main as cli
from cuops._optional import MissingDependency, require

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSV = os.path.join(ROOT, "docs", "results", "bench-h100.csv")


@pytest.mark.parametrize("missing,argv,line", [
    ("sklearn", ["demo", "--device", "cpu"], "cuops demo needs scikit-learn: pip install 'cuops[demo]'"),
    ("tqdm", ["demo", "--device", "cpu"], "cuops demo needs tqdm: pip install 'cuops[demo]'"),
    ("tqdm", ["bench", "add", "--device", "cpu"], "cuops bench needs tqdm: pip install 'cuops[bench]'"),
    ("torchvision", ["bench", "models", "--device", "cpu"],
     "cuops bench models needs torchvision: pip install 'cuops[bench]'"),
    ("matplotlib", ["bench", "--from-csv", CSV, "--plot", "unwritten.png"],
     "cuops bench --plot needs matplotlib: pip install 'cuops[bench]'"),
])
def test_cli_names_the_extra(missing, argv, line, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, missing, None)
    assert cli(argv) == 1
    out = capsys.readouterr()
    assert out.err == line + "\n" and out.out == ""


def test_require():
    require("x", "demo", "math", "json")  # present: nothing happens
    with pytest.raises(MissingDependency, match=r"^x needs no_such_mod_xyz: pip install 'cuops\[test\]'$"):
        require("x", "test", "math", "no_such_mod_xyz")
    assert issubclass(MissingDependency, ImportError)


def test_python_m_cuops_subprocess():
    code = ("import sys, runpy; sys.modules['sklearn'] = None; sys.argv = ['cuops', 'demo']; "
            "runpy.run_module('cuops', run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=env, cwd=ROOT)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        "cuops demo needs scikit-learn: pip install 'cuops[demo]'"], p.stderr


def test_info_columns(monkeypatch, capsys):
    """`python -m cuops info`: one row per variant, the columns aligned for any name length."""
    import cuops

    fake = [{"op": "add", "device": "cuda", "name": "grid_stride", "summary": "", "dtypes": ["Float"],
             "default_when": []},
            {"op": "conv2d", "device": "cuda", "name": "implicit_gemm_mma_splitk", "summary": "",
             "dtypes": ["Half"], "default_when": [("Half", ""), ("BFloat16", "")]},
            {"op": "conv2d_backward_input", "device": "cuda", "name": "direct", "summary": "",
             "dtypes": ["Float"], "default_when": [("Float", "depthwise"), ("Double", "depthwise")]},
            {"op": "conv2d_backward_input", "device": "cuda", "name": "implicit_gemm",
             "summary": "", "dtypes": ["Float"], "default_when": [("Float", "otherwise")]}]
    monkeypatch.setattr(cuops._C, "variants", lambda: fake)
    assert cli(["info"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 4
    assert rows[1].split() == ["conv2d", "cuda", "implicit_gemm_mma_splitk", "default:",
                               "float16,bfloat16"]
    assert rows[2].split()[2:] == ["direct", "default:", "float32,float64", "if", "depthwise"]
    assert rows[3].split()[2:] == ["implicit_gemm", "default:", "float32", "otherwise"]
    assert {r.index("cuda") for r in rows} == {len("  conv2d_backward_input  ")}
    assert rows[1].index("default:") == rows[2].index("default:")


def test_bench_suites_listed(capsys):
    """`bench` takes every suite: the ops, `all` (the ops), `shapes`, `fp32` and `models`."""
    with pytest.raises(SystemExit) as e:
        cli(["bench", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for suite in ("add", "matmul", "conv2d", "all", "shapes", "fp32", "models"):
        assert suite in out
    with pytest.raises(SystemExit) as e:
        cli(["bench", "no_such_suite"])
    assert e.value.code == 2
