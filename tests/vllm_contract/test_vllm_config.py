"""Our vLLM engine kwargs, sampling settings and launcher commands against vLLM's and TRL's real code."""

from __future__ import annotations

import pytest

from tests.vllm_contract.conftest import BUDGET, HAS_VLLM, NO_VLLM

pytestmark = [pytest.mark.vllm, pytest.mark.skipif(not HAS_VLLM, reason=NO_VLLM)]


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_engine_kwargs_build_an_engine_config(arch, engine_setup):
    cfg, _ = engine_setup[arch]
    mm = cfg.model_config.multimodal_config
    assert mm.get_limit_per_prompt("image") == 3  # 1 + zoom max_calls 2: a whole chain fits
    # (vLLM adds its own normalisation flags for Qwen2.5-VL.)
    assert {k: mm.mm_processor_kwargs[k] for k in ("min_pixels", "max_pixels")} == {"min_pixels": BUDGET[0],
                                                                                     "max_pixels": BUDGET[1]}
    assert cfg.model_config.max_model_len == 4096
    assert cfg.model_config.hf_config.model_type == arch


def test_trl_colocate_engine_has_no_image_limit(tiny_model_dirs):
    """TRL 1.16 builds its colocated LLM without limit_mm_per_prompt: vLLM 0.30 then allows 999 images a prompt,
    so zoom chains fit there without a seam."""
    from vllm.engine.arg_utils import EngineArgs

    cfg = EngineArgs(model=tiny_model_dirs["qwen3_vl"], max_model_len=4096).create_engine_config()
    assert cfg.model_config.multimodal_config.get_limit_per_prompt("image") == 999


def test_sampling_params_suppress_vision_tokens_and_count_like_hf(tiny_model_dirs):
    from vllm import SamplingParams

    from models.loading import load_processor
    from rollout.generate import SamplingSpec, VLLMBackend, vision_token_ids, vllm_logit_bias, vllm_num_tokens

    proc = load_processor(tiny_model_dirs["qwen2_5_vl"], *BUDGET)
    ids = vision_token_ids(proc)
    assert len(ids) == 5
    with pytest.raises(TypeError):
        SamplingParams(max_tokens=4, suppress_tokens=ids)  # HF's way is not vLLM's
    backend = VLLMBackend.__new__(VLLMBackend)  # no engine: only the sampling settings are built
    backend.suppress = vllm_logit_bias(ids)
    params = backend.sampling_params(SamplingSpec(max_new_tokens=7, temperature=0.0))
    assert params.logit_bias == {i: -100.0 for i in ids} and params.temperature == 0.0 and params.max_tokens == 7
    # GRPO: the same bias through TRL's generation_kwargs (SamplingParams(**generation_kwargs) in colocate mode).
    SamplingParams(n=1, max_tokens=4, **{"logit_bias": vllm_logit_bias(ids)})
    im_end = proc.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert vllm_num_tokens([5, 6, im_end], [im_end]) == 2  # vLLM keeps the EOS, HF stops before it
    assert vllm_num_tokens([5, 6, 7], [im_end]) == 3  # truncated: nothing to drop


def test_grpo_vllm_generation_kwargs_are_valid_sampling_params(tiny_model_dirs):
    from vllm import SamplingParams

    from georft.config import load_config
    from models.loading import load_processor
    from rl.config import GRPORunConfig
    from rl.train import vision_token_ids

    cfg = load_config(GRPORunConfig, "configs/grpo/qwen2_5_vl_7b_vllm_colocate.yaml", [])
    proc = load_processor(tiny_model_dirs["qwen2_5_vl"], *BUDGET)
    from rl.train import vllm_logit_bias

    gen = {"logit_bias": vllm_logit_bias(vision_token_ids(proc))}
    SamplingParams(n=1, temperature=1.0, max_tokens=int(cfg.trainer["max_completion_length"]), **gen)


def _serve_commands() -> list[list[str]]:
    import shlex
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    cmds = []
    for config in ["configs/grpo/qwen2_5_vl_7b_vllm_server.yaml", "configs/pipeline/qwen2_5_vl_7b.yaml",
                   "configs/pipeline/qwen3_vl_8b.yaml"]:
        out = subprocess.run(["bash", str(repo / "scripts/grpo_vllm_server.sh"), config, "--dry-run"], cwd=repo,
                             check=True, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}).stdout
        cmds += [shlex.split(line) for line in out.splitlines() if "vllm-serve" in line]
    return cmds


def test_launcher_serve_commands_parse_with_trl_and_vllm():
    """Each `trl vllm-serve` line parses with TRL's parser; the `vllm serve` command TRL builds from it (our extra
    flags forwarded) parses with vLLM's own serve parser, pixel budget included."""
    import json

    from trl import TrlParser
    from trl.scripts.vllm_serve import ScriptArguments, build_command
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    cmds = _serve_commands()
    assert len(cmds) == 3
    for cmd in cmds:
        cmd = cmd[cmd.index("trl"):]
        args, rest = TrlParser(ScriptArguments).parse_args_into_dataclasses(cmd[2:], return_remaining_strings=True)
        serve = build_command(args, rest)
        serve = serve[serve.index("serve") + 1:]
        ns = make_arg_parser(FlexibleArgumentParser()).parse_args(serve)
        assert ns.model_tag == args.model
        kwargs = ns.mm_processor_kwargs if isinstance(ns.mm_processor_kwargs, dict) else json.loads(ns.mm_processor_kwargs)
        assert set(kwargs) == {"min_pixels", "max_pixels"} and kwargs["max_pixels"] > kwargs["min_pixels"]
        assert ns.max_model_len == 8192
