"""SFT-vs-RL comparison report over eval output directories (`georft compare`).

`build_report` reads each directory's ``metrics.json`` and ``predictions.jsonl`` and writes::

    REPORT/report.md      Markdown, figures as PNG files in REPORT/img/
    REPORT/report.html    one self-contained file: the same content, figures as base64 data URIs
    REPORT/img/*.png

    REPORT/compare.json   the same numbers for machines (`georft compare --json` prints it)

Sections: the runs; a headline table (one metric per dataset) and its bar chart; the evidence section (trivial
baselines fitted on the training split beside the checkpoints, a checkpoint's value that does not beat the best
baseline marked †, and paired bootstrap 95 % intervals Δ [lo, hi] of every pair of checkpoints and of every
checkpoint against the best baseline, * when the interval excludes 0; `eval.report.intervals`); per dataset every
metric of every run with deltas against the FIRST directory (e.g. the base model); mean reward parts per task;
for every later run, the samples per task whose primary per-sample score rose most (won) and fell most (lost)
against the first run, with thumbnails (ground truth blue, each run's boxes in its colour).
"""

from __future__ import annotations

import json
from pathlib import Path

from data_engine.errors import UserError
from eval.bootstrap import CONFIDENCE, N_RESAMPLES, SEED
from eval.report import figures as F
from eval.report import render as R
from eval.report.intervals import (
    collapse_checks,
    compare_json,
    headline_stats,
    heldout_of,
    load_baselines,
    significance,
    verdict,
)
from eval.report.tables import (
    datasets_of,
    load_run,
    metric_table,
    reward_means,
    task_of,
    unique_names,
    won_lost,
)
from eval.runner_io import clean_json


