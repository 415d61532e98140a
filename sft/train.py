"""SFT stage: co-train a Qwen-VL model on the data engine's multi-task mixture with TRL's `SFTTrainer`.

Launch:
    georft sft --config configs/sft/demo_cpu.yaml [key=value ...]
    accelerate launch --config_file configs/accelerate/ddp.yaml -m georft.cli sft --config configs/sft/<name>.yaml
    (multi-node and DeepSpeed ZeRO launchers: scripts/)

`main(cfg)` reads top to bottom: data -> model/processor -> trainer -> train -> save.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from sft.config import SFTRunConfig


def trl_config(cfg: SFTRunConfig):
    """TRL's SFTConfig from the `trainer:` section plus the settings vision SFT needs.

    We set (unless the user did): output_dir, `max_length=None` (image tokens are never truncated),
    `assistant_only_loss=True` (loss on answer tokens only), `remove_unused_columns=False` (our rows are rendered
    lazily), CPU-safe precision when no GPU is present.
    """
    from trl import SFTConfig

    from models.loading import trainer_defaults

    kwargs = trainer_defaults(cfg.trainer, cfg.output_dir)
    kwargs.setdefault("max_length", None)
    kwargs.setdefault("assistant_only_loss", True)
    return SFTConfig(**kwargs)


def build_trainer(cfg: SFTRunConfig):
    """Data -> model/processor -> SFTTrainer, ready to train.

    Returns:
        (trainer, processor, skipped): `skipped` counts samples that failed to render (filled during training).
    """
    from trl import SFTTrainer

    from models.loading import (
        load_model,
        load_processor,
        lora_config,
        resolve_family,
        resume_checkpoint,
        start_section,
    )
    from sft.data import build_sft_dataset, check_max_length

    args = trl_config(cfg)

    # Data: the mixture, rendered lazily (image decode + smart resize + conversation) in the data loader.
    family = resolve_family(cfg.model)
    train_dataset, skipped, _ = build_sft_dataset(cfg.data, family)

    # Model and processor (pixel budget = the data engine's, so the processor never resizes). An adapter folder as
    # model.path is continued, or merged first (model.lora.from_adapter); a LoRA checkpoint resumes its adapter.
    resume = resume_checkpoint(args.resume_from_checkpoint, args.output_dir)
    initial = cfg.model if resume else start_section(cfg.model, cfg.output_dir)
    processor = load_processor(initial.path, cfg.data.min_pixels, cfg.data.max_pixels)
    # The resolved complete checkpoint, never `True`: the Trainer's own lookup takes the newest, complete or not.
    args.resume_from_checkpoint = resume
    model = load_model(replace(initial, path=resume) if resume else initial)  # see resume_checkpoint
    check_max_length(args.max_length, train_dataset, processor)

    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        processing_class=processor,
        peft_config=lora_config(cfg.model, model),
    )
    if cfg.validation.enabled:
        from eval.validation_callback import attach_validation

        attach_validation(trainer, cfg.validation, cfg.data.root, family, args.output_dir, resume=bool(resume))
    return trainer, processor, skipped


def main(cfg: SFTRunConfig) -> dict:
    """Run SFT and save the final model + processor to `cfg.output_dir`.

    Returns:
        The run summary (also written to `output_dir/summary.json`).
    """
    out = Path(cfg.output_dir)
    trainer, processor, skipped = build_trainer(cfg)

    start = time.time()
    result = trainer.train(resume_from_checkpoint=trainer.args.resume_from_checkpoint)
    elapsed = time.time() - start

    trainer.save_model(str(out))
    processor.save_pretrained(str(out))
    summary = {
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "seconds": elapsed,
        "tokens_per_second": _tokens_seen(trainer.state.log_history) / elapsed if elapsed else None,
        "samples": len(trainer.train_dataset),
        "skipped_samples": skipped.as_dict(),
        **_validation_summary(trainer),
    }
    if trainer.is_world_process_zero():
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _validation_summary(trainer) -> dict:
    """``{"validation": ...}`` of a run with validation on (`eval.validation_callback`), else nothing."""
    from eval.validation_callback import ValidationCallback

    cb = next((c for c in trainer.callback_handler.callbacks if isinstance(c, ValidationCallback)), None)
    return {"validation": cb.summary()} if cb is not None else {}


def _tokens_seen(log_history: list[dict]) -> float:
    """Tokens trained on, from TRL's `num_tokens` log entries (0 when nothing was logged)."""
    return max((float(e["num_tokens"]) for e in log_history if "num_tokens" in e), default=0.0)
