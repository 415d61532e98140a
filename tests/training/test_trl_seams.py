"""The TRL seams (`rl/trl_seams.py`) against the installed TRL: a TRL upgrade that moves one fails here, by name.

Also the pure parts of the vLLM fixes: placeholder collapsing, refused configurations, one GPU per eval rank.
"""

from __future__ import annotations

import inspect

import pytest

from data_engine.errors import UserError


def _src(obj) -> str:
    return inspect.getsource(obj)


def test_trl_is_the_tested_series():
    import trl

    from rl.trl_seams import TRL_SERIES

    assert trl.__version__.startswith(TRL_SERIES + "."), (
        f"trl {trl.__version__} is installed, rl/trl_seams.py was checked against {TRL_SERIES}.x: re-check every "
        "seam listed in its docstring (README: Upgrading TRL), then update TRL_SERIES and the pin in pyproject.toml")


def test_seam_scored_batch_hook():
    """Seam 1: TRL's per-batch step exists, takes the inputs, returns the keys the recorder reads."""
    from trl import GRPOTrainer

    fn = GRPOTrainer._generate_and_score_completions
    assert list(inspect.signature(fn).parameters) == ["self", "inputs"], "seam 1: signature moved"
    src = _src(fn)
    for key in ('"advantages"', '"completion_ids"', '"completion_mask"'):
        assert key in src, f"seam 1: TRL's scored batch no longer returns {key}"


def test_public_reward_kwargs_the_recorder_uses():
    """The recorder's public hook: reward functions get prompts, completions and log_extra."""
    from trl import GRPOTrainer

    src = _src(GRPOTrainer._calculate_rewards)
    assert 'reward_kwargs["log_extra"]' in src
    assert "prompts=prompts" in src and "completions=completions" in src
    assert "reward_func_names" in _src(GRPOTrainer.__init__) and "eos_token_ids" in _src(GRPOTrainer.__init__)


def test_seam_completion_log_buffers():
    """Seam 2: `_logs` holds deques of prompts and completions."""
    from trl import GRPOTrainer

    src = _src(GRPOTrainer.__init__)
    assert "self._logs = {" in src and '"prompt": deque(' in src and '"completion": deque(' in src, "seam 2 moved"


def test_seam_colocate_requests_format():
    """Seam 3: colocate mode sends processor-expanded ids plus images through `self.llm.generate`."""
    from trl import GRPOTrainer
    from trl.generation.vllm_generation import VLLMGeneration

    src = _src(VLLMGeneration.generate)
    assert 'row = {"prompt_token_ids": ids}' in src and 'row["multi_modal_data"] = {"image":' in src
    assert "self.llm.generate(vllm_prompts" in src, "seam 3: the colocated engine call moved"
    assert "self.vllm_generation = VLLMGeneration(" in _src(GRPOTrainer.__init__)
    assert "self.llm = LLM(" in _src(VLLMGeneration._init_vllm)


def test_seam_reward_transform():
    """Seam 4: TRL's gathered-reward step, its signature, and the metrics/log buffers the raw values go back to."""
    from trl import GRPOTrainer

    fn = GRPOTrainer._calculate_rewards
    assert list(inspect.signature(fn).parameters) == ["self", "inputs", "prompts", "completions",
                                                      "completion_ids_list"], "seam 4: signature moved"
    assert "return rewards_per_func" in _src(fn), "seam 4: return value moved"
    src = _src(GRPOTrainer._generate_and_score_completions)
    assert "self._calculate_rewards(" in src and 'self._metrics[mode][f"rewards/{reward_func_name}/mean"]' in src
    assert '"rewards": defaultdict(lambda: deque(' in _src(GRPOTrainer.__init__), "seam 4: _logs['rewards'] moved"


def test_seam_dynamic_sampling_knows_every_scored_key():
    """Seam 5: every key TRL's scored batch can carry has a merge rule; the trainer attributes and TRL helpers it
    uses exist; generation batches are split by `split_pixel_values_by_grid` after the scored step, as assumed."""
    import re

    from trl import GRPOTrainer
    from trl.trainer import utils

    from rl import trl_seams

    src = _src(GRPOTrainer._generate_and_score_completions)
    keys = set(re.findall(r'output\["(\w+)"\]', src)) | set(re.findall(r'^\s+"(\w+)": \w+,$', src, re.M))
    known = (set(trl_seams._LEFT_PADDED) | set(trl_seams._RIGHT_PADDED) | trl_seams._PROMPT_THEN_COMPLETION
             | trl_seams._PER_ROW | trl_seams._RECOUNTED)
    assert {"prompt_ids", "completion_ids", "advantages", "pixel_values"} <= keys
    assert keys <= known, f"seam 5: TRL's scored batch has keys without a merge rule: {sorted(keys - known)}"
    assert callable(utils.split_pixel_values_by_grid) and callable(utils.unsplit_pixel_values_by_grid)
    prep = _src(GRPOTrainer._prepare_inputs)
    assert "self._generate_and_score_completions(generation_batch)" in prep
    assert "split_pixel_values_by_grid(generation_batch)" in prep, "seam 5: TRL no longer splits pixel values"
    init = _src(GRPOTrainer.__init__)
    for attr in ("self._metrics = {", "self.num_generations =", "self.multi_objective_aggregation =",
                 "self._tokenizer ="):
        assert attr in init, f"seam 5: {attr} moved"


