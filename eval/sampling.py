"""Several sampled answers per prompt: mean@K and pass@K (`georft eval --samples K --temperature T`).

RL papers report a policy's *expected* score under sampling (mean@K: the metric averaged over K independent sampled
answers per prompt) and its *coverage* (pass@K: the share of prompts where at least one of K answers is right),
besides the greedy score. `georft eval --samples K` runs the ordinary evaluation K times at temperature T with seeds
``seed, seed + 1, ...`` into ``DIR/samples/<k>/`` (each a complete, resumable eval directory), then writes ``DIR``
itself as sample 0 (its ``predictions.jsonl``, so reports pair samples as usual, and its trivial baselines) with,
per dataset, ``mean@K/<metric>`` for every numeric metric and ``pass@K/<score>`` for every 0/1 per-sample score
(``correct``, ``correct_direct``). With K answers per prompt, pass@K is the plain "any of the K is right"; the
unbiased estimator of Chen et al. (2021) reduces to it when n = k.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from eval import runner_io

SAMPLES_DIR = "samples"


def sample_dir(out: Path, k: int) -> Path:
    """Where sample run `k` of an eval writes."""
    return out / SAMPLES_DIR / str(k)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def aggregate(docs: list[dict], rows: list[list[dict]]) -> dict[str, dict[str, float]]:
    """Per dataset: ``mean@K/<metric>`` over the K runs' metrics and ``pass@K/<score>`` over their per-sample scores.

    Args:
        docs: the K runs' metrics.json documents.
        rows: the K runs' prediction rows (with ``scores``), the same samples in each.

    Returns:
        {dataset: {name: value}}; a metric missing or non-numeric in some run gets no mean.
    """
    k = len(docs)
    out: dict[str, dict[str, float]] = {}
    for ds, metrics in docs[0]["metrics"].items():
        agg = {}
        for name in metrics:
            vals = [(d["metrics"].get(ds) or {}).get(name) for d in docs]
            if name != "n" and all(_number(v) for v in vals):
                agg[f"mean@{k}/{name}"] = sum(vals) / k
        out[ds] = agg
    by_key: dict[tuple[str, str], list[dict]] = {}
    for run in rows:
        for r in run:
            by_key.setdefault(runner_io.row_key(r), []).append(r.get("scores") or {})
    per_ds: dict[str, dict[str, list[float]]] = {}
    for (ds, _), scores in by_key.items():
        if len(scores) != k:
            continue  # a sample some run lacks: no pass@K for it
        for name in scores[0]:
            vals = [s.get(name) for s in scores]
            if all(v in (0, 1, 0.0, 1.0) and not isinstance(v, bool) for v in vals):
                per_ds.setdefault(ds, {}).setdefault(name, []).append(float(max(vals)))
    for ds, names in per_ds.items():
        for name, hits in names.items():
            out.setdefault(ds, {})[f"pass@{k}/{name}"] = sum(hits) / len(hits)
    return out


def write_sampled(out: Path, docs: list[dict], temperature: float, seeds: list[int]) -> dict:
    """Write ``out/metrics.json`` (sample 0 plus mean@K / pass@K) and ``out/predictions.jsonl`` (sample 0's rows).

    Returns:
        The written metrics.json document.
    """
    rows = [runner_io.read_rows(sample_dir(out, k) / runner_io.PREDICTIONS) for k in range(len(docs))]
    extra = aggregate(docs, rows)
    doc = dict(docs[0])
    doc["metrics"] = {ds: {**m, **extra.get(ds, {})} for ds, m in docs[0]["metrics"].items()}
    doc["sampling"] = {"samples": len(docs), "temperature": temperature, "seeds": seeds,
                       "runs": [str(Path(SAMPLES_DIR) / str(k)) for k in range(len(docs))]}
    first = Path(SAMPLES_DIR) / "0"
    doc["baselines"] = {p: str(first / rel) for p, rel in (docs[0].get("baselines") or {}).items()}
    shutil.copyfile(sample_dir(out, 0) / runner_io.PREDICTIONS, out / runner_io.PREDICTIONS)
    runner_io.write_json_atomic(out / runner_io.METRICS, doc)
    return runner_io.clean_json(doc)
