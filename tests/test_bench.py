"""`python -m cuops bench` on the CPU: the CLI (table, CSV, chart), the
torch.compile impl, % of ceiling, the accuracy columns (rel_error), the
`shapes` suite, and re-plotting from a CSV."""

import math

import pytest
import torch

from cuops import bench
from cuops.__main__ import main as cli
from cuops.bench import Case, Result, read_csv, rel_error, write_csv


def _fields(r):
    return [getattr(r, k) for k in ("op", "label", "impl", "ms", "rate", "unit", "vs_baseline",
                                    "error", "baseline", "ceiling", "pct_ceiling", "rel_err",
                                    "rel_err_vs_base")]


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


def test_cli_only_filters_cases(capsys):
    """--only keeps the cases whose label contains one of the strings."""
    assert cli(["bench", "add", "--quick", "--device", "cpu", "--no-compile", "--only",
                "no such case"]) == 0
    assert "torch *" not in capsys.readouterr().out
    from cuops.bench import add

    labels = {c.label for c in add.cases(torch.device("cpu"), True)}
    some = sorted(labels)[0]
    rows = bench.run(["add"], device="cpu", quick=True, compile=False, only=(some,))
    assert rows and {r.label for r in rows} == {x for x in labels if some in x}


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
                err = 1e-3 * (j + 1) if op == "conv2d" and rate == rate else float("nan")
                rows.append(Result(op, label, impl, ms, rate, unit, rate / base_rate,
                                   "RuntimeError: no" if rate != rate else "", base, ceiling,
                                   100 * rate / ceiling, err, err / 1e-3))
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
    assert math.isnan(rows[1].rel_err) and math.isnan(rows[1].rel_err_vs_base)
    assert math.isnan(rows[1].rms_err)


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


@pytest.fixture
def backend_flags():
    """Building CUDA cases sets torch's TF32 and cudnn.benchmark flags for the
    run (bench.use_true_fp32): restored for the tests that follow."""
    b = torch.backends
    saved = b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32, b.cudnn.benchmark
    yield
    b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32, b.cudnn.benchmark = saved


# --- accuracy: rel_error and the columns it fills --------------------------


def test_rel_error_known_perturbation():
    """max|out - truth| / max|truth|, against a float64 truth: one element
    off by delta gives delta / max|truth|, in any output dtype."""
    g = torch.Generator().manual_seed(0)
    truth = torch.randn(37, 53, dtype=torch.float64, generator=g)
    scale = truth.abs().max().item()
    out = truth.clone()
    out[5, 7] += 0.25
    assert math.isclose(rel_error(out, truth), 0.25 / scale, rel_tol=1e-12)
    assert rel_error(truth.clone(), truth) == 0.0
    # fp32 / bf16 outputs: the rounding of the output dtype, compared in float64
    assert 0 < rel_error(truth.float(), truth) <= 2**-24
    assert 2**-12 < rel_error(truth.bfloat16(), truth) <= 2**-8  # half an ulp of 8 bits
    # a uniform relative perturbation of every element: exactly that relative error
    assert math.isclose(rel_error(truth * (1 + 1e-3), truth), 1e-3, rel_tol=1e-9)
    # a non-contiguous output, compared element by element
    assert rel_error(truth.mT.contiguous().mT, truth) == 0.0
    with pytest.raises(ValueError, match="shape"):
        rel_error(out[:, :5], truth)


def test_rel_error_edges():
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    assert rel_error(zeros.float(), zeros) == 0.0
    assert rel_error(zeros + 1, zeros) == math.inf
    empty = torch.empty(0, 8, dtype=torch.float64)
    assert rel_error(empty.float(), empty) == 0.0
    truth = torch.randn(4, 4, dtype=torch.float64)
    bad = truth.clone()
    bad[1, 1] = float("nan")
    assert math.isnan(rel_error(bad, truth))


