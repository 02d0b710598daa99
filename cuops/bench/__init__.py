"""Benchmarks: every variant of an op against PyTorch, measured in one run.

Each suite module (cuops/bench/<suite>.py: one per op, plus `shapes` and
`fp32`, `models`) defines `cases(device, quick)` returning Case objects; `run()` times
them all and returns Result rows; `format_table` prints them. CLI:
`python -m cuops bench add|matmul|conv2d|all|shapes|fp32|models` (`all`: the ops).

Timing (docs/gpu.md): CUDA events around each call with an L2 flush
queued before it (cold cache; the flush also hides host overhead, as
triton's do_bench does), warm-up first, the median of many repetitions, fresh
random inputs (never zeros), input sets rotated when they fit in L2, and the
PyTorch baseline in the same run.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import importlib.util
import statistics
import time
from typing import Callable

import torch

import cuops
from cuops._registry import ladder_ops

# The public ops with a kernel ladder and a module here, in the API's order
# (cuops.__all__): what `bench all` runs. `bench shapes` times the problem
# shapes where cuops lags the libraries most, `bench models` whole networks.
OPS = tuple(op for op in cuops.__all__
            if op in ladder_ops() and importlib.util.find_spec(f"{__name__}.{op}"))
SUITES = (*OPS, "shapes", "fp32", "models")
# Short dtype names for case labels.
DTYPE_LABELS = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32",
                torch.float64: "fp64"}


@dataclasses.dataclass
class Case:
    op: str  # "add"
    label: str  # "fp32 n=256M"
    unit: str  # "GB/s" or "TFLOP/s"
    work: float  # bytes moved or floating-point operations per call
    make: Callable[[], tuple]  # one fresh random input set
    impls: dict  # name -> fn(*inputs); includes the baseline
    baseline: str = "torch"
    bytes_per_set: int = 0  # to size the rotation (0 = one set)
    # Also time torch.compile(the baseline) as impl "torch.compile": for ops
    # that inductor can generate a kernel for (add), not for library calls
    # (cuBLAS/cuDNN gain nothing from compiling).
    compile: bool = False
    # The measured ceiling in `unit` for "% of ceiling": e.g. the device copy
    # bandwidth for a memory-bound op. None: the baseline's own rate (cuBLAS,
    # cuDNN are the ceiling for matmul and conv).
    ceiling: float | None = None
    # Timing budget per impl: warm-up calls, then up to `reps` repetitions for
    # up to max_seconds of host time (on CUDA the calls are queued ahead of
    # the device, so `reps` is what bounds a long kernel's total).
    warmup: int = 5
    max_seconds: float = 2.0
    reps: int = 30
    # fn(*inputs) -> the float64 truth of the op on those inputs, for the
    # accuracy columns (rel_err; see rel_error). None: no accuracy measured.
    truth: Callable | None = None


@dataclasses.dataclass
class Result:
    op: str
    label: str
    impl: str
    ms: float
    rate: float  # work / time in `unit`
    unit: str
    vs_baseline: float  # baseline time / this time (>1 = faster than the baseline)
    error: str = ""
    baseline: str = "torch"  # the case's baseline impl
    ceiling: float = float("nan")  # the case's ceiling in `unit` (see Case.ceiling)
    pct_ceiling: float = float("nan")  # 100 * rate / ceiling
    # Accuracy, for cases with a truth: rel_error(output, float64 truth) on
    # the first input set, and that error over the baseline's (> 1: less
    # accurate than the baseline). NaN: not measured.
    rel_err: float = float("nan")
    rel_err_vs_base: float = float("nan")
    rms_err: float = float("nan")  # rms_error(output, truth)


def use_true_fp32(device: torch.device) -> None:
    """TF32 off for cuBLAS and cuDNN (cuops's fp32 kernels compute true fp32,
    so both sides do), and cuDNN's autotuner on (its best algorithm per
    shape). Set for the whole benchmark run."""
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True


def rel_error(out: torch.Tensor, truth: torch.Tensor) -> float:
    """The normalized max error max|out - truth| / max|truth|, in float64
    (0 for an empty or all-zero truth that `out` matches exactly, inf where it
    does not; NaN if `out` has one). The benchmark's accuracy measure: scale
    free, and its worst element is what a user of the output would meet."""
    if out.shape != truth.shape:
        raise ValueError(f"rel_error: output shape {tuple(out.shape)} != truth shape "
                         f"{tuple(truth.shape)}")
    if truth.numel() == 0:
        return 0.0
    diff = out.to(device=truth.device, dtype=torch.float64, copy=True)  # subtracted in place
    err = diff.sub_(truth).abs_().max().item()
    scale = truth.abs().max().item()
    if scale == 0:
        return 0.0 if err == 0 else float("inf")
    return err / scale


def rms_error(out: torch.Tensor, truth: torch.Tensor) -> float:
    """The normalized RMS error ||out - truth|| / ||truth|| in float64: the
    typical element's error, where rel_error is the worst one's."""
    diff = out.to(device=truth.device, dtype=torch.float64, copy=True).sub_(truth)
    scale = truth.norm().item()
    err = diff.norm().item()
    if scale == 0:
        return 0.0 if err == 0 else float("inf")
    return err / scale


def _rotation(case: Case, device: torch.device) -> list:
    """Enough input sets that rotating through them overflows the L2 cache."""
    if device.type != "cuda" or case.bytes_per_set <= 0:
        return [case.make()]
    l2 = torch.cuda.get_device_properties(device).L2_cache_size
    n = max(1, min(16, -(-3 * l2 // case.bytes_per_set)))
    return [case.make() for _ in range(n)]


_flush_buf = {}


def _flush_l2(device: torch.device) -> None:
    """Overwrite a buffer larger than L2. Queued before each timed call, it
    also keeps the GPU busy while the host prepares the call, so the events
    measure the kernels and not the Python/launch overhead (as do_bench does)."""
    buf = _flush_buf.get(device)
    if buf is None:
        l2 = torch.cuda.get_device_properties(device).L2_cache_size
        buf = _flush_buf[device] = torch.empty(max(4 * l2, 256 << 20) // 4, dtype=torch.int32,
                                               device=device)
    buf.fill_(1)


def time_fn(fn, sets: list, device: torch.device, warmup: int = 5, reps: int = 30,
            max_seconds: float = 2.0) -> float:
    """Median milliseconds of fn(*inputs) over `reps` calls, rotating input sets.

    CUDA: device time from events around each call, with an L2 flush queued
    before it (a cold cache, and host overhead hidden). CPU: wall time."""
    for i in range(warmup):
        fn(*sets[i % len(sets)])
    times = []
    t_end = time.perf_counter() + max_seconds
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(reps)]
        for i, (s, e) in enumerate(events):
            _flush_l2(device)
            s.record()
            fn(*sets[i % len(sets)])
            e.record()
            if time.perf_counter() > t_end and i >= 5:
                events = events[: i + 1]
                break
        torch.cuda.synchronize(device)
        return statistics.median(s.elapsed_time(e) for s, e in events)
    for i in range(reps):
        t0 = time.perf_counter()
        fn(*sets[i % len(sets)])
        times.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() > t_end and len(times) >= 3:
            break
    return statistics.median(times)


def time_call_overhead(fn, args, device: torch.device, reps: int = 200) -> float:
    """Microseconds per call when calls are issued back to back (host-bound for
    small inputs): what a user sees in eager mode, launch overhead included."""
    for _ in range(5):
        fn(*args)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        fn(*args)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / reps * 1e6


def _scale(unit: str) -> float:
    return {"GB/s": 1e9, "TFLOP/s": 1e12, "img/s": 1.0}[unit]


def _compiled(fn):
    """torch.compile(fn), compiled on its first (warm-up) call. Dynamo is reset
    first: every case is a new shape, and recompilations of one function past
    the cache limit would silently fall back to eager."""
    torch._dynamo.reset()
    return torch.compile(fn, dynamic=False)


def _impls(case: Case, compile: bool) -> dict:
    """The case's impls, with torch.compile(baseline) right after the baseline."""
    if not (compile and case.compile and case.baseline in case.impls):
        return dict(case.impls)
    out = {}
    for name, fn in case.impls.items():
        out[name] = fn
        if name == case.baseline:
            out["torch.compile"] = _compiled(fn)
    return out


