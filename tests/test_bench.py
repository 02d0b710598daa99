"""`python -m cuops bench` on the CPU: the CLI (table, CSV, chart), the
torch.compile impl, % of ceiling, and re-plotting from a CSV."""

import math

import torch

from cuops import bench
from cuops.__main__ import main as cli
from cuops.bench import Case, Result, read_csv, write_csv


def _fields(r):
    return [getattr(r, k) for k in ("op", "label", "impl", "ms", "rate", "unit", "vs_baseline",
                                    "error", "baseline", "ceiling", "pct_ceiling")]


def _same(a, b):
    for x, y in zip(_fields(a), _fields(b)):
        if isinstance(x, float):
            assert (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-12), (x, y)
        else:
            assert x == y


def test_cli_add_quick(tmp_path, capsys):
    csv_path, png = tmp_path / "add.csv", tmp_path / "add.png"
    assert cli(["bench", "add", "--quick", "--device", "cpu", "--no-compile", "--csv",
                str(csv_path), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# device: CPU | torch")
    for col in ("impl", "rate", "% ceil", "vs base"):
        assert col in out
    assert "torch *" in out and "GB/s" in out
    results, header = read_csv(str(csv_path))
    assert header.startswith("# device: CPU")
    impls = {r.impl for r in results}
    assert "torch" in impls and len(impls) >= 2 and "torch.compile" not in impls
    for r in results:
        assert r.op == "add" and r.rate > 0 and r.error == ""
        if r.impl == "torch":
            assert r.vs_baseline == 1.0 and math.isclose(r.pct_ceiling, 100.0)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compile_impl_and_explicit_ceiling():
    def make():
        return torch.randn(4096), torch.randn(4096)

    case = Case("add", "tiny", "GB/s", 3 * 4096 * 4, make, {"torch": torch.add, "mine": torch.add},
                compile=True, ceiling=1e9)
    import cuops.bench.add as add_mod

    orig = add_mod.cases
    add_mod.cases = lambda device, quick: [case]
    try:
        results = bench.run(["add"], device="cpu")
    finally:
        add_mod.cases = orig
    assert [r.impl for r in results] == ["torch", "torch.compile", "mine"]
    for r in results:
        assert r.ceiling == 1e9 and math.isclose(r.pct_ceiling, 100 * r.rate / 1e9)
        assert r.baseline == "torch"
    assert results[1].error == "" and results[1].rate > 0  # inductor's CPU kernel ran


def _synthetic():
    rows = []
    for op, unit, base, impls in (("add", "GB/s", "torch", ["torch", "torch.compile", "vec16"]),
                                  ("conv2d", "TFLOP/s", "cudnn", ["cudnn", "direct", "igemm"])):
        for k, label in enumerate(["small", "a much longer case label"]):
            for j, impl in enumerate(impls):
                rate = float("nan") if (impl == "direct" and k) else 100.0 * (k + 1) / (j + 1)
                ms = 1 / rate if rate == rate else float("nan")
                base_rate = 100.0 * (k + 1)
                ceiling = 3000.0 if op == "add" else base_rate
                rows.append(Result(op, label, impl, ms, rate, unit, rate / base_rate,
                                   "RuntimeError: no" if rate != rate else "", base, ceiling,
                                   100 * rate / ceiling))
    return rows


def test_csv_round_trip(tmp_path):
    rows = _synthetic()
    path = str(tmp_path / "r.csv")
    write_csv(rows, path, "# device: test | torch x")
    back, header = read_csv(path)
    assert header == "# device: test | torch x"
    assert len(back) == len(rows)
    for a, b in zip(rows, back):
        _same(a, b)


def test_read_csv_without_new_columns(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("# device: old\nop,label,impl,ms,rate,unit,vs_baseline,error\n"
                    "conv2d,l,cudnn,1.0,2.0,TFLOP/s,1.0,\nconv2d,l,igemm,2.0,1.0,TFLOP/s,0.5,\n")
    rows, _ = read_csv(str(path))
    assert [r.baseline for r in rows] == ["cudnn", "cudnn"]
    assert math.isnan(rows[1].pct_ceiling)


def test_plot_from_csv(tmp_path, capsys):
    path, png = str(tmp_path / "r.csv"), tmp_path / "chart.png"
    write_csv(_synthetic(), path, "# device: test | torch x")
    assert cli(["bench", "--from-csv", path, "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "% ceil" in out and "cudnn *" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    # one op only
    assert cli(["bench", "conv2d", "--from-csv", path]) == 0
    out = capsys.readouterr().out
    assert "conv2d" in out and "\nadd " not in out


def test_cli_models_quick(tmp_path, capsys):
    """`bench models` on the CPU (quick: ResNet-18 at batch 2): every case runs
    both impls, torch first as the baseline."""
    import pytest

    pytest.importorskip("torchvision")
    csv_path = tmp_path / "models.csv"
    assert cli(["bench", "models", "--quick", "--device", "cpu", "--csv", str(csv_path)]) == 0
    assert "img/s" in capsys.readouterr().out
    results, _ = read_csv(str(csv_path))
    labels = {r.label for r in results}
    assert labels == {f"resnet18 {m} {p}" for m in ("train", "infer") for p in ("fp32", "bf16")}
    for r in results:
        assert r.op == "models" and r.impl in ("torch", "cuops") and r.rate > 0, r
