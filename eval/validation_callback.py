"""The trainer side of validation during training (`eval.validation`): a `TrainerCallback` that validates at the
declared steps, logs through the trainer, appends ``validation/metrics.jsonl`` and keeps ``best/``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback

from data_engine.errors import UserError
from eval import runner_io
from eval.validation import BEST_DIR, LOG_PREFIX, VALIDATION_DIR, ValidationSection, Validator, better


def attach_validation(trainer, section: ValidationSection, run_data_root: str, family, output_dir: str | Path,
                      resume: bool = False, run: Callable[[Any, Any], dict[str, float]] | None = None):
    """Add a `ValidationCallback` to a constructed trainer and return it (None when validation is off).

    Args:
        resume: the run resumes from a checkpoint: the best so far is read back from ``best/validation.json``.
        run: replaces the real slice, (model, processor) -> metrics (tests).
    """
    if not section.enabled:
        return None
    work = Path(output_dir) / VALIDATION_DIR
    if run is None:
        run = Validator(section, run_data_root, family, work).run
    cb = ValidationCallback(trainer, section, run, Path(output_dir))
    if resume:
        cb.restore_best()
    trainer.add_callback(cb)
    return cb


class ValidationCallback(TrainerCallback):
    """Validates at the declared steps, logs, writes ``validation/metrics.jsonl`` and keeps ``best/``.

    Args:
        trainer: the trainer (its model, processor, log and save_model are used).
        section: the validation config.
        run: (model, processor) -> {"<dataset>/<metric>": value}.
        output_dir: the run's output directory.
    """

    def __init__(self, trainer, section: ValidationSection, run, output_dir: Path) -> None:
        self.trainer = trainer
        self.section = section
        self.run = run
        self.out = output_dir
        self.best: float | None = None
        self.best_step: int | None = None
        self.history: list[dict] = []
        self.seconds = 0.0
        self._done: set[int] = set()

    def on_train_begin(self, args, state, control, **kwargs):
        if self.section.at_start:
            self._validate(state)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.section.every_steps == 0:
            self._validate(state)

    def on_train_end(self, args, state, control, **kwargs):
        self._validate(state)  # the last model (nothing when its step was just validated)

    def _validate(self, state) -> None:
        step = int(state.global_step)
        if step in self._done:
            return
        self._done.add(step)
        t = self.trainer
        model = t.accelerator.unwrap_model(t.model)
        t0 = time.perf_counter()
        metrics = self.run(model, t.processing_class)
        seconds = time.perf_counter() - t0
        self.seconds += seconds
        name = self.section.metric
        if name and name not in metrics:
            from data_engine.registry import did_you_mean

            raise UserError(f"validation.metric {name!r} is not a metric of the slice.{did_you_mean(name, metrics)} "
                            f"Metrics: {', '.join(sorted(metrics))}")
        value = metrics.get(name) if name else None
        improved = bool(name) and better(value, self.best, self.section.mode)
        if improved:
            self.best, self.best_step = value, step
        # Trainer.log itself, not the TRL trainers' override (which would flush their per-step metric buffers here).
        Trainer.log(t, {**{LOG_PREFIX + k: v for k, v in metrics.items()}, "val/seconds": seconds})
        line = {"step": step, "seconds": round(seconds, 3), "metric": name or None, "value": value,
                "best": improved, "metrics": metrics}
        self.history.append(line)
        if t.is_world_process_zero():
            d = self.out / VALIDATION_DIR
            d.mkdir(parents=True, exist_ok=True)
            with (d / "metrics.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(runner_io.clean_json(line), allow_nan=False) + "\n")
        if improved and self.section.save_best:
            self._save_best(step, value)

    def _save_best(self, step: int, value: float) -> None:
        best = self.out / BEST_DIR
        self.trainer.save_model(str(best))  # every process: DeepSpeed gathers the weights collectively
        if self.trainer.is_world_process_zero():
            proc = self.trainer.processing_class
            if proc is not None:
                proc.save_pretrained(str(best))
            (best / "validation.json").write_text(json.dumps(
                {"step": step, "metric": self.section.metric, "mode": self.section.mode, "value": value}, indent=1))

    def restore_best(self) -> None:
        """A resumed run: the best value and step so far from ``best/validation.json`` (same metric and mode)."""
        path = self.out / BEST_DIR / "validation.json"
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if d.get("metric") == self.section.metric and d.get("mode") == self.section.mode:
            self.best, self.best_step = d.get("value"), d.get("step")

    def summary(self) -> dict:
        """For the run summary: the declared metric's best value and step, validations run and their seconds."""
        return {"metric": self.section.metric or None, "mode": self.section.mode, "best_value": self.best,
                "best_step": self.best_step, "validations": len(self.history), "seconds": round(self.seconds, 2),
                "best_dir": str(self.out / BEST_DIR) if self.best_step is not None and self.section.save_best
                else None}
