"""Dynamic sampling (DAPO): flat groups found from hand-built reward tensors, dropped and refilled, attempts capped,
chosen rows merged from TRL-shaped scored batches; and one real tiny GRPO step with it on."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from data_engine.errors import UserError
from rl.dynamic_sampling import DynamicSamplingSection, plan_batch, sampling_metrics, zero_variance_groups
from rl.trl_seams import DynamicSamplingHook, merge_scored_rows

NAN = float("nan")
PAD = 99


def test_zero_variance_groups_hand_built():
    # G = 3, two reward functions with weights 1 and 0.5; totals per row in the comments.
    rewards = torch.tensor([
        [1.0, 0.0], [1.0, 0.0], [1.0, 0.0],      # group 0: totals 1, 1, 1 -> flat
        [1.0, 0.0], [0.0, 2.0], [0.0, 0.0],      # group 1: totals 1, 1, 0 -> signal
        [0.0, 2.0], [1.0, 0.0], [0.5, 1.0],      # group 2: totals 1, 1, 1 -> flat (parts cancel in the sum)
        [NAN, NAN], [NAN, NAN], [0.3, NAN],      # group 3: one scorable completion -> flat
        [NAN, NAN], [NAN, NAN], [NAN, NAN],      # group 4: nothing scorable -> flat
        [0.2, NAN], [NAN, NAN], [0.7, NAN],      # group 5: 0.2 vs 0.7 (the None row is left out) -> signal
    ])
    w = torch.tensor([1.0, 0.5])
    assert zero_variance_groups(rewards, w, 3).tolist() == [True, False, True, True, True, False]
    # normalize_then_sum: flat only when every function is constant in the group (group 2's parts differ)
    assert zero_variance_groups(rewards, w, 3, "normalize_then_sum").tolist() == [True, False, False, True, True,
                                                                                   False]
    with pytest.raises(ValueError, match="whole groups"):
        zero_variance_groups(rewards[:4], w, 3)


def test_plan_keeps_signal_groups_per_process_and_pads_with_flat_ones():
    # 2 processes x L = 2 groups; attempt 0: p0 [flat, signal], p1 [flat, flat]; attempt 1: p0 [signal, signal],
    # p1 [signal, flat].
    zero = [torch.tensor([True, False, True, True]), torch.tensor([False, False, False, True])]
    plan = plan_batch(zero, world=2)
    assert plan.picks == [[(0, 1), (1, 0)], [(1, 0), (0, 0)]]  # p1 has one signal group: padded with its first flat
    assert not plan.full
    assert [k.tolist() for k in plan.kept] == [[False, True, True, False], [True, False, True, False]]
    m = sampling_metrics(zero, plan)
    assert m == {"attempts": 2.0, "zero_std_share": 4 / 8, "dropped_share": 4 / 8, "signal_share": 3 / 4}


def _scored(ids: list[int], prompt_width: int, completion_lengths: list[int]) -> dict:
    """A TRL-shaped scored batch (Qwen-VL keys) whose rows carry their id `r` everywhere: prompt ids r (left padded
    to `prompt_width`), completion ids r of the given lengths (right padded), advantages r, one image per row of
    r + 1 patches filled with r."""
    B = len(ids)
    C = max(completion_lengths)
    prompt_ids = torch.full((B, prompt_width), PAD)
    prompt_mask = torch.zeros(B, prompt_width, dtype=torch.long)
    completion_ids = torch.full((B, C), PAD)
    completion_mask = torch.zeros(B, C, dtype=torch.long)
    for i, (r, n) in enumerate(zip(ids, completion_lengths, strict=True)):
        prompt_ids[i, -2:] = r
        prompt_mask[i, -2:] = 1
        completion_ids[i, :n] = r
        completion_mask[i, :n] = 1
    mm = torch.cat([torch.zeros(B, prompt_width, dtype=torch.long), torch.zeros(B, C, dtype=torch.long)], dim=1)
    mm[:, prompt_width - 1] = 1  # the last prompt token is the image token
    grid = torch.tensor([[1, 1, r + 1] for r in ids])
    pixels = torch.cat([torch.full((r + 1, 4), float(r)) for r in ids])
    return {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
            "completion_mask": completion_mask, "advantages": torch.tensor(ids, dtype=torch.float),
            "num_items_in_batch": completion_mask.sum(), "old_per_token_logps": completion_mask.float() * -1.0,
            "mm_token_type_ids": mm, "pixel_values": pixels, "image_grid_thw": grid, "num_images": [1] * B}


def test_merge_scored_rows_pads_each_key_by_its_layout():
    a = _scored([0, 1], prompt_width=3, completion_lengths=[2, 1])
    b = _scored([10, 11], prompt_width=5, completion_lengths=[4, 3])
    out = merge_scored_rows([a, b], [(1, 1), (0, 0)], PAD)
    assert out["advantages"].tolist() == [11.0, 0.0]
    assert out["prompt_ids"].tolist() == [[PAD, PAD, PAD, 11, 11], [PAD, PAD, PAD, 0, 0]]
    assert out["prompt_mask"].tolist() == [[0, 0, 0, 1, 1], [0, 0, 0, 1, 1]]
    # completions right-padded to the widest batch (b's 4 columns, its own padding kept)
    assert out["completion_ids"].tolist() == [[11, 11, 11, PAD], [0, 0, PAD, PAD]]
    assert out["completion_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 0, 0]]
    assert out["old_per_token_logps"].tolist() == [[-1.0, -1.0, -1.0, 0.0], [-1.0, -1.0, 0.0, 0.0]]
    # (B, P + C): the image token stays the last prompt token after the prompt part is left-padded to 5
    assert out["mm_token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0, 0, 0]]
    assert out["image_grid_thw"].tolist() == [[1, 1, 12], [1, 1, 1]]
    assert out["pixel_values"][:, 0].tolist() == [11.0] * 12 + [0.0]
    assert out["num_images"] == [1, 1]
    with pytest.raises(RuntimeError, match="surprise"):
        merge_scored_rows([{**a, "surprise": None}], [(0, 0)], PAD)


def test_merged_batch_keeps_trls_key_order():
    """TRL's `split_tensor_dict` sizes chunks by the first non-None value: with a set's (hash-seeded) key order the
    per-image pixel-value list could come first and the step failed under some PYTHONHASHSEED values."""
    a = _scored([0, 1], prompt_width=3, completion_lengths=[2, 1])
    out = merge_scored_rows([a, a], [(1, 1), (0, 0)], PAD)
    assert list(out) == list(a)
    assert next(iter(out)) == "prompt_ids"


class _FakeGRPO:
    """Stands in for GRPOTrainer: each call scores the batch with the next scripted (N, F) reward matrix."""

    def __init__(self, script: list[torch.Tensor], G: int, max_attempts: int) -> None:
        self.script = list(script)
        self.calls: list[list[dict]] = []
        self.num_generations = G
        self.reward_weights = torch.tensor([1.0])
        self.multi_objective_aggregation = "sum_then_normalize"
        self.model = SimpleNamespace(training=True)
        self.accelerator = SimpleNamespace(num_processes=1, process_index=0, gather=lambda t: t.reshape(1))
        self._tokenizer = SimpleNamespace(pad_token_id=PAD)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        self.train_dataset = [{"prompt": f"refill {i}"} for i in range(100)]
        self.args = SimpleNamespace(seed=0)
        self.state = SimpleNamespace(global_step=7)
        self.dynamic_sampling = DynamicSamplingSection(enabled=True, max_attempts=max_attempts)
        self.chosen = None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        return self.script.pop(0)

    def _generate_and_score_completions(self, inputs):
        self.calls.append(inputs)
        k = len(self.calls) - 1
        self._calculate_rewards(inputs, None, None, None)
        ids = [100 * k + i for i in range(len(inputs))]  # row i of attempt k is "100k + i"
        return _scored(ids, prompt_width=3 + k, completion_lengths=[1 + (r % 3) for r in ids])


class _Trainer(DynamicSamplingHook, _FakeGRPO):
    def on_groups_chosen(self, kept):
        self.chosen = [k.tolist() for k in kept]


def _rewards(groups: list[list[float]]) -> torch.Tensor:
    return torch.tensor([[v] for g in groups for v in g])


def test_flat_groups_dropped_and_refilled_with_new_prompts():
    # G = 2, 3 groups a batch. Attempt 0: groups 0 and 2 flat; attempt 1: group 1 flat -> full after 2 attempts.
    script = [_rewards([[1, 1], [0, 1], [0, 0]]), _rewards([[1, 0], [1, 1], [0.5, 0.2]]), _rewards([[0, 1]] * 3)]
    t = _Trainer(script, G=2, max_attempts=4)
    inputs = [{"prompt": f"p{i // 2}"} for i in range(6)]
    out = t._generate_and_score_completions(inputs)
    assert len(t.calls) == 2  # the cap is 4: stopped as soon as the batch was full
    assert t.calls[0] is inputs
    refill = t.calls[1]
    assert len(refill) == 6 and all(refill[2 * i] == refill[2 * i + 1] for i in range(3))  # G copies per prompt
    assert {r["prompt"] for r in refill} <= {f"refill {i}" for i in range(100)}
    # rows: attempt 0 group 1 (rows 2, 3), then attempt 1 groups 0 and 2 (rows 100, 101, 104, 105)
    assert out["advantages"].tolist() == [2, 3, 100, 101, 104, 105]
    assert out["num_items_in_batch"].item() == sum(1 + (r % 3) for r in [2, 3, 100, 101, 104, 105])
    assert t.chosen == [[False, True, False], [True, False, True]]
    m = {k: v[0] for k, v in t._metrics["train"].items()}
    assert m == {"dynamic_sampling/attempts": 2.0, "dynamic_sampling/zero_std_share": 3 / 6,
                 "dynamic_sampling/dropped_share": 3 / 6, "dynamic_sampling/signal_share": 1.0}
    # the refill draw depends only on (seed, step, attempt): a resumed run draws the same prompts
    assert t.refill_inputs(6, attempt=1) == refill


def test_attempts_cap_respected_and_batch_completed_with_flat_groups():
    script = [_rewards([[1, 1], [0, 0], [0, 0]]), _rewards([[0, 0], [1, 0], [1, 1]]), _rewards([[0, 1]] * 3)]
    t = _Trainer(script, G=2, max_attempts=2)
    out = t._generate_and_score_completions([{"prompt": f"p{i // 2}"} for i in range(6)])
    assert len(t.calls) == 2  # never a third generation, although one signal group is still missing
    # the one signal group (attempt 1, group 1), then the earliest flat groups: attempt 0 groups 0 and 1
    assert out["advantages"].tolist() == [102, 103, 0, 1, 2, 3]
    m = {k: v[0] for k, v in t._metrics["train"].items()}
    assert m["dynamic_sampling/attempts"] == 2.0 and m["dynamic_sampling/signal_share"] == pytest.approx(1 / 3)
    assert m["dynamic_sampling/zero_std_share"] == pytest.approx(5 / 6)


def test_off_or_eval_is_plain_trl():
    t = _Trainer([_rewards([[1, 1], [0, 0]])], G=2, max_attempts=4)
    t.dynamic_sampling = DynamicSamplingSection(enabled=False)
    out = t._generate_and_score_completions([{"prompt": "p"}] * 4)
    assert len(t.calls) == 1 and out["advantages"].tolist() == [0, 1, 2, 3] and not t._metrics["train"]


def test_config_keys_validated_at_load():
    from georft.config import load_config
    from rl.config import GRPORunConfig

    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(GRPORunConfig, repo / "configs/grpo/demo_cpu.yaml",
                      ["dynamic_sampling.enabled=true", "dynamic_sampling.max_attempts=3"])
    assert cfg.dynamic_sampling == DynamicSamplingSection(enabled=True, max_attempts=3)
    assert not load_config(GRPORunConfig, repo / "configs/grpo/demo_cpu.yaml").dynamic_sampling.enabled
    with pytest.raises(UserError, match="max_attempts must be an integer >= 1"):
        load_config(GRPORunConfig, repo / "configs/grpo/demo_cpu.yaml", ["dynamic_sampling.max_attempts=0"])
    with pytest.raises(UserError, match='Did you mean "max_attempts"'):
        load_config(GRPORunConfig, repo / "configs/grpo/demo_cpu.yaml", ["dynamic_sampling.max_attempt=3"])


def test_tiny_grpo_step_with_dynamic_sampling(tiny_model_dirs, tiny_world, tmp_path):
    from georft.config import load_config
    from rl.config import GRPORunConfig
    from rl.train import main
    from rollout.store import RolloutReader

    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(GRPORunConfig, repo / "configs/grpo/demo_cpu.yaml", [
        f"model.path={tiny_model_dirs['qwen3_vl']}", f"data.root={tiny_world[1]}",
        "data.sources=[{path: ., split: train, tasks: [classification, vqa]}]", f"output_dir={tmp_path / 'run'}",
        "trainer.max_steps=1", "trainer.per_device_train_batch_size=8", "trainer.num_generations=2",
        "trainer.max_completion_length=8", "trainer.logging_steps=1", "trainer.save_strategy=no",
        "trainer.report_to=[]", "dynamic_sampling.enabled=true", "dynamic_sampling.max_attempts=3"])
    summary = main(cfg)
    log = summary["last_log"]
    attempts = log["dynamic_sampling/attempts"]
    assert 1 <= attempts <= 3
    table = RolloutReader(tmp_path / "run").read_step(0).to_pandas()
    assert len(table) == 8 * attempts  # every attempt recorded
    groups = table.groupby("group")
    assert groups.ngroups == 4 * attempts and (groups.size() == 2).all()
    kept = groups["kept"].first()
    assert kept.sum() == 4  # the batch: 4 prompts x 2 generations
    flat = groups["reward"].agg(lambda r: r.max() - r.min() <= 1e-12 or r.isna().all())
    # a dropped group is flat or surplus; a kept flat group only when the attempts ran out
    assert log["dynamic_sampling/zero_std_share"] == pytest.approx(flat.mean())
    if log["dynamic_sampling/signal_share"] == 1.0:
        assert not flat[kept].any()
    index = json.loads((tmp_path / "run" / "rollouts" / "index.jsonl").read_text().splitlines()[-1])
    assert all("dropped_groups" in s for s in index["tasks"].values())
