"""Typed config of the GRPO stage (`configs/grpo/*.yaml`). TRL's `GRPOConfig` fields live in `trainer:`."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_engine.data_config import DataSection
from data_engine.errors import UserError
from models.loading import ModelSection
from rewards.config import RewardSpec, as_specs, reward_set


@dataclass
class ZoomSection:
    """Multi-turn zoom-in chains for `zoom_vqa` rows.

    Attributes:
        max_steps: zoom calls allowed per chain (TRL's `max_tool_calling_iterations`). Crops smaller than
            `data_engine.zoom.MIN_CROP_SIDE` original pixels a side are grown to it.
    """

    max_steps: int = 2


@dataclass
class GRPORunConfig:
    """The whole GRPO run: model (usually the SFT checkpoint), prompts, rewards per task, and TRL's GRPOConfig."""

    TRL_SECTIONS = {"trainer": "trl:GRPOConfig"}

    output_dir: str = "runs/grpo"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    # The rewards are the named set with `rewards:` overriding it task by task (`rewards.config`, `run_rewards`).
    reward_set: str = "default"
    rewards: dict[str, list[RewardSpec]] = field(default_factory=dict)
    zoom: ZoomSection = field(default_factory=ZoomSection)
    rollout_store: bool = True

    trainer: dict = field(default_factory=dict)

    def run_rewards(self, tasks: set[str] | frozenset[str]) -> dict[str, list[RewardSpec]]:
        """The rewards this run optimises: the set's rewards of the tasks present in the data (`tasks`), with the
        `rewards:` overrides on top. An overridden task is kept even without rows, so the pre-flight check names
        a reward written for data that is missing."""
        chosen = {task: specs for task, specs in reward_set(self.reward_set).items() if task in tasks}
        return {**chosen, **as_specs(self.rewards)}

    def validate(self) -> None:
        reward_set(self.reward_set)  # an unknown set or a broken set file fails at load time
        as_specs(self.rewards)
        self.model.validate()
        self.data.validate(need_sources=True)
        if self.zoom.max_steps < 0:
            raise UserError(f"zoom.max_steps must be >= 0, got {self.zoom.max_steps}")
        if "reward_weights" in self.trainer:
            raise UserError("trainer.reward_weights is derived from the rewards: section; set weights there")
        g = _int(self.trainer, "num_generations", 8)
        if g < 2:
            raise UserError(f"trainer.num_generations must be >= 2 (GRPO compares completions), got {g}")
        per_device = _int(self.trainer, "per_device_train_batch_size", 8)
        steps = _int(self.trainer, "steps_per_generation", None) or _int(self.trainer, "gradient_accumulation_steps", 1)
        if (per_device * steps) % g:
            raise UserError(
                f"per_device_train_batch_size x steps_per_generation ({per_device} x {steps}) must be divisible by "
                f"num_generations ({g}) on one process (multiply by the number of processes on many)"
            )


def _int(section: dict, key: str, default: int | None) -> int | None:
    value = section.get(key, default)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise UserError(f"trainer.{key}: expected an integer, got {value!r}")
