"""A memory plan before a GPU launch: the real model sizes on the meta device, DeepSpeed's model-state estimators,
vLLM's share and KV cache, and an activation estimate, per GPU.

The model configs are the published `config.json` values of the Hugging Face releases (`PUBLISHED`, copied field by
field from Qwen/Qwen2.5-VL-3B-Instruct, Qwen/Qwen2.5-VL-7B-Instruct and Qwen/Qwen3-VL-8B-Instruct); a local checkpoint's own `config.json` is used
when the plan is given one. The model is built on the meta device (no memory, seconds), so parameter counts are
exact; the published counts on the model cards are 8.29 B and 8.77 B.

Per GPU, in GiB:
* model states under ZeRO stage 0/1/2/3 (mixed-precision Adam): bf16 weights 2 B/param, gradients 2 B (+4 B fp32
  copy, DeepSpeed's accounting), optimizer 12 B (fp32 master weights, momentum, variance), each divided by the GPU
  count where the stage shards it; the total is DeepSpeed's own `estimate_zero{2,3}_model_states_mem_needs`
  (no offload), which adds the largest layer gathered at once under ZeRO-3.
* vLLM colocate: `vllm_gpu_memory_utilization` x GPU memory, of which the bf16 weights (tensor parallel 1) and the
  rest is KV cache: 2 (K, V) x layers x KV heads x head_dim x 2 B per token, against `vllm_max_model_length`.
* activations (an estimate, not a measurement): with gradient checkpointing one bf16 hidden state per layer per
  token plus one layer recomputed (34 x hidden bytes per token, flash attention: no score matrix), without it 34 x
  hidden per layer per token; plus the vision tower the same way over the unmerged patches, plus the logits of
  the completion tokens (bf16 + fp32 log-softmax, 6 B x vocab per token).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from data_engine.errors import UserError

GIB = 1024**3

# Published config.json values (Hugging Face model repositories, fields as released; rope and token ids left out:
# they do not change sizes).
PUBLISHED: dict[str, dict] = {
    "Qwen/Qwen2.5-VL-3B-Instruct": {
        "arch": "qwen2_5_vl", "card_params": 3.75e9,
        "text_config": {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
                        "num_attention_heads": 16, "num_key_value_heads": 2, "vocab_size": 151936,
                        "tie_word_embeddings": True, "max_position_embeddings": 128000},
        "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                          "out_hidden_size": 2048, "patch_size": 14, "spatial_merge_size": 2,
                          "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]},
    },
    "Qwen/Qwen2.5-VL-7B-Instruct": {
        "arch": "qwen2_5_vl", "card_params": 8.29e9,
        "text_config": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                        "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
                        "tie_word_embeddings": False, "max_position_embeddings": 128000},
        "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                          "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2,
                          "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]},
    },
    "Qwen/Qwen3-VL-8B-Instruct": {
        "arch": "qwen3_vl", "card_params": 8.77e9,
        "text_config": {"hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
                        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
                        "tie_word_embeddings": False, "max_position_embeddings": 262144},
        "vision_config": {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
                          "out_hidden_size": 4096, "patch_size": 16, "spatial_merge_size": 2,
                          "temporal_patch_size": 2, "num_position_embeddings": 2304,
                          "deepstack_visual_indexes": [8, 16, 24]},
    },
}


@dataclass
class ModelSize:
    """What the plan needs of a model: exact parameter counts and the shapes that size KV cache and activations."""

    name: str
    params: int
    largest_layer_params: int
    vision_params: int
    layers: int
    hidden: int
    kv_heads: int
    head_dim: int
    vocab: int
    vision_depth: int
    vision_hidden: int
    card_params: float | None = None


def model_config(name_or_path: str):
    """A transformers config: the checkpoint's own config.json when `name_or_path` is a folder, else the
    published values for a known release name."""
    from pathlib import Path

    from transformers import AutoConfig, Qwen2_5_VLConfig, Qwen3VLConfig

    if (Path(name_or_path) / "config.json").is_file():
        return AutoConfig.from_pretrained(name_or_path)
    spec = PUBLISHED.get(name_or_path)
    if spec is None:
        raise UserError(f"no published config for {name_or_path!r}: use a local checkpoint folder or one of "
                        f"{', '.join(PUBLISHED)}")
    cls = Qwen2_5_VLConfig if spec["arch"] == "qwen2_5_vl" else Qwen3VLConfig
    return cls(text_config=dict(spec["text_config"]), vision_config=dict(spec["vision_config"]),
               tie_word_embeddings=spec["text_config"]["tie_word_embeddings"])


@functools.lru_cache(maxsize=8)
def model_size(name_or_path: str) -> ModelSize:
    """Build the model on the meta device and count its parameters (tied weights once)."""
    import torch
    from transformers import AutoModelForImageTextToText

    cfg = model_config(name_or_path)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(cfg)
    seen: dict[int, int] = {}
    for p in model.parameters():
        seen[id(p)] = p.numel()
    params = sum(seen.values())
    vision = sum(p.numel() for n, p in model.named_parameters() if ".visual." in f".{n}")
    # The largest single module's own parameters (ZeRO-3 gathers one at a time): embedding or lm_head.
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    text, vis = cfg.text_config, cfg.vision_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    card = PUBLISHED.get(name_or_path, {}).get("card_params")
    return ModelSize(str(name_or_path), params, largest, vision, text.num_hidden_layers, text.hidden_size,
                     text.num_key_value_heads, head_dim, text.vocab_size, vis.depth, vis.hidden_size, card)


@dataclass
class StagePlan:
    """Per-GPU memory of one training stage, in bytes (see the module docstring for the terms)."""

    stage: str
    weights: float
    grads: float
    optimizer: float
    model_states_deepspeed: float
    activations: float
    vllm_share: float = 0.0
    vllm_weights: float = 0.0
    kv_cache: float = 0.0
    kv_per_seq: float = 0.0
    notes: list[str] = field(default_factory=list)
    trains: str = "full"
    trainable: int = 0

    @property
    def total(self) -> float:
        return self.model_states_deepspeed + self.activations + self.vllm_share


def model_states(size: ModelSize, zero_stage: int, gpus: int, nodes: int = 1) -> tuple[float, float, float, float]:
    """(weights, grads, optimizer, DeepSpeed total) per GPU in bytes, bf16 mixed-precision Adam, no offload."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    p, n = size.params, max(1, gpus * nodes)
    weights = 2 * p / (n if zero_stage >= 3 else 1)
    grads = 6 * p / (n if zero_stage >= 2 else 1)
    optim = 12 * p / (n if zero_stage >= 1 else 1)
    if zero_stage >= 3:
        _, ds, _ = estimate_zero3_model_states_mem_needs(p, size.largest_layer_params, gpus, nodes, cpu_offload=False)
    elif zero_stage >= 1:
        _, ds = estimate_zero2_model_states_mem_needs(p, gpus, nodes, cpu_offload=False)
        if zero_stage == 1:
            ds += grads - 6 * p / n  # stage 1 keeps full gradients
    else:
        ds = weights + grads + optim
    return weights, grads, optim, float(ds)


