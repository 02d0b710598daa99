"""Before/after table of two benchmark runs of the same GPU call
(scripts/gpu_check.sh with BEFORE=...): for each op, case and implementation,
the time before, after and their ratio. torch's own rows measure the
run-to-run noise of the machine: a cuops row is only slower when its ratio
falls outside the spread of torch's.

    python scripts/bench_compare.py OUT/before OUT
"""

import glob
import os
import statistics
import sys

from cuops.bench import read_csv


# PyTorch's own implementations: the baseline of each case and torch.compile.
_TORCH = set()


def load(out: str) -> dict:
    rows = {}
    for path in sorted(glob.glob(os.path.join(out, "bench_*.csv"))):
        results, _ = read_csv(path)
        for r in results:
            if r.ms == r.ms:  # NaN: the impl did not run
                rows[(r.op, r.label, r.impl)] = r.ms
                if r.impl in (r.baseline, "torch.compile"):
                    _TORCH.add(r.impl)
    return rows


def main(before_dir: str, after_dir: str) -> None:
    before, after = load(before_dir), load(after_dir)
    keys = [k for k in after if k in before]
    if not keys:
        print("bench compare: no common rows")
        return
    speed = {k: before[k] / after[k] for k in keys}  # > 1: faster after
    noise = [speed[k] for k in keys if k[2] in _TORCH]
    ours = [k for k in keys if k[2] not in _TORCH]
    lo, hi = (min(noise), max(noise)) if noise else (1.0, 1.0)
    print(f"bench compare: {len(ours)} cuops rows, {len(noise)} torch rows "
          f"(torch's before/after spread {lo:.2f}..{hi:.2f}: the noise)")
    if ours:
        print(f"  cuops before/after: median {statistics.median(speed[k] for k in ours):.3f}, "
              f"min {min(speed[k] for k in ours):.2f}, max {max(speed[k] for k in ours):.2f}")
    outside = sorted((k for k in ours if speed[k] < lo), key=lambda k: speed[k])
    print(f"  cuops rows slower than the noise: {len(outside)}")
    head = ("op", "case", "impl", "before ms", "after ms", "before/after")
    table = [head] + [(k[0], k[1], k[2], f"{before[k]:.4f}", f"{after[k]:.4f}", f"{speed[k]:.2f}")
                      for k in outside[:25]]
    if len(table) > 1:
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        for r in table:
            print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
    with open(os.path.join(after_dir, "bench_compare.csv"), "w") as f:
        f.write("op,label,impl,before_ms,after_ms,before_over_after\n")
        for k in keys:
            f.write(f"{k[0]},{k[1]},{k[2]},{before[k]:.6g},{after[k]:.6g},{speed[k]:.4f}\n")
    missing = sorted(set(before) - set(after))
    if missing:
        print(f"  rows only before: {len(missing)} (e.g. {missing[:3]})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