def test_run_fills_accuracy_columns(monkeypatch):
    """A case with a truth: each impl's rel_error on the first input set, and
    its ratio to the baseline's; a perturbed impl shows its known error."""
    g = torch.Generator().manual_seed(1)

    def make():
        return (torch.randn(48, 64, generator=g), torch.randn(64, 40, generator=g))

    def truth(a, b):
        return a.double() @ b.double()

    def off_by(a, b):  # the float64 product, one element moved by 1e-3 of the max
        t = truth(a, b)
        t[3, 4] += 1e-3 * t.abs().max()
        return t.float()

    def crashes(a, b):
        raise RuntimeError("no kernel")

    case = Case("matmul", "tiny", "TFLOP/s", 2 * 48 * 64 * 40, make,
                {"torch": torch.matmul, "off_by": off_by, "crashes": crashes}, truth=truth,
                max_seconds=0.05)
    monkeypatch.setattr("cuops.bench.matmul.cases", lambda device, quick: [case])
    torch_row, off_row, crash_row = bench.run(["matmul"], device="cpu")
    assert 0 < torch_row.rel_err < 1e-5 and torch_row.rel_err_vs_base == 1.0
    assert math.isclose(off_row.rel_err, 1e-3, rel_tol=1e-3)
    assert math.isclose(off_row.rel_err_vs_base, off_row.rel_err / torch_row.rel_err)
    # one element of 48*40 off by 1e-3 of the max: a smaller share of the norm
    assert 1e-5 < off_row.rms_err < off_row.rel_err
    assert crash_row.error.startswith("RuntimeError") and math.isnan(crash_row.rel_err)
    table = bench.format_table([torch_row, off_row, crash_row])
    assert "rel err" in table and "err/base" in table and "1.00e-03" in table


def test_rms_error_known_perturbation():
    """||out - truth|| / ||truth||: a uniform relative perturbation gives it
    exactly; zeros and NaNs as rel_error."""
    truth = torch.randn(33, 17, dtype=torch.float64)
    assert math.isclose(bench.rms_error(truth * (1 - 2e-4), truth), 2e-4, rel_tol=1e-9)
    assert bench.rms_error(truth.clone(), truth) == 0.0
    zeros = torch.zeros(2, 3, dtype=torch.float64)
    assert bench.rms_error(zeros.float(), zeros) == 0.0
    assert bench.rms_error(zeros + 1, zeros) == math.inf


def test_fp32_suite(capsys, backend_flags):
    """The fp32 accuracy study: on the CPU it runs (normal and wide inputs,
    every impl with both error columns); its GPU list has the speed targets,
    the K sweep to 524288, the wide inputs, TF32 next to true fp32, and the
    conv layers in both layouts."""
    from cuops.bench import fp32

    rows = bench.run(["fp32"], device="cpu")
    assert {r.label.split()[-1] for r in rows} == {"normal", "wide"}
    for r in rows:
        assert r.error == "" and r.rel_err < 1e-5 and r.rms_err <= r.rel_err * 10, r
    full = fp32.cases(torch.device("cuda"), quick=False)
    labels = [c.label for c in full]
    assert len(set(labels)) == len(labels)
    assert any("8192x8192x8192" in s for s in labels) and any("x524288x" in s for s in labels)
    assert any(s.endswith("wide") for s in labels) and any(s.endswith(" cl") for s in labels)
    for c in full:
        assert c.truth is not None and c.baseline in c.impls
        assert any(name.endswith("tf32") for name in c.impls) and "cuops" in c.impls
    w = fp32.wide((4096,), torch.device("cpu"))
    assert (w < 0).any() and (w > 0).any()
    assert 2.0**-20 <= w.abs().min() and w.abs().max() <= 2.0**20 and w.abs().max() > 2.0**15


def test_table_without_accuracy_has_no_accuracy_columns():
    rows = [r for r in _synthetic() if r.op == "add"]
    assert "rel err" not in bench.format_table(rows)


def test_matmul_suite_has_a_truth_except_fp64(backend_flags):
    from cuops.bench import matmul

    for device in ("cpu", "cuda"):
        for case in matmul.cases(torch.device(device), quick=True):
            assert (case.truth is None) == case.label.startswith("fp64"), case.label


# --- the shapes suite -------------------------------------------------------


def test_shapes_is_a_suite_not_an_op():
    assert "shapes" in bench.SUITES and "shapes" not in bench.OPS  # `bench all`: the ops only


