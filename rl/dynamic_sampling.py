"""Dynamic sampling for GRPO (DAPO, Yu et al. 2025, §3.2): train only on groups whose rewards differ.

A GRPO group holds the G completions of one prompt; its advantages are ``reward - group mean`` (optionally scaled).
When every completion of a group gets the same reward (all right, all wrong, all equally malformed) every advantage
is 0: the group adds no policy gradient, yet it still takes its share of the batch (and of the token normaliser of
``loss_type: dapo``/``bnpo``), so the signal-carrying groups are diluted. DAPO drops such groups and keeps sampling
new prompts until the batch is full of groups with signal.

This module holds the pure part: which groups carry no signal (`zero_variance_groups`) and which groups fill the
batch after some attempts (`plan_batch`). The trainer side (`rl.trl_seams.DynamicSamplingHook`) generates, scores,
asks the plan and merges the chosen rows of TRL's scored batches.

Cost: every attempt is one more full generation batch (generation, reward scoring and, where TRL computes them, the
old/reference log-probabilities of every row), so a step costs about ``1 / (1 - p)`` generations when a share ``p``
of groups has zero variance, capped at ``max_attempts``. When the cap is reached before every process has enough
groups with signal, the batch is completed with zero-variance groups (zero advantage, so no gradient, exactly what
GRPO would have trained on without dynamic sampling) and the shortfall is logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from data_engine.errors import UserError


@dataclass
class DynamicSamplingSection:
    """``dynamic_sampling:`` of a GRPO config.

    Attributes:
        enabled: drop zero-variance groups and refill the batch with new prompts (off: TRL's plain GRPO).
        max_attempts: generation batches per optimizer step at most, the first included (>= 1; 1 = filter only,
            never refill: zero-variance groups are kept as padding and only counted).
    """

    enabled: bool = False
    max_attempts: int = 4

    def validate(self, where: str = "dynamic_sampling") -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise UserError(f"{where}.max_attempts must be an integer >= 1, got {self.max_attempts!r}")


def zero_variance_groups(rewards: torch.Tensor, weights: torch.Tensor, num_generations: int,
                         aggregation: str = "sum_then_normalize", atol: float = 1e-8) -> torch.Tensor:
    """Which groups carry no GRPO signal.

    Args:
        rewards: (N, F) rewards per completion and reward function as TRL gathers them (NaN: not applicable);
            rows of one group are contiguous, N = groups x G.
        weights: (F,) reward weights.
        num_generations: G.
        aggregation: TRL's ``multi_objective_aggregation``. "sum_then_normalize": a group is flat when its weighted
            totals are all equal; "normalize_then_sum": when every function's values are equal within the group.
        atol: values closer than this are equal.

    Returns:
        (N // G,) bool, True for a group whose advantages TRL sets all equal (no completion preferred). A group with
        fewer than two scorable completions (every function None) is flat too.
    """
    if rewards.shape[0] % num_generations:
        raise ValueError(f"{rewards.shape[0]} rows are not whole groups of {num_generations}")
    r = rewards.float()
    if aggregation == "sum_then_normalize":
        total = (r * weights.to(r.device).float().unsqueeze(0)).nansum(dim=1)
        total[torch.isnan(r).all(dim=1)] = torch.nan
        cols = total.view(-1, num_generations, 1)  # (groups, G, 1)
    elif aggregation == "normalize_then_sum":
        cols = r.view(-1, num_generations, r.shape[1])  # (groups, G, F)
    else:
        raise ValueError(f"unknown multi_objective_aggregation {aggregation!r}")
    nan = torch.isnan(cols)
    hi = torch.where(nan, -torch.inf, cols).amax(dim=1)  # (groups, F')
    lo = torch.where(nan, torch.inf, cols).amin(dim=1)
    scorable = (~nan).sum(dim=1)  # (groups, F')
    flat_col = (scorable < 2) | ((hi - lo) <= atol)
    return flat_col.all(dim=1)


@dataclass
class BatchPlan:
    """Which groups make the batch after some attempts.

    Attributes:
        picks: per process, the (attempt, local group) pairs of its batch, in order (signal groups first).
        kept: per attempt, (world x L,) bool over the attempt's global groups: in some process's batch.
        full: every process has L groups with signal (no zero-variance padding).
    """

    picks: list[list[tuple[int, int]]]
    kept: list[torch.Tensor]
    full: bool


def plan_batch(zero: list[torch.Tensor], world: int) -> BatchPlan:
    """Choose each process's L groups from the attempts so far.

    Every process keeps its own groups (the rows it generated), signal groups in attempt order; when fewer than L
    exist it completes its batch with its zero-variance groups, earliest first.

    Args:
        zero: per attempt, (world x L,) bool from `zero_variance_groups` over the gathered batch (process p owns
            groups p*L .. p*L + L - 1, as TRL slices the gathered batch).
        world: number of processes.

    Returns:
        The plan (identical on every process: it only reads gathered values).
    """
    n = zero[0].numel()
    if n % world:
        raise ValueError(f"{n} groups do not split over {world} processes")
    L = n // world
    picks, full = [], True
    kept = [torch.zeros(n, dtype=torch.bool) for _ in zero]
    for p in range(world):
        signal = [(a, g) for a, z in enumerate(zero) for g in range(L) if not bool(z[p * L + g])]
        flat = [(a, g) for a, z in enumerate(zero) for g in range(L) if bool(z[p * L + g])]
        full = full and len(signal) >= L
        mine = (signal + flat)[:L]
        for a, g in mine:
            kept[a][p * L + g] = True
        picks.append(mine)
    return BatchPlan(picks, kept, full)


def need_more(zero: list[torch.Tensor], world: int) -> bool:
    """Whether some process still has fewer than L groups with signal after these attempts."""
    return not plan_batch(zero, world).full


def sampling_metrics(zero: list[torch.Tensor], plan: BatchPlan) -> dict[str, float]:
    """Per generation batch: ``attempts``; ``zero_std_share`` (generated groups with zero variance);
    ``dropped_share`` (generated groups left out of the batch: zero-variance ones and surplus); ``signal_share``
    (groups of the batch with signal; below 1 only when ``max_attempts`` ran out)."""
    generated = sum(z.numel() for z in zero)
    flat = sum(int(z.sum()) for z in zero)
    in_batch = sum(int(k.sum()) for k in plan.kept)
    flat_in = sum(int((k & z).sum()) for k, z in zip(plan.kept, zero, strict=True))
    return {
        "attempts": float(len(zero)),
        "zero_std_share": flat / generated,
        "dropped_share": (generated - in_batch) / generated,
        "signal_share": (in_batch - flat_in) / in_batch,
    }