def run(ops=OPS, device="cuda", quick=False, progress=None, compile=True, only=()) -> list:
    """Time every case of `ops`; `progress(done, total, text)` is called
    before each case (done = cases finished) and each impl of it.
    `compile=False` leaves out the torch.compile impls; `only`: just the
    cases whose label contains one of these strings."""
    device = torch.device(device)
    cases = []
    for op in ops:
        mod = importlib.import_module(f"cuops.bench.{op}")
        cases += mod.cases(device, quick)
    if only:
        cases = [c for c in cases if any(s in c.label for s in only)]
    results = []
    for i, case in enumerate(cases):
        if progress:
            progress(i, len(cases), f"{case.op} {case.label}")
        sets = _rotation(case, device)
        impls = _impls(case, compile)
        ms = {}
        for name, fn in impls.items():
            if progress:
                progress(i, len(cases), f"{case.op} {case.label}: {name}")
            try:
                ms[name] = time_fn(fn, sets, device, warmup=case.warmup, reps=case.reps,
                                   max_seconds=case.max_seconds)
                err = ""
            except Exception as e:  # a variant that cannot run this case is reported, not fatal
                ms[name], err = float("nan"), f"{type(e).__name__}: {e}"[:120]
            results.append(Result(case.op, case.label, name, ms[name], 0.0, case.unit, 0.0, err,
                                  case.baseline))
        base = ms.get(case.baseline, float("nan"))
        rate = {n: case.work / (t * 1e-3) / _scale(case.unit) if t == t else float("nan")
                for n, t in ms.items()}
        ceiling = case.ceiling
        if ceiling is None:  # the baseline's own rate (cuBLAS, cuDNN)
            ceiling = rate.get(case.baseline, float("nan"))
        for r in results[-len(impls):]:
            r.rate = rate[r.impl]
            r.vs_baseline = base / r.ms if r.ms == r.ms else float("nan")
            r.ceiling = ceiling
            r.pct_ceiling = (100 * r.rate / ceiling if ceiling == ceiling and ceiling > 0
                             else float("nan"))
        if case.truth is not None:
            if progress:
                progress(i, len(cases), f"{case.op} {case.label}: accuracy")
            _accuracy(case, sets[0], impls, results[-len(impls):])
        del sets, impls
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if progress:
        progress(len(cases), len(cases), "done")
    return results


