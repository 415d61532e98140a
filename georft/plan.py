"""`georft plan --config configs/pipeline/<gpu>.yaml`: per-GPU memory of each stage before a GPU launch.

Reads the pipeline config's `hardware:` section (GPUs per node, nodes, memory per GPU, ZeRO stage) and its stage
configs (batch sizes, pixel budget, completion length, vLLM share and context), sizes the model with
`models.memory_plan` (meta-device build of the real config, DeepSpeed's estimators) and prints one table per stage
with a warning and the knob to turn for each stage that does not fit. `georft pipeline` prints it first for GPU
configs (`hardware.gpus > 0`).
"""

from __future__ import annotations

from dataclasses import dataclass

from data_engine.families import get_family
from models.memory_plan import (
    GIB,
    StagePlan,
    activations_for,
    kv_bytes_per_token,
    model_size,
    model_states_for,
    train_spec,
)


@dataclass
class HardwareSection:
    """The hardware a pipeline is meant for (0 GPUs: a CPU pipeline, no plan).

    Attributes:
        gpus: GPUs per node.
        nodes: nodes.
        gpu_memory_gib: memory of one GPU (80 for A100/H100 80 GB, 141 for H200).
        zero_stage: DeepSpeed ZeRO stage of the training launcher (0 = plain DDP).
        offload_optimizer: DeepSpeed offloads optimizer states (and fp32 gradients) to CPU memory (ZeRO-2/3;
            configs/accelerate/deepspeed_zero3_offload.yaml).
        offload_params: ZeRO-3 also offloads the parameters (configs/accelerate/deepspeed_zero3_offload_params.yaml).
        prompt_text_tokens: text tokens of a prompt besides the image (system, question, tool block).
        sft_answer_tokens: answer tokens of a long SFT sample (e.g. a dense DOTA patch).
        vllm_overhead_gib: what vLLM keeps besides weights and KV cache (CUDA graphs, activations of its profile run).
    """

    gpus: int = 0
    nodes: int = 1
    gpu_memory_gib: float = 80.0
    zero_stage: int = 3
    offload_optimizer: bool = False
    offload_params: bool = False
    prompt_text_tokens: int = 256
    sft_answer_tokens: int = 1024
    vllm_overhead_gib: float = 2.0


def _image_tokens(arch: str, max_pixels: int) -> int:
    return int(max_pixels) // get_family(arch).factor ** 2