def build_report(dirs: list[Path], out: Path, names: list[str] | None = None, top: int = 6,
                 n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED) -> list[Path]:
    """Write report.md, report.html, compare.json and img/ under `out` for the eval dirs `dirs` (first = reference
    of the per-metric deltas).

    Args:
        n_resamples, confidence, seed: the paired bootstrap (`eval.bootstrap`).

    Returns:
        [report.md, report.html, compare.json].
    """
    if not dirs:
        raise UserError("compare needs at least one eval directory")
    if n_resamples < 1000:
        raise UserError(f"--resamples must be >= 1000 for a 95 % interval worth reading, got {n_resamples}")
    if not 0 < confidence < 1:
        raise UserError(f"--confidence must be in (0, 1), got {confidence}")
    names = names or unique_names(dirs)
    runs = [load_run(d, n) for d, n in zip(dirs, names, strict=True)]
    baselines = load_baselines(runs)
    heldout = heldout_of(runs)
    stats = significance(runs, baselines, n_resamples=n_resamples, confidence=confidence, seed=seed)
    collapse = collapse_checks(runs, baselines, stats)
    where = f" — held-out set: {heldout.get('name')}" if heldout else " — held-out set: not recorded"
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
    doc.para(_heldout_sentence(heldout))
    R.runs_table(doc, runs)

    datasets = datasets_of(runs)
    doc.heading(2, "Headline metrics" + where)
    tables = verdict_tables(runs, baselines, stats)
    _verdict_section(doc, tables)
    heads = headline_stats(stats)
    if heads:
        series = {r.name: [st.values[k] if R.is_number(st.values[k]) else None for st in heads]
                  for k, r in enumerate(runs)}
        figure(F.grouped_bars("Headline metric per dataset", [f"{h.dataset}\n{h.metric}" for h in heads], series),
               "headline", "headline metrics")

    _dynamics_section(doc, runs, figure)
    _evidence_section(doc, runs, baselines, stats, n_resamples, confidence, collapse, where)

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
    html_path.write_text(R.html_page("GeoRFT evaluation report", doc.html_with_toc()), encoding="utf-8")
    json_path = out / "compare.json"
    payload = compare_json(runs, baselines, stats, n_resamples=n_resamples, confidence=confidence, seed=seed,
                           collapse=collapse)
    payload["verdict_table"] = tables
    json_path.write_text(json.dumps(clean_json(payload), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                         encoding="utf-8")
    return [md_path, html_path, json_path]


def verdict_tables(runs, baselines, stats) -> list[dict]:
    """One verdict table (`eval.report.verdict_table`) per consecutive pair of runs: ``{a, b, trained_from, rows}``."""
    from eval.report.verdict_table import grpo_dir_of, trained_tasks, verdict_rows

    out = []
    for a, b in zip(runs, runs[1:], strict=False):
        tasks, where = trained_tasks(grpo_dir_of(Path(b.path), b.doc.get("model")))
        out.append({"a": a.name, "b": b.name, "trained_from": where,
                    "rows": verdict_rows(runs, baselines, stats, a.name, b.name, tasks)})
    return out


def _verdict_section(doc, tables: list[dict]) -> None:
    for t in tables:
        doc.para(f"Verdict per task, {t['b']} against {t['a']}: one metric per dataset (the first interval metric, "
                 f"the same as in the evidence tables below; ↑ higher is better, ↓ lower). Δ is coloured only when "
                 f"its paired bootstrap 95 % interval excludes 0, green when better by the metric's direction. "
                 f"{R.NOT_ABOVE} = does not beat the best trivial baseline. Trained by GRPO: read from {t['trained_from']}. "
                 "Collapse flag: docs/collapse-flags.md.")
        R.verdict_table(doc, t["rows"], t["a"], t["b"])


def _dynamics_section(doc, runs, figure) -> None:
    """The training dynamics of each compared GRPO run (`eval.report.dynamics`, the dashboard's panels) found
    beside its eval dir (`eval.report.verdict_table.grpo_dir_of`)."""
    from eval.report.dynamics import dynamics_png, dynamics_series, find_trainer_state, read_log_history
    from eval.report.verdict_table import grpo_dir_of

    for k, r in enumerate(runs[1:], start=1):
        state = find_trainer_state(grpo_dir_of(Path(r.path), r.doc.get("model")))
        series = dynamics_series(read_log_history(state)) if state else {}
        if not series:
            continue
        doc.heading(2, f"Training dynamics: {r.name}")
        doc.para(f"Read from {state}: loss, KL, entropy, clip ratios, grad norm, learning rate, step time and "
                 "tokens/s (Δnum_tokens / (Δstep × step_time)), the dashboard overview's panels and EMA.")
        figure(dynamics_png(series, r.name), f"dynamics_{k}", f"training dynamics of {r.name}")


def _heldout_sentence(heldout: dict | None) -> str:
    """Which held-out set every number of the report comes from (docs/heldout-sets.md)."""
    if not heldout:
        return ("Held-out set: not recorded (eval directories written before held-out sets were recorded; "
                "docs/heldout-sets.md).")
    what = {"dev": "the training world's held-out split, used for tuning decisions",
            "test": "the sealed test world, synthesized from another seed and evaluated once"}.get(
        str(heldout.get("name")), "")
    return (f"Held-out set: {heldout.get('name')}" + (f" ({what})" if what else "") + f", read from "
            f"{heldout.get('root')}; the trivial baselines are fitted on {heldout.get('training_root')}. Every "
            "number below comes from this set.")


def _evidence_section(doc, runs, baselines, stats, n_resamples: int, confidence: float,
                      collapse: dict | None = None, where: str = "") -> None:
    """Trivial baselines beside the checkpoints and paired bootstrap intervals (`eval.report.intervals`); a
    significant rise that comes with collapse (`eval.collapse`) is named as such in the verdict lines."""
    doc.heading(2, "Against trivial baselines and sampling noise" + where)
    if not stats:
        doc.para("No dataset is present in every run, so nothing can be paired.")
        return
    names = [r.name for r in runs]
    pct = f"{confidence * 100:g} %"
    if baselines:
        doc.para("Trivial baselines never look at the image; they are fitted on the training split only and scored "
                 "on the same samples by the same scorers: " + "; ".join(
                     f"{b.name}: " + ", ".join(f"{ds}: {a}" for ds, a in ((b.doc.get('baseline') or {}).get(
                         'answers') or {}).items()) for b in baselines) + ".")
    else:
        doc.para("No trivial baselines: the eval directories were written without them (re-score them with "
                 "`georft eval --predictions`).")
    doc.para(f"{R.NOT_ABOVE} = does not beat the best trivial baseline. Δ [lo, hi] = difference and its paired "
             f"bootstrap {pct} interval ({n_resamples} resamples of the samples, the same draws for every run; "
             f"corpus metrics such as mAP recomputed per draw); {R.EXCLUDES_ZERO} = the interval excludes 0.")
    heads = headline_stats(stats)
    v = verdict(names, stats, collapse)
    lines = [f"{n} beats its best trivial baseline with the interval excluding 0 on {len(ds)} of {v['n']} "
             f"headline metrics" + (f" ({', '.join(ds)})" if ds else "") for n, ds in v["beats_trivial"].items()
             if baselines]
    lines += [f"{p['b']} − {p['a']}: significantly up on {len(p['up'])}" + (f" ({', '.join(p['up'])})" if p["up"]
                                                                              else "")
              + f", significantly down on {len(p['down'])}" + (f" ({', '.join(p['down'])})" if p["down"] else "")
              + (f", up but COLLAPSE, not counted as a gain, on {len(p['collapse'])} (" + "; ".join(
                  f"{c['dataset']}: {', '.join(c['reasons'])}" for c in p["collapse"]) + ")" if p["collapse"] else "")
              for p in v["pairs"]]
    for line in lines:
        doc.para(line + ".")
    R.headline_intervals_table(doc, names, heads)
    for ds, task in [(h.dataset, h.task) for h in heads]:
        group = [st for st in stats if (st.dataset, st.task) == (ds, task)]
        doc.heading(3, f"Evidence: {ds} / {task}, {group[0].n} paired samples")
        R.baseline_rows_table(doc, names, group)
        if len(runs) > 1 or baselines:
            R.differences_table(doc, names, group)
        for st in group:
            if st.note:
                doc.para(f"{st.metric}: {st.note}")


__all__ = ["build_report"]
