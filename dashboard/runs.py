"""What the dashboard shows: the run directories, their rollout stores and the eval output dirs inside them.

A run may have a rollout store (`rollouts/`, or `<stage>/rollouts/` in a pipeline run), any number of eval dirs
(folders holding `metrics.json`, found recursively), both or neither; a missing piece shows as "none" instead of an
error. Every file read here (step files, `index.jsonl`, `metrics.json`, `predictions.jsonl`) must resolve, symlinks
followed, inside its run directory; one that leads out is treated as absent, never read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from dashboard.files import inside
from data_engine.errors import UserError
from rollout.store import INDEX_NAME, RolloutReader, _summarise, make_table


class ContainedReader(RolloutReader):
    """A `RolloutReader` that sees only the store files lying, symlinks followed, inside the run directory.

    A step file or a whole `rollouts/` folder that is a symlink out of the run is left out of `steps()` and
    refused by `read_step`; an `index.jsonl` leading out is ignored (each step is then summarised from its file).

    Args:
        store_dir: the folder holding `rollouts/`.
        root: the run directory (resolved).
    """

    def __init__(self, store_dir: Path, root: Path) -> None:
        super().__init__(store_dir)
        self.root = root

    def _step_path(self, step: int) -> Path:
        return self.dir / f"step_{int(step):08d}.parquet"

    def steps(self) -> list[int]:
        return [s for s in super().steps() if inside(self._step_path(s), self.root)]

    def index(self) -> dict[str, Any]:
        path = self.dir / INDEX_NAME
        if not path.exists() or inside(path, self.root):
            return super().index()
        # The store's own per-step summary, as `RolloutReader.index` computes it for a step its index lacks.
        return {"version": 2, "steps": {str(s): {"file": self._step_path(s).name,
                                                 **_summarise(self.read_step(s).to_pylist())} for s in self.steps()}}

    def read_step(self, step: int, columns=None, filters=None) -> pa.Table:
        if self._step_path(step).exists() and not inside(self._step_path(step), self.root):
            raise FileNotFoundError(f"step {step}: its file leads out of the run directory")
        return super().read_step(step, columns, filters)

    def read_all(self, columns=None) -> pa.Table:
        tables = [self.read_step(s, columns) for s in self.steps()]
        return pa.concat_tables(tables, promote_options="default") if tables else make_table([])


@dataclass
class EvalDir:
    """One eval output dir (`metrics.json` + `predictions.jsonl`)."""

    key: str  # "<run index>.<eval index>", used in URLs
    run: int
    path: Path
    name: str  # path relative to the run dir, e.g. "eval/sft"
    root: Path | None = None  # the run directory its files must stay in (None: the eval dir itself)

    def contained(self, path: Path) -> bool:
        """Whether `path` resolves inside the run directory (a symlink out of it is never read)."""
        return inside(path, self.root or self.path.resolve())

    def metrics(self) -> dict[str, Any]:
        """`metrics.json`, or {} with an "error" entry when it is unreadable or leads out of the run."""
        path = self.path / "metrics.json"
        if not self.contained(path):
            return {"error": "metrics.json unreadable: it leads out of the run directory"}
        try:
            return json.loads(path.read_text())
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
    label: str | None = None  # a per-task GRPO stage: "<run>/<stage folder>"

    @property
    def name(self) -> str:
        return self.label or self.path.name

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


def _stage_stores(path: Path) -> list[Path]:
    """The earlier stages' stores of a ``grpo.schedule: per_task`` run (`[grpo/]stages/<k>_<tasks>/rollouts`; the
    last stage writes to the GRPO folder itself), in stage order."""
    def order(p: Path) -> tuple[int, str]:
        head = p.parent.name.split("_", 1)[0]
        return (int(head) if head.isdigit() else 1 << 30, p.parent.name)

    found = [c for c in [*path.glob("stages/*/rollouts"), *path.glob("*/stages/*/rollouts")]
             if c.is_dir() and c.resolve().is_relative_to(path)]
    return [c.parent for c in sorted(found, key=order)]


def discover(run_dirs: list[str | Path]) -> list[Run]:
    """The runs with their eval dirs. A per-task GRPO run's earlier stages follow it as runs of their own
    (named `<run>/<stage>`, sharing its directory), so each stage's rollouts can be opened.

    Raises:
        UserError: a given path is not a directory.
    """
    runs: list[Run] = []
    for d in run_dirs:
        k = len(runs)
        path = Path(d).resolve()
        if not path.is_dir():
            raise UserError(f"{d}: not a run directory")
        run = Run(k, path, ContainedReader(_store_dir(path), path))
        # rglob does not descend into symlinked folders; a symlinked metrics.json leading out of the run is skipped.
        metric_files = sorted(p for p in path.rglob("metrics.json")
                              if "rollouts" not in p.relative_to(path).parts and p.resolve().is_relative_to(path))
        for j, m in enumerate(metric_files):
            rel = m.parent.relative_to(path).as_posix()
            run.evals.append(EvalDir(f"{k}.{j}", k, m.parent, rel if rel != "." else path.name, path))
        runs.append(run)
        for store in _stage_stores(path):
            if store != run.reader.run_dir:
                label = f"{path.name}/{store.relative_to(path).as_posix()}"
                runs.append(Run(len(runs), path, ContainedReader(store, path), label=label))
    return runs
