"""Collapse and reward-hacking flags computed from predictions (docs/collapse-flags.md).

A metric can rise because a policy learned, or because it found one answer that the metric happens to pay for
(a constant mask, ``There are none.`` everywhere, the trivial baseline's answer). These functions read only what a
run answered, so `georft eval` (metrics.json), `georft compare` (verdict lines, compare.json) and the dashboard
compute the same numbers:

- **answer key** (`answer_key`): what a row answered, canonical: the parsed prediction without parser bookkeeping,
  numbers rounded to whole original pixels, strings case- and space-folded (except mask RLE counts); a row the
  parser could not read is keyed by its folded answer text;
- **distinct-answer share**: distinct keys / rows; **top-answer share**: the most common key's count / rows;
- **same-as-baseline share**: rows whose key equals a trivial baseline's key for the same sample;
- **empty-think share**: think-then-answer rows whose think block holds no characters (`reasoning_chars` = 0);
- **switch share of a gain** (`switch_gain_share`): of the net paired gain of run B over run A, the part carried by
  samples whose answer changed to a "collapse answer": B's repeated most common answer or the baseline's answer,
  when B gives it clearly more often than the ground truth holds it.

`collapse_reasons` applies the documented thresholds below to one (dataset, task) of two paired runs; it reads the
ground truth's answers (`gold_key`) so that an answer which is simply often right is not taken for collapse.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.parsers.reasoning import answer_view, reasoning_chars

# A run answering fewer distinct answers than this share of its samples is collapsed (0.10 = 20 distinct answers over
# 200 samples)...
DISTINCT_MIN = 0.10
# ...or than this fraction of the ground truth's own distinct share, when that is lower (5 scene classes over 200
# samples give at most 5 distinct right answers: the floor is then 0.5 * 5 / 200, i.e. collapsed below 2.5 answers).
DISTINCT_MIN_VS_TRUTH = 0.5
# A most common answer given to at least this share of the samples is a repeated output...
REPEATED_MIN = 0.25
# ...and an answer (repeated, or the trivial baseline's) is a collapse answer when the run gives it at least this many
# times as often as the ground truth holds it (a model that learned a frequent class gives it as often as it is true).
OVER_TRUTH = 1.5
# A gain is carried by switches when at least this share of it comes from samples switching to a collapse answer.
CARRIED_MIN = 0.5

# Parser bookkeeping that is not part of the answer (eval.parsers: the n_* counts, raw spellings, the zoom steps).
_NOT_ANSWER = frozenset({"format_ok", "raw_label", "raw_labels", "box_type", "box_types", "calls", "grid", "error",
                         "choice", "mode"})


FLAG_METRICS = ("distinct_answer_share", "top_answer_share", "empty_think_share")


def is_flag_metric(name: str) -> bool:
    """A metrics.json key holding a flag of this module (``<task>/`` prefix allowed), not a quality metric."""
    last = str(name).rsplit("/", 1)[-1]
    return last in FLAG_METRICS or (last.startswith("same_as_") and last.endswith("_share"))


def flags_by_dataset(metrics: Any) -> dict[str, dict[str, float]]:
    """``{dataset: {flag: value}}`` of a metrics.json ``metrics`` mapping (the keys `is_flag_metric` names; datasets
    without flags left out; anything malformed read as nothing)."""
    if not isinstance(metrics, dict):
        return {}
    out = {}
    for ds, ms in metrics.items():
        flags = {k: v for k, v in (ms.items() if isinstance(ms, dict) else ()) if is_flag_metric(k)}
        if flags:
            out[str(ds)] = flags
    return out


def _fold(value: Any, key: str = "") -> Any:
    """Canonical form of a parsed answer: bookkeeping dropped, numbers rounded to whole pixels, text folded."""
    if isinstance(value, dict):
        return {k: _fold(v, k) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
                if k not in _NOT_ANSWER and not str(k).startswith("n_")}
    if isinstance(value, (list, tuple)):
        return [_fold(v, key) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return round(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if key == "counts" else " ".join(value.lower().split())
    return str(value)


def answer_key(row: Any) -> str:
    """The canonical answer of one prediction row (any object; never raises).

    Args:
        row: a prediction row (``prediction`` parsed dict, ``completion`` text, ``reasoning``).

    Returns:
        ``"p:" + canonical JSON`` of the parsed answer when the parser read it (``format_ok``), else ``"t:"`` and
        the case- and space-folded answer text (the answer block in think-then-answer rows).
    """
    if not isinstance(row, dict):
        return "t:"
    pred = row.get("prediction")
    if isinstance(pred, dict) and pred.get("format_ok"):
        try:
            return "p:" + json.dumps(_fold(pred), sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError):
            pass
    text = row.get("completion")
    return "t:" + " ".join(answer_view(text if isinstance(text, str) else "", row.get("reasoning")).lower().split())


def empty_think_share(rows: Sequence[dict]) -> float | None:
    """Share of think-then-answer rows whose think block is empty (None when no row is in that frame)."""
    framed = [r.get("completion") for r in rows if isinstance(r, dict) and r.get("reasoning") == "think_answer"]
    if not framed:
        return None
    return sum(reasoning_chars(t) == 0 for t in framed) / len(framed)


def answer_shares(keys: Sequence[str]) -> dict[str, Any]:
    """Diversity of one run's answers.

    Args:
        keys: [n] answer keys (`answer_key`).

    Returns:
        ``{"n", "distinct": count, "distinct_share", "top_answer": key, "top_count", "top_share"}`` (shares 0 and
        top_answer None for no rows).
    """
    n = len(keys)
    if not n:
        return {"n": 0, "distinct": 0, "distinct_share": 0.0, "top_answer": None, "top_count": 0, "top_share": 0.0}
    counts = Counter(keys)
    top, top_n = counts.most_common(1)[0]
    return {"n": n, "distinct": len(counts), "distinct_share": len(counts) / n, "top_answer": top,
            "top_count": top_n, "top_share": top_n / n}


def same_share(keys: Sequence[str], other: Sequence[str]) -> float:
    """Share of positions where two aligned key lists agree ([n] and [n]; 0.0 for none)."""
    if len(keys) != len(other):
        raise ValueError(f"same_share needs aligned lists, got {len(keys)} and {len(other)}")
    return float(np.mean([a == b for a, b in zip(keys, other, strict=True)])) if keys else 0.0


def row_flags(rows: Sequence[dict]) -> dict[str, float]:
    """The flags metrics.json carries for one task's rows: ``distinct_answer_share``, ``top_answer_share`` and,
    for think-then-answer rows, ``empty_think_share``."""
    shares = answer_shares([answer_key(r) for r in rows])
    out = {"distinct_answer_share": shares["distinct_share"], "top_answer_share": shares["top_share"]}
    empty = empty_think_share(rows)
    if empty is not None:
        out["empty_think_share"] = empty
    return out


def gold_key(row: Any) -> str | None:
    """The answer key of a row's ground truth: its target written as training writes it, in original pixels
    (`data_engine.render.task_answer`), read back by the task's parser (a mask task: the target mask itself, or
    the empty answer); None when the target cannot be written — such rows are left out of the truth's counts."""
    if not isinstance(row, dict) or not isinstance(row.get("target"), dict):
        return None
    from data_engine.frames import Frame
    from data_engine.render import task_answer
    from data_engine.tasks import get_task
    from eval.parsers import parse

    task, target = row.get("task"), row["target"]
    try:
        decl = get_task(str(task))
        if decl.parser == "segmentation":  # the target mask itself (a grid answer would only approximate it)
            from data_engine.masks import mask_area

            mask = target.get("mask")
            empty = not isinstance(mask, dict) or mask_area(mask) == 0
            return answer_key({"prediction": {"mask": None if empty else mask, "empty": empty, "format_ok": True}})
        mask_format = row.get("mask_format") or "seg_grid"
        # original pixels, as parse(frame=None) reads them (the identity frame's scale is 1 whatever the size)
        frame = Frame.identity(float(row.get("width") or 1), float(row.get("height") or 1))
        text = task_answer(str(task), target, frame, "poly", "text", mask_format=mask_format)
        kw = {k: target.get(k) for k in decl.parse_target_keys}
        if decl.box_answers:
            kw["box_type"] = "poly"
        pred = parse(str(task), text, frame=None, mask_format=mask_format, **kw)
    except Exception:  # noqa: BLE001 - a target this cannot write is left out of the counts, never fatal
        return None
    return answer_key({"prediction": pred, "completion": text})


