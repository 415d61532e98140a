"""SFT and GRPO on the tiny model: throughput, GRPO step split, and our wrapper's overhead over bare TRL.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_training.py [--steps 12] [--arch qwen2_5_vl]``.

Side by side, on the same rendered rows of the synthetic world and the same model:

- SFT: `sft.train.build_trainer` (lazy rendering from the built dataset, our config plumbing) vs TRL's
  `SFTTrainer` called directly on the rows rendered up front. Target overhead <= 5 %.
- GRPO: `rl.train` path (`GeoGRPOTrainer`: lazy prompts, rollout store, zoom environments when the mixture has
  zoom rows) vs TRL's `GRPOTrainer` with the same reward functions, both on the prompts rendered up front and on the
  same lazily rendered dataset (the second isolates the wrapper). Target overhead <= 5 %. The GRPO step is also
  split into generation / reward / update (from TRL's own profiling contexts), and the rewards' share is reported
  (target: every reward together <= 2 % of a step).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "offline")

REPO = Path(__file__).resolve().parents[1]


class StepTimer:
    """TrainerCallback recording wall time per optimizer step."""

    def __init__(self):
        from transformers import TrainerCallback

        timer = self

        class _CB(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                timer._t = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                timer.times.append(time.perf_counter() - timer._t)

        self.times: list[float] = []
        self.callback = _CB()

    def median(self, skip: int = 2) -> float:
        return statistics.median(self.times[skip:] or self.times)


def capture_profiling():
    """Collect TRL's profiling durations by name (it only reports them to wandb/mlflow/trackio)."""
    from trl.extras import profiling

    seen: dict[str, list[float]] = {}

    def log(self, duration):
        seen.setdefault(self.name.split(".", 1)[-1], []).append(duration)

    profiling.ProfilingContext._log_metrics = log
    return seen


def world(tmp: Path) -> Path:
    from data_engine.build import build
    from data_engine.synth import synthesize

    recipe = synthesize(tmp / "raw", seed=0, size="small")
    build(recipe, tmp / "built", progress=False)
    return tmp / "built"


def bench_sft(model_dir: str, built: Path, tmp: Path, steps: int) -> tuple[float, float, float]:
    from datasets import Dataset
    from trl import SFTTrainer

    from georft.config import load_config
    from sft.config import SFTRunConfig
    from sft.train import build_trainer

    overrides = [f"model.path={model_dir}", f"data.sources.0.path={built}", f"output_dir={tmp / 'sft'}",
                 f"trainer.max_steps={steps}", "trainer.save_strategy=no", "trainer.report_to=[]",
                 "trainer.logging_steps=1000", "data.sources.0.tasks=[detection,grounding,vqa,caption,classification]"]
    cfg = load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", overrides)
    ours, processor, _ = build_trainer(cfg)
    rows = [ours.train_dataset[i] for i in range(steps * cfg.trainer["per_device_train_batch_size"])]
    bare = SFTTrainer(model=type(ours.model).from_pretrained(model_dir), args=ours.args,
                      train_dataset=Dataset.from_list(rows), processing_class=processor)
    times = {}
    for name, trainer in (("ours", ours), ("bare", bare)):
        timer = StepTimer()
        trainer.add_callback(timer.callback)
        trainer.train()
        times[name] = timer.median()
    tokens = sum(len(processor(text=[processor.apply_chat_template(r["messages"])], images=r["images"])["input_ids"][0])
                 for r in rows) / steps
    return times["ours"], times["bare"], tokens


