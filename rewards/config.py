"""Typed reward configuration: which rewards score which task, with weights and keyword arguments.

A GRPO config names one reward SET and overrides it per task::

    reward_set: default          # or `accuracy`, or a YAML file mapping task -> [RewardSpec]
    rewards:                     # per-task overrides: a listed task's rewards replace the set's for that task
      caption:
        - {name: cider_d, weight: 1.0, kwargs: {scale: 3.0}}
      vqa:
        - {name: ./my_rewards.py:strict_match, weight: 1.0, kwargs: {threshold: 0.5}}
      classification: []         # an empty list: this task gets no reward (left out of GRPO's rewards)

Built-in sets, derived from each task's declared ``default_rewards`` (`data_engine.tasks`): ``default`` (the
accuracy reward at 1.0 plus a 0.1-weighted ``format`` term) and ``accuracy`` (the accuracy reward alone, its first
entry). ``name`` is a registered reward (``georft rewards list``) or a user function ``path/to/file.py:function`` /
``package.module:function``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RewardSpec:
    """One reward applied to one task.

    Attributes:
        name: registered reward name, or ``file.py:function`` / ``module:function`` for a user reward.
        weight: weight of this reward in TRL's weighted sum (``GRPOConfig.reward_weights``).
        kwargs: keyword arguments passed to the reward on every call (e.g. ``{"iou_threshold": 0.5}``).
    """

    name: str
    weight: float = 1.0
    kwargs: dict[str, Any] = field(default_factory=dict)


def default_rewards() -> dict[str, list[RewardSpec]]:
    """The reward set used when a config names none: each task's declared ``default_rewards`` (`data_engine.tasks`:
    its accuracy reward, then a 0.1-weighted format term)."""
    from data_engine.tasks import TASKS

    return {t.name: [RewardSpec(name, weight) for name, weight in t.default_rewards]
            for t in TASKS.values() if t.rewardable}


REWARD_SETS = ("default", "accuracy")


def reward_set(name: str) -> dict[str, list[RewardSpec]]:
    """A named reward set (`REWARD_SETS`) or one read from a YAML file (``{task: [{name, weight, kwargs}]}``).

    Raises:
        UserError: an unknown set name (with "did you mean"), a missing or malformed file.
    """
    from data_engine.errors import UserError

    if name == "default":
        return default_rewards()
    if name == "accuracy":
        return {task: specs[:1] for task, specs in default_rewards().items()}
    if not name.endswith((".yaml", ".yml")):
        from data_engine.registry import did_you_mean

        raise UserError(f"reward_set {name!r} is neither a built-in set ({', '.join(REWARD_SETS)}) nor a .yaml file."
                        f"{did_you_mean(name, REWARD_SETS)}")
    from pathlib import Path

    import yaml

    path = Path(name)
    if not path.is_file():
        raise UserError(f"reward_set file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"reward_set {path}: invalid YAML: {str(e).splitlines()[0]}") from None
    return as_specs(data)


def resolve_rewards(set_name: str, overrides: Any) -> dict[str, list[RewardSpec]]:
    """The rewards a run optimises: the set, with each task listed in `overrides` replaced by its list (an empty
    list keeps the task with no reward, so resolving the result again gives the same result)."""
    return {**reward_set(set_name), **as_specs(overrides or {})}


def as_specs(cfg: Any) -> dict[str, list[RewardSpec]]:
    """Normalise a rewards section (dicts, OmegaConf nodes or RewardSpec objects) to ``{task: [RewardSpec]}``."""
    from data_engine.errors import UserError

    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(cfg):
            cfg = OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if not isinstance(cfg, dict):
        raise UserError(f"rewards must map task -> list of rewards, got {type(cfg).__name__}")
    out: dict[str, list[RewardSpec]] = {}
    for task, items in cfg.items():
        if not isinstance(items, (list, tuple)):
            raise UserError(f"rewards.{task} must be a list of {{name, weight, kwargs}}, got {items!r}")
        specs = []
        for i, it in enumerate(items):
            if isinstance(it, RewardSpec):
                specs.append(it)
            elif isinstance(it, dict) and set(it) <= {"name", "weight", "kwargs"} and "name" in it:
                specs.append(RewardSpec(str(it["name"]), float(it.get("weight", 1.0)), dict(it.get("kwargs") or {})))
            else:
                raise UserError(f"rewards.{task}[{i}] must have keys name, weight, kwargs; got {it!r}")
            if specs[-1].name == "think_format":
                from rewards.think import check_think_kwargs

                check_think_kwargs(specs[-1].kwargs, f"rewards.{task}[{i}]")
        out[str(task)] = specs
    return out
