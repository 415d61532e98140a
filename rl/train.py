"""GRPO stage: optimise the task-aware rewards with TRL's `GRPOTrainer`, recording every rollout.

Launch:
    georft grpo --config configs/grpo/demo_cpu.yaml [key=value ...]
    accelerate launch --config_file configs/accelerate/ddp.yaml -m georft.cli grpo --config configs/grpo/<name>.yaml
    (vLLM colocate / server mode and multi-node launchers: scripts/)

`main(cfg)` reads top to bottom: data -> model/processor -> rewards (+ pre-flight check) -> trainer -> train -> save.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from data_engine.errors import UserError
from rl.config import GRPORunConfig
from rollout.generate import vision_token_ids, vllm_logit_bias  # noqa: F401 - vision_token_ids re-exported

# Configurations that hang or corrupt rollouts with TRL 1.16, refused at start-up until upstream fixes land.
ZOOM_SERVER_HANG = (
    "zoom chains (zoom_vqa rows) with vllm_mode: server are refused: ranks with different numbers of tool calls get "
    "each other's completions or hang (huggingface/trl#6673); use vllm_mode: colocate or drop zoom_vqa rows"
)
ZOOM_SLEEP_ZERO3_HANG = (
    "zoom chains with vllm_mode: colocate, vllm_enable_sleep_mode: true and DeepSpeed ZeRO-3 on {n} processes are "
    "refused: TRL 1.16 re-syncs the sleeping engine's weights (a ZeRO-3 all-gather) inside the tool loop only on "
    "ranks that have tool calls, so the others never join it (a hang); set grpo.trainer.vllm_enable_sleep_mode=false"
)


def trl_config(cfg: GRPORunConfig, reward_weights: list[float], suppress: list[int] | None = None,
               extra: dict | None = None, zoom_rows: bool = False):
    """TRL's GRPOConfig from `trainer:` plus what this stage needs: reward weights from `rewards:`, the extra
    columns kept for the rewards, CPU-safe precision when no GPU is present, and a clear vLLM check.

    Args:
        suppress: token ids the policy must never sample (HF: `suppress_tokens`; vLLM: `logit_bias`).
        extra: config keys a stage adds (the zoom tool loop's).
        zoom_rows: the mixture has zoom_vqa rows (multi-turn tool loop): refuses vLLM modes that hang with it.
    """
    from trl import GRPOConfig

    from models.loading import trainer_defaults

    kwargs = trainer_defaults({**(extra or {}), **dict(cfg.trainer)}, cfg.output_dir)
    kwargs["reward_weights"] = reward_weights
    if kwargs.get("use_vllm"):
        from rollout.generate import require_vllm

        check_vllm_mode(kwargs, zoom=bool(zoom_rows))
        require_vllm()
        if suppress:
            # vLLM's SamplingParams has no suppress_tokens (TypeError); logit_bias is its equivalent.
            gen = dict(kwargs.get("generation_kwargs") or {})
            gen["logit_bias"] = {**vllm_logit_bias(suppress), **(gen.get("logit_bias") or {})}
            kwargs["generation_kwargs"] = gen
    elif suppress:
        gen = dict(kwargs.get("generation_kwargs") or {})
        gen["suppress_tokens"] = sorted(set(gen.get("suppress_tokens") or []) | set(suppress))
        kwargs["generation_kwargs"] = gen
    return GRPOConfig(**kwargs)


def check_vllm_mode(kwargs: dict, zoom: bool, environ=None) -> None:
    """Refuse, with one line naming the upstream issue, vLLM setups that TRL 1.16 runs into a hang."""
    import os

    env = os.environ if environ is None else environ
    if not zoom:
        return
    mode = kwargs.get("vllm_mode", "colocate")
    if mode == "server":
        raise UserError(ZOOM_SERVER_HANG)
    world = int(env.get("WORLD_SIZE", "1"))
    zero3 = env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3" or "zero3" in str(kwargs.get("deepspeed") or "")
    if mode == "colocate" and kwargs.get("vllm_enable_sleep_mode") and zero3 and world > 1:
        raise UserError(ZOOM_SLEEP_ZERO3_HANG.format(n=world))


def main(cfg: GRPORunConfig) -> dict:
    """Run GRPO and save the final model + processor to `cfg.output_dir`.

    Returns:
        The run summary (also written to `output_dir/summary.json`).
    """
    from models.loading import (
        load_model,
        load_processor,
        lora_config,
        resolve_family,
        resume_checkpoint,
        start_section,
    )
    from rewards.adapter import check_rewards, make_reward_funcs, needs_doc_freq
    from rewards.caption import training_dfs
    from rl.data import build_grpo_dataset
    from rl.trainer import GeoGRPOTrainer, RolloutRecorder, parse_prediction
    from rl.zoom import with_zoom_turns

    out = Path(cfg.output_dir)
    if cfg.schedule != "mixed":
        raise UserError(f"schedule: {cfg.schedule} runs as successive GRPO stages from `georft pipeline`; "
                        "`georft grpo` runs one stage (schedule: mixed)")

    # Data: GRPO prompts rendered lazily (pre-resized images, conversational prompt, task/target/frame columns).
    family = resolve_family(cfg.model)
    data = build_grpo_dataset(cfg.data, family)
    train_dataset, skipped, captions = data.dataset, data.skipped, data.captions

    # Model and processor (the processor's pixel budget is the data engine's, so it never resizes).
    # An adapter folder as model.path is continued, or merged first (model.lora.from_adapter); a LoRA checkpoint
    # resumes its adapter.
    resume = resume_checkpoint(cfg.trainer.get("resume_from_checkpoint"), cfg.trainer.get("output_dir", cfg.output_dir))
    initial = cfg.model if resume else start_section(cfg.model, cfg.output_dir)
    processor = load_processor(initial.path, cfg.data.min_pixels, cfg.data.max_pixels)
    # TRL left-pads prompt ids but takes per-token multimodal fields (mm_token_type_ids) from a padded processor
    # call: both must pad on the left, or M-RoPE positions break for prompts of different lengths.
    processor.tokenizer.padding_side = "left"
    model = load_model(replace(initial, path=resume) if resume else initial)  # see resume_checkpoint

    # Zoom-in chains: zoom_vqa rows get the image_zoom_in tool (TRL's tool loop, crops from the full-resolution
    # original); other rows see no tools.
    zoom = zoom_setup(cfg, family, processor, data.tasks)

    # Rewards per task from config; every reward runs once on a real row before the first rollout.
    # CIDEr-D needs document frequencies from the training references, one table per captioning task (cached on
    # disk by fingerprint).
    rewards = cfg.run_rewards(data.tasks)
    caption_df = training_dfs(captions, out / "cache") if needs_doc_freq(rewards) and captions else None
    reward_funcs, weights = make_reward_funcs(rewards, caption_df=caption_df)
    check_rewards(rewards, (train_dataset[i] for i in range(min(len(train_dataset), 512))), caption_df)
    args = trl_config(cfg, weights, suppress=vision_token_ids(processor), extra=zoom["args"],
                      zoom_rows="zoom_vqa" in data.tasks)

    recorder = RolloutRecorder(out, parse_prediction, args.num_generations) if cfg.rollout_store else None
    if recorder is not None and resume:
        # Rollouts are filed under the optimizer step they were generated at; steps from the checkpoint's on
        # are generated again by the resumed run, so drop what the interrupted run wrote for them.
        recorder.writer.truncate_after(_checkpoint_step(resume) - 1)
    trainer = GeoGRPOTrainer(
        model=model,
        reward_funcs=with_zoom_turns(reward_funcs),
        args=args,
        train_dataset=train_dataset,
        processing_class=processor,
        peft_config=lora_config(cfg.model, model),
        record=recorder,
        # vLLM colocate: the run's pixel budget for vLLM's processor (the engine is built from the checkpoint's).
        mm_processor_kwargs={"min_pixels": cfg.data.min_pixels, "max_pixels": cfg.data.max_pixels},
        **zoom["trainer"],
    )
    trainer.dynamic_sampling = cfg.dynamic_sampling
    validation = None
    if cfg.validation.enabled:
        from eval.validation_callback import attach_validation

        validation = attach_validation(trainer, cfg.validation, cfg.data.root, family,
                                       cfg.trainer.get("output_dir", cfg.output_dir), resume=bool(resume))
    if cfg.task_reward_scaling:
        from rl.task_scaling import task_columns

        trainer.task_columns = task_columns(rewards)

    start = time.time()
    # The resolved complete checkpoint, never `True`: the Trainer's own lookup takes the newest, complete or not.
    result = trainer.train(resume_from_checkpoint=resume)
    elapsed = time.time() - start

    trainer.save_model(str(out))
    processor.save_pretrained(str(out))
    summary = {
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "seconds": elapsed,
        "prompts": len(train_dataset),
        "skipped_samples": skipped.as_dict(),
        "rewards": {task: [[s.name, s.weight] for s in specs] for task, specs in rewards.items()},
        "last_log": next((e for e in reversed(trainer.state.log_history) if "reward" in e), {}),
        **({"validation": validation.summary()} if validation is not None else {}),
    }
    if trainer.is_world_process_zero():
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def zoom_setup(cfg: GRPORunConfig, family, processor, tasks: set[str]) -> dict:
    """Trainer/config kwargs for multi-turn zoom chains, or none when the mixture has no zoom_vqa rows: TRL's
    per-environment path renders prompts one by one, which costs time a single-turn mixture need not pay."""
    if "zoom_vqa" not in tasks:
        return {"trainer": {}, "args": {}}
    from rl.zoom import zoom_trainer_kwargs

    return zoom_trainer_kwargs(family, processor, min_pixels=cfg.data.min_pixels, max_pixels=cfg.data.max_pixels,
                               max_calls=cfg.zoom.max_calls,
                               crop_dir=(Path(cfg.output_dir) / "rollouts" / "crops").resolve())


def _checkpoint_step(path: str) -> int:
    """Global step of a checkpoint folder (`checkpoint-<step>`), as resolved by `resume_checkpoint`."""
    name = Path(path).name
    return int(name.rsplit("-", 1)[-1]) if name.startswith("checkpoint-") else 0