def plan_pipeline(cfg) -> tuple[object, list[StagePlan]]:
    """(model size, [SFT plan, GRPO plan]) for a `PipelineConfig` with `hardware.gpus > 0`."""
    hw = cfg.hardware
    size = model_size(cfg.base_model.path)
    n = hw.gpus * hw.nodes
    plans = []

    sft = cfg.sft
    img = _image_tokens(sft.model.arch, sft.data.max_pixels)
    seq = img + hw.prompt_text_tokens + hw.sft_answer_tokens
    batch = int(sft.trainer.get("per_device_train_batch_size", 8))
    ckpt = bool(sft.trainer.get("gradient_checkpointing", True))
    spec = train_spec(cfg.base_model.path, sft.model)
    w, g, o, ds = _states(size, spec, hw)
    p = StagePlan("sft", w, g, o, ds, activations_for(size, spec, batch, seq, img, hw.sft_answer_tokens, ckpt))
    p.trains, p.trainable = spec.label, spec.trainable
    p.notes.append(f"{batch} x {seq} tokens per GPU ({img} image tokens at max_pixels {sft.data.max_pixels}), "
                   f"gradient checkpointing {'on' if ckpt else 'off'}")
    plans.append(p)

    grpo = cfg.grpo
    t = grpo.trainer
    img = _image_tokens(grpo.model.arch, grpo.data.max_pixels)
    zoom_images = int(grpo.zoom.max_calls) if any("zoom" in str(s.names or s.path) for s in grpo.data.sources) else 0
    completion = int(t.get("max_completion_length", 512))
    seq = img * (1 + zoom_images) + hw.prompt_text_tokens + completion
    batch = int(t.get("per_device_train_batch_size", 8))
    ckpt = bool(t.get("gradient_checkpointing", True))
    spec = train_spec(cfg.base_model.path, grpo_model_section(cfg))
    w, g, o, ds = _states(size, spec, hw)
    p = StagePlan("grpo", w, g, o, ds, activations_for(size, spec, batch, seq, img * (1 + zoom_images), completion,
                                                       ckpt))
    p.trains, p.trainable = spec.label, spec.trainable
    p.notes.append(f"{batch} x {seq} tokens per GPU ({img} image tokens per image, {zoom_images} zoom crops), "
                   f"completion {completion}, gradient checkpointing {'on' if ckpt else 'off'}")
    if t.get("use_vllm") and t.get("vllm_mode", "colocate") == "colocate":
        util = float(t.get("vllm_gpu_memory_utilization", 0.3))
        p.vllm_share = util * hw.gpu_memory_gib * GIB
        p.vllm_weights = 2.0 * size.params / int(t.get("vllm_tensor_parallel_size", 1))
        p.kv_cache = max(0.0, p.vllm_share - p.vllm_weights - hw.vllm_overhead_gib * GIB)
        max_len = int(t.get("vllm_max_model_length") or 0)
        p.kv_per_seq = kv_bytes_per_token(size) * (max_len or seq)
        at_once = batch * int(t.get("steps_per_generation") or t.get("gradient_accumulation_steps", 1))
        if p.kv_cache and p.kv_cache < at_once * p.kv_per_seq:
            p.notes.append(f"vLLM's KV cache holds {p.kv_cache / p.kv_per_seq:.1f} max-length sequences, a rank "
                           f"generates {at_once} at once: long batches run in waves (raise "
                           "grpo.trainer.vllm_gpu_memory_utilization for speed)")
        if t.get("vllm_enable_sleep_mode"):
            p.notes.append("vLLM sleep mode: weights and KV cache are released during the update (the share is "
                           "counted anyway: both peaks are planned for)")
        if max_len and max_len < seq:
            p.notes.append(f"WARNING vllm_max_model_length {max_len} < the longest sequence {seq}: raise "
                           "grpo.trainer.vllm_max_model_length")
    elif t.get("use_vllm"):
        p.notes.append("vLLM server mode: the engine has its own GPU (not counted here)")
    plans.append(p)
    del n
    return size, plans


def grpo_model_section(cfg):
    """What GRPO trains, as a model section: its own, except that when it starts from the SFT stage's output and
    SFT trained an adapter, GRPO continues that adapter (`model.lora.from_adapter: continue`, the default)."""
    from dataclasses import replace
    from pathlib import Path

    sft, grpo = cfg.sft.model, cfg.grpo.model
    continues = (grpo.lora.from_adapter == "continue" and sft.lora.enabled
                 and Path(str(grpo.path)) == Path(str(cfg.sft.output_dir)))
    return replace(grpo, lora=sft.lora) if continues else grpo


def _states(size, spec, hw: HardwareSection):
    return model_states_for(size, spec, hw.zero_stage, hw.gpus, hw.nodes, hw.offload_optimizer, hw.offload_params)


