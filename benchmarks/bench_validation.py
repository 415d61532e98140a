"""Validation during training: its share of the step time, on the tiny model and the tiny synthetic world.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_validation.py [--stage sft|grpo] [--steps 30] [--every 10]
[--samples 8] [--datasets synth_scenes,synth_rsvg,synth_rsvqa] [--max-new-tokens 64]``.

One run with `validation.enabled` (the demo suite's datasets named, the first `--samples` rows of each). Every
optimizer step is timed by a callback registered before the validation callback, so a step's time excludes the
validation that follows it; each validation's seconds come from ``validation/metrics.jsonl``. Reported:

- the median training step (s) and the mean validation (s);
- the overhead share at the run's cadence: validations' seconds / training steps' seconds over the run (what
  `every_steps` costs on average per step), and the same extrapolated to other cadences (validation seconds /
  (N x median step)).

Numbers depend on the machine and its load (docs/validation.md records a run and the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "offline")

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", default="sft", choices=["sft", "grpo"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--datasets", default="synth_scenes,synth_rsvg,synth_rsvqa")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()

    from transformers import TrainerCallback

    import eval.validation_callback as vc
    from data_engine.build import build
    from data_engine.synth import synthesize
    from georft.config import load_config
    from models.tiny import build_tiny

    tmp = Path(tempfile.mkdtemp(prefix="bench_validation_"))
    model = build_tiny("qwen3_vl", tmp / "model", seed=0)
    build(synthesize(tmp / "raw", seed=0, size="tiny"), tmp / "built", progress=False)
    cfg_file = tmp / "cfg.yaml"
    cfg_file.write_text(f"_base_: {REPO / f'configs/{args.stage}/demo_cpu.yaml'}\n"
                        f"validation:\n  suite: {{_base_: {REPO / 'configs/eval/demo.yaml'}}}\n")
    datasets = [d for d in args.datasets.split(",") if d]
    overrides = [f"model.path={model}", f"data.root={tmp / 'built'}", f"output_dir={tmp / 'run'}",
                 f"trainer.max_steps={args.steps}", "trainer.save_strategy=no", "trainer.report_to=[]",
                 "trainer.logging_steps=1000", "validation.enabled=true", f"validation.datasets=[{','.join(datasets)}]",
                 f"validation.every_steps={args.every}", f"validation.samples_per_task={args.samples}",
                 f"validation.metric={datasets[0]}/accuracy" if "scenes" in datasets[0] else
                 f"validation.metric={datasets[0]}/mean_iou", "validation.save_best=false",
                 f"validation.suite.max_new_tokens={args.max_new_tokens}"]
    if args.stage == "grpo":
        from rl.config import GRPORunConfig as Schema
        from rl.train import main as run
        overrides += ["data.sources=[{path: ., split: train, tasks: [classification, vqa]}]"]
    else:
        from sft.config import SFTRunConfig as Schema
        from sft.train import main as run
        overrides += ["data.sources=[{path: ., split: train}]"]
    cfg = load_config(Schema, cfg_file, overrides)

    steps: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            steps.append(time.perf_counter() - self.t)

    original = vc.attach_validation

    def attach(trainer, *a, **kw):  # the step timer goes first, so a step's time ends before its validation
        trainer.add_callback(StepTimer())
        return original(trainer, *a, **kw)

    vc.attach_validation = attach
    t0 = time.perf_counter()
    summary = run(cfg)
    wall = time.perf_counter() - t0
    lines = [json.loads(x) for x in (tmp / "run" / "validation" / "metrics.jsonl").read_text().splitlines()]
    val = [x["seconds"] for x in lines]
    train_s = sum(steps)
    in_run = [x["seconds"] for x in lines if x["step"] > 0]  # the start-of-run validation is a one-off
    med = statistics.median(steps[1:] or steps)
    print(f"stage {args.stage}: {len(steps)} steps, median step {med:.3f} s, wall {wall:.1f} s")  # noqa: T201
    print(f"validations: {len(val)} at steps {[x['step'] for x in lines]}, mean {statistics.mean(val):.2f} s "  # noqa: T201
          f"({len(datasets)} datasets x {args.samples} samples, max_new_tokens {args.max_new_tokens})")
    print(f"overhead over this run (every {args.every}, start validation excluded): "  # noqa: T201
          f"{sum(in_run) / train_s:.1%} of the training steps' time")
    for n in (10, 50, 100, 200, 500):
        print(f"  every {n:>3} steps: {statistics.mean(val) / (n * med):.1%}")  # noqa: T201
    print(json.dumps(summary.get("validation"), default=str))  # noqa: T201


if __name__ == "__main__":
    main()