def _accuracy(case: Case, inputs: tuple, impls: dict, rows: list) -> None:
    """Fill rel_err and rel_err_vs_base of the case's rows (those that ran):
    each impl's output on `inputs` against the case's float64 truth."""
    try:
        truth = case.truth(*inputs)
    except Exception:  # e.g. no memory for the float64 copy: no accuracy columns
        return
    for r in rows:
        if r.ms != r.ms:
            continue
        try:
            out = impls[r.impl](*inputs)
            r.rel_err = rel_error(out, truth)
            r.rms_err = rms_error(out, truth)
        except Exception:
            pass
    base = next((r.rel_err for r in rows if r.impl == case.baseline), float("nan"))
    for r in rows:
        if r.rel_err == r.rel_err and base == base:
            r.rel_err_vs_base = (r.rel_err / base if base > 0
                                 else 1.0 if r.rel_err == 0 else float("inf"))


def format_table(results: list) -> str:
    """The results as a text table; `vs base` is baseline time / impl time
    (> 1: faster than the baseline), `% ceil` the rate as % of the case's
    measured ceiling (see Case.ceiling). Where some case measured accuracy:
    `rel err` (rel_error against the float64 truth) and `err/base` (that
    error over the baseline's, > 1: less accurate)."""
    accuracy = any(r.rel_err == r.rel_err for r in results)
    rows = [("op", "case", "impl", "ms", "rate", "% ceil", "vs base")
            + (("rel err", "err/base", "rms err") if accuracy else ())]
    for r in results:
        ok = r.rate == r.rate
        rate = f"{r.rate:.4g} {r.unit}" if ok else "n/a"
        pct = f"{r.pct_ceiling:.0f}%" if r.pct_ceiling == r.pct_ceiling else ""
        impl = f"{r.impl} *" if r.impl == r.baseline else r.impl
        vs = f"{r.vs_baseline:.2f}x" if r.vs_baseline == r.vs_baseline else r.error[:40]
        row = (r.op, r.label, impl, f"{r.ms:.4f}" if ok else "n/a", rate, pct, vs)
        if accuracy:
            row += (f"{r.rel_err:.2e}" if r.rel_err == r.rel_err else "",
                    f"{r.rel_err_vs_base:.2f}x" if r.rel_err_vs_base == r.rel_err_vs_base else "",
                    f"{r.rms_err:.2e}" if r.rms_err == r.rms_err else "")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(* the baseline; % ceil: of the measured ceiling, the baseline's rate "
                 "unless the case names one"
                 + ("; rel err: max|out - truth| / max|truth| against a float64 truth, "
                    "err/base: over the baseline's, rms err: ||out - truth|| / ||truth||" if accuracy else "") + ")")
    return "\n".join(lines)


def write_csv(results: list, path: str, header: str = "") -> None:
    """One row per (case, impl); `header` (device, torch version) as a comment line."""
    with open(path, "w", newline="") as f:
        if header:
            f.write(header.rstrip() + "\n")
        w = csv.writer(f)
        fields = [fl.name for fl in dataclasses.fields(Result)]
        w.writerow(fields)
        for r in results:
            w.writerow([getattr(r, k) for k in fields])


def read_csv(path: str) -> tuple:
    """(results, header) from a file written by write_csv; columns that an
    older file lacks take their defaults."""
    header, lines = [], []
    with open(path, newline="") as f:
        for line in f:
            (header if line.startswith("#") else lines).append(line)
    types = {fl.name: fl.type for fl in dataclasses.fields(Result)}
    results = []
    for row in csv.DictReader(lines):
        kw = {}
        for k, v in row.items():
            if k not in types or v is None:
                continue
            kw[k] = float(v) if types[k] in (float, "float") else v
        results.append(Result(**kw))
    if lines and "baseline" not in lines[0].split(","):  # a file from before that column
        for r in results:
            r.baseline = "cudnn" if any(o.op == r.op and o.label == r.label and o.impl == "cudnn"
                                        for o in results) else "torch"
    return results, "".join(header).strip()
