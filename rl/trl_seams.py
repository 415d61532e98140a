"""Every place GeoRFT reaches past TRL's public API, in one module (tested against trl 1.16.x).

The rest of the code talks to TRL only through its public surface: `GRPOTrainer`'s constructor, `GRPOConfig`,
reward-function keyword arguments (`prompts`, `completions`, `log_extra`, `environments`), callbacks and the
trainer's public attributes (`processing_class`, `reward_func_names`, `reward_weights`, `accelerator`, `state`).
What public hooks cannot reach lives here, each seam with the reason it exists and the upstream issue that would
remove it. `tests/training/test_trl_seams.py` checks each seam against the installed TRL (names, signatures, the
source lines they depend on) and fails loudly with the name of the seam when an upgrade moves one; the README's
"Upgrading TRL" note says what to check.

Seams:
1. `ScoredBatchHook._generate_and_score_completions`: the scored generation batch (TRL's private step; its returned
   dict carries the per-row advantages and completion ids, which no public hook exposes). The rollout recorder reads
   only the returned dict.
2. `jsonify_logged_conversations`: TRL's completion log buffer (`_logs`) holds conversations with image content
   blocks, which make wandb's completions table raise (`TypeError: Data row contained incompatible types`); the
   latest rows are replaced by JSON strings.
3. `fix_colocate_prompts`: vLLM colocate mode. TRL 1.16 hands vLLM prompt ids whose image placeholders the HF
   processor already expanded, plus the raw images, and vLLM expands them again (huggingface/trl#6294; fix PRs
   #6718/#6719 open). We wrap the colocated engine's `generate` (`trainer.vllm_generation.llm`) so each multimodal
   request carries one `<|image_pad|>` per image (vLLM expands it exactly as the HF processor did) and the run's
   pixel budget as `mm_processor_kwargs`. GRPO discards the prompt ids vLLM returns, so nothing else changes.
   Server mode is left alone: its server re-anchors precomputed features to the runs of image tokens and needs
   them expanded.
4. `RewardTransformHook`: TRL's gathered reward matrix (`_calculate_rewards`, the private step between the reward
   functions and the advantages) for per-task reward scaling (`rl/task_scaling.py`); afterwards the raw values are
   put back into TRL's completion log (`_logs["rewards"]`) and metrics (`_metrics`), so only the advantages see the
   transformed rewards.
5. `DynamicSamplingHook`: dynamic sampling (`rl/dynamic_sampling.py`). It wraps the same private per-batch step as
   seam 1 and calls it once per attempt (on the dataloader's prompts, then on refill prompts drawn from
   `train_dataset`), reads which groups are flat from the gathered reward matrix (`_calculate_rewards`, as seam 4),
   and returns one scored batch made of the chosen rows (`merge_scored_rows`: TRL's own per-row split of the pixel
   values, then every key of the scored dict padded and concatenated by its layout, `num_items_in_batch` recounted).
   Its metrics go to TRL's metric buffer (`_metrics`) so they are averaged and logged with TRL's. A key of the
   scored dict that seam 5 does not know stops the run with its name (a TRL upgrade must be checked). TRL 1.16 has
   no dynamic sampling of its own (it only logs `frac_reward_zero_std`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

TRL_SERIES = "1.16"
# Set to 1 (the GPU acceptance run does) to check, on every colocated vLLM call, that the prompt ids vLLM expanded
# equal the trainer's processor-expanded ids; a mismatch raises instead of training on corrupted prompts.
CHECK_ENV = "GEORFT_CHECK_VLLM_PROMPTS"


class ScoredBatchHook:
    """Mixin for `GRPOTrainer`: calls `self.on_scored_batch(inputs, output)` after each scored generation batch.

    `output` is TRL's dict for the local rows (keys used: ``advantages``, ``completion_ids``, ``completion_mask``).
    """

    def _generate_and_score_completions(self, inputs):  # seam 1: TRL's private per-batch step
        output = super()._generate_and_score_completions(inputs)
        self.on_scored_batch(inputs, output)
        return output

    def on_scored_batch(self, inputs: list[dict], output: dict) -> None:  # pragma: no cover - overridden
        """Called with the local inputs and TRL's output dict of one scored generation batch."""


