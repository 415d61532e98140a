"""Per-task reward scaling for mixed-task GRPO batches (``task_reward_scaling: true``).

What TRL already does (``GRPOConfig.scale_rewards``): advantages are ``(r - mean of the group)``, divided by the
std of the *group* (``"group"``, the default), of the whole *batch* (``"batch"``), or by nothing (``"none"``). A GRPO
group holds the G completions of one prompt, so it is single-task:

- under ``"group"`` every group is already scaled to unit std, so a task with a wide reward range cannot drown the
  others; but it also blows up near-zero differences in nearly solved groups (Dr. GRPO's difficulty bias), and a
  per-task factor would cancel (hence the config refuses the two together);
- under ``"batch"`` or ``"none"`` (what Dr. GRPO and PPO-lite recommend) the raw scale survives: a task whose
  reward spreads over [0, 1] (grounding IoU, CIDEr-D) outweighs one that moves in steps of 0.1 (a 0.1-weighted
  format term), and with ``loss_type`` "dapo"/"bnpo" (token-normalised over the batch) a task with long completions
  (detection lists) adds more tokens to the loss on top.

What this adds: before TRL forms advantages, each task's reward columns are divided by the std of that task's
weighted total over all its completions in the (gathered) batch, so every task enters with unit spread while
differences *between* groups of a task survive (unlike ``"group"``). Tokens per task are not rebalanced here:
choose ``loss_type: grpo`` (per-sequence mean) if long answers should not weigh more.

Every reward function of the GRPO run scores one task (`rewards.adapter.make_reward_funcs`, NaN on other tasks'
rows), so the columns of a task are known from the config, and a row's task is the one whose columns are not NaN.
"""

from __future__ import annotations

from typing import Any

import torch

from rewards.config import as_specs
from rl.trl_seams import RewardTransformHook


def task_columns(reward_cfg: Any) -> list[list[int]]:
    """Reward-function column indices per task, in `make_reward_funcs` order (one list per task)."""
    out, k = [], 0
    for _task, specs in as_specs(reward_cfg).items():
        out.append(list(range(k, k + len(specs))))
        k += len(specs)
    return out


def scale_by_task(rewards_per_func: torch.Tensor, weights: torch.Tensor, columns: list[list[int]],
                  eps: float = 1e-4) -> torch.Tensor:
    """Each task's reward columns divided by the std of its weighted total over the rows of that task.

    Args:
        rewards_per_func: (N, F) rewards, NaN where a function does not score the row's task.
        weights: (F,) reward weights.
        columns: per task, its column indices.
        eps: a task whose total varies less than this is left as it is (nothing to rescale).

    Returns:
        (N, F) scaled copy (NaNs kept).
    """
    out = rewards_per_func.clone()
    for cols in columns:
        block = rewards_per_func[:, cols]
        rows = ~torch.isnan(block).all(dim=1)
        if int(rows.sum()) < 2:
            continue
        total = (block[rows] * weights[cols].to(block.device)).nansum(dim=1)
        std = total.std()
        if std > eps:
            out[:, cols] = block / std
    return out


class TaskScaledRewards(RewardTransformHook):
    """Trainer mixin: `scale_by_task` on TRL's gathered rewards when ``task_columns`` is set (None: unchanged).

    Only the advantages see the scaled rewards: after TRL's step the logged per-function rewards (completions
    table) and the ``rewards/*`` / ``reward`` metrics are put back to the raw values (`rl.trl_seams`), so curves
    stay comparable with and without scaling; the rollout store records the raw values the reward functions returned.
    """

    task_columns: list[list[int]] | None = None

    def transform_rewards(self, rewards: torch.Tensor) -> torch.Tensor:
        if not self.task_columns:
            return rewards
        return scale_by_task(rewards, self.reward_weights, self.task_columns)