def activations(size: ModelSize, batch: int, seq: int, image_tokens: int, logit_tokens: int,
                checkpointing: bool) -> float:
    """Training activation bytes per GPU for `batch` sequences of `seq` tokens (estimate, see module docstring).

    Args:
        batch: sequences per forward/backward on one GPU.
        seq: tokens per sequence (image tokens included).
        image_tokens: merged image tokens per sequence (the vision tower runs on 4x as many patches).
        logit_tokens: tokens per sequence whose logits are materialised (completion, or the whole answer).
        checkpointing: gradient checkpointing on.
    """
    patches = 4 * image_tokens
    if checkpointing:
        text = batch * seq * size.hidden * 2 * size.layers + 34 * batch * seq * size.hidden
        vision = batch * patches * size.vision_hidden * 2 * size.vision_depth + 34 * batch * patches * size.vision_hidden
    else:
        text = 34 * batch * seq * size.hidden * size.layers
        vision = 34 * batch * patches * size.vision_hidden * size.vision_depth
    logits = 6 * batch * logit_tokens * size.vocab
    return float(text + vision + logits)


def kv_bytes_per_token(size: ModelSize) -> int:
    return 2 * size.layers * size.kv_heads * size.head_dim * 2


# ---------------------------------------------------------------- what a stage trains (LoRA, QLoRA, frozen parts)

NF4_BYTES = 4.127 / 8  # NF4 with double quantization: 4 bits + 0.127 bits of block constants per weight (QLoRA paper)


@dataclass
class TrainSpec:
    """What one stage trains and keeps on the GPU, counted on the meta-device model.

    Attributes:
        trainable: parameters with gradients and optimizer state (all of them for full fine-tuning; the adapters'
            for LoRA; the unfrozen parts' with freeze_vision / freeze_merger / freeze_llm).
        quantized: base parameters stored in 4 bit (QLoRA: the language model's linear layers, lm_head excepted).
        vision_trains: the vision tower has trainable parameters (else its activations are not kept for backward).
        label: a short description for the table.
    """

    trainable: int
    quantized: int = 0
    vision_trains: bool = True
    label: str = "full"


