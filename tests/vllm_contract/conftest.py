"""The vLLM contract tier (`make test-vllm`): GeoRFT's GPU path against the real vLLM 0.30.0, run on CPU.

With `VLLM_TARGET_DEVICE=cpu` (set here, before vLLM is imported) vLLM builds engine configs, renders prompts through
its own multimodal processor and parses its command lines without a GPU; it does not start an engine or generate.
Every test here is marked `vllm` (excluded from `make test`) and skips with the reason where vLLM is not installed.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")

HAS_VLLM = importlib.util.find_spec("vllm") is not None
NO_VLLM = "vLLM is not installed: run `make test-vllm` (a side venv with vllm==0.30.0, CPU)"


@pytest.fixture(scope="session")
def engine_setup(tiny_model_dirs):
    """{arch: (vllm_config, InputProcessor)} for the tiny models, at the eval budget below, built once."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.renderers.registry import renderer_from_config
    from vllm.v1.engine.input_processor import InputProcessor

    from rollout.generate import vllm_engine_kwargs

    out = {}
    for arch, path in tiny_model_dirs.items():
        cfg = EngineArgs(**vllm_engine_kwargs(path, max_model_len=4096, max_images_per_prompt=3,
                                              min_pixels=BUDGET[0], max_pixels=BUDGET[1])).create_engine_config()
        out[arch] = (cfg, InputProcessor(cfg, renderer_from_config(cfg)))
    return out


# A suite budget smaller than the tiny checkpoints' saved one (3136..1048576), so a vLLM that ignored it would
# count other image tokens.
BUDGET = (4 * 32 * 32, 160 * 32 * 32)


def vllm_ids(input_processor, request: dict) -> list[int]:
    """The prompt token ids vLLM schedules for one request (after its multimodal expansion)."""
    from vllm import SamplingParams

    req = input_processor.process_inputs("r", request, SamplingParams(max_tokens=4), supported_tasks=("generate",))
    return [int(t) for t in req.prompt_token_ids]
