"""The rollout store: every GRPO completion, kept for inspection, as Parquet under `<run>/rollouts/`.

Layout:
    rollouts/step_00000012.parquet   one file per generation batch (all its completions, all tasks)
    rollouts/index.jsonl             per-step summary (rows, reward means per task and part), for fast overviews

One row per completion, columns `COLUMNS` plus one float `reward/<name>` column per reward part. Files are
written to a temporary name and renamed (atomic on POSIX), so a crash never leaves a partial file. The index is
append-only, one JSON line per written step (the last line of a step wins), so a step costs one short append
however long the run (rewriting a whole index every step grows quadratically: ~20 MB a step after 10k steps); a
line torn by a crash is ignored by readers and dropped by the next writer, and the summary can always be rebuilt
from the step files. On resume, `truncate_after(step)` removes steps past the checkpoint (files and index lines)
so the resumed run rewrites them once: no duplicated and no missing steps.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Column -> Arrow type. JSON-valued columns are strings (turns, prediction, target).
COLUMNS: dict[str, pa.DataType] = {
    "step": pa.int64(),
    "group": pa.string(),
    "sample_id": pa.string(),
    "task": pa.string(),
    "source": pa.string(),
    "generation": pa.int32(),
    "prompt": pa.string(),
    "completion": pa.string(),
    "turns": pa.string(),
    "prediction": pa.string(),
    "target": pa.string(),
    "reward": pa.float64(),
    "advantage": pa.float64(),
    "images": pa.list_(pa.string()),
    "width": pa.int32(),  # original size of the first image (predictions and targets are in its pixels)
    "height": pa.int32(),
    "length": pa.int32(),
    "truncated": pa.bool_(),
    # think-then-answer rows (`data_engine.reasoning`): the framing, whether the completion is well-formed and
    # the reasoning length in characters (`eval.parsers.reasoning`); null in rows without the frame
    "reasoning": pa.string(),
    "think_ok": pa.bool_(),
    "reasoning_chars": pa.int32(),
    # dynamic sampling (`rl.dynamic_sampling`): whether the row's group was trained on (false: dropped for zero
    # reward variance, or surplus); null when dynamic sampling is off
    "kept": pa.bool_(),
}
REWARD_PREFIX = "reward/"
INDEX_NAME = "index.jsonl"
_STEP_FILE = re.compile(r"^step_(\d{8})\.parquet$")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:  # a full disk: leave the previous file as it was and no half-written temporary
        tmp.unlink(missing_ok=True)
        raise


def _finite_or_none(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def make_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (dicts with `COLUMNS` keys and optional `reward/<name>` keys) -> an Arrow table with the store schema.

    Missing `reward/<name>` values (a part that does not apply to the row's task) become nulls.
    """
    part_names = sorted({k for r in rows for k in r if k.startswith(REWARD_PREFIX)})
    unknown = {k for r in rows for k in r} - set(COLUMNS) - set(part_names)
    if unknown:
        raise ValueError(f"rollout rows have unknown columns {sorted(unknown)}")
    arrays, fields = [], []
    for name, typ in COLUMNS.items():
        vals = [r.get(name) for r in rows]
        if typ == pa.float64():
            vals = [_finite_or_none(v) for v in vals]
        arrays.append(pa.array(vals, type=typ))
        fields.append(pa.field(name, typ))
    for name in part_names:
        arrays.append(pa.array([_finite_or_none(r.get(name)) for r in rows], type=pa.float64()))
        fields.append(pa.field(name, pa.float64()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-step summary for the index: rows, and per task the mean/std (population) of reward, advantage,
    length, reasoning length and each part, the truncated fraction, the fraction of groups whose rewards are all
    equal, under dynamic sampling the share of groups left out of the batch (``dropped_groups``) and, for
    think-then-answer rows, the share of well-formed completions (``think_ok``)."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_task.setdefault(str(r.get("task")), []).append(r)
    parts = sorted({k for r in rows for k in r if k.startswith(REWARD_PREFIX)})
    out: dict[str, Any] = {}
    for task in sorted(by_task):
        g = by_task[task]
        stats: dict[str, Any] = {}
        for c in ("reward", "advantage", "length", "reasoning_chars", *parts):
            col = [v for r in g if (v := _finite_or_none(r.get(c))) is not None]
            if col:
                stats[c] = {**_mean_std(col), "n": len(col)}
        stats["truncated"] = sum(bool(r.get("truncated")) for r in g) / len(g)
        framed = [bool(r["think_ok"]) for r in g if r.get("think_ok") is not None]
        if framed:
            stats["think_ok"] = sum(framed) / len(framed)
        # Groups whose completions all got the same reward carry no GRPO signal (no reward counts as one value).
        groups: dict[Any, list[float]] = {}
        for r in g:
            v = _finite_or_none(r.get("reward"))
            groups.setdefault(r.get("group"), []).extend([] if v is None else [v])
        flat = [not v or max(v) - min(v) <= 1e-12 for v in groups.values()]
        stats["frac_zero_std_groups"] = sum(flat) / len(flat)
        kept = {r.get("group"): r["kept"] for r in g if r.get("kept") is not None}
        if kept:  # dynamic sampling: share of this task's generated groups left out of the batch
            stats["dropped_groups"] = sum(not k for k in kept.values()) / len(kept)
        out[task] = stats
    return {"rows": len(rows), "tasks": out}


def _mean_std(col: list[float]) -> dict[str, float | None]:
    """Mean and population std of finite values; None where a user's part is too large for float64."""
    try:
        mean = math.fsum(col) / len(col)
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in col) / len(col))
    except OverflowError:
        return {"mean": None, "std": None}
    return {"mean": _finite_or_none(mean), "std": _finite_or_none(std)}


