"""The benchmark chart: one panel per op, one row of horizontal bars per case
(each impl's rate), the baseline in black, torch.compile in grey, our
variants in blues (ladder order, light = naive, dark = last step), the
ceiling as a dashed line where the case has its own, and right of each row
the best cuops variant's speed relative to the baseline. Sized to be read at
~800 px wide (a README): horizontal bars keep long case labels apart.

    python -m cuops bench add --plot add.png
    python -m cuops bench --from-csv docs/results/bench-h100.csv --plot docs/results/bench-h100.png

Uses matplotlib's object API with the Agg canvas: no display, no global
backend switch.
"""

from __future__ import annotations

import math
import textwrap

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


_WIDTH = 8.5       # inches; at _DPI the PNG is 2x a README's ~800 px, so text stays sharp
_DPI = 200
_ROW = 0.34        # inches per case
_FONT = 8.5
_BARS = 0.62       # the bars end within this fraction of the axis; the labels follow
_LOG_SPAN = 30     # rates spanning more than this factor get a log axis


def plot(results: list, path: str, title: str = "") -> None:
    """Write the chart of `results` (bench.Result rows) to `path` (PNG)."""
    require("cuops bench --plot", "bench", "matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, NullLocator

    groups = _groups(results)
    if not groups:
        raise ValueError("cuops bench: no results to plot")
    heights = [len(cases) * _ROW + 1.2 for cases, _, _ in groups.values()]  # + legend, axis
    fig = Figure(figsize=(_WIDTH, sum(heights) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(groups), 1, squeeze=False, height_ratios=heights)[:, 0]

    for ax, (op, (cases, impls, table)) in zip(axes, groups.items()):
        base_names = {r.baseline for r in table.values()}
        ours = [i for i in impls if i not in base_names and i != "torch.compile"]
        colors = dict(zip(ours, _variant_colors(len(ours))))
        unit = next(iter(table.values())).unit
        rates = [r.rate for r in table.values() if r.rate == r.rate and r.rate > 0] or [1.0]
        log = max(rates) / min(rates) > _LOG_SPAN
        left = 10 ** math.floor(math.log10(min(rates))) if log else 0.0
        right, has_ceiling, labels = 0.0, False, []
        for ci, case in enumerate(cases):
            present = [i for i in impls if (case, i) in table]
            top, pitch = ci - 0.4, 0.8 / len(present)
            best, best_ratio = None, -math.inf
            for k, impl in enumerate(present):
                r = table[(case, impl)]
                y = top + (k + 0.5) * pitch
                if r.rate != r.rate:  # did not run: mark it, keep the slot
                    ax.text(0.003, y, "n/a", transform=ax.get_yaxis_transform(), ha="left",
                            va="center", fontsize=5.5, color="#b00")
                    continue
                if impl in base_names:
                    color, edge, hatch = _BASE_COLOR, _BASE_COLOR, None
                elif impl == "torch.compile":
                    color, edge, hatch = _COMPILE_COLOR, "#666", "//////"
                else:
                    color, edge, hatch = colors[impl], "none", None
                    if r.vs_baseline == r.vs_baseline and r.vs_baseline > best_ratio:
                        best, best_ratio = r, r.vs_baseline
                ax.barh(y, r.rate - left, left=left, height=pitch * 0.9, color=color,
                        edgecolor=edge, hatch=hatch, linewidth=0.4)
                right = max(right, r.rate)
            # the case's own ceiling (not just the baseline): a dashed line across the row
            c = next((table[(case, i)].ceiling for i in present), float("nan"))
            base_rate = next((table[(case, i)].rate for i in present if i in base_names), c)
            if c == c and abs(c - base_rate) > 1e-9 * max(1.0, c):
                ax.vlines(c, top, top + 0.8, colors="#c0392b", linestyles="--", linewidth=1.0)
                right, has_ceiling = max(right, c), True
            if best is not None:
                labels.append((ci, f"{best.vs_baseline:.2f}× {best.impl}",
                               "#14532d" if best_ratio >= 0.95 else "#7f1d1d"))
        right = right if right > left else left + 1.0
        if log:  # the bars end at _BARS of the axis, in log space
            ax.set_xscale("log")
            ax.set_xlim(left, left * (right / left) ** (1 / _BARS))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_locator(NullLocator())
        else:
            ax.set_xlim(0, right / _BARS)
        ax.set_xticks([t for t in ax.get_xticks() if left <= t <= right * 1.0001])  # none over the labels
        for y, text, color in labels:  # one column right of the bars
            ax.text(_BARS + 0.02, y, text, transform=ax.get_yaxis_transform(), ha="left",
                    va="center", fontsize=_FONT - 1, fontweight="bold", color=color)
        ax.set_ylim(len(cases) - 0.5, -0.5)  # first case on top
        ax.set_yticks(range(len(cases)))
        ax.set_yticklabels([textwrap.fill(c, 30) for c in cases], fontsize=_FONT)
        ax.tick_params(axis="x", labelsize=_FONT)
        ax.set_xlabel(unit + (" (log scale)" if log else ""), fontsize=_FONT)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        base_label = "/".join(sorted(base_names))
        handles = [Patch(color=_BASE_COLOR, label=f"{base_label} (baseline)")]
        if "torch.compile" in impls:
            handles.append(Patch(facecolor=_COMPILE_COLOR, edgecolor="#666", hatch="//////",
                                 label="torch.compile"))
        handles += [Patch(color=colors[i], label=i) for i in ours]
        if has_ceiling:
            handles.append(Line2D([], [], color="#c0392b", linestyle="--", label="measured ceiling"))
        ax.legend(handles=handles, fontsize=_FONT - 0.5, ncol=3, loc="lower left",
                  bbox_to_anchor=(0, 1.0), frameon=False, alignment="left",
                  title=f"{op}: {unit}, longer is better; cuops variants in blue",
                  title_fontproperties={"size": _FONT + 1, "weight": "bold"})
    note = ("right of each row: the best cuops variant and its speed relative to the baseline "
            "(green: 0.95× or better)")
    fig.suptitle("\n".join([textwrap.fill(title, 115)] if title else []) + ("\n" if title else "")
                 + note, fontsize=_FONT + 0.5)
    fig.savefig(path, dpi=_DPI)
