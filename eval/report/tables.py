"""The data of a comparison report: runs, metric tables with deltas, reward-part means, most changed samples.

Pure data, no drawing: every number comes straight from a run's ``metrics.json`` (tables) or its
``predictions.jsonl`` (reward parts, per-sample scores), and the renderers only format these numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_engine.errors import UserError
from data_engine.tasks import TASKS

# The per-sample score that ranks "won / lost" samples, and the headline metric, per task (declared in
# `data_engine.tasks`).
PRIMARY_SCORE = {t.name: t.sample_score for t in TASKS.values() if t.evaluable}
HEADLINE = {t.name: t.headline_metric for t in TASKS.values() if t.evaluable}


@dataclass
class Run:
    """One eval output directory."""

    name: str
    path: Path
    doc: dict
    rows: dict[tuple[str, str], dict] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return self.doc.get("metrics") or {}


def load_run(path: Path, name: str | None = None) -> Run:
    """Read metrics.json and predictions.jsonl of an eval dir (malformed prediction lines are skipped)."""
    mfile = path / "metrics.json"
    if not mfile.is_file():
        raise UserError(f"{path}: not an eval output directory (no metrics.json)")
    try:
        doc = json.loads(mfile.read_text(encoding="utf-8"))
    except ValueError as e:
        raise UserError(f"{mfile}: invalid JSON: {e}") from None
    if not isinstance(doc.get("metrics"), dict):
        raise UserError(f"{mfile}: no 'metrics' mapping")
    rows = {}
    pfile = path / "predictions.jsonl"
    if pfile.is_file():
        with pfile.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    r = json.loads(line)
                    rows[(str(r["dataset"]), str(r["id"]))] = r
                except (ValueError, KeyError, TypeError):
                    continue
    return Run(name or path.resolve().name, path, doc, rows)


def unique_names(paths: list[Path]) -> list[str]:
    """Directory names, made unique with their parent's name when two runs share one (a/eval, b/eval)."""
    names = [p.resolve().name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [f"{p.resolve().parent.name}/{p.resolve().name}" for p in paths]


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def datasets_of(runs: list[Run]) -> list[str]:
    """Dataset names in order of first appearance over the runs."""
    out: list[str] = []
    for r in runs:
        out.extend(n for n in r.metrics if n not in out)
    return out


def task_of(runs: list[Run], dataset: str) -> str:
    """The dataset's task(s) as recorded by the runner (or seen in the predictions), joined by '+'."""
    for r in runs:
        info = (r.doc.get("datasets") or {}).get(dataset) or {}
        if info.get("tasks"):
            return "+".join(info["tasks"])
    for r in runs:
        tasks = sorted({row["task"] for (d, _), row in r.rows.items() if d == dataset and "task" in row})
        if tasks:
            return "+".join(tasks)
    return "?"


@dataclass
class MetricRow:
    """One metric of one dataset: the value in each run (None when absent) and deltas against the first run."""

    dataset: str
    metric: str
    values: list[Any]

    @property
    def deltas(self) -> list[float | None]:
        base = self.values[0]
        return [v - base if is_number(v) and is_number(base) else None for v in self.values[1:]]


def metric_table(runs: list[Run], dataset: str) -> list[MetricRow]:
    """Every metric of `dataset` (union over runs, first-seen order) with each run's value."""
    names: list[str] = []
    for r in runs:
        names.extend(k for k in (r.metrics.get(dataset) or {}) if k not in names)
    return [MetricRow(dataset, k, [(r.metrics.get(dataset) or {}).get(k) for r in runs]) for k in names]


def headline_metric(runs: list[Run], dataset: str) -> str | None:
    """The dataset's headline metric name (first metric when the task has none listed)."""
    task = task_of(runs, dataset)
    cand = HEADLINE.get(task)
    rows = metric_table(runs, dataset)
    if cand and any(row.metric == cand for row in rows):
        return cand
    return rows[0].metric if rows else None


def reward_means(runs: list[Run]) -> dict[str, dict[str, list[float | None]]]:
    """{task: {reward part: [mean over the run's rows of that task, per run]}} from predictions' ``rewards``."""
    acc: dict[str, dict[str, list[list[float]]]] = {}
    for k, r in enumerate(runs):
        for row in r.rows.values():
            for part, v in (row.get("rewards") or {}).items():
                if is_number(v):
                    acc.setdefault(row.get("task", "?"), {}).setdefault(part, [[] for _ in runs])[k].append(float(v))
    return {task: {part: [sum(x) / len(x) if x else None for x in per_run] for part, per_run in sorted(parts.items())}
            for task, parts in sorted(acc.items())}


@dataclass
class Change:
    """One sample present in the baseline and the compared run, with its primary score in each."""

    dataset: str
    id: str
    task: str
    score: str
    before: float
    after: float

    @property
    def diff(self) -> float:
        return self.after - self.before


def changes(base: Run, other: Run) -> list[Change]:
    """Samples scored in both runs, by primary score difference (other - base), largest gain first."""
    out = []
    for key, a in base.rows.items():
        b = other.rows.get(key)
        task = a.get("task", "")
        name = PRIMARY_SCORE.get(task)
        if b is None or name is None:
            continue
        va, vb = (a.get("scores") or {}).get(name), (b.get("scores") or {}).get(name)
        if is_number(va) and is_number(vb):
            out.append(Change(key[0], key[1], task, name, float(va), float(vb)))
    return sorted(out, key=lambda c: (-c.diff, c.dataset, c.id))


def won_lost(base: Run, other: Run, top: int) -> dict[str, dict[str, list[Change]]]:
    """Per task, the `top` samples that gained most and lost most (strict changes only)."""
    by_task: dict[str, list[Change]] = {}
    for c in changes(base, other):
        by_task.setdefault(c.task, []).append(c)
    out = {}
    for task, cs in by_task.items():
        won = [c for c in cs if c.diff > 0][:top]
        lost = sorted((c for c in cs if c.diff < 0), key=lambda c: (c.diff, c.dataset, c.id))[:top]
        out[task] = {"won": won, "lost": lost}
    return out
