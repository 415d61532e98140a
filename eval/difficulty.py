"""Offline difficulty filter for GRPO prompts: keep what the policy sometimes, but not always, gets right.

A GRPO group whose K completions are all right or all wrong has zero reward variance and teaches nothing (see
`rl.dynamic_sampling`, which drops such groups online at the price of extra generation). Filtering beforehand costs
one sampled evaluation: ``georft eval --samples K --temperature T`` over the candidate prompts (a suite whose
datasets select the *training* split), then::

    georft data filter-difficulty --eval DIR --out runs/hard_prompts [--score correct]

keeps each prompt whose K sampled answers are right in strictly between 0 and K of the runs (its per-prompt success
rate is in (0, 1): pass@K = 1 but not every sample right), and writes those rows of the evaluated built datasets
as a new built dataset (same schema, same ``split``), so a GRPO mixture lists it as a source::

    data:
      sources:
        - {path: runs/hard_prompts, split: train}

Every evaluated prompt is accounted for: records in = kept + dropped (all right) + dropped (all wrong) + skipped
(no 0/1 score in some run, missing from some run, or no longer in the built dataset), each count in
``build_summary.json`` (``difficulty``) and printed by `georft data show`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from data_engine.errors import UserError
from eval import runner_io
from eval.sampling import sample_dir

KEEP, ALL_RIGHT, ALL_WRONG = "kept", "dropped: every sample right", "dropped: every sample wrong"


def classify(runs: list[list[dict]], score: str = "correct") -> tuple[dict[tuple[str, str], str], list[dict]]:
    """Outcome of each prompt over K sampled runs.

    Args:
        runs: the K runs' prediction rows (``dataset``, ``id``, ``scores``).
        score: the 0/1 per-sample score to count (``correct`` for most tasks, `eval.runner_score`).

    Returns:
        ({(dataset, id): KEEP | ALL_RIGHT | ALL_WRONG}, skips): a prompt without a 0/1 ``score`` in every run, or
        missing from some run, is a skip ({dataset, id, reason}) instead.
    """
    k = len(runs)
    by_key: dict[tuple[str, str], list[Any]] = {}
    for run in runs:
        for r in run:
            by_key.setdefault(runner_io.row_key(r), []).append((r.get("scores") or {}).get(score))
    outcome, skips = {}, []
    for key, vals in by_key.items():
        if len(vals) != k:
            skips.append({"dataset": key[0], "id": key[1], "reason": f"in {len(vals)} of the {k} sampled runs"})
        elif not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v in (0, 1) for v in vals):
            skips.append({"dataset": key[0], "id": key[1], "reason": f"no 0/1 score {score!r}"})
        else:
            hits = sum(vals)
            outcome[key] = KEEP if 0 < hits < k else (ALL_RIGHT if hits == k else ALL_WRONG)
    return outcome, skips


def filter_difficulty(eval_dir: str | Path, out_dir: str | Path, score: str = "correct") -> dict:
    """Write the kept prompts of a sampled eval as a built dataset; returns its summary (also build_summary.json).

    Raises:
        UserError: not a ``--samples K`` eval (K >= 2), an evaluated dataset's built data is gone, ``out_dir`` is a
            non-empty folder that is not a previous build, or nothing is kept.
    """
    from datasets import Dataset, concatenate_datasets

    from data_engine.build import SUMMARY_FILE, _save_quietly, load_built

    t0 = time.perf_counter()
    src, out = Path(eval_dir), Path(out_dir)
    doc = _metrics(src)
    k = int(doc["sampling"]["samples"])
    runs = [runner_io.read_rows(sample_dir(src, i) / runner_io.PREDICTIONS) for i in range(k)]
    outcome, skips = classify(runs, score)
    if out.exists() and any(out.iterdir()) and not (out / SUMMARY_FILE).is_file():
        raise UserError(f"{out} exists, is not empty and is not a previous build; choose another --out")

    parts, sources = [], []
    for name, info in (doc.get("datasets") or {}).items():
        keys = {i for (d, i), o in outcome.items() if d == name}
        if not keys:
            continue
        path = Path(info.get("path") or "")
        if not (path / "dataset_info.json").is_file():
            raise UserError(f"{src / runner_io.METRICS}: dataset {name!r} was read from {path}, which is not a built "
                            "dataset here (run from the folder the eval ran in)")
        ds = load_built(path)
        want = {i for i in keys if outcome[(name, i)] == KEEP}
        ids = [str(i) for i in ds["id"]]
        rows = [j for j, i in enumerate(ids) if i in want]
        for i in sorted(keys - set(ids)):
            outcome.pop((name, i))
            skips.append({"dataset": name, "id": i, "reason": f"not in the built dataset {path}"})
        counts = Counter(o for (d, _), o in outcome.items() if d == name)
        sel = ds.select(rows)
        parts.append(sel)
        by = Counter(zip(sel["task"], sel["split"], strict=True))
        sources.append({
            "name": name, "format": "difficulty_filter", "root": str(path.resolve()), "weight": None,
            "samples": len(rows),
            "by_task_split": [{"task": t, "split": s, "samples": n} for (t, s), n in sorted(by.items(), key=str)],
            "skipped": sum(s["dataset"] == name for s in skips),
            "skipped_by_reason": dict(sorted(Counter(s["reason"] for s in skips if s["dataset"] == name).items())),
            "difficulty": {c: counts.get(c, 0) for c in (KEEP, ALL_RIGHT, ALL_WRONG)},
        })
    kept_n = sum(len(p) for p in parts)
    if not kept_n:
        raise UserError(f"{src}: no prompt has 0 < correct samples < {k} on score {score!r}; nothing to write")
    merged = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    out.mkdir(parents=True, exist_ok=True)
    _save_quietly(Dataset.from_dict(merged.to_dict(), features=merged.features), out)
    counts = Counter(outcome.values())
    records_in = len(outcome) + len(skips)
    summary = {
        "recipe": None,
        "out": str(out.resolve()),
        "num_samples": kept_n,
        "total": kept_n,
        "num_skipped": len(skips),
        "renamed_duplicate_ids": 0,
        "seconds": round(time.perf_counter() - t0, 2),
        "sources": sources,
        "tasks": dict(sorted(Counter(merged["task"]).items())),
        "skipped": [{"source": s["dataset"], "reason": s["reason"], "file": str(src), "line": None,
                     "detail": f"id {s['id']}"} for s in skips],
        "difficulty": {"eval": str(src.resolve()), "samples": k, "score": score, "records_in": records_in,
                       "kept": counts[KEEP], "dropped_all_right": counts[ALL_RIGHT],
                       "dropped_all_wrong": counts[ALL_WRONG], "skipped": len(skips)},
    }
    if records_in != kept_n + counts[ALL_RIGHT] + counts[ALL_WRONG] + len(skips):  # every prompt counted once
        raise RuntimeError(f"difficulty filter: {records_in} prompts in, {kept_n} kept + {counts[ALL_RIGHT]} + "
                           f"{counts[ALL_WRONG]} dropped + {len(skips)} skipped")
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    return summary


def _metrics(src: Path) -> dict:
    path = src / runner_io.METRICS
    if not path.is_file():
        raise UserError(f"{src}: no {runner_io.METRICS}; pass the --out folder of `georft eval --samples K`")
    doc = json.loads(path.read_text(encoding="utf-8"))
    samples = (doc.get("sampling") or {}).get("samples")
    if not isinstance(samples, int) or samples < 2:
        raise UserError(f"{path}: not a sampled eval (run `georft eval --samples K --temperature T` with K >= 2)")
    return doc