@functools.lru_cache(maxsize=8)
def _meta_model(name_or_path: str):
    import torch
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(model_config(name_or_path))


def train_spec(name_or_path: str, model_section) -> TrainSpec:
    """TrainSpec of a `models.loading.ModelSection` (LoRA targets resolved as the run resolves them)."""
    import re

    import torch

    from models.loading import _part, lora_target_regex

    model = _meta_model(name_or_path)
    sec = model_section
    quantized = 0
    if sec.quantization == "4bit":
        quantized = sum(m.weight.numel() for n, m in model.named_modules()
                        if isinstance(m, torch.nn.Linear) and _part(n) == "llm" and not n.endswith("lm_head"))
    if sec.lora.enabled:
        pattern = re.compile(lora_target_regex(model, sec.lora))
        trainable, vision = 0, False
        for n, m in model.named_modules():
            if isinstance(m, torch.nn.Linear) and pattern.fullmatch(n):
                trainable += sec.lora.r * (m.in_features + m.out_features) + (m.out_features if sec.lora.dora else 0)
                vision = vision or _part(n) != "llm"
        what = f"LoRA r={sec.lora.r}" + (" DoRA" if sec.lora.dora else "") + (" + vision" if sec.lora.vision else "")
        return TrainSpec(trainable, quantized, vision, ("QLoRA 4-bit, " if quantized else "") + what)
    frozen = {"vision": sec.freeze_vision, "merger": sec.freeze_merger, "llm": sec.freeze_llm}
    seen, trainable, vision = set(), 0, False
    for n, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if not frozen[_part(n)]:
            trainable += p.numel()
            vision = vision or _part(n) == "vision"
    label = "full" + "".join(f", frozen {k}" for k, v in frozen.items() if v)
    return TrainSpec(trainable, 0, vision, label)


def model_states_for(size: ModelSize, spec: TrainSpec, zero_stage: int, gpus: int, nodes: int = 1,
                     offload_optimizer: bool = False, offload_params: bool = False) -> tuple[float, float, float, float]:
    """(weights, grads, optimizer, total) per GPU in bytes for any TrainSpec, bf16 mixed-precision Adam.

    With everything trainable and no offload this is DeepSpeed's own estimate (`model_states`; tested equal):
    ZeRO-0 20 B per parameter, ZeRO-1 2 + 6 + 12/n, ZeRO-2 2 + 18/n, ZeRO-3 18/n plus the largest layer gathered
    (4 B per parameter of it). Frozen parameters keep only their weights (2 B, or NF4's ~0.52 B when quantized);
    trainable ones add gradients and optimizer state. Offloading the optimizer (ZeRO-2/3) moves gradients' fp32
    copies and optimizer states to CPU memory (DeepSpeed: ZeRO-2 keeps 2 B per parameter, ZeRO-3 2 B / n); offloading
    parameters too (ZeRO-3) leaves only the gathered layer.
    """
    p, t, q = size.params, spec.trainable, spec.quantized
    n = max(1, gpus * nodes)
    frozen_w = 2.0 * (p - t - q) + NF4_BYTES * q
    weights_all = frozen_w + 2.0 * t
    gathered = 4.0 * size.largest_layer_params if zero_stage >= 3 else 0.0
    weights = weights_all / (n if zero_stage >= 3 else 1)
    if offload_params:
        weights = 0.0
    if offload_optimizer:
        grads, optim = 0.0, 0.0
    else:
        grads = 6.0 * t / (n if zero_stage >= 2 else 1)
        optim = 12.0 * t / (n if zero_stage >= 1 else 1)
    if zero_stage >= 3:
        total = gathered + (0.0 if offload_params else
                            (weights_all / n if offload_optimizer else (frozen_w + 18.0 * t) / n))
    elif zero_stage == 2:
        total = weights_all + (0.0 if offload_optimizer else 18.0 * t / n)
    elif zero_stage == 1:
        total = weights_all + 6.0 * t + 12.0 * t / n
    else:
        total = weights_all + 18.0 * t
    return weights, grads, optim, float(total)


def activations_for(size: ModelSize, spec: TrainSpec, batch: int, seq: int, image_tokens: int, logit_tokens: int,
                    checkpointing: bool) -> float:
    """`activations`, without the vision tower's share when nothing in it trains (no graph is kept for it)."""
    total = activations(size, batch, seq, image_tokens, logit_tokens, checkpointing)
    if not spec.vision_trains:
        total -= activations(size, batch, 0, image_tokens, 0, checkpointing) - activations(size, batch, 0, 0, 0,
                                                                                             checkpointing)
    return total
