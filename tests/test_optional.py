"""Missing optional dependencies: `python -m cuops` prints one line naming the
extra to install and exits with 1 (simulated by sys.modules[name] = None, which
makes `import name` fail as if it were not installed)."""

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
