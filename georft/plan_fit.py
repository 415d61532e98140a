"""`georft plan --fit --gpus N --gpu-memory G`: the cheapest configuration that fits each stage, as overrides.

"Cheapest" is the first rung of a fixed ladder, ordered by what each rung costs in speed or quality (the usual
answer to "GRPO on a 7B VLM runs out of memory" in the RL stacks' trackers is LoRA plus a frozen vision tower plus
offload; this ladder tries them in that spirit, least costly first):

1. full fine-tuning: ZeRO-0 (plain DDP) on one GPU, ZeRO-2 then ZeRO-3 on several;
2. full fine-tuning with the vision tower frozen (ZeRO-3 on several GPUs);
3. LoRA r=64 on every linear layer of the language model (DDP, then ZeRO-3 on several GPUs);
4. full fine-tuning, ZeRO-3 with the optimizer offloaded to CPU memory, then the parameters too (slow: CPU Adam and
   PCIe traffic every step);
5. QLoRA (4-bit NF4 base, LoRA r=64), DDP.

On each rung the per-GPU batch is halved (gradient accumulation doubled, so the optimizer and generation batches
stay the same) until the stage fits or it reaches 1. For GRPO with vLLM colocate, vLLM's share is raised where the
configured one cannot hold the bf16 weights, vLLM's overhead and one batch of max-length sequences. A stage fits
when the plan's total per GPU (model states + activations estimate + vLLM share) is at most the GPU memory; the
margin left is printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from data_engine.errors import UserError
from models.memory_plan import GIB

LORA_ALL = "[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]"


@dataclass
class Rung:
    """One configuration of the ladder: a label, its hardware settings and the stage's model overrides."""

    label: str
    zero_stage: int
    model: tuple[str, ...] = ()
    offload_optimizer: bool = False
    offload_params: bool = False


def ladder(gpus: int) -> list[Rung]:
    """The configurations tried, cheapest first (see the module docstring)."""
    lora = ("model.lora.enabled=true", "model.lora.r=64", "model.lora.alpha=128", f"model.lora.target_modules={LORA_ALL}")
    rungs = [Rung("full fine-tuning, DDP", 0)] if gpus == 1 else [Rung("full fine-tuning, ZeRO-2", 2),
                                                                   Rung("full fine-tuning, ZeRO-3", 3)]
    many = 3 if gpus > 1 else 0
    rungs += [Rung("full fine-tuning, frozen vision tower" + (", ZeRO-3" if many else ", DDP"), many,
                   ("model.freeze_vision=true",)),
              Rung("LoRA r=64 (language model), DDP", 0, lora)]
    if gpus > 1:
        rungs.append(Rung("LoRA r=64 (language model), ZeRO-3", 3, lora))
    rungs += [Rung("full fine-tuning, ZeRO-3 + optimizer offload", 3, (), True),
              Rung("full fine-tuning, ZeRO-3 + optimizer and parameter offload", 3, (), True, True),
              Rung("QLoRA 4-bit + LoRA r=64, DDP", 0, ("model.quantization=4bit", *lora))]
    return rungs


def accelerate_config(rung: Rung) -> str:
    """The accelerate config a launcher passes for the rung (scripts/single_node.sh reads ACCEL_CONFIG)."""
    if rung.offload_params:
        return "configs/accelerate/deepspeed_zero3_offload_params.yaml"
    if rung.offload_optimizer:
        return "configs/accelerate/deepspeed_zero3_offload.yaml"
    return {0: "configs/accelerate/ddp.yaml", 2: "configs/accelerate/deepspeed_zero2.yaml"}.get(
        rung.zero_stage, "configs/accelerate/deepspeed_zero3.yaml")


@dataclass
class Fit:
    """The first fitting configuration of one stage."""

    stage: str
    rung: Rung
    overrides: list[str]
    total: float
    capacity: float


def _hardware(rung: Rung, gpus: int, gib: float) -> list[str]:
    return [f"hardware.gpus={gpus}", "hardware.nodes=1", f"hardware.gpu_memory_gib={gib:g}",
            f"hardware.zero_stage={rung.zero_stage}", f"hardware.offload_optimizer={str(rung.offload_optimizer).lower()}",
            f"hardware.offload_params={str(rung.offload_params).lower()}"]