def bench_grpo(model_dir: str, built: Path, tmp: Path, steps: int) -> dict:
    from datasets import Dataset
    from trl import GRPOTrainer

    from georft.config import load_config
    from models.loading import load_model, load_processor, resolve_family
    from rewards.adapter import make_reward_funcs
    from rewards.caption import training_df
    from rl.config import GRPORunConfig
    from rl.data import build_grpo_dataset
    from rl.train import trl_config, vision_token_ids, zoom_setup
    from rl.trainer import GeoGRPOTrainer, RolloutRecorder, parse_prediction
    from rl.zoom import with_zoom_turns

    overrides = [f"model.path={model_dir}", f"data.sources.0.path={built}", f"output_dir={tmp / 'grpo'}",
                 f"trainer.max_steps={steps}", "trainer.save_strategy=no", "trainer.report_to=[]",
                 "trainer.logging_steps=1000", "trainer.max_completion_length=32",
                 "data.sources.0.tasks=[detection,grounding,vqa,caption,classification]",
                 "rewards={detection: [{name: rotated_iou_f1}], grounding: [{name: grounding_iou}], "
                 "vqa: [{name: vqa_match}], caption: [{name: cider_d}], classification: [{name: classification_match}]}"]
    cfg = load_config(GRPORunConfig, REPO / "configs/grpo/demo_cpu.yaml", overrides)
    family = resolve_family(cfg.model)
    data = build_grpo_dataset(cfg.data, family)
    dataset, captions = data.dataset, data.captions
    caption_df = training_df(captions, tmp / "cache")
    funcs, weights = make_reward_funcs(cfg.rewards, caption_df=caption_df)
    n_prompts = steps * cfg.trainer["per_device_train_batch_size"] // cfg.trainer["num_generations"]
    rows = [{k: v for k, v in dataset[i].items() if k not in ("environment", "image_path")} for i in range(n_prompts)]

    def processor():
        p = load_processor(model_dir, cfg.data.min_pixels, cfg.data.max_pixels)
        p.tokenizer.padding_side = "left"
        return p

    proc_bare = processor()
    args = trl_config(cfg, weights, suppress=vision_token_ids(proc_bare))
    bare = GRPOTrainer(model=load_model(cfg.model), reward_funcs=funcs, args=args,
                       train_dataset=Dataset.from_list(rows), processing_class=proc_bare)
    # The same lazily rendered dataset GeoRFT trains on: isolates the wrapper (recording hook, rollout store).
    bare_lazy = GRPOTrainer(model=load_model(cfg.model), reward_funcs=funcs, args=args, train_dataset=dataset,
                            processing_class=processor())
    proc = processor()
    zoom = zoom_setup(cfg, family, proc, data.tasks)  # what rl.train does
    args_ours = trl_config(cfg, weights, suppress=vision_token_ids(proc), extra=zoom["args"])
    ours = GeoGRPOTrainer(model=load_model(cfg.model), reward_funcs=with_zoom_turns(funcs), args=args_ours,
                          train_dataset=dataset, processing_class=proc,
                          record=RolloutRecorder(tmp / "grpo", parse_prediction, args.num_generations),
                          **zoom["trainer"])
    out = {}
    # GeoRFT first: run order matters on a shared CPU (the last trainer ran 10-25 % slower in earlier runs).
    for name, trainer in (("ours", ours), ("bare", bare), ("bare_lazy", bare_lazy)):
        prof = capture_profiling()
        timer = StepTimer()
        trainer.add_callback(timer.callback)
        trainer.train()
        reward_names = {f.__name__ for f in funcs}
        out[name] = {
            "step": timer.median(),
            "generate": _per_step(prof, {"transformers.generate"}, steps),
            "reward": _per_step(prof, reward_names, steps),
            "update": _per_step(prof, {"compute_loss"}, steps),
        }
    return out


def _per_step(prof: dict[str, list[float]], names: set[str], steps: int, skip: int = 2) -> float:
    """Seconds per step spent in the named profiling contexts, after `skip` warm-up steps."""
    return sum(sum(v[skip:]) for k, v in prof.items() if k in names) / max(1, steps - skip)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--arch", default="qwen2_5_vl")
    args = parser.parse_args()
    from models.tiny import build_tiny

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model_dir = str(build_tiny(args.arch, tmp / "model"))
        built = world(tmp)
        sft_ours, sft_bare, tokens = bench_sft(model_dir, built, tmp, args.steps)
        grpo = bench_grpo(model_dir, built, tmp, args.steps)
    print(f"\nTiny {args.arch}, {args.steps} steps each, median step after 2 warm-up steps, OMP_NUM_THREADS=1\n")
    print("| stage | bare TRL s/step | GeoRFT s/step | overhead | target |")
    print("|---|---|---|---|---|")
    print(f"| SFT (batch 16, {tokens:.0f} tokens/step) | {sft_bare:.3f} | {sft_ours:.3f} | "
          f"{(sft_ours / sft_bare - 1) * 100:+.1f} % | <= 5 % |")
    print(f"| GRPO (16 completions), TRL on pre-rendered rows | {grpo['bare']['step']:.3f} | {grpo['ours']['step']:.3f} | "
          f"{(grpo['ours']['step'] / grpo['bare']['step'] - 1) * 100:+.1f} % | <= 5 % |")
    print(f"| GRPO, TRL on the same lazy dataset (wrapper only) | {grpo['bare_lazy']['step']:.3f} | "
          f"{grpo['ours']['step']:.3f} | {(grpo['ours']['step'] / grpo['bare_lazy']['step'] - 1) * 100:+.1f} % | <= 5 % |")
    print(f"\nSFT throughput: {tokens / sft_ours:,.0f} tokens/s (GeoRFT), {tokens / sft_bare:,.0f} tokens/s (bare TRL)\n")
    print("| GRPO step part (GeoRFT) | s/step | share |")
    print("|---|---|---|")
    o = grpo["ours"]
    for part in ("generate", "reward", "update"):
        print(f"| {part} | {o[part]:.3f} | {o[part] / o['step'] * 100:.1f} % |")
    print(f"| other (scoring, logging, rollout store) | {o['step'] - o['generate'] - o['reward'] - o['update']:.3f} | "
          f"{(1 - (o['generate'] + o['reward'] + o['update']) / o['step']) * 100:.1f} % |")


if __name__ == "__main__":
    main()
