"""Queries over one run's rollout store: overview series, paged group listings with filters, single completions.

Every query reads one step file with only the columns it needs (Parquet column projection and row filters), so
opening a run with 100k rollouts touches `index.jsonl` and a few columns, never the whole store. Per-step
statistics that `index.jsonl` lacks (parse-failure rate, zoom steps per chain) are computed from two columns and
cached by file modification time, so a live run's new steps are picked up on the next request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dashboard.overlay import load_json, parse_failed
from rollout.store import REWARD_PREFIX, RolloutReader

# A parse failure is written by the parsers as `"format_ok": false` (any JSON spacing); a null prediction too.
_FORMAT_FAILED = r'"format_ok"\s*:\s*false'
_MINIMAL = ["group", "task", "source", "reward", "generation"]


@dataclass
class GroupFilter:
    """Filters of the step view; a group is listed when at least one of its completions passes all of them."""

    task: str | None = None
    source: str | None = None
    reward_min: float | None = None
    reward_max: float | None = None
    parse_failed: bool = False


@dataclass
class GroupPage:
    """One page of groups of one step."""

    groups: list[dict[str, Any]]
    total_groups: int
    tasks: list[str]
    sources: list[str]
    part_names: list[str] = field(default_factory=list)


def _failed_mask(prediction: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.or_(pc.is_null(prediction), pc.fill_null(pc.match_substring_regex(prediction, _FORMAT_FAILED), False))


class RunQueries:
    """Read-only queries over one run's rollout store.

    Args:
        reader: the run's `RolloutReader`.
    """

    def __init__(self, reader: RolloutReader) -> None:
        self.reader = reader
        self._step_stats: dict[int, tuple[int, dict[str, dict[str, float]]]] = {}
        self._lock = threading.Lock()

    def step_stats(self, step: int) -> dict[str, dict[str, float]]:
        """Per task of one step: parse-failure rate, mean reward std within groups (population std, the spread
        GRPO normalises by), mean |advantage| and mean zoom steps per chain (zoom tasks only)."""
        path = self.reader.dir / f"step_{step:08d}.parquet"
        mtime = path.stat().st_mtime_ns
        with self._lock:
            hit = self._step_stats.get(step)
        if hit and hit[0] == mtime:
            return hit[1]
        t = self.reader.read_step(step, columns=["task", "group", "reward", "advantage", "prediction", "turns"])
        failed = _failed_mask(t["prediction"]).to_numpy(zero_copy_only=False)
        tasks = t["task"].to_numpy(zero_copy_only=False)
        out: dict[str, dict[str, float]] = {}
        for task in sorted(set(tasks.tolist())):
            sel = tasks == task
            out[task] = {"parse_fail": float(failed[sel].mean())}
        signal = t.select(["task", "group", "reward", "advantage"]).filter(pc.is_valid(t["task"]))
        per_group = signal.group_by(["task", "group"]).aggregate([("reward", "stddev", pc.VarianceOptions(ddof=0))])
        for row in per_group.group_by("task").aggregate([("reward_stddev", "mean")]).to_pylist():
            if row["reward_stddev_mean"] is not None:
                out[row["task"]]["group_reward_std"] = float(row["reward_stddev_mean"])
        abs_adv = signal.append_column("abs", pc.abs(signal["advantage"]))
        for row in abs_adv.group_by("task").aggregate([("abs", "mean")]).to_pylist():
            if row["abs_mean"] is not None:
                out[row["task"]]["abs_advantage"] = float(row["abs_mean"])
        zoom = t.filter(pc.equal(t["task"], "zoom_vqa"))
        if zoom.num_rows:
            lengths = [len(x) if isinstance(x := load_json(s), list) else 0 for s in zoom["turns"].to_pylist()]
            out["zoom_vqa"]["zoom_steps"] = sum(lengths) / len(lengths)
        with self._lock:
            self._step_stats[step] = (mtime, out)
        return out

    def series(self) -> dict[str, Any]:
        """Overview series per task over steps: `{"steps": [...], "tasks": {task: {metric: [(step, mean, std)]}}}`.

        Metrics: reward, advantage, length, each `reward/<part>` (mean and std over completions), truncated,
        frac_zero_std_groups, parse_fail, group_reward_std, abs_advantage and zoom_steps (value, std 0).
        """
        idx = self.reader.index()["steps"]
        steps = sorted(int(s) for s in idx)
        tasks: dict[str, dict[str, list[tuple[int, float, float]]]] = {}
        on_disk = set(self.reader.steps())  # the index may list a step whose file a resume just removed
        for s in steps:
            extra = self.step_stats(s) if s in on_disk else {}
            for task, stats in idx[str(s)].get("tasks", {}).items():
                dst = tasks.setdefault(task, {})
                for name, v in stats.items():
                    if isinstance(v, dict):
                        dst.setdefault(name, []).append((s, float(v["mean"]), float(v["std"])))
                    elif isinstance(v, (int, float)):
                        dst.setdefault(name, []).append((s, float(v), 0.0))
                for name, v in extra.get(task, {}).items():
                    dst.setdefault(name, []).append((s, float(v), 0.0))
        return {"steps": steps, "tasks": tasks, "validation": validation_series(self.reader)}

    def groups(self, step: int, flt: GroupFilter, offset: int, limit: int) -> GroupPage:
        """Groups of `step` that pass `flt`, `limit` of them from `offset`, with all their completions."""
        cols = _MINIMAL + (["prediction"] if flt.parse_failed else [])
        # One narrow read serves both the filter menus (every task and source of the step) and the filtering.
        t = self.reader.read_step(step, columns=cols)
        tasks = sorted(x for x in pc.unique(t["task"]).to_pylist() if x is not None)
        sources = sorted(x for x in pc.unique(t["source"]).to_pylist() if x is not None)
        mask = pc.is_valid(t["group"])
        if flt.task:
            mask = pc.and_(mask, pc.fill_null(pc.equal(t["task"], flt.task), False))
        if flt.source:
            mask = pc.and_(mask, pc.fill_null(pc.equal(t["source"], flt.source), False))
        if flt.reward_min is not None:
            mask = pc.and_(mask, pc.fill_null(pc.greater_equal(t["reward"], flt.reward_min), False))
        if flt.reward_max is not None:
            mask = pc.and_(mask, pc.fill_null(pc.less_equal(t["reward"], flt.reward_max), False))
        if flt.parse_failed:
            mask = pc.and_(mask, _failed_mask(t["prediction"]))
        passing = t.filter(mask)
        # Groups in the order they were generated (first appearance), not alphabetically.
        ordered = list(dict.fromkeys(passing["group"].to_pylist()))
        page_ids = ordered[offset: offset + limit]
        groups: list[dict[str, Any]] = []
        part_names: list[str] = []
        if page_ids:
            rows = self.reader.read_step(step, filters=[("group", "in", page_ids)])
            part_names = [c for c in rows.column_names if c.startswith(REWARD_PREFIX)]
            by_group: dict[str, list[dict[str, Any]]] = {g: [] for g in page_ids}
            for r in rows.to_pylist():
                by_group[r["group"]].append(decode_row(r))
            for g in page_ids:
                groups.append(_group_view(g, sorted(by_group[g], key=lambda r: r["generation"] or 0)))
        return GroupPage(groups, len(ordered), tasks, sources, part_names)

    def completion(self, step: int, group: str, generation: int) -> dict[str, Any] | None:
        """One completion (decoded), or None when there is no such row."""
        t = self.reader.read_step(step, filters=[("group", "=", group), ("generation", "=", generation)])
        return decode_row(t.slice(0, 1).to_pylist()[0]) if t.num_rows else None


def validation_series(reader: RolloutReader) -> dict[str, Any]:
    """The run's validation during training (`eval.validation`, ``validation/metrics.jsonl``): ``{"metric": the
    declared metric, "points": {"<dataset>/<metric>": [(step, value)]}}``, finite values only ({} without the file,
    or when it leads out of the run directory)."""
    from dashboard.files import inside
    from eval.validation import VALIDATION_DIR, read_history

    root = getattr(reader, "root", None)
    if root is not None and not inside(reader.run_dir / VALIDATION_DIR / "metrics.jsonl", root):
        return {}
    lines = read_history(reader.run_dir)
    if not lines:
        return {}
    points: dict[str, list[tuple[int, float]]] = {}
    for line in lines:
        for name, v in (line.get("metrics") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf"):
                points.setdefault(str(name), []).append((int(line["step"]), float(v)))
    return {"metric": lines[-1].get("metric"), "points": points}


def decode_row(r: dict[str, Any]) -> dict[str, Any]:
    """A store row with JSON columns decoded, reward parts gathered under "parts" and a "parse_failed" flag."""
    r = dict(r)
    for c in ("turns", "prediction", "target"):
        r[c] = load_json(r.get(c))
    r["parts"] = {k[len(REWARD_PREFIX):]: v for k, v in r.items() if k.startswith(REWARD_PREFIX) and v is not None}
    r["parse_failed"] = parse_failed(r["prediction"])
    return r


def _group_view(group: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A group with its best and worst completion marked (only when rewards differ)."""
    rewards = [r["reward"] for r in rows if r["reward"] is not None]
    hi, lo = (max(rewards), min(rewards)) if rewards else (None, None)
    for r in rows:
        r["mark"] = ""
        if hi is not None and hi != lo and r["reward"] is not None:
            r["mark"] = "best" if r["reward"] == hi else "worst" if r["reward"] == lo else ""
    first = rows[0] if rows else {}
    return {"group": group, "rows": rows, "prompt": first.get("prompt"), "images": list(first.get("images") or []),
            "task": first.get("task"), "source": first.get("source"), "sample_id": first.get("sample_id"),
            "target": first.get("target")}

