"""What the dashboard shows: the run directories, their rollout stores and the eval output dirs inside them.

A run may have a rollout store (`rollouts/`, or `<stage>/rollouts/` in a pipeline run), any number of eval dirs (folders holding `metrics.json`, found
recursively), both or neither; a missing piece shows as "none" instead of an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_engine.errors import UserError
from rollout.store import RolloutReader


@dataclass
class EvalDir:
    """One eval output dir (`metrics.json` + `predictions.jsonl`)."""

    key: str  # "<run index>.<eval index>", used in URLs
    run: int
    path: Path
    name: str  # path relative to the run dir, e.g. "eval/sft"

    def metrics(self) -> dict[str, Any]:
        """`metrics.json`, or {} with an "error" entry when it is unreadable."""
        try:
            return json.loads((self.path / "metrics.json").read_text())
        except (OSError, ValueError) as e:
            return {"error": f"metrics.json unreadable: {e}"}

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.jsonl"


@dataclass
class Run:
    """One run directory given on the command line."""

    index: int
    path: Path
    reader: RolloutReader
    evals: list[EvalDir] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def has_rollouts(self) -> bool:
        return bool(self.reader.steps())


def _store_dir(path: Path) -> Path:
    """The folder holding the run's rollout store: the run itself, or a stage folder inside it (a pipeline run keeps
    it in `grpo/rollouts/`)."""
    if (path / "rollouts").is_dir():
        return path
    for cand in sorted(path.glob("*/rollouts")) + sorted(path.glob("*/*/rollouts")):
        if cand.is_dir() and cand.resolve().is_relative_to(path):
            return cand.parent
    return path


def discover(run_dirs: list[str | Path]) -> list[Run]:
    """The runs with their eval dirs.

    Raises:
        UserError: a given path is not a directory.
    """
    runs = []
    for k, d in enumerate(run_dirs):
        path = Path(d).resolve()
        if not path.is_dir():
            raise UserError(f"{d}: not a run directory")
        run = Run(k, path, RolloutReader(_store_dir(path)))
        # rglob does not descend into symlinked folders; a symlinked metrics.json leading out of the run is skipped.
        metric_files = sorted(p for p in path.rglob("metrics.json")
                              if "rollouts" not in p.relative_to(path).parts and p.resolve().is_relative_to(path))
        for j, m in enumerate(metric_files):
            rel = m.parent.relative_to(path).as_posix()
            run.evals.append(EvalDir(f"{k}.{j}", k, m.parent, rel if rel != "." else path.name))
        runs.append(run)
    return runs
