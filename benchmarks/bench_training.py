"""SFT and GRPO on the tiny model: throughput, GRPO step split, and our wrapper's overhead over bare TRL.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_training.py [--steps 10] [--rounds 3] [--arch qwen2_5_vl]``.

Measurement: this CPU is shared, and load drifts over minutes, so the trainers are compared in interleaved rounds:
every round builds each trainer afresh and trains it ``--steps`` steps, in an order rotated from round to round;
each reports the median step time over all rounds (first 2 steps of a round dropped), and the overhead's range
over rounds is printed beside it. The rollout recorder's own time is also measured directly (a wall-clock
attribution that load drift does not touch).

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
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "offline")

REPO = Path(__file__).resolve().parents[1]
EXTRA = [a for a in os.environ.get("BENCH_OVERRIDES", "").split() if a]


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


def interleaved(make: dict, rounds: int, skip: int = 2, on_round=None) -> dict[str, list[list[float]]]:
    """Step times per trainer and round: each round builds every trainer with ``make[name]()`` and trains it, in an
    order rotated by one each round (no trainer always runs first or last)."""
    names = list(make)
    times: dict[str, list[list[float]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            trainer = make[name]()
            timer = StepTimer()
            trainer.add_callback(timer.callback)
            if on_round:
                on_round(name, "start", trainer)
            trainer.train()
            if on_round:
                on_round(name, "end", trainer)
            times[name].append(timer.times[skip:])
    return times


def summary(times: dict[str, list[list[float]]], ours: str, bare: str) -> dict:
    """Median step of each trainer over all rounds, the overhead, and its range over the per-round medians."""
    med = {n: statistics.median([t for rnd in v for t in rnd]) for n, v in times.items()}
    per_round = [statistics.median(o) / statistics.median(b) - 1 for o, b in zip(times[ours], times[bare], strict=True)]
    return {"ours": med[ours], "bare": med[bare], "overhead": med[ours] / med[bare] - 1,
            "range": (min(per_round), max(per_round))}


def bench_sft(model_dir: str, built: Path, tmp: Path, steps: int, rounds: int) -> tuple[dict, float, int]:
    from datasets import Dataset
    from trl import SFTTrainer

    from georft.config import load_config
    from sft.config import SFTRunConfig
    from sft.train import build_trainer

    overrides = [f"model.path={model_dir}", f"data.root={built}", "data.sources=[{path: ., split: train}]", f"output_dir={tmp / 'sft'}",
                 f"trainer.max_steps={steps}", "trainer.save_strategy=no", "trainer.report_to=[]",
                 "trainer.logging_steps=1000", "data.sources.0.tasks=[detection,grounding,vqa,caption,classification]",
                 *EXTRA]
    cfg = load_config(SFTRunConfig, REPO / "configs/sft/demo_cpu.yaml", overrides)
    first, processor, _ = build_trainer(cfg)
    rows = [first.train_dataset[i] for i in range(steps * cfg.trainer["per_device_train_batch_size"])]
    bare_data = Dataset.from_list(rows)
    make = {
        "ours": lambda: build_trainer(cfg)[0],
        # TRL's SFTTrainer on the rows rendered up front, with the same TRL config object.
        "bare": lambda: SFTTrainer(model=type(first.model).from_pretrained(model_dir), args=first.args,
                                   train_dataset=bare_data, processing_class=processor),
    }
    times = interleaved(make, rounds)
    tokens = sum(len(processor(text=[processor.apply_chat_template(r["messages"])], images=r["images"])["input_ids"][0])
                 for r in rows) / steps
    return summary(times, "ours", "bare"), tokens, first.args.dataloader_num_workers


def bench_grpo(model_dir: str, built: Path, tmp: Path, steps: int, rounds: int) -> dict:
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

    overrides = [f"model.path={model_dir}", f"data.root={built}", "data.sources=[{path: ., split: train}]", f"output_dir={tmp / 'grpo'}",
                 f"trainer.max_steps={steps}", "trainer.save_strategy=no", "trainer.report_to=[]",
                 "trainer.logging_steps=1000", "trainer.max_completion_length=32",
                 "data.sources.0.tasks=[detection,grounding,vqa,caption,classification]",
                 "rewards={detection: [{name: rotated_iou_f1}], grounding: [{name: grounding_iou}], "
                 "vqa: [{name: vqa_match}], caption: [{name: cider_d}], classification: [{name: classification_match}]}",
                 *EXTRA]
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
    bare_data = Dataset.from_list(rows)
    record_s: list[float] = []  # main-thread seconds in the rollout recorder: rows, parsing, waiting for its writes
    made = itertools.count()  # a fresh store folder per round

    def ours():
        proc = processor()
        zoom = zoom_setup(cfg, family, proc, data.tasks)  # what rl.train does
        args_ours = trl_config(cfg, weights, suppress=vision_token_ids(proc), extra=zoom["args"])
        recorder = RolloutRecorder(tmp / f"grpo{next(made)}", parse_prediction, args.num_generations)
        for name in ("local_rows", "write", "flush"):
            setattr(recorder, name, _timed(getattr(recorder, name), record_s))
        return GeoGRPOTrainer(model=load_model(cfg.model), reward_funcs=with_zoom_turns(funcs), args=args_ours,
                              train_dataset=dataset, processing_class=proc, record=recorder, **zoom["trainer"])

    make = {
        "ours": ours,
        # TRL's GRPOTrainer on the prompts rendered up front, with the same reward functions and config.
        "bare": lambda: GRPOTrainer(model=load_model(cfg.model), reward_funcs=funcs, args=args,
                                    train_dataset=bare_data, processing_class=proc_bare),
        # ... and on the same lazily rendered dataset GeoRFT trains on: isolates the wrapper (recording, store).
        "bare_lazy": lambda: GRPOTrainer(model=load_model(cfg.model), reward_funcs=funcs, args=args,
                                         train_dataset=dataset, processing_class=processor()),
    }
    prof: dict[str, list[float]] = {}
    parts: dict[str, list[float]] = {"generate": [], "reward": [], "update": [], "record": []}
    reward_names = {f.__name__ for f in funcs}

    def on_round(name, when, trainer):
        nonlocal prof
        if name == "ours" and when == "start":
            record_s.clear()
            prof = capture_profiling()
        if name == "ours" and when == "end":  # keep the parts of every ours round, after its warm-up steps
            for key, names in (("generate", {"transformers.generate"}), ("reward", reward_names),
                               ("update", {"compute_loss"})):
                parts[key].append(_per_step(prof, names, steps))
            parts["record"].append(sum(record_s[6:]) / max(1, steps - 2))  # 3 calls a step

    times = interleaved(make, rounds, on_round=on_round)
    out = {"vs_bare": summary(times, "ours", "bare"), "vs_lazy": summary(times, "ours", "bare_lazy")}
    out["parts"] = {k: statistics.median(v) for k, v in parts.items()}
    return out


def _timed(fn, sink: list[float]):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            sink.append(time.perf_counter() - t)

    return wrapper


def _per_step(prof: dict[str, list[float]], names: set[str], steps: int, skip: int = 2) -> float:
    """Seconds per step spent in the named profiling contexts, after `skip` warm-up steps."""
    return sum(sum(v[skip:]) for k, v in prof.items() if k in names) / max(1, steps - skip)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per trainer per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--arch", default="qwen2_5_vl")
    args = parser.parse_args()
    from models.tiny import build_tiny

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model_dir = str(build_tiny(args.arch, tmp / "model"))
        built = world(tmp)
        sft, tokens, workers = bench_sft(model_dir, built, tmp, args.steps, args.rounds)
        grpo = bench_grpo(model_dir, built, tmp, args.steps, args.rounds)
    print(f"\nTiny {args.arch}, {args.rounds} interleaved rounds x {args.steps} steps per trainer, median step "
          f"(2 warm-up steps per round dropped), OMP_NUM_THREADS=1, dataloader_num_workers={workers}\n")
    print("| stage | bare TRL s/step | GeoRFT s/step | overhead | per-round range | target |")
    print("|---|---|---|---|---|---|")

    def row(label, r):
        lo, hi = r["range"]
        print(f"| {label} | {r['bare']:.3f} | {r['ours']:.3f} | {r['overhead'] * 100:+.1f} % | "
              f"{lo * 100:+.1f} % .. {hi * 100:+.1f} % | <= 5 % |")

    row(f"SFT (batch 16, {tokens:.0f} tokens/step), TRL on rows rendered up front", sft)
    row("GRPO (16 completions), TRL on prompts rendered up front", grpo["vs_bare"])
    row("GRPO, TRL on the same lazy dataset (wrapper only)", grpo["vs_lazy"])
    print(f"\nSFT throughput: {tokens / sft['ours']:,.0f} tokens/s (GeoRFT), {tokens / sft['bare']:,.0f} tokens/s "
          "(bare TRL)\n")
    o, step = grpo["parts"], grpo["vs_bare"]["ours"]
    print("| GRPO step part (GeoRFT, median over rounds) | s/step | share |")
    print("|---|---|---|")
    for part, label in (("generate", "generate"), ("reward", "rewards (all tasks)"), ("update", "update"),
                        ("record", "rollout recorder, main thread (rows, parsing, waiting for its file writes)")):
        print(f"| {label} | {o[part]:.3f} | {o[part] / step * 100:.1f} % |")
    rest = step - sum(o.values())
    print(f"| other (TRL scoring, logging, data) | {rest:.3f} | {rest / step * 100:.1f} % |")


if __name__ == "__main__":
    main()
