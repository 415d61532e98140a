"""Validation during training: a held-out slice scored by the eval suite's own scorers every N optimizer steps, in
SFT and GRPO alike, with the best model kept in ``<output_dir>/best/``.

Config (``validation:`` of an SFT or GRPO run config; off by default)::

    validation:
      enabled: true
      suite: {_base_: ../eval/demo.yaml}     # any eval suite, composed into the run config (validated at load)
      datasets: [synth_rsvg, synth_scenes]    # a subset of the suite's datasets (empty: all)
      every_steps: 100                        # and once before the first step, and after the last
      samples_per_task: 24                    # the first N rows (id order) of each dataset
      metric: synth_rsvg/mean_iou             # <dataset>/<metric of metrics.json>: what `best/` is chosen by
      mode: max                               # or min

What happens (`ValidationCallback`): before the first step, every ``every_steps`` steps and after the last step, the
trainer's own model (no copy) answers the slice greedily exactly as ``georft eval`` would (same rendering, parsers
and scorers: `eval.runner`), then

- the metrics go through the trainer's log as ``val/<dataset>/<metric>`` (TensorBoard, W&B, `log_history`) and
  one line per validation is appended to ``<output_dir>/validation/metrics.jsonl``
  (``{"step", "seconds", "metrics", "metric", "value", "best"}``), which the dashboard charts;
- when the declared metric beats the best so far (strictly; NaN never does), the model and processor are saved to
  ``<output_dir>/best/`` with ``best/validation.json`` (step, metric, value): the last model stays in
  ``<output_dir>``, the best beside it, as `load_best_model_at_end` would choose it (without replacing the last).

The suite's ``data_root`` is the run's ``data.root`` unless ``data_root_from_run: false`` (the held-out split of
the built data the run trains on). Cost: a validation is one greedy eval of the slice; docs/validation.md measures
its share of the step time. Every process runs the same slice (identical results; needed under DeepSpeed ZeRO-3,
whose forward passes gather parameters from all processes); only the main process writes files.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from data_engine.errors import UserError
from data_engine.options import check_choice
from eval.suite import SuiteConfig

MODES = ("max", "min")
VALIDATION_DIR = "validation"
BEST_DIR = "best"
LOG_PREFIX = "val/"


@dataclass
class ValidationSection:
    """``validation:`` of the SFT and GRPO run configs (see the module docstring)."""

    enabled: bool = False
    suite: SuiteConfig = field(default_factory=SuiteConfig)
    datasets: list[str] = field(default_factory=list)
    data_root_from_run: bool = True
    every_steps: int = 100
    samples_per_task: int = 24
    metric: str = ""
    mode: str = "max"
    save_best: bool = True
    at_start: bool = True

    def validate(self, where: str = "validation") -> None:
        """Every field once enabled (a disabled section may keep an incomplete suite)."""
        if not self.enabled:
            return
        if not self.suite.datasets:
            raise UserError(f"{where}.suite has no datasets: compose an eval suite, e.g. "
                            "suite: {_base_: ../eval/demo.yaml}")
        try:
            self.suite.validate()
        except UserError as e:
            raise UserError(f"{where}.suite: {e}") from None
        try:
            entries = self.suite.select(list(self.datasets))
        except UserError as e:
            raise UserError(f"{where}.datasets: {e}") from None
        for key in ("every_steps", "samples_per_task"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserError(f"{where}.{key} must be an integer >= 1, got {v!r}")
        check_choice(self.mode, MODES, f"{where}.mode")
        if self.save_best or self.metric:
            names = [e.name for e in entries]
            ds, _, metric = self.metric.partition("/")
            if not metric or ds not in names:
                raise UserError(f"{where}.metric must be '<dataset>/<metric>' with a dataset of the slice "
                                f"({', '.join(names)}), got {self.metric!r}")

    def resolved_suite(self, run_data_root: str) -> SuiteConfig:
        """The suite as validation runs it: the run's data root (unless turned off), baselines and Java off."""
        from dataclasses import replace

        root = run_data_root if self.data_root_from_run and run_data_root else self.suite.data_root
        return replace(self.suite, name=self.suite.name or "validation", data_root=root, baselines=False,
                       java_metrics=False, report_rewards=False)


def better(value: float, best: float | None, mode: str) -> bool:
    """Whether `value` beats `best` (None: nothing yet) under `mode`; NaN never does."""
    if value is None or not math.isfinite(value):
        return False
    return best is None or (value > best if mode == "max" else value < best)


class Validator:
    """Runs the held-out slice with a live model and scores it as `georft eval` does.

    Args:
        section: the validated section.
        run_data_root: the run's ``data.root``.
        family: the model family (prompt rendering).
        work_dir: where zoom-chain crops go (``<output_dir>/validation``).
    """

    def __init__(self, section: ValidationSection, run_data_root: str, family, work_dir: Path) -> None:
        from eval.runner import load_entry_rows

        self.suite = section.resolved_suite(run_data_root)
        self.entries = self.suite.select(list(section.datasets))
        self.rows = {e.name: load_entry_rows(self.suite, e, section.samples_per_task) for e in self.entries}
        self.family = family
        self.work_dir = work_dir

    def run(self, model, processor) -> dict[str, float]:
        """{"<dataset>/<metric>": value} of the slice; the model is left in the mode it was in."""
        from data_engine.tasks import get_task
        from eval.runner import _run_plain, _run_zoom, sampling_of
        from eval.runner_score import score_rows
        from rollout.generate import HFBackend

        was_training = model.training
        backend = HFBackend(model, processor, self.suite.batch_size)  # sets eval mode
        sampling = sampling_of(self.suite)
        out: dict[str, float] = {}
        try:
            for entry in self.entries:
                rows = []
                samples = self.rows[entry.name]
                for task in sorted({s["task"] for s in samples}):
                    part = [s for s in samples if s["task"] == task]
                    if get_task(task).interaction == "zoom_chain":
                        rows += _run_zoom(backend, sampling, entry, self.suite, self.family, part, self.work_dir)
                    else:
                        rows += _run_plain(backend, sampling, entry, self.suite, self.family, part)
                metrics = score_rows(rows, entry, self.suite)
                out.update({f"{entry.name}/{k}": float(v) for k, v in metrics.items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
        finally:
            model.train(was_training)
        return out


def read_history(run_dir: str | Path) -> list[dict]:
    """The validation lines of a run (unreadable lines, e.g. torn by a crash, are left out)."""
    path = Path(run_dir) / VALIDATION_DIR / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
            int(d["step"])
        except (ValueError, TypeError, KeyError):
            continue
        out.append(d)
    return out
