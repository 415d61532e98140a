"""The overview's charts: which series go on which chart and axis, built as Plotly figures by the report's
shared chart code (`eval.report.figures.line_chart`) and rendered in the page by Plotly's own bundle.

Charts (each a stack of panels sharing the step axis; one line per task unless said otherwise):
    reward           mean reward per task
    learning signal  what GRPO can learn from: share of groups whose rewards are all equal (zero advantage),
                     the reward std within groups (mean over groups), the share of generated groups dynamic
                     sampling left out of the batch (runs with `dynamic_sampling.enabled`) and the mean |advantage|
    parts · <task>   one chart per task, one line per reward part, parts on separate axes by kind
                     (scores in [0, 1], other values, counts, lengths: `eval.report.figures.part_kind`)
    length           completion length (tokens) and the truncated share
    reasoning        think-then-answer tasks only (docs/think-answer.md §3): share of well-formed completions and
                     reasoning length (characters in the think block)
    collapse         per task and step (`eval.collapse.row_flags`, the eval's flags): distinct-answer share, the
                     most common answer's share, and the empty-reasoning share beside the well-formed share
    health           parse-failure rate and zoom steps per chain
    validation       runs with validation during training (`eval.validation`): the declared metric, then each
                     dataset's headline metric (the first its scorer reports) on the held-out slice
"""

from __future__ import annotations

from typing import Any

from eval.report.figures import PART_KIND_AXES, line_chart, part_kind

UNIT = (0.0, 1.0)
# chart id -> (title, [(metric key, y-axis title, fixed range)]); one line per task.
PER_TASK: dict[str, tuple[str, list[tuple[str, str, tuple[float, float] | None]]]] = {
    "reward": ("Reward (mean per task)", [("reward", "reward", None)]),
    "signal": ("Learning signal", [("frac_zero_std_groups", "zero-variance groups", UNIT),
                                   ("dropped_groups", "dropped by dynamic sampling", UNIT),
                                   ("group_reward_std", "reward std in groups", None),
                                   ("abs_advantage", "mean |advantage|", None)]),
    "length": ("Completion length", [("length", "length (tokens)", None), ("truncated", "truncated share", UNIT)]),
    "reasoning": ("Think-then-answer", [("think_ok", "well-formed share", UNIT),
                                        ("reasoning_chars", "reasoning length (chars)", None)]),
    "collapse": ("Collapse and gaming (docs/collapse-flags.md)", [
        ("distinct_answer_share", "distinct-answer share", UNIT), ("top_answer_share", "most common answer's share", UNIT),
        ("empty_think_share", "empty-reasoning share", UNIT), ("think_ok", "well-formed share", UNIT)]),
    "health": ("Health", [("parse_fail", "parse-failure rate", UNIT), ("zoom_steps", "zoom steps per chain", None)]),
}
ORDER = ("validation", "reward", "signal", "collapse", "parts", "length", "reasoning", "health")
NOT_HEADLINE = ("n", "parse_fail_rate", "truncated_rate")


def _points(pts: list[tuple[int, float, float]]) -> tuple[list[int], list[float]]:
    return [p[0] for p in pts], [p[1] for p in pts]


def build(series: dict[str, Any]) -> list[dict[str, Any]]:
    """The overview charts of a run's `RunQueries.series()`: [{"id", "title", "figure"}] in page order.

    Panels without any data are left out; a chart left with no panel is left out.
    """
    tasks = sorted(series["tasks"].items())
    charts = []
    for cid in ORDER:
        if cid == "validation":
            charts.extend(_validation_chart(series.get("validation") or {}))
            continue
        if cid == "parts":
            charts.extend(_part_charts(tasks))
            continue
        title, metrics = PER_TASK[cid]
        panels = []
        for key, axis_title, rng in metrics:
            lines = [(task, *_points(m[key])) for task, m in tasks if m.get(key)]
            if lines:
                panels.append({"title": axis_title, "range": rng, "series": lines})
        if panels:
            charts.append({"id": cid, "title": title, "figure": line_chart(title, panels)})
    return charts


def _validation_chart(val: dict[str, Any]) -> list[dict[str, Any]]:
    points = val.get("points") or {}
    if not points:
        return []
    panels = []
    metric = val.get("metric")
    if metric in points:
        xs, ys = zip(*points[metric], strict=True)
        panels.append({"title": metric, "range": None, "series": [(metric, list(xs), list(ys))]})
    headline: dict[str, str] = {}
    for name in points:  # insertion order: each dataset's metrics in its scorer's order
        ds, _, m = name.partition("/")
        if m not in NOT_HEADLINE:
            headline.setdefault(ds, name)
    lines = [(name, [p[0] for p in points[name]], [p[1] for p in points[name]]) for name in headline.values()]
    if lines:
        panels.append({"title": "headline metric per dataset", "range": None, "series": lines})
    title = "Validation (held-out slice)"
    return [{"id": "validation", "title": title, "figure": line_chart(title, panels, smoothing=0.0)}]


def _part_charts(tasks: list[tuple[str, dict[str, list]]]) -> list[dict[str, Any]]:
    out = []
    for task, metrics in tasks:
        keys = sorted(k for k in metrics if k.startswith("reward/"))
        names = [k[len("reward/"):] for k in keys]
        shorts = [n[len(task) + 1:] if n.startswith(task + "/") else n for n in names]
        # Parts of one reward (`rotated_iou_f1/iou`, `rotated_iou_f1/f1`, ...): its name goes in the title once.
        heads = {s.split("/", 1)[0] for s in shorts}
        shared = heads.pop() if len(heads) == 1 and all("/" in s for s in shorts) else None
        by_kind: dict[str, list] = {}
        for key, name, short in zip(keys, names, shorts, strict=True):
            xs, ys = _points(metrics[key])
            label = short.split("/", 1)[1] if shared else short
            by_kind.setdefault(part_kind(name, ys), []).append((label, xs, ys))
        panels = [{"title": PART_KIND_AXES[k][0], "range": PART_KIND_AXES[k][1], "series": by_kind[k]}
                  for k in PART_KIND_AXES if k in by_kind]
        if panels:
            title = f"Reward parts · {task}" + (f" ({shared})" if shared else "")
            out.append({"id": f"parts-{task}", "title": title, "figure": line_chart(title, panels)})
    return out
