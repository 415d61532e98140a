"""The per-task SFT→RL verdict table: one row per (dataset, task) of two paired eval runs (docs/verdict-table.md).

The report (`georft compare`, first section and ``compare.json: verdict_table``) and the dashboard (home page and
``/compare``) show the same rows, built here from the same numbers as the evidence section
(`eval.report.intervals`):

- the metric is the (dataset, task)'s headline interval metric (`headline_stats`: the first of
  `INTERVAL_METRICS`), the same in every table of the report;
- A and B are its values on the shared samples, Δ = B − A with the paired bootstrap interval of `significance`;
- won / lost / tied counts the samples whose per-sample score of that metric rose / fell / stayed (by the
  metric's direction);
- the outcome is ``better`` / ``worse`` only when the interval excludes 0 (by the metric's direction), else
  ``tied``: the only rows a surface colours;
- † marks a value that does not beat the best trivial baseline;
- the collapse flag is `eval.collapse.collapse_reasons` of B against A for every row (not only significant gains,
  so a flat metric over one repeated answer is flagged too);
- "trained by GRPO?" comes from the GRPO run's resolved config (`trained_tasks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from eval.report.intervals import (
    BASELINE_PREFIX,
    MetricStats,
    _metrics_of,
    _rows_by_group,
    _sample_scores,
    headline_stats,
)
from eval.report.tables import Run

# Metric-name endings that are lower-is-better (errors and losses); every other metric is higher-is-better. The
# interval metrics of `eval.report.intervals` are all higher-is-better today; a lower-is-better one added there is
# coloured the right way round by this table.
_LOWER_BETTER_SUFFIXES = ("mae", "rmse", "mse", "error", "loss", "_err")


def higher_is_better(metric: str) -> bool:
    """The metric's direction, from its name (``count_mae``: lower is better)."""
    last = str(metric).rsplit("/", 1)[-1].lower()
    return not last.endswith(_LOWER_BETTER_SUFFIXES)


def outcome(delta: float | None, lo: float | None, hi: float | None, metric: str) -> str:
    """``better`` / ``worse`` when the interval [lo, hi] excludes 0, by the metric's direction; else ``tied``."""
    if delta is None or lo is None or hi is None or not (lo > 0 or hi < 0):
        return "tied"
    up = lo > 0
    return "better" if up == higher_is_better(metric) else "worse"


def sample_outcomes(score_a: np.ndarray, score_b: np.ndarray, metric: str) -> dict[str, int]:
    """Per-sample won / lost / tied of B against A ([n] and [n] scores; won = better by the metric's direction)."""
    d = np.asarray(score_b, float) - np.asarray(score_a, float)
    if not higher_is_better(metric):
        d = -d
    return {"won": int((d > 0).sum()), "lost": int((d < 0).sum()), "tied": int((d == 0).sum())}


def _configs_of(grpo_dir: Path) -> list[Path]:
    found = [grpo_dir / "config.yaml"] if (grpo_dir / "config.yaml").is_file() else []
    return found + sorted((grpo_dir / "stages").glob("*/config.yaml"))


def grpo_dir_of(eval_dir: Path, model: Any) -> Path | None:
    """The GRPO run directory behind an eval dir: its metrics.json ``model`` (a ``checkpoint-N`` folder's parent)
    when that holds a ``config.yaml``, else a ``grpo/`` folder with one beside the eval folders of a pipeline run
    (``<run>/eval/[<heldout>/]<name>``: a copied run whose recorded model path is gone)."""
    cands = []
    if isinstance(model, str) and model:
        p = Path(model)
        cands += [p, p.parent] if p.name.startswith("checkpoint-") else [p]
    cands += [parent / "grpo" for parent in list(Path(eval_dir).parents)[:4]]
    return next((c for c in cands if (c / "config.yaml").is_file()), None)


def trained_tasks(grpo_dir: Path | None) -> tuple[set[str] | None, str]:
    """The tasks a GRPO run trained on, from its resolved config(s) (``config.yaml``, and each per-task stage's).

    Returns:
        (tasks, where): the union of ``data.sources[*].tasks`` over the configs, restricted to the tasks with
        rewards when the config lists them; None when unknown (no config, or a source without a task list), with
        the reason in `where` (else the config path read).
    """
    if grpo_dir is None:
        return None, "no GRPO config found"
    tasks: set[str] = set()
    paths = _configs_of(Path(grpo_dir))
    if not paths:
        return None, f"{grpo_dir}: no config.yaml"
    for path in paths:
        try:
            cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            return None, f"{path}: unreadable ({str(e).splitlines()[0]})"
        sources = ((cfg or {}).get("data") or {}).get("sources") if isinstance(cfg, dict) else None
        if not isinstance(sources, list) or not sources:
            return None, f"{path}: no data.sources"
        for src in sources:
            listed = src.get("tasks") if isinstance(src, dict) else None
            if not isinstance(listed, list):
                return None, f"{path}: a data source without a task list"
            tasks |= {str(t) for t in listed}
    return tasks, str(paths[0])