def test_collapse_image_runs_one_placeholder_per_image():
    from rl.trl_seams import collapse_image_runs, colocate_requests

    P, S, E = 9, 1, 2  # image pad, vision start, vision end
    ids = [5, S, P, P, P, E, 7, S, P, P, E, 8]
    assert collapse_image_runs(ids, P) == [5, S, P, E, 7, S, P, E, 8]
    assert collapse_image_runs([5, 6], P) == [5, 6]
    reqs = [{"prompt_token_ids": ids, "multi_modal_data": {"image": ["a", "b"]}}, {"prompt_token_ids": [1, P, P]}]
    fixed = colocate_requests(reqs, P, {"min_pixels": 4, "max_pixels": 9})
    assert fixed[0]["prompt_token_ids"] == [5, S, P, E, 7, S, P, E, 8]
    assert fixed[0]["mm_processor_kwargs"] == {"min_pixels": 4, "max_pixels": 9}
    assert fixed[1] == reqs[1]  # text-only requests pass unchanged
    assert reqs[0]["prompt_token_ids"] == ids  # TRL's own list is not modified


def test_fix_is_colocate_only():
    from types import SimpleNamespace

    from rl.trl_seams import fix_colocate_prompts

    assert not fix_colocate_prompts(SimpleNamespace(use_vllm=False))
    # Server mode relocates features onto the runs of image tokens: its ids must stay expanded.
    assert not fix_colocate_prompts(SimpleNamespace(use_vllm=True, vllm_mode="server"))


def test_hanging_vllm_setups_are_refused():
    from rl.train import check_vllm_mode

    with pytest.raises(UserError, match="huggingface/trl#6673"):
        check_vllm_mode({"vllm_mode": "server"}, zoom=True, environ={})
    zero3 = {"WORLD_SIZE": "8", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}
    with pytest.raises(UserError, match="vllm_enable_sleep_mode=false"):
        check_vllm_mode({"vllm_mode": "colocate", "vllm_enable_sleep_mode": True}, zoom=True, environ=zero3)
    check_vllm_mode({"vllm_mode": "colocate", "vllm_enable_sleep_mode": False}, zoom=True, environ=zero3)
    check_vllm_mode({"vllm_mode": "colocate", "vllm_enable_sleep_mode": True}, zoom=True, environ={"WORLD_SIZE": "1"})
    check_vllm_mode({"vllm_mode": "server"}, zoom=False, environ={})


def test_trl_config_suppresses_vision_tokens_with_logit_bias_under_vllm(monkeypatch):
    import rollout.generate
    from georft.config import load_config
    from rl.config import GRPORunConfig
    from rl.train import trl_config

    monkeypatch.setattr(rollout.generate, "require_vllm", lambda: None)
    cfg = load_config(GRPORunConfig, "configs/grpo/qwen3_vl_8b_vllm_colocate.yaml", ["trainer.bf16=false"])
    args = trl_config(cfg, [1.0] * 9, suppress=[151655, 151652])
    assert args.generation_kwargs == {"logit_bias": {151652: -100.0, 151655: -100.0}}
    assert "suppress_tokens" not in args.generation_kwargs
    server = load_config(GRPORunConfig, "configs/grpo/qwen2_5_vl_7b_vllm_server.yaml", ["trainer.bf16=false"])
    with pytest.raises(UserError, match="trl#6673"):
        trl_config(server, [1.0] * 9, suppress=[1], zoom_rows=True)


def test_one_gpu_per_eval_rank():
    from rollout.generate import pin_rank_gpu

    env = {"LOCAL_RANK": "3", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "8"}
    assert pin_rank_gpu(env) == "3" and env["CUDA_VISIBLE_DEVICES"] == "3"
    assert pin_rank_gpu(env) is None  # pinned once
    env = {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "WORLD_SIZE": "4", "CUDA_VISIBLE_DEVICES": "4,6"}
    assert pin_rank_gpu(env) == "6"
    assert pin_rank_gpu({"WORLD_SIZE": "1"}) is None
    with pytest.raises(UserError, match="one vLLM engine per GPU"):
        pin_rank_gpu({"LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "4", "CUDA_VISIBLE_DEVICES": "0,1"})


def test_vllm_token_counts_match_hf():
    from rollout.generate import vllm_num_tokens

    assert vllm_num_tokens([3, 4, 151645], [151645, 151643]) == 2
    assert vllm_num_tokens([3, 4, 5], [151645]) == 3
    assert vllm_num_tokens([], [151645]) == 0
