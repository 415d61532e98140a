"""Typed config of the GRPO stage (`configs/grpo/*.yaml`). TRL's `GRPOConfig` fields live in `trainer:`."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_engine.data_config import DataSection
from data_engine.errors import UserError
from eval.validation import ValidationSection
from models.loading import ModelSection
from rewards.config import RewardSpec, as_specs, reward_set
from rl.dynamic_sampling import DynamicSamplingSection


@dataclass
class ZoomSection:
    """Multi-turn zoom-in chains for `zoom_vqa` rows.

    Attributes:
        max_calls: zoom calls allowed per chain (TRL's `max_tool_calling_iterations`). Crops smaller than
            `data_engine.zoom.MIN_CROP_SIDE` original pixels a side are grown to it.
    """

    max_calls: int = 2


SCHEDULES = ("mixed", "per_task")


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
    # How GRPO visits the tasks (`georft pipeline` runs the schedule): "mixed" = one run on the whole mixture (each
    # batch mixes tasks); "per_task" = GeoVLM-R1's successive stages, one GRPO run per task group of `stages`, in
    # order, each starting from the previous stage's model, with `trainer.max_steps` shared out evenly.
    schedule: str = "mixed"
    # per_task only: task groups in order, e.g. [[detection, grounding], [vqa, classification], [caption]];
    # empty = one stage per rewarded task present in the data, in declaration order.
    stages: list = field(default_factory=list)
    # Divide each task's rewards by the standard deviation of that task's weighted reward over the batch
    # (`rl.task_scaling`): tasks weigh alike in the advantages whatever their reward range. Needs
    # trainer.scale_rewards "batch" or "none"; under TRL's default "group" each group is already scaled to unit
    # std and a per-task factor cancels.
    task_reward_scaling: bool = False
    # Drop groups whose rewards are all equal (no gradient) and refill the batch with new prompts, at most
    # `max_attempts` generation batches per step (DAPO's dynamic sampling; `rl.dynamic_sampling`). Off by default.
    dynamic_sampling: DynamicSamplingSection = field(default_factory=DynamicSamplingSection)
    # A held-out slice scored every N steps, best model kept in <output_dir>/best (`eval.validation`). Off by default.
    validation: ValidationSection = field(default_factory=ValidationSection)

    trainer: dict = field(default_factory=dict)

    def run_rewards(self, tasks: set[str] | frozenset[str]) -> dict[str, list[RewardSpec]]:
        """The rewards this run optimises: the set's rewards of the tasks present in the data (`tasks`), with the
        `rewards:` overrides on top. An overridden task is kept even without rows, so the pre-flight check names
        a reward written for data that is missing."""
        chosen = {task: specs for task, specs in reward_set(self.reward_set).items() if task in tasks}
        return {**chosen, **as_specs(self.rewards)}

    def rewarded_tasks(self) -> list[str]:
        """Tasks with rewards in the set or the overrides, set order first."""
        tasks = list(reward_set(self.reward_set))
        return tasks + [t for t in as_specs(self.rewards) if t not in tasks]

    def validate(self) -> None:
        reward_set(self.reward_set)  # an unknown set or a broken set file fails at load time
        as_specs(self.rewards)
        self.model.validate()
        self.data.validate(need_sources=True)
        self.dynamic_sampling.validate()
        self.validation.validate()
        if self.zoom.max_calls < 0:
            raise UserError(f"zoom.max_calls must be >= 0, got {self.zoom.max_calls}")
        if "reward_weights" in self.trainer:
            raise UserError("trainer.reward_weights is derived from the rewards: section; set weights there")
        self._validate_schedule()
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

    def _validate_schedule(self) -> None:
        from data_engine.registry import did_you_mean

        if self.schedule not in SCHEDULES:
            raise UserError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}."
                            f"{did_you_mean(str(self.schedule), SCHEDULES)}")
        if self.stages and self.schedule != "per_task":
            raise UserError("stages is only read with schedule: per_task")
        seen: set[str] = set()
        rewarded = self.rewarded_tasks()
        for k, group in enumerate(self.stages):
            if not isinstance(group, (list, tuple)) or not group:
                raise UserError(f"stages[{k}] must be a non-empty list of tasks, got {group!r}")
            for t in group:
                if t not in rewarded:
                    raise UserError(f"stages[{k}]: task {t!r} has no rewards.{did_you_mean(str(t), rewarded)}"
                                    f" Tasks with rewards: {', '.join(rewarded)}")
                if t in seen:
                    raise UserError(f"stages[{k}]: task {t!r} is already in an earlier stage")
                seen.add(t)
        if self.schedule == "per_task":
            steps = int(self.trainer.get("max_steps", -1))
            if steps < max(len(self.stages), 1):
                raise UserError(f"schedule per_task shares trainer.max_steps over {len(self.stages)} stages: set "
                                f"max_steps >= {len(self.stages)}, got {steps}")
        if self.task_reward_scaling and str(self.trainer.get("scale_rewards", "group")) in ("group", "True"):
            raise UserError("task_reward_scaling needs trainer.scale_rewards: batch or none (under 'group' every "
                            "group is scaled to unit std, so a per-task factor cancels)")


def _int(section: dict, key: str, default: int | None) -> int | None:
    value = section.get(key, default)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise UserError(f"trainer.{key}: expected an integer, got {value!r}")