def verdict_rows(runs: list[Run], baselines: list[Run], stats: list[MetricStats], a: str, b: str,
                 trained: set[str] | None = None) -> list[dict[str, Any]]:
    """The verdict table of run `b` against run `a` (names of `runs`), one row per (dataset, task).

    Args:
        runs, baselines, stats: as `eval.report.intervals.significance` took and returned them.
        trained: the tasks GRPO trained (`trained_tasks`; None: unknown).

    Returns:
        rows of ``dataset, task, metric, higher_is_better, n, trained (bool | None), a, b, a_value, b_value,
        delta, lo, hi, excludes_zero, outcome, won, lost, tied, best_baseline {policy, value} | None,
        a_beats_best, b_beats_best, collapse [reasons], collapse_numbers``.
    """
    from eval.collapse import collapse_reasons

    names = [r.name for r in runs]
    ka, kb = names.index(a), names.index(b)
    by_name = {r.name: r for r in runs}
    base_by_policy = {x.name[len(BASELINE_PREFIX):]: x for x in baselines}
    ga, gb = _rows_by_group(by_name[a]), _rows_by_group(by_name[b])
    out = []
    for st in headline_stats(stats):
        iv = next((iv for x, y, iv in st.pairs if (x, y) == (a, b)), None)
        if iv is None:
            iv = next((iv for x, y, iv in st.pairs if (x, y) == (b, a)), None)
            iv = None if iv is None else type(iv)(-iv.delta, -iv.hi, -iv.lo, iv.n)
        row = {"dataset": st.dataset, "task": st.task, "metric": st.metric,
               "higher_is_better": higher_is_better(st.metric), "n": st.n,
               "trained": None if trained is None else st.task in trained, "a": a, "b": b,
               "a_value": st.values[ka], "b_value": st.values[kb],
               "delta": iv.delta if iv else None, "lo": iv.lo if iv else None, "hi": iv.hi if iv else None,
               "excludes_zero": bool(iv and iv.excludes_zero),
               "outcome": outcome(iv.delta, iv.lo, iv.hi, st.metric) if iv else "tied",
               "won": None, "lost": None, "tied": None,
               "best_baseline": {"policy": st.best[0], "value": st.best[1]} if st.best else None,
               "a_beats_best": st.beats_best(ka), "b_beats_best": st.beats_best(kb),
               "collapse": [], "collapse_numbers": {}}
        rows_a, rows_b = ga.get((st.dataset, st.task)) or {}, gb.get((st.dataset, st.task)) or {}
        ids = sorted(set(rows_a) & set(rows_b))
        if ids:
            ra, rb = [rows_a[i] for i in ids], [rows_b[i] for i in ids]
            spec = next((m for m in _metrics_of(st.task, [ra]) if m.name == st.metric), None)
            sa, sb = _sample_scores(ra, spec, st.task), _sample_scores(rb, spec, st.task)
            row.update(sample_outcomes(sa, sb, st.metric))
            base = base_by_policy.get(st.best[0]) if st.best else None
            bg = _rows_by_group(base).get((st.dataset, st.task)) if base else None
            base_rows = [bg[i] for i in ids] if bg and set(ids) <= set(bg) else None
            reasons, numbers = collapse_reasons(ra, rb, sa, sb, baseline_rows=base_rows)
            row["collapse"], row["collapse_numbers"] = reasons, numbers
        out.append(row)
    return out


def verdict_for_dirs(dir_a: Path, dir_b: Path, names: tuple[str, str] = ("A", "B"), *, n_resamples: int | None = None,
                     seed: int | None = None) -> dict[str, Any]:
    """Load two eval dirs (and the trivial baselines they recorded) and build their verdict table, as
    `georft compare A B` does (the dashboard's entry point).

    Returns:
        ``{"rows": verdict_rows(...), "trained_from": where the trained tasks were read, "baselines": [...]}``.
    """
    from eval.bootstrap import CONFIDENCE, N_RESAMPLES, SEED
    from eval.report.intervals import load_baselines, significance
    from eval.report.tables import load_run

    runs = [load_run(Path(dir_a), names[0]), load_run(Path(dir_b), names[1])]
    baselines = load_baselines(runs)
    stats = significance(runs, baselines, n_resamples=n_resamples or N_RESAMPLES, confidence=CONFIDENCE,
                         seed=SEED if seed is None else seed)
    tasks, where = trained_tasks(grpo_dir_of(Path(dir_b), runs[1].doc.get("model")))
    return {"rows": verdict_rows(runs, baselines, stats, names[0], names[1], tasks), "trained_from": where,
            "baselines": [x.name[len(BASELINE_PREFIX):] for x in baselines]}