def warnings_for(plan: StagePlan, hw: HardwareSection, trainer: dict, stage: str) -> list[str]:
    """One line per problem, each with the knob that fixes it."""
    out = []
    cap = hw.gpu_memory_gib * GIB
    if plan.total > cap:
        knobs = [f"{stage}.trainer.per_device_train_batch_size (raise gradient_accumulation_steps to keep the "
                 f"batch)", f"{stage}.data.max_pixels"]
        if not trainer.get("gradient_checkpointing", True):
            knobs.insert(0, f"{stage}.trainer.gradient_checkpointing=true")
        if hw.zero_stage < 3:
            knobs.insert(0, "ZeRO-3 (configs/accelerate/deepspeed_zero3.yaml, hardware.zero_stage=3)")
        if plan.vllm_share:
            knobs.insert(0, f"{stage}.trainer.vllm_gpu_memory_utilization (now {trainer.get('vllm_gpu_memory_utilization')})")
        out.append(f"WARNING {stage}: {plan.total / GIB:.1f} GiB per GPU > {hw.gpu_memory_gib:g} GiB; turn: "
                   + "; ".join(knobs))
    if plan.vllm_share:
        if plan.kv_cache <= 0:
            out.append(f"WARNING {stage}: vLLM's share ({plan.vllm_share / GIB:.1f} GiB) does not hold its weights "
                       f"({plan.vllm_weights / GIB:.1f} GiB) plus overhead: raise "
                       f"{stage}.trainer.vllm_gpu_memory_utilization")
        elif plan.kv_cache < plan.kv_per_seq:
            out.append(f"WARNING {stage}: vLLM's KV cache ({plan.kv_cache / GIB:.2f} GiB) holds less than one "
                       f"sequence of vllm_max_model_length: raise {stage}.trainer.vllm_gpu_memory_utilization or "
                       f"lower {stage}.trainer.vllm_max_model_length")
    return out


def format_plan(cfg, size, plans: list[StagePlan]) -> str:
    hw = cfg.hardware
    gib = lambda b: f"{b / GIB:7.1f}"  # noqa: E731
    lines = [f"model: {size.name}: {size.params:,} parameters ({size.params / 1e9:.2f} B"
             + (f"; model card {size.card_params / 1e9:.2f} B" if size.card_params else "")
             + f"), vision tower {size.vision_params / 1e9:.2f} B, largest layer {size.largest_layer_params / 1e6:.0f} M",
             f"hardware: {hw.nodes} node(s) x {hw.gpus} GPU(s) x {hw.gpu_memory_gib:g} GiB, ZeRO stage {hw.zero_stage}"
             + (", optimizer offloaded to CPU" if hw.offload_optimizer else "")
             + (", parameters offloaded to CPU" if hw.offload_params else ""),
             *[f"{p.stage} trains: {p.trains} ({p.trainable:,} trainable parameters)" for p in plans],
             f"KV cache: {kv_bytes_per_token(size) / 1024:.0f} KiB per token (bf16)", ""]
    lines.append(f"{'per GPU (GiB)':<40}" + "".join(f"{p.stage:>9}" for p in plans))
    rows = [("weights (bf16; NF4 where 4-bit)", "weights"), ("gradients (bf16 + fp32)", "grads"), ("optimizer (fp32 master, m, v)",
            "optimizer"), ("model states, DeepSpeed estimate", "model_states_deepspeed"),
            ("activations (estimate)", "activations"), ("vLLM share (colocate)", "vllm_share"),
            ("  of it: vLLM weights", "vllm_weights"), ("  of it: KV cache", "kv_cache")]
    if not hw.offload_optimizer and not hw.offload_params and all(p.trains == "full" for p in plans):
        rows[3] = ("model states, DeepSpeed estimate", "model_states_deepspeed")
    else:
        rows[3] = ("model states (see models.memory_plan)", "model_states_deepspeed")
    for label, attr in rows:
        lines.append(f"{label:<40}" + "".join(f"  {gib(getattr(p, attr))}" for p in plans))
    lines.append(f"{'total (DeepSpeed + activations + vLLM)':<40}" + "".join(f"  {gib(p.total)}" for p in plans))
    for p in plans:
        if p.kv_per_seq:
            lines.append(f"{p.stage}: KV cache holds {p.kv_cache / p.kv_per_seq:.1f} sequences of the max model length "
                         f"({p.kv_per_seq / GIB:.2f} GiB each)")
        lines += [f"{p.stage}: {note}" for note in p.notes]
    for p in plans:
        lines += warnings_for(p, hw, dict(getattr(cfg, p.stage).trainer), p.stage)
    return "\n".join(lines)


def plan_text(cfg) -> str | None:
    """The printed plan, or None for CPU pipelines (`hardware.gpus` 0)."""
    if cfg.hardware.gpus <= 0:
        return None
    size, plans = plan_pipeline(cfg)
    return format_plan(cfg, size, plans)
