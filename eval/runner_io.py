"""Eval output files: appending prediction rows, resuming, sharding over processes, merging, metrics.json.

Layout of an eval dir::

    predictions.jsonl            one row per sample, sorted by (dataset order, id) once the run is complete
    predictions.rank<k>.jsonl    rows written by rank k when WORLD_SIZE > 1 (merged into predictions.jsonl by rank 0)
    rank<k>.done                 rank k finished; holds the run fingerprint so a stale marker is never trusted
    crops/                       zoom-chain crops shown to the model (PNG), referenced by the rows' turns
    metrics.json                 suite-level metrics (written by rank 0 only)

Rows are appended and flushed as they are produced; a rerun reads the rows present and skips their samples. A
half-written last line (a killed run) is ignored and that sample is redone.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from data_engine.errors import UserError

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"


def shard_info() -> tuple[int, int]:
    """(rank, world size) from the RANK / WORLD_SIZE environment (`accelerate launch`, torchrun); (0, 1) alone."""
    try:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise UserError("RANK and WORLD_SIZE must be integers") from None
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"bad shard: RANK={rank}, WORLD_SIZE={world}")
    return rank, world


def rank_file(out: Path, rank: int, world: int) -> Path:
    """Where a rank appends its rows: predictions.jsonl alone, predictions.rank<k>.jsonl when sharded."""
    return out / (PREDICTIONS if world == 1 else f"predictions.rank{rank}.jsonl")


def read_rows(path: Path) -> list[dict]:
    """Rows of a JSONL file (missing file: none); unreadable lines (a killed writer's last line) are skipped."""
    if not path.is_file():
        return []
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "id" in row and "dataset" in row:
                rows.append(row)
    return rows


def read_prediction_file(path: Path) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """Every line of a predictions file a user hands in (`georft eval --predictions`), read one by one.

    Returns:
        (rows, bad): (1-based line number, row) of each line that is a JSON object, and (line number, reason) of
        each line that is not (non-UTF-8, truncated or malformed JSON, not an object). Blank lines are neither.
    """
    rows, bad = [], []
    for lineno, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as e:
            bad.append((lineno, f"non-UTF-8 byte 0x{raw[e.start]:02x} at column {e.start + 1}"))
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as e:
            bad.append((lineno, f"not valid JSON ({str(e).splitlines()[0][:80]})"))
            continue
        if not isinstance(row, dict):
            bad.append((lineno, f"a JSON {type(row).__name__}, not an object"))
            continue
        rows.append((lineno, row))
    return rows, bad


def row_key(row: dict) -> tuple[str, str]:
    return str(row["dataset"]), str(row["id"])


def clean_json(value: Any) -> Any:
    """Make a value strict-JSON: non-finite floats become None, numpy scalars and tuples plain Python."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RowWriter:
    """Appends rows to a JSONL file, one flushed line each (so a killed run loses at most the line in flight)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a killed writer may have left a partial line: start on a fresh line so the next row stays readable
        if path.is_file() and path.stat().st_size:
            with path.open("rb") as fh:
                fh.seek(-1, os.SEEK_END)
                partial = fh.read(1) != b"\n"
        else:
            partial = False
        self._fh = path.open("a", encoding="utf-8")
        if partial:
            self._fh.write("\n")

    def write(self, row: dict) -> None:
        self._fh.write(json.dumps(clean_json(row), ensure_ascii=False, allow_nan=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(clean_json(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_rows_atomic(path: Path, rows: Iterable[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(clean_json(row), ensure_ascii=False, allow_nan=False) + "\n")
    os.replace(tmp, path)


def sort_rows(rows: Iterable[dict], dataset_order: list[str]) -> list[dict]:
    """Rows deduplicated by (dataset, id) (the first written wins) and sorted by dataset order, then id."""
    pos = {name: k for k, name in enumerate(dataset_order)}
    seen: dict[tuple[str, str], dict] = {}
    for row in rows:
        seen.setdefault(row_key(row), row)
    return sorted(seen.values(), key=lambda r: (pos.get(str(r["dataset"]), len(pos)), str(r["dataset"]), str(r["id"])))


def mark_done(out: Path, rank: int, fingerprint: str) -> None:
    write_json_atomic(out / f"rank{rank}.done", {"fingerprint": fingerprint})


def clear_done(out: Path, rank: int) -> None:
    (out / f"rank{rank}.done").unlink(missing_ok=True)


def wait_for_ranks(out: Path, world: int, fingerprint: str, timeout_s: float, poll_s: float = 2.0) -> None:
    """Block until every rank's done marker carries `fingerprint` (rank 0 before merging)."""
    deadline = time.monotonic() + timeout_s
    while True:
        missing = []
        for k in range(world):
            try:
                ok = json.loads((out / f"rank{k}.done").read_text())["fingerprint"] == fingerprint
            except (OSError, ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                missing.append(k)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise UserError(f"ranks {missing} did not finish within {timeout_s:.0f} s; rerun to resume them")
        time.sleep(poll_s)


def merge_ranks(out: Path, world: int, dataset_order: list[str]) -> list[dict]:
    """Merge predictions.rank<k>.jsonl (and any earlier predictions.jsonl) into predictions.jsonl, sorted."""
    rows = read_rows(out / PREDICTIONS)
    for k in range(world):
        rows.extend(read_rows(out / f"predictions.rank{k}.jsonl"))
    merged = sort_rows(rows, dataset_order)
    write_rows_atomic(out / PREDICTIONS, merged)
    return merged
