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
        max_steps: zoom calls allowed per chain (TRL's `max_tool_calling_iterations`).
        min_side: crops smaller than this many original pixels per side are grown to it.
    """

    max_steps: int = 2
    min_side: int = 28


SCHEDULES = ("mixed", "per_task")


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
    # How GRPO visits the tasks (`georft pipeline` runs the schedule): "mixed" = one run on the whole mixture (each
    # batch mixes tasks); "per_task" = GeoVLM-R1's successive stages, one GRPO run per task group of `stages`, in
    # order, each starting from the previous stage's model, with `trainer.max_steps` shared out evenly.
    schedule: str = "mixed"
    # per_task only: task groups in order, e.g. [[detection, grounding], [vqa, classification], [caption]];
    # empty = one stage per task of `rewards:`, in that order.
    stages: list = field(default_factory=list)
    # Divide each task's rewards by the standard deviation of that task's weighted reward over the batch
    # (`rl.task_scaling`): tasks weigh alike in the advantages whatever their reward range. Needs
    # trainer.scale_rewards "batch" or "none"; under TRL's default "group" each group is already scaled to unit
    # std and a per-task factor cancels.
    task_reward_scaling: bool = False

    trainer: dict = field(default_factory=dict)

    def validate(self) -> None:
        if not self.rewards:
            self.rewards = default_rewards()
        self.model.validate()
        if not self.data.sources:
            raise UserError("data.sources is empty: list at least one built dataset")
        if "reward_weights" in self.trainer:
            raise UserError("trainer.reward_weights is derived from the rewards: section; set weights there")
        self._validate_schedule()
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

    def _validate_schedule(self) -> None:
        from data_engine.registry import did_you_mean

        if self.schedule not in SCHEDULES:
            raise UserError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}."
                            f"{did_you_mean(str(self.schedule), SCHEDULES)}")
        if self.stages and self.schedule != "per_task":
            raise UserError("stages is only read with schedule: per_task")
        seen: set[str] = set()
        for k, group in enumerate(self.stages):
            if not isinstance(group, (list, tuple)) or not group:
                raise UserError(f"stages[{k}] must be a non-empty list of tasks, got {group!r}")
            for t in group:
                if t not in self.rewards:
                    raise UserError(f"stages[{k}]: task {t!r} has no rewards.{did_you_mean(str(t), list(self.rewards))}"
                                    f" Tasks with rewards: {', '.join(self.rewards)}")
                if t in seen:
                    raise UserError(f"stages[{k}]: task {t!r} is already in an earlier stage")
                seen.add(t)
        if self.schedule == "per_task":
            n = len(self.stages) if self.stages else len(self.rewards)
            steps = int(self.trainer.get("max_steps", -1))
            if steps < n:
                raise UserError(f"schedule per_task shares trainer.max_steps over {n} stages: set max_steps >= {n}, "
                                f"got {steps}")
        if self.task_reward_scaling and str(self.trainer.get("scale_rewards", "group")) in ("group", "True"):
            raise UserError("task_reward_scaling needs trainer.scale_rewards: batch or none (under 'group' every "
                            "group is scaled to unit std, so a per-task factor cancels)")