def test_shapes_cuda_case_list(backend_flags):
    """The GPU case list (built without a GPU: inputs are made only when
    timed): every class of the table in docs, ~15-30 cases, unique labels, the
    baseline and the cuops default in each, a float64 truth for each product,
    fewer calls for the biggest problems; --quick a subset."""
    from cuops.bench import shapes

    full = shapes.cases(torch.device("cuda"), quick=False)
    quick = shapes.cases(torch.device("cuda"), quick=True)
    assert 15 <= len(full) <= 30 and 5 <= len(quick) < len(full)
    labels = [c.label for c in full]
    assert len(set(labels)) == len(labels)
    assert {c.label for c in quick} <= set(labels)
    for c in full:
        assert c.op == "shapes" and c.unit == "TFLOP/s" and c.work > 0
        assert list(c.impls)[:2] == [c.baseline, "cuops"], c.label
        if c.label.startswith("matmul"):
            assert c.baseline == "torch" and c.truth is not None
        else:
            assert c.label.startswith("conv2d ") and c.baseline == "cudnn" and c.truth is None
        assert "naive" not in c.impls or c.work <= 2 * 2048**3
        assert "direct" not in c.impls  # minutes per call at these sizes
        heavy = c.work > shapes._HEAVY_FLOPS or c.bytes_per_set > shapes._HEAVY_BYTES
        assert (c.reps, c.warmup) == ((10, 2) if heavy else (30, 5)), c.label
    for expected in ("conv2d bwd 7x7/2 3->64@224 n32 fp16 cl",
                     "conv2d bwd 7x7/2 3->64@224 n32 bf16 cl",
                     "conv2d bwd 3x3/2 128->128@56 n32 fp16 cl",
                     "conv2d bwd 3x3/2 128->128@56 n32 bf16 cl",
                     "conv2d fwd 1x1 64->256@56 n32 fp16 cl",
                     "conv2d bwd 1x1 64->256@56 n32 fp16 cl",
                     "conv2d fwd 1x1/2 256->512@56 n32 fp16 cl",
                     "conv2d bwd 1x1/2 256->512@56 n32 fp16 cl",
                     "conv2d fwd 3x3 64->128@512x1024 n8 fp32",
                     "conv2d fwd 1x1 64->128@512 n16 fp32",
                     "conv2d fwd 3x3 g4 128->128@56 n32 fp32",
                     "conv2d fwd 11x11/4 3->64@224 n32 fp32",
                     "conv2d bwd 11x11/4 3->64@224 n32 fp32",
                     "conv2d fwd 7x7 g96 96->96@56 n64 bf16 cl",
                     "conv2d bwd 7x7 g96 96->96@56 n64 bf16 cl",
                     "matmul 256x524288@524288x256 fp32",
                     "matmul 2048x262144@262144x1 fp32",
                     "matmul 2048x262144@262144x1 bf16",
                     "matmul 16x4096@4096x4096 bf16",
                     "matmul 1x4096@4096x4096 bf16",
                     "matmul 1000x1000@1000x1000 bf16",
                     "matmul 512x1024x128@512x128x1024 bf16"):
        assert expected in labels, expected
    work = {c.label: c.work for c in full}
    assert work["matmul 512x1024x128@512x128x1024 bf16"] == 2 * 512 * 1024 * 128 * 1024
    # dgrad + wgrad: twice the forward's 2*N*K*P*Q*C*R*S
    assert work["conv2d bwd 7x7/2 3->64@224 n32 fp16 cl"] == 2 * 2 * 32 * 64 * 112 * 112 * 3 * 49


def test_cli_shapes_quick(tmp_path, capsys):
    """`bench shapes --quick` on the CPU (every class at a tiny size): the
    baseline, the cuops default and the variants run; the products report
    their accuracy, in the table and the CSV; the chart is drawn."""
    csv_path, png = tmp_path / "shapes.csv", tmp_path / "shapes.png"
    assert cli(["bench", "shapes", "--quick", "--device", "cpu", "--csv", str(csv_path),
                "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "rel err" in out and "err/base" in out and "cudnn" not in out
    results, _ = read_csv(str(csv_path))
    cases = {r.label for r in results}
    assert any(c.startswith("matmul") for c in cases) and any(c.startswith("conv2d") for c in cases)
    for label in cases:
        rows = {r.impl: r for r in results if r.label == label}
        assert {"torch", "cuops"} <= set(rows) and len(rows) >= 3, label
        for r in rows.values():
            assert r.op == "shapes" and r.error == "" and r.rate > 0, r
            if label.startswith("matmul"):
                tol = 1e-5 if label.endswith("fp32") else 2**-7
                assert 0 <= r.rel_err < tol and r.rel_err_vs_base == r.rel_err_vs_base, r
            else:
                assert math.isnan(r.rel_err), r
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # re-printed from the CSV, this suite only
    assert cli(["bench", "shapes", "--from-csv", str(csv_path)]) == 0
    assert "rel err" in capsys.readouterr().out


@pytest.mark.gpu
def test_cli_shapes_quick_gpu(tmp_path, capsys, backend_flags):
    """The GPU run of `bench shapes --quick`: every impl runs (no error row),
    the cuops default is as accurate as torch.matmul within a factor, and
    fp32 stays true fp32 (TF32 off)."""
    csv_path = tmp_path / "shapes.csv"
    assert cli(["bench", "shapes", "--quick", "--csv", str(csv_path)]) == 0
    results, _ = read_csv(str(csv_path))
    for r in results:
        assert r.error == "" and r.rate > 0, r
        if r.label.startswith("matmul") and r.impl in ("torch", "cuops"):
            tol = 1e-4 if r.label.endswith("fp32") else 2**-6
            assert 0 <= r.rel_err < tol, r
