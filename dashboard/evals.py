"""Eval outputs: a byte-offset index over `predictions.jsonl`, pages of rows, and the two-run comparison.

The index holds per line only the id, dataset, task, scores and byte offset (not the completion or the target),
built in one streaming pass and cached by (size, mtime); a page then seeks to its few lines. A malformed line is
skipped and counted, never fatal: a half-written file from a running eval still opens.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard.overlay import parse_failed
from dashboard.runs import EvalDir


@dataclass
class Entry:
    """What the index keeps of one prediction line."""

    id: str
    dataset: str
    task: str
    scores: dict[str, float]
    offset: int
    parse_failed: bool


@dataclass
class PredictionIndex:
    """All entries of one `predictions.jsonl`, in file order."""

    entries: list[Entry] = field(default_factory=list)
    by_id: dict[str, int] = field(default_factory=dict)
    bad_lines: int = 0
    out_of_run: bool = False  # predictions.jsonl is a symlink leading out of the run: not read

    def metric_names(self) -> list[str]:
        """Score names, most frequent first."""
        counts: dict[str, int] = {}
        for e in self.entries:
            for k in e.scores:
                counts[k] = counts.get(k, 0) + 1
        return sorted(counts, key=lambda k: (-counts[k], k))


def _finite(v: Any) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def build_index(path: Path) -> PredictionIndex:
    """Scan `predictions.jsonl` once (missing file -> empty index)."""
    idx = PredictionIndex()
    if not path.is_file():
        return idx
    with path.open("rb") as f:
        offset = 0
        for line in f:
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                sid = str(row["id"])
            except (ValueError, KeyError, TypeError):
                idx.bad_lines += 1
                continue
            scores = {str(k): f for k, v in (row.get("scores") or {}).items() if (f := _finite(v)) is not None}
            idx.by_id.setdefault(sid, len(idx.entries))
            idx.entries.append(Entry(sid, str(row.get("dataset", "")), str(row.get("task", "")), scores, start,
                                     parse_failed(row.get("prediction"))))
    return idx


class EvalStore:
    """Cached indexes of every eval dir, and row reads by offset."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], PredictionIndex]] = {}
        self._lock = threading.Lock()

    def index(self, ev: EvalDir) -> PredictionIndex:
        """The index of `ev`'s predictions (empty when missing or when the file leads out of the run)."""
        path = ev.predictions_path
        if not ev.contained(path):
            return PredictionIndex(out_of_run=True)
        try:
            st = path.stat()
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            return PredictionIndex()
        with self._lock:
            hit = self._cache.get(ev.key)
        if hit and hit[0] == stamp:
            return hit[1]
        idx = build_index(path)
        with self._lock:
            self._cache[ev.key] = (stamp, idx)
        return idx

    @staticmethod
    def row(ev: EvalDir, entry: Entry) -> dict[str, Any]:
        """The full prediction row of `entry`."""
        if not ev.contained(ev.predictions_path):
            raise FileNotFoundError(f"{ev.name}/predictions.jsonl leads out of the run directory")
        with ev.predictions_path.open("rb") as f:
            f.seek(entry.offset)
            row = json.loads(f.readline())
        row["parse_failed"] = entry.parse_failed
        return row

    def page(self, ev: EvalDir, task: str | None, dataset: str | None, failed: bool, offset: int,
             limit: int) -> tuple[list[dict[str, Any]], int]:
        """Rows passing the filters, `limit` from `offset`, and the number passing."""
        idx = self.index(ev)
        hits = [e for e in idx.entries if (not task or e.task == task) and (not dataset or e.dataset == dataset)
                and (not failed or e.parse_failed)]
        return [self.row(ev, e) for e in hits[offset: offset + limit]], len(hits)


@dataclass
class ComparePair:
    """One sample present in both eval outputs."""

    id: str
    a: Entry
    b: Entry
    score_a: float | None
    score_b: float | None

    @property
    def diff(self) -> float | None:
        if self.score_a is None or self.score_b is None:
            return None
        return self.score_b - self.score_a


def compare(ia: PredictionIndex, ib: PredictionIndex, metric: str, descending: bool) -> list[ComparePair]:
    """Samples in both indexes, sorted by `metric` difference (B - A); pairs without the metric go last."""
    pairs = _pairs(ia, ib, metric)
    sign = -1.0 if descending else 1.0
    return sorted(pairs, key=lambda p: (p.diff is None, sign * (p.diff or 0.0), p.id))


def _pairs(ia: PredictionIndex, ib: PredictionIndex, metric: str) -> list[ComparePair]:
    out = []
    for sid, ka in ia.by_id.items():
        kb = ib.by_id.get(sid)
        if kb is None:
            continue
        a, b = ia.entries[ka], ib.entries[kb]
        out.append(ComparePair(sid, a, b, a.scores.get(metric), b.scores.get(metric)))
    return out