def fit_stage(load, cfg, stage: str, gpus: int, gib: float, user: list[str], scale: int = 1) -> Fit | None:
    """The first rung (and batch) on which `stage` fits, or None.

    Args:
        load: overrides -> PipelineConfig (the config file with the user's and the rung's overrides applied).
        cfg: the config as the user gave it (its batch sizes are the starting point).
        scale: the config's GPU count / `gpus` (when whole): accumulation grows by it so the global batches stay.
    """
    from georft.plan import plan_pipeline

    trainer = dict(getattr(cfg, stage).trainer)
    batch0 = int(trainer.get("per_device_train_batch_size", 8))
    accum0 = int(trainer.get("gradient_accumulation_steps", 1))
    spg0 = trainer.get("steps_per_generation")
    for rung in ladder(gpus):
        batch, factor = batch0, 1
        while batch >= 1:
            ovr = [*_hardware(rung, gpus, gib), *(f"{stage}.{m}" for m in rung.model)]
            if factor > 1:
                ovr.append(f"{stage}.trainer.per_device_train_batch_size={batch}")
            if factor * scale > 1:
                ovr.append(f"{stage}.trainer.gradient_accumulation_steps={accum0 * factor * scale}")
                if spg0:
                    ovr.append(f"{stage}.trainer.steps_per_generation={int(spg0) * factor * scale}")
            try:
                trial = load(user + ovr)
            except UserError:
                break  # e.g. a batch the GRPO group size cannot divide: this rung cannot go lower
            plan = dict((p.stage, p) for p in plan_pipeline(trial)[1])[stage]
            if plan.vllm_share:
                need = plan.vllm_weights + trial.hardware.vllm_overhead_gib * GIB + plan.kv_per_seq * batch
                if plan.vllm_share < need:
                    util = math.ceil(need / (gib * GIB) * 20) / 20
                    if util < 0.9:
                        ovr.append(f"{stage}.trainer.vllm_gpu_memory_utilization={util:.2f}")
                        plan = dict((p.stage, p) for p in plan_pipeline(load(user + ovr))[1])[stage]
            if plan.total <= gib * GIB and (not plan.vllm_share or plan.kv_cache >= plan.kv_per_seq):
                return Fit(stage, rung, ovr, plan.total, gib * GIB)
            if batch == 1 or (stage == "grpo" and batch // 2 < 1):
                break
            batch, factor = batch // 2, factor * 2
    return None


def fit_text(path: str, user: list[str], gpus: int, gib: float) -> str:
    """The printed --fit answer for a pipeline config: per stage its rung, margin and pasteable overrides, then one
    combined line for the whole pipeline (the stricter hardware settings of the two: more sharding or offload only
    lowers memory)."""
    from georft.config import load_config
    from georft.pipeline import PipelineConfig

    if gpus < 1 or gib <= 0:
        raise UserError(f"--fit needs --gpus >= 1 and --gpu-memory > 0, got {gpus} and {gib}")

    def load(ovr):
        return load_config(PipelineConfig, path, ovr)

    cfg = load(user)
    world0 = max(1, cfg.hardware.gpus) * cfg.hardware.nodes
    scale = world0 // gpus if world0 > gpus and world0 % gpus == 0 else 1
    lines = [f"georft plan --fit: {cfg.base_model.path} on {gpus} x {gib:g} GiB ({path})"]
    if scale > 1:
        lines.append(f"(the config is written for {world0} GPUs: gradient accumulation x {scale} keeps its global "
                     "batches)")
    fits = []
    for stage in ("sft", "grpo"):
        fit = fit_stage(load, cfg, stage, gpus, gib, user, scale)
        if fit is None:
            lines.append(f"{stage}: nothing on the ladder fits {gpus} x {gib:g} GiB (lower {stage}.data.max_pixels, "
                         f"{stage}.trainer.max_completion_length, or add GPUs)")
            continue
        fits.append(fit)
        margin = (fit.capacity - fit.total) / GIB
        lines.append(f"{stage}: {fit.rung.label}: {fit.total / GIB:.1f} GiB per GPU, margin {margin:.1f} GiB "
                     f"(accelerate: {accelerate_config(fit.rung)})")
        lines.append("  " + (" ".join(o for o in fit.overrides if not o.startswith("hardware.")) or "(no overrides)"))
    if len(fits) == 2:
        strict = max((f.rung for f in fits), key=lambda r: (r.offload_params, r.offload_optimizer, r.zero_stage))
        stage_ovr = [o for f in fits for o in f.overrides if not o.startswith("hardware.")]
        lines.append("pipeline overrides (paste after the config):")
        lines.append("  " + " ".join([*user, *_hardware(strict, gpus, gib), *stage_ovr]))
        lines.append(f"launch: ACCEL_CONFIG={accelerate_config(strict)} NGPUS={gpus} bash scripts/single_node.sh {path} "
                     "<the overrides above>")
    return "\n".join(lines)