def over_truth(key: str, run_counts: Counter, truth_counts: Counter, n_truth: int, n_run: int) -> bool:
    """Does the run give `key` at least `OVER_TRUTH` times as often (as a share) as the ground truth holds it?"""
    run_share = run_counts.get(key, 0) / n_run if n_run else 0.0
    truth_share = truth_counts.get(key, 0) / n_truth if n_truth else 0.0
    return run_share > 0 and run_share >= OVER_TRUTH * truth_share


def switch_gain_share(score_a: np.ndarray, score_b: np.ndarray, keys_a: Sequence[str], keys_b: Sequence[str],
                      collapse_keys: Sequence[set[str]]) -> float | None:
    """The share of B's net paired gain over A carried by samples that switched to a collapse answer.

    Args:
        score_a, score_b: [n] per-sample scores of the two runs on the same samples.
        keys_a, keys_b: [n] their answer keys.
        collapse_keys: [n] per sample, the answers counted as collapse (B's repeated answer, the baseline's answer
            for that sample).

    Returns:
        sum(score_b - score_a over switched samples) / sum(score_b - score_a), where a sample *switched* when
        keys_b[i] is in collapse_keys[i] and differs from keys_a[i]; None when the net gain is not positive.
    """
    diff = np.asarray(score_b, dtype=float) - np.asarray(score_a, dtype=float)
    total = float(diff.sum())
    if not total > 0:
        return None
    switched = np.array([kb != ka and kb in c for ka, kb, c in zip(keys_a, keys_b, collapse_keys, strict=True)],
                        dtype=bool)
    return float(diff[switched].sum()) / total


