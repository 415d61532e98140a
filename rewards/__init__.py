"""Task-aware rewards for GRPO: pure functions of one completion and one sample, built on `eval` parsing and
geometry (one scoring path with evaluation).

Contract (`rewards.contract`: `RewardInput`, `RewardOutput`, `RewardFn`): ``fn(completion, sample, frame=None,
**kwargs) -> {"overall": float in [0, 1], <part>: float, ...}`` where ``sample`` is a data-engine schema row
(``task``, ``target``, ``width``, ``height``, ...) and ``frame`` the model's coordinate frame (None: the completion
is in original-image pixels). No completion makes a reward raise or return a non-finite value; parse failures are
returned as count parts (``n_failed``, ``format``).

Entry points: `score` (one completion, standalone), `make_reward_funcs` (TRL GRPOTrainer adapter),
`check_rewards` (pre-flight), `RewardSpec` (config), `REWARDS` (registry; ``georft rewards list``).
"""

from __future__ import annotations

from typing import Any

from data_engine.errors import UserError
from data_engine.frames import Frame
from rewards.adapter import call_reward, check_rewards, make_reward_funcs
from rewards.config import RewardSpec, as_specs, default_rewards
from rewards.registry import REWARDS, RewardDef, get_reward, load_user_reward

PRIMARY = {task: specs[0].name for task, specs in default_rewards().items()}


def score(task: str, completion: Any, sample: dict, frame: Frame | dict | None = None, name: str | None = None,
          **kwargs: Any) -> dict:
    """Score one completion with the task's accuracy reward (or the reward ``name``).

    Args:
        task: the sample's task.
        completion: answer text or a TRL conversational completion.
        sample: schema row (``target`` as dict or JSON string).
        frame: model frame (`Frame` or its dict); None = original pixels.
        name: reward name or ``file.py:function``; default: ``PRIMARY[task]``.
        **kwargs: reward keyword arguments.

    Returns:
        The reward dict: ``overall`` plus parts, all finite floats.
    """
    if name is None:
        if task not in PRIMARY:
            raise UserError(f"no reward for task {task!r}; tasks with rewards: {', '.join(PRIMARY)}")
        name = PRIMARY[task]
    rdef = get_reward(name)
    row = dict(sample)
    row.setdefault("task", task)
    if frame is not None:
        row["frame"] = frame.to_dict() if isinstance(frame, Frame) else frame
    else:
        row.pop("frame", None)
    return call_reward(rdef, completion, row, kwargs)


__all__ = [
    "PRIMARY",
    "REWARDS",
    "RewardDef",
    "RewardSpec",
    "as_specs",
    "check_rewards",
    "default_rewards",
    "get_reward",
    "load_user_reward",
    "make_reward_funcs",
    "score",
]
