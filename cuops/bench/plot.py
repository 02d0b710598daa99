"""The benchmark chart: one panel per op, grouped bars of each impl's rate per
case, the baseline in black, torch.compile in grey, our variants in blues
(ladder order, light = naive, dark = last step), the ceiling as a dashed
line where the case has its own, and above each group the best cuops
variant's speed relative to the baseline.

    python -m cuops bench add --plot add.png
    python -m cuops bench --from-csv docs/results/bench-h100.csv --plot docs/results/bench-h100.png

Uses matplotlib's object API with the Agg canvas: no display, no global
backend switch.
"""

from __future__ import annotations

import math

from .._optional import require

_BASE_COLOR = "#1a1a1a"
_COMPILE_COLOR = "#a6a6a6"


def _variant_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["Blues"]
    return [cmap(0.35 + 0.6 * i / max(1, n - 1)) for i in range(n)]


def _groups(results: list) -> dict:
    """op -> (cases in order, impls in order, {(case, impl): Result})."""
    out = {}
    for r in results:
        cases, impls, table = out.setdefault(r.op, ([], [], {}))
        if r.label not in cases:
            cases.append(r.label)
        if r.impl not in impls:
            impls.append(r.impl)
        table[(r.label, r.impl)] = r
    for op, (cases, impls, table) in out.items():
        base = {r.baseline for r in table.values()}
        # baseline(s) first, then torch.compile, then our variants in ladder order
        impls.sort(key=lambda i: (0 if i in base else 1 if i == "torch.compile" else 2))
    return out


def plot(results: list, path: str, title: str = "") -> None:
    """Write the chart of `results` (bench.Result rows) to `path` (PNG)."""
    require("cuops bench --plot", "bench", "matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    groups = _groups(results)
    if not groups:
        raise ValueError("cuops bench: no results to plot")
    widest = max(len(cases) for cases, _, _ in groups.values())
    width = min(40.0, max(10.0, 1.1 * widest + 2.5))
    heights = [4.2 for _ in groups]
    fig = Figure(figsize=(width, sum(heights) + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(groups), 1, squeeze=False)[:, 0]

    for ax, (op, (cases, impls, table)) in zip(axes, groups.items()):
        base_names = {r.baseline for r in table.values()}
        ours = [i for i in impls if i not in base_names and i != "torch.compile"]
        colors = dict(zip(ours, _variant_colors(len(ours))))
        unit = next(iter(table.values())).unit
        top, has_ceiling = 0.0, False
        for ci, case in enumerate(cases):
            present = [i for i in impls if (case, i) in table]
            left = ci - 0.4
            best, best_ratio = None, -math.inf
            for k, impl in enumerate(present):
                r = table[(case, impl)]
                x = left + (k + 0.5) * 0.8 / len(present)
                if r.rate != r.rate:  # did not run: mark it, keep the slot
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=6, rotation=90,
                            color="#b00")
                    continue
                if impl in base_names:
                    color, edge, hatch = _BASE_COLOR, _BASE_COLOR, None
                elif impl == "torch.compile":
                    color, edge, hatch = _COMPILE_COLOR, "#666", "//"
                else:
                    color, edge, hatch = colors[impl], "none", None
                    if r.vs_baseline == r.vs_baseline and r.vs_baseline > best_ratio:
                        best, best_ratio = r, r.vs_baseline
                ax.bar(x, r.rate, width=0.8 / len(present) * 0.92, color=color, edgecolor=edge,
                       hatch=hatch, linewidth=0.6)
                top = max(top, r.rate)
            # the case's own ceiling (not just the baseline): a dashed line over the group
            c = next((table[(case, i)].ceiling for i in present), float("nan"))
            base_rate = next((table[(case, i)].rate for i in present if i in base_names), c)
            if c == c and abs(c - base_rate) > 1e-9 * max(1.0, c):
                ax.hlines(c, left, left + 0.8, colors="#c0392b", linestyles="--", linewidth=1.2)
                top, has_ceiling = max(top, c), True
            if best is not None:
                y = max(best.rate, base_rate if base_rate == base_rate else 0)
                ax.annotate(f"{best.vs_baseline:.2f}×\n{best.impl}", (left + 0.4, y),
                            xytext=(0, 4), textcoords="offset points", ha="center", va="bottom",
                            fontsize=7.5, fontweight="bold",
                            color="#14532d" if best_ratio >= 0.95 else "#7f1d1d")
        ax.set_ylim(0, top * 1.28 if top > 0 else 1)
        ax.set_xlim(-0.6, len(cases) - 0.4)
        ax.set_xticks(range(len(cases)))
        long = max(len(c) for c in cases) > 12
        ax.set_xticklabels(cases, rotation=25 if long else 0, ha="right" if long else "center",
                           fontsize=8)
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        base_label = "/".join(sorted(base_names))
        ax.set_title(f"{op}: {unit} per case (higher is better); label: best cuops variant, "
                     f"speed vs {base_label}", fontsize=10, loc="left")
        handles = [Patch(color=_BASE_COLOR, label=f"{base_label} (baseline)")]
        if "torch.compile" in impls:
            handles.append(Patch(facecolor=_COMPILE_COLOR, edgecolor="#666", hatch="//",
                                 label="torch.compile"))
        handles += [Patch(color=colors[i], label=f"cuops {i}") for i in ours]
        if has_ceiling:
            from matplotlib.lines import Line2D

            handles.append(Line2D([], [], color="#c0392b", linestyle="--",
                                  label="measured ceiling"))
        ax.legend(handles=handles, fontsize=7.5, ncol=min(len(handles), 4), loc="upper left",
                  frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=110)
