"""Overview plots as SVG: per task, the mean over steps with a ±1 std band.

Drawn with matplotlib's object API (`Figure` + Agg/SVG canvas, no pyplot global state), so request threads can
render concurrently.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Which series go on which plot: plot name -> [(metric key, axis title)]; "parts" is filled per run.
PANELS: dict[str, list[tuple[str, str]]] = {
    "reward": [("reward", "reward"), ("advantage", "advantage")],
    "length": [("length", "completion length (tokens)"), ("truncated", "truncated share")],
    "health": [("parse_fail", "parse-failure rate"), ("frac_zero_std_groups", "groups with zero reward std"),
               ("zoom_steps", "zoom steps per chain")],
}
PLOT_NAMES = ("reward", "parts", "length", "health")


def _panels(name: str, series: dict[str, Any]) -> list[tuple[str, list[tuple[str, list]]]]:
    """(title, [(line label, points)]) per panel of plot `name`.

    "parts" has one panel per task with one line per `reward/<part>` of that task (parts are mostly
    task-specific, so a panel per part would hold one line each); the others have one panel per metric with one
    line per task.
    """
    tasks = sorted(series["tasks"].items())
    if name == "parts":
        return [(f"{task}: reward parts", [(m[len("reward/"):], pts) for m, pts in sorted(metrics.items())
                                           if m.startswith("reward/")]) for task, metrics in tasks]
    return [(title, [(task, metrics.get(metric) or []) for task, metrics in tasks]) for metric, title in PANELS[name]]


def render(name: str, series: dict[str, Any]) -> str:
    """SVG text of plot `name` ("reward", "parts", "length", "health") for a run's `RunQueries.series()`."""
    panels = _panels(name, series) if series["tasks"] else []
    cols = min(3, max(1, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    # Fixed margins: matplotlib's constrained/tight layout costs 2-3x the drawing itself.
    fig = Figure(figsize=(4.2 * cols, 2.8 * rows))
    fig.subplots_adjust(left=0.06, right=0.98, top=1 - 0.3 / (2.8 * rows), bottom=0.45 / (2.8 * rows),
                        hspace=0.45, wspace=0.22)
    if not panels:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no rollouts", ha="center", va="center")
        ax.set_axis_off()
    for k, (title, lines) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, k + 1)
        drawn = False
        for label, pts in lines:
            if not pts:
                continue
            steps = [p[0] for p in pts]
            mean = [p[1] for p in pts]
            std = [p[2] for p in pts]
            (line,) = ax.plot(steps, mean, marker="o", markersize=2.5, linewidth=1.2, label=label)
            if any(std):
                ax.fill_between(steps, [m - s for m, s in zip(mean, std, strict=True)],
                                [m + s for m, s in zip(mean, std, strict=True)], color=line.get_color(), alpha=0.15)
            drawn = True
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=6, loc="best", framealpha=0.6)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    buf = io.StringIO()
    # Text as <text> elements, not glyph paths: a third of the size, faster, and searchable in the page.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg")
    return buf.getvalue()
