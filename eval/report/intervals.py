"""Evidence for a comparison: trivial baselines beside the checkpoints, and paired bootstrap intervals.

For every dataset (and task within it) of the compared eval directories, the *interval metrics* of its task
(`INTERVAL_METRICS`, keyed by task; every reward's ``overall`` part is added, except ``format``'s) are computed from the per-sample
scores in ``predictions.jsonl`` on the samples all runs share, for every checkpoint run and every trivial baseline
(`eval.baselines`, read from the ``baselines/`` eval directories the runner writes beside a checkpoint's outputs).
Then, with `eval.bootstrap` (one seed, so every pair sees the same resamples):

- every pair of checkpoints (later − earlier): Δ and its paired 95 % interval;
- every checkpoint against the best trivial baseline of that metric (the baseline with the highest value):
  Δ and its interval, and whether the checkpoint beats it at all (strictly higher).

All metrics here are higher-is-better. The numbers are recomputed from the rows, so they equal metrics.json when
the runs share all samples (tested) and describe exactly the shared samples otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.bootstrap import (
    CONFIDENCE,
    N_RESAMPLES,
    SEED,
    Interval,
    ResampledMAP,
    memo,
    paired_mean_interval,
    paired_stat_interval,
)
from eval.report.tables import Run, is_number, load_run

BASELINE_PREFIX = "trivial: "


@dataclass(frozen=True)
class IntervalMetric:
    """A metric with an interval: the mean of a per-sample score, or a corpus metric recomputed per draw.

    Attributes:
        name: the metric's name (the metrics.json key where there is one).
        score: the per-sample score (``scores[score]`` of a prediction row) whose mean is the metric.
        corpus: name of a corpus metric in `CORPUS` (recomputed on each draw) instead of a mean.
        reward: the reward whose ``overall`` part (``rewards["<reward>/overall"]``) is averaged.
    """

    name: str
    score: str | None = None
    corpus: str | None = None
    reward: str | None = None


# Which metrics get intervals, per task (a task not listed gets the mean of its declared ``sample_score``).
INTERVAL_METRICS: dict[str, tuple[IntervalMetric, ...]] = {
    "detection": (IntervalMetric("mAP", corpus="map"), IntervalMetric("image_f1", score="f1")),
    "grounding": (IntervalMetric("mean_iou", score="iou"), IntervalMetric("acc@0.5", score="correct")),
    "vqa": (IntervalMetric("accuracy", score="correct"),),
    "classification": (IntervalMetric("accuracy", score="correct"),),
    "caption": (IntervalMetric("cider_d", score="cider_d"), IntervalMetric("rouge_l", score="rouge_l")),
    "zoom_vqa": (IntervalMetric("accuracy_zoom", score="correct"),
                 IntervalMetric("accuracy_direct", score="correct_direct")),
}


def _map_stat(rows: list[dict]):
    """(idx) -> mAP of those rows (VOC07, dota_devkit, IoU 0.5, the rows' class lists: the suite's defaults)."""
    from eval.runner_score import detection_rows, ground_truth_rows

    classes = sorted({c for r in rows for c in (r.get("target") or {}).get("classes") or []}) or None
    dets = [[{k: d[k] for k in ("label", "poly")} for d in detection_rows(r)] for r in rows]
    gts = [[{k: g[k] for k in ("label", "poly", "difficult")} for g in ground_truth_rows(r)] for r in rows]
    return ResampledMAP(dets, gts, classes=classes)


CORPUS = {"map": _map_stat}


@dataclass
class MetricStats:
    """One metric of one (dataset, task) over the runs and the baselines.

    Attributes:
        values: per checkpoint run, the metric on the shared samples (None when it cannot be computed).
        baselines: per baseline policy, its value.
        best: (policy, value) of the best baseline, or None without baselines.
        pairs: (earlier run, later run, interval of later − earlier) for every pair of checkpoints.
        vs_best: per checkpoint run, the interval of run − best baseline (None without a baseline).
        note: why something is missing (empty when complete).
    """

    dataset: str
    task: str
    metric: str
    n: int
    values: list[float | None]
    baselines: dict[str, float | None] = field(default_factory=dict)
    best: tuple[str, float] | None = None
    pairs: list[tuple[str, str, Interval]] = field(default_factory=list)
    vs_best: list[Interval | None] = field(default_factory=list)
    note: str = ""

    def beats_best(self, k: int) -> bool | None:
        """Does checkpoint `k` beat the best baseline (strictly)? None when either value is missing."""
        v = self.values[k]
        if self.best is None or v is None:
            return None
        return v > self.best[1]

    def to_dict(self, names: list[str]) -> dict:
        return {
            "dataset": self.dataset, "task": self.task, "metric": self.metric, "n": self.n,
            "values": dict(zip(names, self.values, strict=True)),
            "baselines": self.baselines,
            "best_baseline": {"policy": self.best[0], "value": self.best[1]} if self.best else None,
            "beats_best_baseline": {n: self.beats_best(k) for k, n in enumerate(names)},
            "vs_best_baseline": {n: (iv.to_dict() if iv else None) for n, iv in zip(names, self.vs_best, strict=True)},
            "differences": [{"a": a, "b": b, **iv.to_dict()} for a, b, iv in self.pairs],
            "note": self.note,
        }


def load_baselines(runs: list[Run]) -> list[Run]:
    """The trivial-baseline runs recorded by the first run that has them (``metrics.json: baselines``)."""
    for r in runs:
        rel = r.doc.get("baselines") or {}
        if rel:
            out = []
            for policy, sub in rel.items():
                path = Path(r.path) / sub
                if (path / "metrics.json").is_file():
                    out.append(load_run(path, BASELINE_PREFIX + policy))
            return out
    return []


def _rows_by_group(run: Run) -> dict[tuple[str, str], dict[str, dict]]:
    out: dict[tuple[str, str], dict[str, dict]] = {}
    for (ds, sid), row in run.rows.items():
        out.setdefault((ds, str(row.get("task", "?"))), {})[sid] = row
    return out


def _metrics_of(task: str, rows: list[list[dict]]) -> list[IntervalMetric]:
    specs = list(INTERVAL_METRICS.get(task, ()))
    if not specs:
        from data_engine.tasks import TASKS

        decl = TASKS.get(task)
        if decl is not None and decl.sample_score:  # a task not listed here: the mean of its declared sample score
            specs = [IntervalMetric(f"mean {decl.sample_score}", score=decl.sample_score)]
    if any((r.get("target") or {}).get("patch") for rs in rows for r in rs):
        # patch rows are scored merged back to full images: resampling patches would not be that metric
        specs = [s for s in specs if not s.corpus]
    # the format reward is left out: a trivial policy always writes the format, and parse failures have their own
    # column in the metric tables
    rewards = sorted({k.rsplit("/", 1)[0] for rs in rows for r in rs for k in (r.get("rewards") or {})
                      if k.endswith("/overall")} - {"format"})
    return specs + [IntervalMetric(f"reward {name}", reward=name) for name in rewards]


def _vector(rows: list[dict], spec: IntervalMetric) -> np.ndarray | None:
    vals = []
    for r in rows:
        v = (r.get("rewards") or {}).get(f"{spec.reward}/overall") if spec.reward else (r.get("scores") or {}).get(
            spec.score)
        if not is_number(v):
            return None
        vals.append(float(v))
    return np.asarray(vals)


def significance(runs: list[Run], baselines: list[Run], *, n_resamples: int = N_RESAMPLES,
                 confidence: float = CONFIDENCE, seed: int = SEED) -> list[MetricStats]:
    """Values, best baselines and paired intervals for every interval metric of every dataset (see module doc)."""
    groups = [_rows_by_group(r) for r in runs]
    base_groups = [_rows_by_group(b) for b in baselines]
    order: list[tuple[str, str]] = []
    for g in groups:
        order.extend(k for k in g if k not in order)
    out = []
    for key in order:
        ds, task = key
        present = [g.get(key) for g in groups]
        if any(p is None for p in present):
            continue  # a dataset some checkpoint lacks: no pairing possible
        shared = set.intersection(*(set(p) for p in present))
        bases = [(b.name[len(BASELINE_PREFIX):], bg[key]) for b, bg in zip(baselines, base_groups, strict=True)
                 if key in bg and shared <= set(bg[key])]
        ids = sorted(shared)
        run_rows = [[p[i] for i in ids] for p in present]
        base_rows = {name: [g[i] for i in ids] for name, g in bases}
        for spec in _metrics_of(task, run_rows):
            out.append(_one_metric(ds, task, spec, [r.name for r in runs], run_rows, base_rows, n_resamples,
                                   confidence, seed))
    return out


def _one_metric(ds, task, spec, names, run_rows, base_rows, n_resamples, confidence, seed) -> MetricStats:
    n = len(run_rows[0])
    kw = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    all_rows = list(run_rows) + list(base_rows.values())
    if spec.corpus:
        stats = [memo(CORPUS[spec.corpus](rows)) for rows in all_rows]
        full = np.arange(n)
        values = [s(full) if n else None for s in stats]

        def interval(i: int, j: int) -> Interval:
            return paired_stat_interval(n, stats[i], stats[j], **kw)
    else:
        vecs = [_vector(rows, spec) for rows in all_rows]
        values = [float(v.mean()) if v is not None and n else None for v in vecs]

        def interval(i: int, j: int) -> Interval | None:
            if vecs[i] is None or vecs[j] is None:
                return None
            return paired_mean_interval(vecs[i], vecs[j], **kw)
    k = len(run_rows)
    st = MetricStats(ds, task, spec.name, n, values[:k])
    st.baselines = dict(zip(base_rows, values[k:], strict=True))
    missing = [n for n, v in zip(names, values, strict=False) if v is None]
    if missing:
        st.note = f"no per-sample {spec.score or spec.reward or spec.corpus} in {', '.join(missing)}"
    for i in range(k):
        for j in range(i + 1, k):
            iv = interval(i, j)
            if iv is not None:
                st.pairs.append((names[i], names[j], iv))
    scored = [(p, v, k + m) for m, (p, v) in enumerate(st.baselines.items()) if v is not None]
    if scored:
        p, v, col = max(scored, key=lambda t: t[1])  # the first of equal best ones
        st.best = (p, v)
        st.vs_best = [interval(col, i) if values[i] is not None else None for i in range(k)]
    else:
        st.vs_best = [None] * k
    return st


def headline_stats(stats: list[MetricStats]) -> list[MetricStats]:
    """The first interval metric of every (dataset, task): the one the verdict and the headline table use."""
    seen, out = set(), []
    for st in stats:
        if (st.dataset, st.task) not in seen:
            seen.add((st.dataset, st.task))
            out.append(st)
    return out


def _sample_scores(rows: list[dict], spec: IntervalMetric | None, task: str) -> np.ndarray:
    """[n] per-sample scores of a metric: its own score or reward; a corpus metric (mAP) falls back to the task's
    declared per-sample score (detection: the image's f1). Missing values count 0."""
    from eval.report.tables import PRIMARY_SCORE

    def one(r: dict) -> float:
        if spec is not None and spec.reward:
            v = (r.get("rewards") or {}).get(f"{spec.reward}/overall")
        else:
            v = (r.get("scores") or {}).get(spec.score if spec is not None and spec.score else PRIMARY_SCORE.get(task))
        return float(v) if is_number(v) else 0.0

    return np.asarray([one(r) for r in rows], dtype=float)


def collapse_checks(runs: list[Run], baselines: list[Run], stats: list[MetricStats]) -> dict[tuple, dict]:
    """For every consecutive pair (a, b) and headline metric where b − a is significantly up: whether the gain
    comes with collapse (`eval.collapse.collapse_reasons`: few distinct answers in b, or a gain carried by samples
    switching to b's repeated answer or to the best trivial baseline's answer).

    Returns:
        ``{(a, b, "dataset/task"): {"reasons": [...], **numbers}}`` for the gains that are collapse (and only those).
    """
    from eval.collapse import collapse_reasons

    names = [r.name for r in runs]
    groups = {r.name: _rows_by_group(r) for r in runs}
    base_groups = {b.name[len(BASELINE_PREFIX):]: _rows_by_group(b) for b in baselines}
    consecutive = set(zip(names, names[1:], strict=False))
    out: dict[tuple, dict] = {}
    for st in headline_stats(stats):
        key = (st.dataset, st.task)
        for a, b, iv in st.pairs:
            ga, gb = groups[a].get(key), groups[b].get(key)
            if not iv.lo > 0 or (a, b) not in consecutive or not ga or not gb:
                continue
            ids = sorted(set(ga) & set(gb))
            rows_a, rows_b = [ga[i] for i in ids], [gb[i] for i in ids]
            best = base_groups.get(st.best[0], {}).get(key) if st.best else None
            base_rows = [best[i] for i in ids] if best and set(ids) <= set(best) else None
            spec = next((m for m in _metrics_of(st.task, [rows_a]) if m.name == st.metric), None)
            reasons, numbers = collapse_reasons(rows_a, rows_b, _sample_scores(rows_a, spec, st.task),
                                                _sample_scores(rows_b, spec, st.task), baseline_rows=base_rows)
            if reasons:
                out[(a, b, f"{st.dataset}/{st.task}")] = {"reasons": reasons, **numbers}
    return out


def verdict(names: list[str], stats: list[MetricStats], collapse: dict[tuple, dict] | None = None) -> dict:
    """Counts over the headline metrics: per run, the datasets where it beats the best trivial baseline with the
    interval excluding 0; per consecutive pair (a, b), where b − a is significantly above / below 0. A significant
    rise that comes with collapse (`collapse_checks`) is listed under ``collapse``, not counted as up.

    Returns:
        ``{"beats_trivial": {run: [dataset/task, ...]}, "pairs": [{"a", "b", "up": [...], "down": [...],
        "collapse": [{"dataset", "reasons", ...numbers}]}]}``.
    """
    collapse = collapse or {}
    heads = headline_stats(stats)
    label = [f"{st.dataset}/{st.task}" for st in heads]
    beats = {n: [lab for lab, st in zip(label, heads, strict=True)
                 if st.vs_best[k] is not None and st.vs_best[k].lo > 0] for k, n in enumerate(names)}
    pairs = []
    for a, b in zip(names, names[1:], strict=False):
        ivs = [(lab, next((iv for x, y, iv in st.pairs if (x, y) == (a, b)), None)) for lab, st in zip(label, heads,
                                                                                                       strict=True)]
        rose = [lab for lab, iv in ivs if iv is not None and iv.lo > 0]
        pairs.append({"a": a, "b": b, "up": [lab for lab in rose if (a, b, lab) not in collapse],
                      "down": [lab for lab, iv in ivs if iv is not None and iv.hi < 0],
                      "collapse": [{"dataset": lab, **collapse[(a, b, lab)]} for lab in rose if (a, b, lab) in collapse]})
    return {"beats_trivial": beats, "pairs": pairs, "n": len(heads)}


def collapse_thresholds() -> dict[str, float]:
    """The documented thresholds of `eval.collapse` (docs/collapse-flags.md), recorded with the verdict."""
    from eval import collapse as C

    return {"distinct_min": C.DISTINCT_MIN, "distinct_min_vs_truth": C.DISTINCT_MIN_VS_TRUTH,
            "repeated_min": C.REPEATED_MIN, "over_truth": C.OVER_TRUTH, "carried_min": C.CARRIED_MIN}


def heldout_of(runs: list[Run]) -> dict | None:
    """The held-out set the runs were evaluated on (metrics.json ``heldout``; None when none recorded it).

    Raises:
        UserError: two runs were evaluated on different sets (their samples share ids but not images, so pairing
            them would be wrong).
    """
    from data_engine.errors import UserError

    seen = {r.name: r.doc.get("heldout") for r in runs if isinstance(r.doc.get("heldout"), dict)}
    distinct = {(h.get("name"), h.get("root")) for h in seen.values()}
    if len(distinct) > 1:
        raise UserError("the eval directories were evaluated on different held-out sets: " + "; ".join(
            f"{n}: {h.get('name')} ({h.get('root')})" for n, h in seen.items()) + ". Compare runs of one set")
    return next(iter(seen.values()), None)


def flags_of(runs: list[Run]) -> dict[str, dict[str, dict[str, float]]]:
    """``{run: {dataset: {flag: value}}}``: the collapse flags each run's metrics.json holds (`eval.collapse`)."""
    from eval.collapse import flags_by_dataset

    return {r.name: flags_by_dataset(r.metrics) for r in runs}


def compare_json(runs: list[Run], baselines: list[Run], stats: list[MetricStats], *, n_resamples: int,
                 confidence: float, seed: int, collapse: dict[tuple, dict] | None = None) -> dict:
    """The machine-readable form of the comparison (`georft compare --json`, ``compare.json``): ``heldout`` says
    which held-out set every number comes from (null: not recorded by the evals), ``flags`` the collapse flags."""
    names = [r.name for r in runs]
    return {
        "heldout": heldout_of(runs),
        "runs": [{"name": r.name, "path": str(r.path), "model": r.doc.get("model")} for r in runs],
        "baselines": [{"name": b.name, "path": str(b.path), "answers": (b.doc.get("baseline") or {}).get("answers"),
                       "skipped": (b.doc.get("baseline") or {}).get("skipped")} for b in baselines],
        "bootstrap": {"method": "paired percentile (scipy.stats.bootstrap)", "n_resamples": n_resamples,
                      "confidence": confidence, "seed": seed},
        "verdict": verdict([r.name for r in runs], stats, collapse),
        "collapse_thresholds": collapse_thresholds(),
        "flags": flags_of(runs),
        "metrics": {r.name: r.metrics for r in runs},
        "intervals": [s.to_dict(names) for s in stats],
    }
