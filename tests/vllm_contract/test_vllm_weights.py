"""TRL's colocate weight sync: every HF parameter name, as TRL renames it, reaches vLLM's `load_weights`, and every
vLLM parameter gets a value, for both families with tied and untied `lm_head`.

vLLM's CPU build lacks its compiled kernels (`vllm._C`); the models are only built and loaded, never run, so the
kernel namespace is stubbed for the construction.
"""

from __future__ import annotations

import pytest

from tests.vllm_contract.conftest import HAS_VLLM, NO_VLLM

pytestmark = [pytest.mark.vllm, pytest.mark.skipif(not HAS_VLLM, reason=NO_VLLM)]


class _NoKernels:
    def __getattr__(self, name):
        def op(*args, **kwargs):
            raise RuntimeError(f"vLLM kernel {name} is not available on CPU (the model is never run here)")

        return op


@pytest.fixture(scope="module")
def vllm_dist(tiny_model_dirs):
    """vLLM's one-process parallel state (gloo), set up once, as its model constructors need it."""
    import torch
    import vllm.model_executor.model_loader.utils  # noqa: F401 - registers vLLM's ops before the stub goes in
    from vllm.config import set_current_vllm_config
    from vllm.distributed import init_distributed_environment, initialize_model_parallel
    from vllm.engine.arg_utils import EngineArgs

    cfg = EngineArgs(model=tiny_model_dirs["qwen3_vl"], max_model_len=2048, dtype="float32").create_engine_config()
    kernels, torch.ops._C = torch.ops._C, _NoKernels()
    with set_current_vllm_config(cfg):
        init_distributed_environment(world_size=1, rank=0, distributed_init_method="tcp://127.0.0.1:29531",
                                     local_rank=0, backend="gloo")
        initialize_model_parallel(1, 1)
    yield
    torch.ops._C = kernels


def _untied(path: str, out) -> str:
    """The same tiny model with its own lm_head (like the released 7B/8B checkpoints)."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(path)
    model.config.tie_word_embeddings = False
    model.config.text_config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone() * 0.5)
    model.save_pretrained(out)
    AutoProcessor.from_pretrained(path).save_pretrained(out)
    return str(out)


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("tied", [True, False])
def test_hf_names_reach_every_vllm_parameter(arch, tied, tiny_model_dirs, vllm_dist, tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText
    from trl.generation.vllm_generation import VLLMGeneration
    from vllm.config import set_current_vllm_config
    from vllm.engine.arg_utils import EngineArgs
    from vllm.model_executor.model_loader.utils import initialize_model

    path = tiny_model_dirs[arch] if tied else _untied(tiny_model_dirs[arch], tmp_path / "untied")
    cfg = EngineArgs(model=path, max_model_len=2048, dtype="float32").create_engine_config()
    hf = AutoModelForImageTextToText.from_pretrained(path)
    assert (hf.lm_head.weight is hf.get_input_embeddings().weight) == tied
    with set_current_vllm_config(cfg), torch.device("cpu"):
        model = initialize_model(vllm_config=cfg)
        for p in model.parameters():
            p.data.fill_(float("nan"))
        # TRL 1.16's sync: HF names through `_fix_param_name_to_vllm`, one load_weights call per parameter.
        names = [VLLMGeneration._fix_param_name_to_vllm(None, n) for n, _ in hf.named_parameters()]
        loaded = set()
        for name, (_, p) in zip(names, hf.named_parameters(), strict=True):
            loaded |= set(model.load_weights([(name, p.data)]))
    params = dict(model.named_parameters())
    assert loaded == set(params), sorted(set(params) - loaded)
    assert not any(torch.isnan(p).any() for p in params.values())  # every vLLM tensor received a value
    head = next((p for n, p in params.items() if n.endswith("lm_head.weight")), None)
    embed = hf.get_input_embeddings().weight
    if head is not None:
        head = head[: embed.shape[0]]  # vLLM pads the vocabulary rows of its head (zeros past the tokenizer)
    if tied:
        assert head is None or torch.equal(head, embed)
    else:
        assert torch.equal(head, hf.lm_head.weight) and not torch.equal(head, embed)
