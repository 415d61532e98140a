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
        self.suppress = vision_token_ids(processor)  # as under vLLM (logit_bias) and in GRPO sampling

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
                suppress_tokens=self.suppress or None,
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


VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>")


def vision_token_ids(processor) -> list[int]:
    """Ids of the vision placeholder tokens, which a policy must never generate: a sampled `<|image_pad|>` in a
    completion breaks the M-RoPE index of a training forward pass (image tokens without image features)."""
    tok = getattr(processor, "tokenizer", processor)
    return [i for t in VISION_TOKENS if (i := tok.convert_tokens_to_ids(t)) is not None and i != tok.unk_token_id]


def vllm_logit_bias(token_ids: list[int]) -> dict[int, float]:
    """vLLM's way to suppress tokens: `SamplingParams(logit_bias=...)` at vLLM's floor of -100
    (`suppress_tokens`, HF's way, is not a SamplingParams field and raises TypeError there)."""
    return {int(t): -100.0 for t in sorted(set(token_ids))}


def vllm_num_tokens(token_ids: list[int], eos_ids: list[int] | set[int]) -> int:
    """Generated tokens as the HF backend counts them: vLLM's `token_ids` end with the EOS token that stopped
    the sequence, the HF backend stops before it."""
    n = len(token_ids)
    return n - 1 if n and int(token_ids[-1]) in set(eos_ids) else n


def pin_rank_gpu(environ=None) -> str | None:
    """Under `accelerate launch`/torchrun with several processes on one node, show each rank only its own GPU.

    vLLM 0.30 has no `device` argument: a one-GPU engine takes the first visible GPU, so without this every rank's
    engine would land on GPU 0. Must run before CUDA is initialised in the process (vLLM's engine process inherits
    the variable). Returns the GPU id set, or None when nothing was changed (one process, or already pinned).
    """
    import os

    env = os.environ if environ is None else environ
    world = int(env.get("LOCAL_WORLD_SIZE") or env.get("WORLD_SIZE") or 1)
    if world <= 1 or "LOCAL_RANK" not in env or env.get("GEORFT_GPU_PINNED") == "1":
        return None
    local = int(env["LOCAL_RANK"])
    visible = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if visible and len(visible) < world:
        raise UserError(f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']} lists {len(visible)} GPUs for {world} "
                        "processes on this node: one vLLM engine per GPU")
    gpu = visible[local] if visible else str(local)
    env["CUDA_VISIBLE_DEVICES"] = gpu
    env["GEORFT_GPU_PINNED"] = "1"
    return gpu


def vllm_engine_kwargs(model_path: str, *, max_model_len: int = 8192, gpu_memory_utilization: float = 0.8,
                       tensor_parallel_size: int = 1, max_images_per_prompt: int = 1,
                       min_pixels: int | None = None, max_pixels: int | None = None) -> dict:
    """Keyword arguments of `vllm.LLM` for an eval engine (checked against `vllm.EngineArgs` in the vLLM test tier).

    `mm_processor_kwargs` carries the suite's pixel budget: without it vLLM resizes with the checkpoint's saved
    processor budget, and when that differs Qwen2.5-VL's pixel coordinates come back in another frame.
    `limit_mm_per_prompt` must cover the longest zoom chain (the image plus one crop per zoom call), or vLLM
    rejects the whole batch.
    """
    kwargs = dict(model=str(model_path), max_model_len=int(max_model_len),
                  gpu_memory_utilization=float(gpu_memory_utilization),
                  tensor_parallel_size=int(tensor_parallel_size),
                  limit_mm_per_prompt={"image": max(1, int(max_images_per_prompt))})
    if min_pixels is not None and max_pixels is not None:
        kwargs["mm_processor_kwargs"] = {"min_pixels": int(min_pixels), "max_pixels": int(max_pixels)}
    return kwargs


def vllm_prompts(processor, requests: list[Request]) -> list[dict]:
    """vLLM prompts: the chat template's text (one unexpanded `<|image_pad|>` per image) plus the images."""
    return [
        {
            "prompt": processor.apply_chat_template(r.messages, add_generation_prompt=True),
            **({"multi_modal_data": {"image": r.images}} if r.images else {}),
        }
        for r in requests
    ]


@BACKENDS.register("vllm")
class VLLMBackend:
    """vLLM's offline `LLM` engine (GPU only; `pip install -e '.[gpu]'`).

    Args:
        model_path: checkpoint directory (HF format, as saved by the SFT / GRPO stages).
        processor: the processor whose chat template renders prompts.
        max_model_len, gpu_memory_utilization, tensor_parallel_size: vLLM engine settings.
        max_images_per_prompt: the most images one request carries (1 + zoom calls for zoom chains).
        min_pixels, max_pixels: the suite's pixel budget, passed to vLLM's processor.
    """

    def __init__(self, model_path: str, processor, max_model_len: int = 8192, gpu_memory_utilization: float = 0.8,
                 tensor_parallel_size: int = 1, max_images_per_prompt: int = 1, min_pixels: int | None = None,
                 max_pixels: int | None = None) -> None:
        pin_rank_gpu()
        require_vllm()
        from vllm import LLM

        self.processor = processor
        self.eos_ids = sorted({processor.tokenizer.convert_tokens_to_ids("<|im_end|>"),
                               processor.tokenizer.pad_token_id} - {None})
        self.suppress = vllm_logit_bias(vision_token_ids(processor))
        self.llm = LLM(**vllm_engine_kwargs(
            model_path, max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size, max_images_per_prompt=max_images_per_prompt,
            min_pixels=min_pixels, max_pixels=max_pixels))

    def sampling_params(self, sampling: SamplingSpec):
        from vllm import SamplingParams

        return SamplingParams(
            max_tokens=sampling.max_new_tokens,
            temperature=max(sampling.temperature, 0.0),
            top_p=sampling.top_p,
            seed=sampling.seed,
            skip_special_tokens=False,
            logit_bias=self.suppress or None,
        )

    def generate(self, requests: list[Request], sampling: SamplingSpec) -> list[Generation]:
        outs = self.llm.generate(vllm_prompts(self.processor, requests), self.sampling_params(sampling), use_tqdm=False)
        return [
            Generation(o.outputs[0].text, vllm_num_tokens(o.outputs[0].token_ids, self.eos_ids),
                       o.outputs[0].finish_reason == "length")
            for o in outs
        ]


def require_vllm() -> None:
    """Fail with one clear line when vLLM or a CUDA GPU is missing."""
    if importlib.util.find_spec("vllm") is None:
        raise UserError("the vllm backend needs vLLM: pip install -e '.[gpu]' on a CUDA machine (vllm==0.30.0)")
    import torch

    if not torch.cuda.is_available():
        raise UserError("the vllm backend needs a CUDA GPU; use --backend hf on CPU")
