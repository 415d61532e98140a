"""One generation interface, two backends: Hugging Face `generate` (CPU or GPU) and vLLM (GPU, offline `LLM`).

Used by evaluation and by the zoom-chain executor. (GRPO's own rollouts go through TRL's generation, which uses
vLLM in `colocate` or `server` mode when `grpo.use_vllm` is set; see rl/.) Requests carry a conversation with
content blocks and the images already smart-resized by the data engine, so both backends see the same pixels and
count the same image tokens.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Protocol

from data_engine.errors import UserError
from data_engine.registry import Registry


@dataclass
class Request:
    """One prompt: `messages` (content blocks, images as {"type": "image"}) and its PIL `images` in order."""

    messages: list[dict]
    images: list[Any] = field(default_factory=list)


@dataclass
class Generation:
    """One completion: text, number of generated tokens, and whether it hit `max_new_tokens` without stopping."""

    text: str
    num_tokens: int
    truncated: bool


@dataclass
class SamplingSpec:
    """Decoding settings; temperature 0 means greedy."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


class Backend(Protocol):
    def generate(self, requests: list[Request], sampling: SamplingSpec) -> list[Generation]: ...


BACKENDS: Registry[type] = Registry("generation backend")


@BACKENDS.register("hf")
class HFBackend:
    """Batched `model.generate` with left padding.

    Args:
        model: a loaded `...ForConditionalGeneration` (eval mode is set here).
        processor: its processor (the pixel budget must contain the pre-resized images).
        batch_size: prompts per `generate` call.
    """

    def __init__(self, model, processor, batch_size: int = 8) -> None:
        self.model = model.eval()
        self.processor = processor
        self.batch_size = batch_size
        self.eos_ids = _eos_ids(model, processor)

    def generate(self, requests: list[Request], sampling: SamplingSpec) -> list[Generation]:
        out: list[Generation] = []
        for i in range(0, len(requests), self.batch_size):
            out.extend(self._batch(requests[i : i + self.batch_size], sampling))
        return out

    def _batch(self, requests: list[Request], sampling: SamplingSpec) -> list[Generation]:
        import torch

        texts = [self.processor.apply_chat_template(r.messages, add_generation_prompt=True) for r in requests]
        images = [img for r in requests for img in r.images]
        tok = self.processor.tokenizer
        side, tok.padding_side = tok.padding_side, "left"  # decoder-only batching needs left padding
        try:
            batch = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        finally:
            tok.padding_side = side
        batch = batch.to(self.model.device)
        greedy = sampling.temperature <= 0
        torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            ids = self.model.generate(
                **batch,
                max_new_tokens=sampling.max_new_tokens,
                do_sample=not greedy,
                temperature=None if greedy else sampling.temperature,
                top_p=None if greedy else sampling.top_p,
                top_k=None,
                pad_token_id=tok.pad_token_id,
                eos_token_id=self.eos_ids,
            )
        new = ids[:, batch["input_ids"].shape[1] :]
        gens = []
        for row in new.tolist():
            stop = next((k for k, t in enumerate(row) if t in self.eos_ids), None)
            kept = row if stop is None else row[:stop]
            gens.append(Generation(tok.decode(kept, skip_special_tokens=False), len(kept), stop is None))
        return gens


def _eos_ids(model, processor) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    im_end = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    return sorted(set(ids) | {im_end})


@BACKENDS.register("vllm")
class VLLMBackend:
    """vLLM's offline `LLM` engine (GPU only; `pip install -e '.[gpu]'`).

    Args:
        model_path: checkpoint directory (HF format, as saved by the SFT / GRPO stages).
        processor: the processor whose chat template renders prompts.
        max_model_len, gpu_memory_utilization, tensor_parallel_size: vLLM engine settings.
    """

    def __init__(self, model_path: str, processor, max_model_len: int = 8192, gpu_memory_utilization: float = 0.8,
                 tensor_parallel_size: int = 1, limit_images_per_prompt: int = 4) -> None:
        require_vllm()
        from vllm import LLM

        self.processor = processor
        self.llm = LLM(
            model=model_path,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            limit_mm_per_prompt={"image": limit_images_per_prompt},
        )

    def generate(self, requests: list[Request], sampling: SamplingSpec) -> list[Generation]:
        from vllm import SamplingParams

        params = SamplingParams(
            max_tokens=sampling.max_new_tokens,
            temperature=max(sampling.temperature, 0.0),
            top_p=sampling.top_p,
            seed=sampling.seed,
            skip_special_tokens=False,
        )
        prompts = [
            {
                "prompt": self.processor.apply_chat_template(r.messages, add_generation_prompt=True),
                **({"multi_modal_data": {"image": r.images}} if r.images else {}),
            }
            for r in requests
        ]
        outs = self.llm.generate(prompts, params, use_tqdm=False)
        return [
            Generation(o.outputs[0].text, len(o.outputs[0].token_ids), o.outputs[0].finish_reason == "length")
            for o in outs
        ]


def require_vllm() -> None:
    """Fail with one clear line when vLLM or a CUDA GPU is missing."""
    if importlib.util.find_spec("vllm") is None:
        raise UserError("the vllm backend needs vLLM: pip install -e '.[gpu]' on a CUDA machine (vllm==0.30.0)")
    import torch

    if not torch.cuda.is_available():
        raise UserError("the vllm backend needs a CUDA GPU; use --backend hf on CPU")
