"""Typed config of the GRPO stage (`configs/grpo/*.yaml`). TRL's `GRPOConfig` fields live in `trainer:`."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_engine.data_config import DataSection
from data_engine.errors import UserError
from models.loading import ModelSection
from rewards.config import RewardSpec, default_rewards


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
    # Empty = `rewards.config.default_rewards()` (each task's accuracy reward + 0.1 format). A non-empty section
    # replaces the defaults as a whole, so the rewards a run optimises are exactly the ones the YAML lists.
    rewards: dict[str, list[RewardSpec]] = field(default_factory=dict)
    zoom: ZoomSection = field(default_factory=ZoomSection)
    rollout_store: bool = True

    trainer: dict = field(default_factory=dict)

    def validate(self) -> None:
        if not self.rewards:
            self.rewards = default_rewards()
        self.model.validate()
        self.data.validate()
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
