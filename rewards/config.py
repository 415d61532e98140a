"""Typed reward configuration: which rewards score which task, with weights and keyword arguments.

YAML shape (a section of the GRPO config; the lead's schema embeds ``rewards: Dict[str, List[RewardSpec]]``)::

    rewards:
      detection:
        - {name: rotated_iou_f1, weight: 1.0}
        - {name: format, weight: 0.1}
      caption:
        - {name: cider_d, weight: 1.0, kwargs: {scale: 3.0}}
      vqa:
        - {name: ./my_rewards.py:strict_match, weight: 1.0, kwargs: {threshold: 0.5}}

``name`` is a registered reward (``georft rewards list``) or a user function ``path/to/file.py:function`` /
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
        out[str(task)] = specs
    return out