def distinct_floor(truth_distinct_share: float | None) -> float:
    """The distinct-answer share under which a run counts as collapsed (see the thresholds above)."""
    if truth_distinct_share is None:
        return DISTINCT_MIN
    return min(DISTINCT_MIN, DISTINCT_MIN_VS_TRUTH * truth_distinct_share)


def collapse_reasons(rows_a: Sequence[dict], rows_b: Sequence[dict], score_a: np.ndarray, score_b: np.ndarray,
                     baseline_rows: Sequence[dict] | None = None) -> tuple[list[str], dict[str, Any]]:
    """Why B's gain over A on one (dataset, task) is collapse rather than learning (empty: it is not).

    Args:
        rows_a, rows_b: [n] the two runs' prediction rows on the same samples, aligned (B's targets are the truth).
        score_a, score_b: [n] their per-sample scores of the metric the gain is measured on.
        baseline_rows: [n] the best trivial baseline's rows on those samples (None: no baseline).

    Returns:
        (reasons, numbers): one short sentence per threshold crossed, and the numbers behind them
        (``distinct_share``, ``distinct_floor``, ``top_share``, ``same_as_baseline_share``, ``switch_share``).
    """
    keys_a = [answer_key(r) for r in rows_a]
    keys_b = [answer_key(r) for r in rows_b]
    truth = [k for k in (gold_key(r) for r in rows_b) if k is not None]
    truth_counts, run_counts = Counter(truth), Counter(keys_b)
    shares = answer_shares(keys_b)
    floor = distinct_floor(answer_shares(truth)["distinct_share"] if truth else None)
    base_keys = [answer_key(r) for r in baseline_rows] if baseline_rows else None

    def collapsing(key: str) -> bool:
        return over_truth(key, run_counts, truth_counts, len(truth), shares["n"])

    repeated = shares["top_answer"] if shares["top_share"] >= REPEATED_MIN and collapsing(shares["top_answer"]) \
        else None
    collapse = []
    for k in range(len(keys_b)):
        c = {repeated} if repeated is not None else set()
        if base_keys is not None and collapsing(base_keys[k]):
            c.add(base_keys[k])
        collapse.append(c)
    switch = switch_gain_share(score_a, score_b, keys_a, keys_b, collapse)
    numbers = {"distinct_share": shares["distinct_share"], "distinct_floor": floor, "top_share": shares["top_share"],
               "same_as_baseline_share": same_share(keys_b, base_keys) if base_keys is not None else None,
               "switch_share": switch}
    reasons = []
    if shares["n"] and shares["distinct_share"] < floor:
        reasons.append(f"{shares['distinct']} distinct answers over {shares['n']} samples "
                       f"(share {shares['distinct_share']:.3f} < {floor:.3f})")
    if switch is not None and switch >= CARRIED_MIN:
        reasons.append(f"{switch:.0%} of the gain comes from samples switching to a repeated or baseline answer "
                       "given more often than it is true")
    return reasons, numbers