class RewardTransformHook:
    """Mixin for `GRPOTrainer` (seam 4): `self.transform_rewards(rewards)` on TRL's gathered (N, F) reward matrix
    before it forms advantages; the logged rewards and reward metrics keep the raw values."""

    def transform_rewards(self, rewards):
        """The (N, F) rewards the advantages are formed from (default: unchanged)."""
        return rewards

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):  # seam 4: TRL private step
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        new = self.transform_rewards(rewards)
        self._raw_rewards = rewards if new is not rewards else None
        return new

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        raw = getattr(self, "_raw_rewards", None)
        if raw is not None:
            restore_logged_rewards(self, raw)
        return output


class DynamicSamplingHook:
    """Mixin for `GRPOTrainer` (seam 5): drop zero-variance groups and refill the generation batch with new prompts.

    Put it first in the bases so every attempt passes through the other hooks (the rollout store records every
    attempt). Set ``self.dynamic_sampling`` to a `DynamicSamplingSection` (None or disabled: plain TRL). After the
    batch is chosen, ``self.on_groups_chosen(kept)`` gets, per attempt, the (world x L,) bool of the groups kept.
    """

    dynamic_sampling = None
    METRIC_PREFIX = "dynamic_sampling/"

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self._sampling_on():
            from rl.dynamic_sampling import zero_variance_groups

            self._flat_groups = zero_variance_groups(rewards.detach().cpu(), self.reward_weights.detach().cpu(),
                                                     self.num_generations, self.multi_objective_aggregation)
        return rewards

    def _sampling_on(self) -> bool:
        ds = self.dynamic_sampling
        return bool(ds is not None and ds.enabled and self.model.training)

    def _generate_and_score_completions(self, inputs):
        if not self._sampling_on():
            return super()._generate_and_score_completions(inputs)
        from rl.dynamic_sampling import need_more, plan_batch, sampling_metrics

        world = self.accelerator.num_processes
        outputs, zero, batch = [], [], inputs
        while True:
            self._flat_groups = None
            outputs.append(super()._generate_and_score_completions(batch))
            if self._flat_groups is None:
                raise RuntimeError("dynamic sampling (seam 5): TRL scored a batch without calling _calculate_rewards")
            zero.append(self._flat_groups)
            if len(zero) >= self.dynamic_sampling.max_attempts or not need_more(zero, world):
                break
            batch = self.refill_inputs(len(inputs), attempt=len(zero))
        plan = plan_batch(zero, world)
        G = self.num_generations
        rows = [(a, g * G + k) for a, g in plan.picks[self.accelerator.process_index] for k in range(G)]
        merged = merge_scored_rows(outputs, rows, self._tokenizer.pad_token_id)
        loss_mask = merged["completion_mask"] if merged.get("tool_mask") is None else \
            merged["completion_mask"] * merged["tool_mask"]
        merged["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        for name, value in sampling_metrics(zero, plan).items():
            self._metrics["train"][self.METRIC_PREFIX + name].append(value)
        self.on_groups_chosen(plan.kept)
        return merged

    def refill_inputs(self, n_rows: int, attempt: int) -> list[dict]:
        """New local prompts for one more attempt: ``n_rows / G`` prompts, each repeated G times (TRL's layout).

        Drawn from ``train_dataset`` with a generator seeded by (seed, global step, attempt), so every process draws
        the same global set (and takes its own slice) and a resumed run draws the same refills again.
        """
        import numpy as np

        G, world, rank = self.num_generations, self.accelerator.num_processes, self.accelerator.process_index
        per_rank = n_rows // G
        size = len(self.train_dataset)
        rng = np.random.default_rng([int(self.args.seed), int(self.state.global_step), int(attempt)])
        idx = rng.choice(size, size=per_rank * world, replace=per_rank * world > size)
        rows = [self.train_dataset[int(i)] for i in idx[rank * per_rank:(rank + 1) * per_rank]]
        return [dict(r) for r in rows for _ in range(G)]

    def on_groups_chosen(self, kept: list) -> None:
        """Called with, per attempt, the (world x L,) bool of the groups in the batch (default: nothing)."""


# Layout of each key of TRL 1.16's scored batch (`_generate_and_score_completions`' return), for seam 5.
_LEFT_PADDED = {"prompt_ids": None, "prompt_mask": 0}  # (B, P); None: the pad token id
_RIGHT_PADDED = {"completion_ids": None, "completion_mask": 0, "tool_mask": 1, "old_per_token_logps": 0.0,
                 "ref_per_token_logps": 0.0, "sampling_per_token_logps": 0.0, "importance_sampling_ratio": 0.0}
_PROMPT_THEN_COMPLETION = {"token_type_ids", "mm_token_type_ids"}  # (B, P + C), zeros as padding
_PER_ROW = {"advantages", "pixel_values", "image_grid_thw", "num_images", "num_tiles", "image_sizes",
            "image_position_ids", "pixel_attention_mask", "spatial_shapes"}  # per row after TRL's split
_RECOUNTED = {"num_items_in_batch"}


def merge_scored_rows(outputs: list[dict], rows: list[tuple[int, int]], pad_token_id: int) -> dict:
    """One scored batch made of chosen rows of several scored batches (seam 5).

    Args:
        outputs: TRL's scored batches (the dicts `_generate_and_score_completions` returns).
        rows: (batch index, row index) pairs, in the order of the result.
        pad_token_id: the tokenizer's pad id (prompt and completion id padding).

    Returns:
        A dict with the same keys: 2-D token tensors padded to the widest batch (prompts on the left, completions
        on the right, as TRL pads them), per-row values taken in order, pixel values re-joined.
        ``num_items_in_batch`` is left as the first batch's; the caller recounts it (it is gathered over processes).
    """
    import torch
    from trl.trainer.utils import split_pixel_values_by_grid, unsplit_pixel_values_by_grid

    keys = set(outputs[0])
    for out in outputs[1:]:
        if set(out) != keys:
            raise RuntimeError(f"dynamic sampling (seam 5): scored batches differ in keys: {sorted(keys ^ set(out))}")
    known = set(_LEFT_PADDED) | set(_RIGHT_PADDED) | _PROMPT_THEN_COMPLETION | _PER_ROW | _RECOUNTED
    unknown = keys - known
    if unknown:
        raise RuntimeError(f"dynamic sampling (seam 5): TRL's scored batch has keys {sorted(unknown)} that "
                           "rl/trl_seams.merge_scored_rows does not know how to merge; check it against this TRL")
    split = [split_pixel_values_by_grid(o) for o in outputs]
    widths = [o["prompt_ids"].shape[1] for o in outputs]
    merged: dict = {}
    # TRL's own key order, never a set's: TRL's `split_tensor_dict` sizes chunks by the FIRST non-None value, which
    # must stay a tensor (`prompt_ids`), not the per-image list of pixel values (a set's order varies per process).
    for key in outputs[0]:
        values = [s[key] for s in split]
        if all(v is None for v in values):
            merged[key] = None
        elif key in _RECOUNTED:
            merged[key] = values[0]
        elif key in _PER_ROW and isinstance(values[0], list):
            merged[key] = [values[b][i] for b, i in rows]
        elif key in _PER_ROW:
            merged[key] = torch.stack([values[b][i] for b, i in rows])
        elif key in _LEFT_PADDED or key in _RIGHT_PADDED:
            left = key in _LEFT_PADDED
            fill = {**_LEFT_PADDED, **_RIGHT_PADDED}[key]
            merged[key] = _pad_rows([values[b][i] for b, i in rows], pad_token_id if fill is None else fill, left)
        else:  # prompt part (left-padded) then completion part (right-padded)
            prompt = _pad_rows([values[b][i][: widths[b]] for b, i in rows], 0, left=True)
            completion = _pad_rows([values[b][i][widths[b]:] for b, i in rows], 0, left=False)
            merged[key] = torch.cat([prompt, completion], dim=1)
    return unsplit_pixel_values_by_grid(merged)


def _pad_rows(rows: list, value, left: bool):
    """Stack 1-D tensors of different lengths into (B, max length), padding with `value` on the left or right."""

    width = max(r.shape[0] for r in rows)
    out = rows[0].new_full((len(rows), width, *rows[0].shape[1:]), value)
    for i, r in enumerate(rows):
        if left:
            out[i, width - r.shape[0]:] = r
        else:
            out[i, : r.shape[0]] = r
    return out


def restore_logged_rewards(trainer, raw) -> None:
    """Put the raw (N, F) rewards back into TRL's completion log and its reward metrics (seam 4)."""
    import torch
    from trl.trainer.utils import nanstd

    n = raw.shape[0]
    mode = "train" if trainer.model.training else "eval"
    metrics = trainer._metrics[mode]
    for i, name in enumerate(trainer.reward_func_names):
        logged = trainer._logs["rewards"][name]
        for _ in range(min(n, len(logged))):
            logged.pop()
        logged.extend(raw[:, i].tolist())
        if metrics.get(f"rewards/{name}/mean"):
            metrics[f"rewards/{name}/mean"][-1] = torch.nanmean(raw[:, i]).item()
            metrics[f"rewards/{name}/std"][-1] = nanstd(raw[:, i]).item()
    total = (raw * trainer.reward_weights.to(raw.device).unsqueeze(0)).nansum(dim=1)
    total[torch.isnan(raw).all(dim=1)] = torch.nan
    if metrics.get("reward"):
        metrics["reward"][-1] = torch.nanmean(total).item()
        metrics["reward_std"][-1] = nanstd(total).item()


def jsonify_logged_conversations(trainer, n: int, to_json: Callable[[Any], str]) -> None:
    """Replace the last `n` logged prompts and completions of TRL's completion log by `to_json` of them (seam 2)."""
    logs = trainer._logs
    for key in ("prompt", "completion"):
        tail = [to_json(m) for m in list(logs[key])[-n:]]
        for _ in range(len(tail)):
            logs[key].pop()
        logs[key].extend(tail)


def collapse_image_runs(ids: list[int], image_token_id: int) -> list[int]:
    """Prompt ids with every run of `image_token_id` collapsed to one token (the unexpanded form vLLM expands).

    Args:
        ids: token ids, shape (L,).
        image_token_id: the `<|image_pad|>` id.

    Returns:
        ids of length L - sum(run lengths - 1); runs are separated by `<|vision_start|>`/`<|vision_end|>`, so one
        token per run is one token per image.
    """
    out: list[int] = []
    prev = None
    for t in ids:
        t = int(t)
        if not (t == image_token_id and prev == image_token_id):
            out.append(t)
        prev = t
    return out


def colocate_requests(requests: list, image_token_id: int, mm_processor_kwargs: dict | None) -> list:
    """TRL's colocate vLLM requests made safe: multimodal ones get unexpanded placeholders and the pixel budget."""
    out = []
    for r in requests:
        if isinstance(r, dict) and r.get("multi_modal_data") and "prompt_token_ids" in r:
            r = {**r, "prompt_token_ids": collapse_image_runs(r["prompt_token_ids"], image_token_id)}
            if mm_processor_kwargs:
                r["mm_processor_kwargs"] = {**mm_processor_kwargs, **(r.get("mm_processor_kwargs") or {})}
        out.append(r)
    return out


def fix_colocate_prompts(trainer, mm_processor_kwargs: dict | None = None) -> bool:
    """Wrap the colocated vLLM engine's `generate` (seam 3); returns False when there is nothing to fix.

    Args:
        trainer: a constructed `GRPOTrainer`.
        mm_processor_kwargs: the run's pixel budget, e.g. ``{"min_pixels": ..., "max_pixels": ...}``.
    """
    if not getattr(trainer, "use_vllm", False) or getattr(trainer, "vllm_mode", None) != "colocate":
        return False
    llm = trainer.vllm_generation.llm
    if getattr(llm.generate, "_georft_colocate_fix", False):
        return True
    tok = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
    image_token_id = tok.convert_tokens_to_ids("<|image_pad|>")
    original = llm.generate
    check = os.environ.get(CHECK_ENV) == "1"

    def generate(prompts, *args, **kwargs):
        fixed = colocate_requests(list(prompts), image_token_id, mm_processor_kwargs)
        outputs = original(fixed, *args, **kwargs)
        if check:
            check_expanded_ids(prompts, outputs)
        return outputs

    generate._georft_colocate_fix = True
    llm.generate = generate
    return True


def check_expanded_ids(requests: list, outputs: list) -> None:
    """Raise when vLLM's expanded prompt ids differ from the trainer's (the double-expansion bug or a budget
    mismatch); the acceptance run turns this on with GEORFT_CHECK_VLLM_PROMPTS=1."""
    for k, (req, out) in enumerate(zip(requests, outputs, strict=True)):
        want = [int(t) for t in req["prompt_token_ids"]] if isinstance(req, dict) else None
        got = [int(t) for t in (out.prompt_token_ids or [])]
        if want is not None and got != want:
            raise RuntimeError(f"vLLM prompt {k}: {len(got)} prompt token ids after vLLM's expansion, the trainer has "
                               f"{len(want)} (first difference at {_first_diff(got, want)})")


def _first_diff(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
