"""Typed config of the GRPO stage (`configs/grpo/*.yaml`). TRL's `GRPOConfig` fields live in `trainer:`."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_engine.data_config import DataSection
from data_engine.errors import UserError
from data_engine.reasoning import check_reasoning
from models.loading import ModelSection
from rewards.config import RewardSpec, as_specs, reward_set


@dataclass
class ZoomSection:
    """Multi-turn zoom-in chains for `zoom_vqa` rows.

    Attributes:
        max_steps: zoom calls allowed per chain (TRL's `max_tool_calling_iterations`).
        min_side: crops smaller than this many original pixels per side are grown to it.
    """

    max_steps: int = 2
    min_side: int = 28


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
        if not self.data.sources:
            raise UserError("data.sources is empty: list at least one built dataset")
        check_reasoning(self.data.reasoning, "data.reasoning", self.data.reasoning_tasks)
        if "reward_weights" in self.trainer:
            raise UserError("trainer.reward_weights is derived from the rewards: section; set weights there")
        g = int(self.trainer.get("num_generations", 8))
        if g < 2:
            raise UserError(f"trainer.num_generations must be >= 2 (GRPO compares completions), got {g}")
        per_device = int(self.trainer.get("per_device_train_batch_size", 8))
        steps = int(self.trainer.get("steps_per_generation") or self.trainer.get("gradient_accumulation_steps", 1))
        if (per_device * steps) % g:
            raise UserError(
                f"per_device_train_batch_size x steps_per_generation ({per_device} x {steps}) must be divisible by "
                f"num_generations ({g}) on one process (multiply by the number of processes on many)"
            )
