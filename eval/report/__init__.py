"""SFT-vs-RL comparison report over eval output directories (`georft compare`).

`build_report` reads each directory's ``metrics.json`` and ``predictions.jsonl`` and writes::

    REPORT/report.md      Markdown, figures as PNG files in REPORT/img/
    REPORT/report.html    one self-contained file: the same content, figures as base64 data URIs
    REPORT/img/*.png

Sections: the runs; a headline table (one metric per dataset) and its bar chart; per dataset every metric of
every run with deltas against the FIRST directory (the baseline, e.g. the base model); mean reward parts per task;
for every later run, the samples per task whose primary per-sample score rose most (won) and fell most (lost)
against the baseline, with thumbnails (ground truth blue, each run's boxes in its colour).
"""

from __future__ import annotations

from pathlib import Path

from data_engine.errors import UserError
from eval.report import figures as F
from eval.report import render as R
from eval.report.tables import (
    MetricRow,
    datasets_of,
    headline_metric,
    load_run,
    metric_table,
    reward_means,
    task_of,
    unique_names,
    won_lost,
)


def build_report(dirs: list[Path], out: Path, names: list[str] | None = None, top: int = 6) -> list[Path]:
    """Write report.md, report.html and img/ under `out` for the eval dirs `dirs` (first = baseline).

    Returns:
        [report.md, report.html].
    """
    if not dirs:
        raise UserError("compare needs at least one eval directory")
    names = names or unique_names(dirs)
    runs = [load_run(d, n) for d, n in zip(dirs, names, strict=True)]
    out.mkdir(parents=True, exist_ok=True)
    img_dir = out / "img"
    doc = R.Doc()

    def figure(png: bytes | None, stem: str, alt: str) -> None:
        rel = f"img/{stem}.png"
        if png is not None:
            F.write_png(png, out / rel)
        doc.image(png, rel, alt)

    doc.heading(1, "GeoRFT evaluation report: " + " vs ".join(r.name for r in runs))
    doc.para(f"Deltas are against the first run ({runs[0].name}). Numbers are copied from each run's metrics.json.")
    R.runs_table(doc, runs)

    datasets = datasets_of(runs)
    doc.heading(2, "Headline metrics")
    heads, first_cols = [], []
    for ds in datasets:
        m = headline_metric(runs, ds)
        if m is None:
            continue
        heads.append(MetricRow(ds, m, [(r.metrics.get(ds) or {}).get(m) for r in runs]))
        first_cols.append([ds, task_of(runs, ds)])
    R.metric_table(doc, runs, heads, first_cols=first_cols, first_head=["dataset", "task"])
    if heads:
        series = {r.name: [row.values[k] if R.is_number(row.values[k]) else None for row in heads]
                  for k, r in enumerate(runs)}
        figure(F.grouped_bars("Headline metric per dataset", [f"{h.dataset}\n{h.metric}" for h in heads], series),
               "headline", "headline metrics")

    for j, ds in enumerate(datasets):
        doc.heading(2, f"{ds} ({task_of(runs, ds)})")
        rows = metric_table(runs, ds)
        R.metric_table(doc, runs, rows)
        bars = [row for row in rows if any(R.is_headline_candidate(row.metric, v) for v in row.values)]
        if bars:
            series = {r.name: [row.values[k] if R.is_number(row.values[k]) else None for row in bars]
                      for k, r in enumerate(runs)}
            figure(F.grouped_bars(ds, [row.metric for row in bars], series), f"metrics_{j}", f"{ds} metrics")

    rewards = reward_means(runs)
    if rewards:
        doc.heading(2, "Reward parts per task (mean over samples)")
        for j, (task, parts) in enumerate(rewards.items()):
            doc.heading(3, task)
            R.reward_table(doc, runs, parts)
            # One chart per kind of part (the dashboard's axes): counts such as n_pred would flatten [0, 1] scores.
            for kind, (axis, _) in F.PART_KIND_AXES.items():
                charted = {p: v for p, v in parts.items() if F.part_kind(p, v) == kind}
                if not charted:
                    continue
                series = {r.name: [vals[k] for vals in charted.values()] for k, r in enumerate(runs)}
                suffix = "" if kind == "score" else f"_{kind}"
                figure(F.grouped_bars(f"{task}: reward parts ({kind}s)", list(charted), series, ylabel=axis),
                       f"rewards_{j}{suffix}", f"{task} rewards ({kind}s)")

    if len(runs) > 1:
        doc.heading(2, "Samples that changed most")
        doc.para("Primary per-sample score per task (detection f1, grounding IoU, caption CIDEr-D, otherwise correct). "
                 "Thumbnails: ground truth in blue, the baseline's boxes in orange, the compared run's in purple.")
        for k, other in enumerate(runs[1:], start=1):
            for task, sides in won_lost(runs[0], other, top).items():
                for side in ("won", "lost"):
                    if not sides[side]:
                        continue
                    doc.heading(3, f"{other.name} vs {runs[0].name}: {task}, most {side}")
                    for i, c in enumerate(sides[side]):
                        key = (c.dataset, c.id)
                        shown = [runs[0].rows.get(key), other.rows.get(key)]
                        png = F.thumbnail(shown)
                        rel = f"img/sample_{k}_{task}_{side}_{i}.png"
                        if png is not None:
                            F.write_png(png, out / rel)
                        R.sample_card(doc, c, shown, [runs[0].name, other.name], png, rel)
    img_dir.mkdir(exist_ok=True)
    md_path, html_path = out / "report.md", out / "report.html"
    md_path.write_text("\n".join(doc.md) + "\n", encoding="utf-8")
    html_path.write_text(R.html_page("GeoRFT evaluation report", doc.html), encoding="utf-8")
    return [md_path, html_path]


__all__ = ["build_report"]
