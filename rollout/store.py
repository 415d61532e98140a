"""The rollout store: every GRPO completion, kept for inspection, as Parquet under `<run>/rollouts/`.

Layout:
    rollouts/step_00000012.parquet   one file per generation batch (all its completions, all tasks)
    rollouts/index.json              per-step summary (rows, reward means per task and part), for fast overviews

One row per completion, columns `COLUMNS` plus one float `reward/<name>` column per reward part. Files are
written to a temporary name and renamed (atomic on POSIX), so a crash never leaves a partial file; the index is
rewritten the same way after each file. On resume, `truncate_after(step)` removes steps past the checkpoint
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
}
REWARD_PREFIX = "reward/"
_STEP_FILE = re.compile(r"^step_(\d{8})\.parquet$")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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


def _summarise(table: pa.Table) -> dict[str, Any]:
    """Per-step summary for the index: rows, and per task the mean/std of reward and each part."""
    df = table.to_pandas()
    by_task: dict[str, Any] = {}
    value_cols = ["reward", "advantage", "length"] + [c for c in df.columns if c.startswith(REWARD_PREFIX)]
    for task, g in df.groupby("task", sort=True):
        stats = {}
        for c in value_cols:
            col = g[c].dropna().astype(float)
            if len(col):
                stats[c] = {"mean": float(col.mean()), "std": float(col.std(ddof=0)), "n": int(len(col))}
        stats["truncated"] = float(g["truncated"].mean())
        # Groups whose completions all got the same reward carry no GRPO signal.
        stds = g.groupby("group")["reward"].std(ddof=0).fillna(0.0)
        stats["frac_zero_std_groups"] = float((stds <= 1e-12).mean()) if len(stds) else 0.0
        by_task[str(task)] = stats
    return {"rows": int(table.num_rows), "tasks": by_task}


class RolloutWriter:
    """Appends one Parquet file per generation batch and keeps `index.json` current.

    Args:
        run_dir: the run's output directory; files go to `run_dir/rollouts/`.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir) / "rollouts"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index_path = self.dir / "index.json"
        self.index: dict[str, Any] = _read_index(self.index_path)

    def write_step(self, step: int, rows: list[dict[str, Any]]) -> Path:
        """Write (or rewrite) the rows of one generation batch; returns the file path."""
        table = make_table(rows)
        path = self.dir / f"step_{int(step):08d}.parquet"
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        _atomic_write_bytes(path, sink.getvalue().to_pybytes())
        self.index["steps"][str(int(step))] = {"file": path.name, **_summarise(table)}
        self._write_index()
        return path

    def truncate_after(self, step: int) -> list[int]:
        """Delete the files of steps > `step` (a resumed run regenerates them). Returns the removed steps."""
        removed = []
        for s in list_steps(self.dir.parent):
            if s > step:
                (self.dir / f"step_{s:08d}.parquet").unlink(missing_ok=True)
                self.index["steps"].pop(str(s), None)
                removed.append(s)
        self._write_index()
        return removed

    def _write_index(self) -> None:
        self.index["steps"] = dict(sorted(self.index["steps"].items(), key=lambda kv: int(kv[0])))
        _atomic_write_bytes(self.index_path, json.dumps(self.index).encode())


def _read_index(path: Path) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text())
    return {"version": 1, "steps": {}}


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
        """The per-step summary; rebuilt from the files when `index.json` is missing."""
        idx = _read_index(self.dir / "index.json")
        if not idx["steps"] and self.steps():
            idx["steps"] = {str(s): {"file": f"step_{s:08d}.parquet", **_summarise(self.read_step(s))}
                            for s in self.steps()}
        return idx

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
