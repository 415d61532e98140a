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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.overlay import load_json, parse_failed
from rollout.store import REWARD_PREFIX, RolloutReader

# A parse failure is written by the parsers as `"format_ok": false` (any JSON spacing); a null prediction too.
_FORMAT_FAILED = r'"format_ok"\s*:\s*false'
_MINIMAL = ["group", "task", "source", "reward", "generation", "advantage"]
SORTS = ("generated", "std_desc", "std_asc", "adv_desc")  # group orders of the step view (GroupFilter.sort)


@dataclass
class GroupFilter:
    """Filters of the step view; a group is listed when at least one of its completions passes all of them."""

    task: str | None = None
    source: str | None = None
    reward_min: float | None = None
    reward_max: float | None = None
    parse_failed: bool = False
    std_min: float | None = None  # groups whose reward std (population, as GRPO normalises) is at least this
    std_max: float | None = None  # ... at most this (0: only zero-variance groups, which give no gradient)
    adv_min: float | None = None  # groups with a completion whose |advantage| is at least this
    sort: str = "generated"  # one of SORTS


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
        GRPO normalises by), mean |advantage|, mean zoom steps per chain (zoom tasks only) and the collapse flags of
        `eval.collapse.row_flags` over the step's completions (`_collapse_stats`)."""
        path = self.reader.dir / f"step_{step:08d}.parquet"
        mtime = path.stat().st_mtime_ns
        with self._lock:
            hit = self._step_stats.get(step)
        if hit and hit[0] == mtime:
            return hit[1]
        import pyarrow.parquet as pq

        have = set(pq.read_schema(path).names)
        wanted = ["task", "group", "reward", "advantage", "prediction", "turns", "completion", "reasoning"]
        t = self.reader.read_step(step, columns=[c for c in wanted if c in have])
        failed = _failed_mask(t["prediction"]).to_numpy(zero_copy_only=False)
        tasks = t["task"].to_numpy(zero_copy_only=False)
        out: dict[str, dict[str, float]] = {}
        for task in sorted(set(tasks.tolist())):
            sel = tasks == task
            out[task] = {"parse_fail": float(failed[sel].mean())}
        for task, flags in _collapse_stats(t).items():
            out.setdefault(task, {}).update(flags)
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
        ordered = _by_spread(t, ordered, flt)
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

    def search(self, flt: GroupFilter, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Groups of every step passing `flt` (task, source, reward range, parse failures, reward std, |advantage|),
        in step order (then `flt.sort` within a step): one summary row each (`step`, `group`, `task`, `n`,
        `mean`, `std`, `max_abs_adv`), `limit` of them from `offset`, and how many pass."""
        hits: list[dict[str, Any]] = []
        for step in self.reader.steps():
            cols = _MINIMAL + (["prediction"] if flt.parse_failed else [])
            t = self.reader.read_step(step, columns=cols)
            mask = pc.is_valid(t["group"])
            for col, val in (("task", flt.task), ("source", flt.source)):
                if val:
                    mask = pc.and_(mask, pc.fill_null(pc.equal(t[col], val), False))
            if flt.reward_min is not None:
                mask = pc.and_(mask, pc.fill_null(pc.greater_equal(t["reward"], flt.reward_min), False))
            if flt.reward_max is not None:
                mask = pc.and_(mask, pc.fill_null(pc.less_equal(t["reward"], flt.reward_max), False))
            if flt.parse_failed:
                mask = pc.and_(mask, _failed_mask(t["prediction"]))
            ordered = _by_spread(t, list(dict.fromkeys(t.filter(mask)["group"].to_pylist())), flt)
            spread = group_spread(t)
            hits += [{"step": step, "group": g, **spread[g]} for g in ordered]
        return hits[offset: offset + limit], len(hits)

    def completion(self, step: int, group: str, generation: int) -> dict[str, Any] | None:
        """One completion (decoded), or None when there is no such row."""
        t = self.reader.read_step(step, filters=[("group", "=", group), ("generation", "=", generation)])
        return decode_row(t.slice(0, 1).to_pylist()[0]) if t.num_rows else None


def group_spread(t: pa.Table) -> dict[str, dict[str, Any]]:
    """Per group of one step's rows (columns group, task, reward, advantage): ``task``, ``n``, reward ``mean`` and
    population ``std`` (the spread GRPO normalises by; 0 = no gradient from this group) and ``max_abs_adv``."""
    out: dict[str, dict[str, Any]] = {}
    cols = {c: t[c].to_pylist() for c in ("group", "task", "reward", "advantage")}
    acc: dict[str, tuple[str, list[float], list[float]]] = {}
    for g, task, r, a in zip(cols["group"], cols["task"], cols["reward"], cols["advantage"], strict=True):
        if g is None:
            continue
        _, rs, advs = acc.setdefault(g, (task, [], []))
        if r is not None:
            rs.append(float(r))
        if a is not None:
            advs.append(abs(float(a)))
    for g, (task, rs, advs) in acc.items():
        arr = np.asarray(rs, float)
        out[g] = {"task": task, "n": len(rs), "mean": float(arr.mean()) if rs else None,
                  "std": float(arr.std()) if rs else None, "max_abs_adv": max(advs) if advs else None}
    return out


def _by_spread(t: pa.Table, ordered: list[str], flt: GroupFilter) -> list[str]:
    """`ordered` (group ids) filtered by reward std and |advantage| and sorted as `flt.sort` says (stable)."""
    if flt.std_min is None and flt.std_max is None and flt.adv_min is None and flt.sort == "generated":
        return ordered
    spread = group_spread(t)

    def keep(g: str) -> bool:
        s = spread.get(g, {})
        std, adv = s.get("std"), s.get("max_abs_adv")
        return ((flt.std_min is None or (std is not None and std >= flt.std_min - 1e-12))
                and (flt.std_max is None or (std is not None and std <= flt.std_max + 1e-12))
                and (flt.adv_min is None or (adv is not None and adv >= flt.adv_min)))

    out = [g for g in ordered if keep(g)]
    if flt.sort in ("std_desc", "std_asc"):
        out.sort(key=lambda g: spread[g]["std"] or 0.0, reverse=flt.sort == "std_desc")
    elif flt.sort == "adv_desc":
        out.sort(key=lambda g: spread[g]["max_abs_adv"] or 0.0, reverse=True)
    return out


def _collapse_stats(t: pa.Table) -> dict[str, dict[str, float]]:
    """Per task, `eval.collapse.row_flags` over one step's completions (the eval's flags, one implementation):
    ``distinct_answer_share`` and ``top_answer_share`` over the step's answers (parsed answer, else the folded
    answer text) and, for think-then-answer rows, ``empty_think_share`` (think block with no characters)."""
    from eval.collapse import row_flags

    cols = {c: t[c].to_pylist() for c in ("task", "prediction", "completion", "reasoning") if c in t.column_names}
    by_task: dict[str, list[dict[str, Any]]] = {}
    for k, task in enumerate(cols["task"]):
        if task is None:
            continue
        by_task.setdefault(task, []).append({"prediction": load_json(cols["prediction"][k]),
                                             "completion": cols.get("completion", [None] * (k + 1))[k],
                                             "reasoning": cols.get("reasoning", [None] * (k + 1))[k]})
    return {task: row_flags(rows) for task, rows in by_task.items()}


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
    arr = np.asarray(rewards, float)
    std = float(arr.std()) if rewards else None
    return {"group": group, "rows": rows, "prompt": first.get("prompt"), "images": list(first.get("images") or []),
            "task": first.get("task"), "source": first.get("source"), "sample_id": first.get("sample_id"),
            "target": first.get("target"), "mean": float(arr.mean()) if rewards else None, "std": std,
            "zero_variance": std is not None and len(rewards) > 1 and std == 0.0, "table": parts_table(rows)}


def parts_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The group inspector's completions x reward-parts table: ``columns`` (reward, advantage, every part in
    first-seen order) and per completion ``cells`` [(value, differs)], where a cell *differs* when its value is
    not the column's most common value in the group (a column whose values are all equal highlights nothing)."""
    from collections import Counter

    columns = ["reward", "advantage"]
    for r in rows:
        columns += [k for k in r.get("parts", {}) if k not in columns]

    def value(r: dict[str, Any], c: str) -> Any:
        return r.get(c) if c in ("reward", "advantage") else r.get("parts", {}).get(c)

    modes = {}
    for c in columns:
        vals = [None if (v := value(r, c)) is None else round(float(v), 9) for r in rows]
        modes[c] = Counter(vals).most_common(1)[0][0] if vals else None
    cells = [[(value(r, c), (None if value(r, c) is None else round(float(value(r, c)), 9)) != modes[c])
              for c in columns] for r in rows]
    return {"columns": columns, "cells": cells}

