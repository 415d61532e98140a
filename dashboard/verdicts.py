"""The per-task SFT→RL verdict table on the dashboard: the report's rows (`eval.report.verdict_table`), cached.

The home page shows, per run, the verdict of its ``.../sft`` eval dir against the ``.../rl`` one beside it (the
pipeline's ``eval/<heldout>/{sft,rl}``); ``/compare`` opens on that pair and shows the table of whatever pair it
compares. The numbers are computed by the same function `georft compare` uses, with the same bootstrap seed and
resamples, so the two surfaces print the same rows. Nothing outside the run directory is read: eval dirs whose
predictions or recorded baselines lead out of it get a one-line reason instead of a table.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dashboard.runs import EvalDir
from eval.report.render import verdict_cells


def default_pair(evals: list[EvalDir]) -> tuple[EvalDir, EvalDir] | None:
    """The SFT and RL eval dirs of one held-out set (``<x>/sft`` and ``<x>/rl``, not a baseline's); else the first
    two eval dirs that are not trivial baselines; None when there are fewer than two."""
    own = [ev for ev in evals if "baselines" not in Path(ev.name).parts]
    by_name = {ev.name: ev for ev in own}
    for ev in own:
        p = Path(ev.name)
        if p.name == "sft" and (rl := by_name.get((p.parent / "rl").as_posix())) is not None:
            return ev, rl
    return (own[0], own[1]) if len(own) >= 2 else None


def _stamp(ev: EvalDir) -> tuple:
    out = []
    for name in ("metrics.json", "predictions.jsonl"):
        try:
            st = (ev.path / name).stat()
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def _refusal(ev: EvalDir) -> str | None:
    """Why the verdict must not read `ev` (a file or a recorded baseline folder leading out of the run)."""
    if not ev.contained(ev.path / "metrics.json") or not ev.contained(ev.predictions_path):
        return f"{ev.name}: metrics.json or predictions.jsonl leads out of the run directory"
    meta = ev.metrics()
    if meta.get("error"):
        return f"{ev.name}: {meta['error']}"
    for sub in (meta.get("baselines") or {}).values():
        if not isinstance(sub, str) or not ev.contained(ev.path / sub):
            return f"{ev.name}: a recorded baseline folder ({sub!r}) leads out of the run directory"
    return None


class VerdictCache:
    """Verdict tables by eval-dir pair, recomputed when either dir's files change."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[tuple, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, ev_a: EvalDir, ev_b: EvalDir, run_names: tuple[str, str]) -> dict[str, Any]:
        """``{"a", "b", "rows", "cells", "trained_from", "error"}`` for B against A (`error`: why there is no table)."""
        from eval.report.verdict_table import verdict_for_dirs

        key, stamp = (ev_a.key, ev_b.key), (_stamp(ev_a), _stamp(ev_b))
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
        names = (f"{run_names[0]}/{ev_a.name}", f"{run_names[1]}/{ev_b.name}")
        out: dict[str, Any] = {"a": names[0], "b": names[1], "rows": [], "cells": [], "trained_from": "",
                               "error": _refusal(ev_a) or _refusal(ev_b)}
        if out["error"] is None:
            try:
                got = verdict_for_dirs(ev_a.path, ev_b.path, names)
            except Exception as e:  # noqa: BLE001 - one unreadable pair must not take the page down
                out["error"] = f"no verdict: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            else:
                out.update(rows=got["rows"], trained_from=got["trained_from"],
                           cells=[verdict_cells(r) for r in got["rows"]])
        with self._lock:
            self._cache[key] = (stamp, out)
        return out