class RolloutWriter:
    """Appends one Parquet file per generation batch and one line per batch to `index.jsonl`.

    Args:
        run_dir: the run's output directory; files go to `run_dir/rollouts/`.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir) / "rollouts"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index_path = self.dir / INDEX_NAME
        entries, torn = _read_index_lines(self.index_path)
        if torn:  # a crash tore the last line: rewrite the good ones before appending after them
            self._rewrite_index(entries)

    def write_step(self, step: int, rows: list[dict[str, Any]]) -> Path:
        """Write (or rewrite) the rows of one generation batch; returns the file path."""
        table = make_table(rows)
        path = self.dir / f"step_{int(step):08d}.parquet"
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        _atomic_write_bytes(path, sink.getvalue().to_pybytes())
        line = json.dumps({"step": int(step), "file": path.name, **_summarise(rows)}, allow_nan=False)
        with open(self.index_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        return path

    def truncate_after(self, step: int) -> list[int]:
        """Delete the files of steps > `step` (a resumed run regenerates them). Returns the removed steps."""
        removed = []
        for s in list_steps(self.dir.parent):
            if s > step:
                (self.dir / f"step_{s:08d}.parquet").unlink(missing_ok=True)
                removed.append(s)
        entries, _ = _read_index_lines(self.index_path)
        self._rewrite_index([e for e in entries if int(e["step"]) <= step])
        return removed

    def _rewrite_index(self, entries: list[dict[str, Any]]) -> None:
        _atomic_write_bytes(self.index_path, "".join(json.dumps(e) + "\n" for e in entries).encode())


def _read_index_lines(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """(entries in file order, whether a line was unreadable: torn by a crash mid-append)."""
    if not path.is_file():
        return [], False
    entries, torn = [], False
    for line in path.read_bytes().splitlines():
        try:
            e = json.loads(line)
            int(e["step"])
        except (ValueError, TypeError, KeyError):
            torn = True
            continue
        entries.append(e)
    return entries, torn


def run_relative(path: str | Path, run_dir: str | Path) -> str:
    """`path` as the store records it: relative to the run when it lies inside it (so a copied or rsynced run stays
    whole), else unchanged (an image of the dataset, outside the run)."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path(run_dir).resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return str(path)


def run_path(path: str | Path, run_dir: str | Path) -> Path:
    """Where a path recorded in a run's store lies now.

    Relative paths (stores written since issue 27) are under `run_dir`. Older stores recorded absolute paths of the
    run's own files (``/old/place/run/rollouts/images/x.png``); once the run is copied elsewhere, the copy's file
    (``run_dir/rollouts/images/x.png``) is used when it exists. Any other path is returned unchanged.
    """
    p = Path(path)
    if not p.is_absolute():
        return Path(run_dir) / p
    parts = p.parts
    if "rollouts" in parts:  # the store's own files live under <run>/rollouts/: the copy beside this store wins
        k = len(parts) - 1 - parts[::-1].index("rollouts")
        moved = Path(run_dir).joinpath(*parts[k:])
        if moved.is_file():
            return moved
    return p


def list_steps(run_dir: str | Path) -> list[int]:
    """Steps that have a complete file in `run_dir/rollouts/`, sorted."""
    d = Path(run_dir) / "rollouts"
    if not d.is_dir():
        return []
    return sorted(int(m.group(1)) for p in d.iterdir() if (m := _STEP_FILE.match(p.name)))


class RolloutReader:
    """Read-only access to a run's rollout store (used by the dashboard and tests)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / "rollouts"

    def steps(self) -> list[int]:
        return list_steps(self.run_dir)

    def index(self) -> dict[str, Any]:
        """``{"steps": {"<step>": {"file", "rows", "tasks"}}}`` for the steps with a file (the last index line of a
        step wins); a step the index lacks (older store, lost line) is summarised from its file."""
        entries, _ = _read_index_lines(self.dir / INDEX_NAME)
        latest = {int(e["step"]): {k: v for k, v in e.items() if k != "step"} for e in entries}
        steps = {}
        for s in self.steps():
            steps[str(s)] = latest.get(s) or {"file": f"step_{s:08d}.parquet",
                                              **_summarise(self.read_step(s).to_pylist())}
        return {"version": 2, "steps": steps}

    def read_step(self, step: int, columns: Iterable[str] | None = None, filters=None) -> pa.Table:
        """The rows of one step (optionally only `columns`, and pyarrow `filters` such as [("task", "=", "vqa")])."""
        path = self.dir / f"step_{int(step):08d}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"no rollouts for step {step} in {self.dir}")
        return pq.read_table(path, columns=list(columns) if columns else None, filters=filters)

    def read_all(self, columns: Iterable[str] | None = None) -> pa.Table:
        """Every step concatenated (for tests and small runs; the dashboard reads step by step)."""
        tables = [self.read_step(s, columns) for s in self.steps()]
        return pa.concat_tables(tables, promote_options="default") if tables else make_table([])
