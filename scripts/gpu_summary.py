"""The short table that scripts/gpu_check.sh prints last: test counts, the
sanitizer summaries, and per benchmark case torch's time against cuops's
(the whole-model rows in full; `bench shapes`: the cuops default, impl
"cuops"; the ops: the fastest cuops variant), with the accuracy ratio
(err/base) where the case measured one."""

import glob
import os
import sys

from cuops.bench import read_csv


def main(out: str) -> None:
    tests = os.path.join(out, "tests.log")
    if os.path.exists(tests):
        with open(tests) as f:
            print("gpu tests:", f.read().strip().splitlines()[-1])
    san = os.path.join(out, "sanitize.txt")
    if os.path.exists(san):
        with open(san) as f:
            print(f.read().strip())
    rows = []
    for path in sorted(glob.glob(os.path.join(out, "bench_*.csv"))):
        if os.path.basename(path) == "bench_compare.csv":  # scripts/bench_compare.py's own table
            continue
        results, _ = read_csv(path)
        cases = {}
        for r in results:
            cases.setdefault((r.op, r.label), []).append(r)
        for (op, label), rs in cases.items():
            base = next((r for r in rs if r.impl == r.baseline), None)
            ours = [r for r in rs if r.impl not in (r.baseline, "torch.compile") and r.ms == r.ms]
            if base is None or not ours:
                continue
            default = [r for r in ours if r.impl == "cuops"]  # bench shapes: the default
            best = default[0] if default else min(ours, key=lambda r: r.ms)
            err = best.rel_err_vs_base
            rows.append((op, label, f"{base.ms:.3f}", best.impl, f"{best.ms:.3f}",
                         f"{base.ms / best.ms:.2f}x", f"{err:.2f}x" if err == err else ""))
    if rows:
        head = ("op", "case", "torch ms", "cuops impl", "cuops ms", "ratio", "err/base")
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        for r in [head, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
