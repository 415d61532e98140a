"""The two-stage pipeline: base model -> data -> SFT -> GRPO -> eval (base, SFT, RL) -> compare.

The data stage also builds the sealed test world (another seed, `data.test_seed`); eval and compare run once per
held-out set of ``eval.heldout`` (default: ``test`` only when there is a test world) into
``eval/<set>/<checkpoint>`` and ``report/<set>/`` (docs/heldout-sets.md).

`georft pipeline --config configs/pipeline/<name>.yaml [key=value ...] [--from STAGE | --only STAGE]`

One run directory holds every stage's output and resolved config. A stage whose output is complete (a
`.complete` marker written as its last act) is skipped, so a re-run resumes where the last one stopped; an
interrupted SFT or GRPO stage restarts from its newest complete checkpoint (`resume_from_checkpoint`; a checkpoint
half-written by a kill is skipped with a warning), GRPO with the rollout store trimmed to that checkpoint. `--from STAGE` redoes that stage and everything after it; `--only STAGE` redoes one stage.
A complete stage whose config section changed since it ran is still skipped (a finished multi-hour stage is not
thrown away for an edit), with a warning naming the changed keys and the `--from` that applies them.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from data_engine.errors import UserError
from data_engine.options import HELDOUT_SETS, PIPELINE_CHECKPOINTS, check_choice
from data_engine.ranks import is_main_process
from georft.plan import HardwareSection
from models.tiny import TinyModelConfig
from rl.config import GRPORunConfig
from sft.config import SFTRunConfig

STAGES = ("base_model", "data", "sft", "grpo", "eval", "compare")
MARKER = ".complete"


@dataclass
class BaseModelSection:
    """The model SFT starts from: an existing checkpoint (`path`), or, when `path` is empty, a tiny offline build."""

    path: str = ""
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)


TEST_SEED_OFFSET = 1000  # the sealed test world's seed is synth_seed + this unless data.test_seed is set


@dataclass
class DataStageSection:
    """Where the training data comes from: a build recipe (`recipe`), or, when empty, the synthetic world; and the
    sealed test world (docs/heldout-sets.md).

    Attributes:
        recipe: a `georft data build` recipe of the training data (empty: synthesize the world).
        synth_seed, synth_size: the synthetic training world's seed and size.
        test_seed: the synthetic test world's seed (null: ``synth_seed + TEST_SEED_OFFSET``); it must differ from
            ``synth_seed``. The test world is the same recipe (generator and size) with its ``val`` split only.
        test_recipe: with a `recipe`, the build recipe of the test set (empty: no test set; ``eval.heldout`` must
            then be ``[dev]``).
        strict: fail at the first bad record.
    """

    recipe: str = ""
    synth_seed: int = 0
    synth_size: str = "small"
    test_seed: int | None = None
    test_recipe: str = ""
    strict: bool = False

    @property
    def resolved_test_seed(self) -> int:
        return self.synth_seed + TEST_SEED_OFFSET if self.test_seed is None else self.test_seed

    @property
    def has_test_world(self) -> bool:
        return not self.recipe or bool(self.test_recipe)


@dataclass
class EvalStageSection:
    """Evaluation of base, SFT and RL checkpoints on one suite, then the comparison report.

    Attributes:
        heldout: the held-out sets evaluated (`data_engine.options.HELDOUT_SETS`): "test" (the sealed test world,
            ``eval/test/<checkpoint>``, report in ``report/test/``) and / or "dev" (the suite's held-out splits
            under ``data_root``: the training world's held-out split, ``eval/dev/<checkpoint>``, ``report/dev/``).
            null: ``[test]`` when the run has a test world (synthetic data, or ``data.test_recipe``), else
            ``[dev]``. The pipeline passes ``heldout`` and the test world's root to the suite.
    """

    suite: str = "configs/eval/demo.yaml"
    overrides: list = field(default_factory=list)
    backend: str = "hf"
    limit: int | None = None
    # HF backend: evaluations run side by side in this many processes (one per checkpoint and held-out set); on a
    # CPU machine, one per core. 1: one after another in this process.
    processes: int = 1
    checkpoints: list = field(default_factory=lambda: ["base", "sft", "rl"])
    heldout: list | None = None


@dataclass
class PipelineConfig:
    """A whole two-stage run. `sft` and `grpo` are the stages' own configs; the YAML wires their paths into the run
    directory with interpolations such as `${output_dir}/sft`."""

    output_dir: str = "runs/pipeline"
    hardware: HardwareSection = field(default_factory=HardwareSection)  # GPU pipelines: `georft plan` reads it
    base_model: BaseModelSection = field(default_factory=BaseModelSection)
    data: DataStageSection = field(default_factory=DataStageSection)
    sft: SFTRunConfig = field(default_factory=SFTRunConfig)
    grpo: GRPORunConfig = field(default_factory=GRPORunConfig)
    eval: EvalStageSection = field(default_factory=EvalStageSection)

    def validate(self) -> None:
        self.sft.validate()
        self.grpo.validate()
        hw = self.hardware
        if hw.gpus < 0 or hw.nodes < 1 or hw.gpu_memory_gib <= 0 or hw.zero_stage not in (0, 1, 2, 3):
            raise UserError("hardware: gpus >= 0, nodes >= 1, gpu_memory_gib > 0 and zero_stage 0-3 are required")
        for name in self.eval.checkpoints:
            check_choice(name, PIPELINE_CHECKPOINTS, "eval.checkpoints")
        if self.eval.processes < 1:
            raise UserError(f"eval.processes must be >= 1, got {self.eval.processes}")
        sets = self.heldout_sets
        if not sets or len(set(sets)) != len(sets):
            raise UserError(f"eval.heldout: name each held-out set once, got {sets}")
        for name in sets:
            check_choice(name, HELDOUT_SETS, "eval.heldout")
        if "test" in sets and not self.data.has_test_world:
            raise UserError("eval.heldout has test, but data.recipe is set without data.test_recipe: give the test "
                            "set's build recipe, or set eval.heldout=[dev]")
        if not self.data.recipe and self.data.resolved_test_seed == self.data.synth_seed:
            raise UserError(f"data.test_seed must differ from data.synth_seed ({self.data.synth_seed}): the test world "
                            "is sealed from the training world")

    @property
    def heldout_sets(self) -> list[str]:
        """``eval.heldout``, or its default: the test world when the run has one, else dev."""
        if self.eval.heldout is not None:
            return [str(h) for h in self.eval.heldout]
        return ["test"] if self.data.has_test_world else ["dev"]

    @property
    def stage_dirs(self) -> dict[str, Path]:
        out = Path(self.output_dir)
        return {
            "base_model": out / "base_model",
            "data": out / "data",
            "sft": Path(self.sft.output_dir),
            "grpo": Path(self.grpo.output_dir),
            "eval": out / "eval",
            "compare": out / "report",
        }


def _marker(path: Path) -> dict | None:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_complete(stage: str, dirs: dict[str, Path]) -> bool:
    """A stage is complete when its marker exists and was made from the current outputs of every earlier stage
    (each marker records the run ids of its inputs), so redoing GRPO also invalidates eval and compare."""
    mine = _marker(dirs[stage])
    if mine is None:
        return False
    for up in STAGES[: STAGES.index(stage)]:
        theirs = _marker(dirs[up])
        if theirs is None or mine.get("inputs", {}).get(up) != theirs.get("id"):
            return False
    return True


def mark_complete(stage: str, dirs: dict[str, Path], info: dict) -> None:
    import uuid

    inputs = {up: (_marker(dirs[up]) or {}).get("id") for up in STAGES[: STAGES.index(stage)]}
    record = {"id": uuid.uuid4().hex, "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "inputs": inputs, **info}
    dirs[stage].mkdir(parents=True, exist_ok=True)
    tmp = dirs[stage] / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(record, default=str))
    tmp.replace(dirs[stage] / MARKER)


def _say(msg: str) -> None:
    print(f"[georft pipeline] {msg}", file=sys.stderr, flush=True)


def run_pipeline(cfg: PipelineConfig, from_stage: str | None = None, only: str | None = None,
                 stages: list[str] | None = None) -> dict:
    """Run the stages in order, skipping complete ones. Returns {stage: "done" | "skipped" | "not run"}.

    Args:
        from_stage: redo this stage and every later one.
        only: redo only this stage.
        stages: run only these stages when incomplete, redoing nothing (what the multi-GPU launchers use, one
            `accelerate launch` per distributed stage; only rank 0 writes markers and configs).
    """
    from georft.config import save_config

    dirs = cfg.stage_dirs
    for name in stages or []:
        _stages_to_redo(name, None)  # validates the name
    chosen = _stages_to_redo(from_stage, only)
    main_process = is_main_process()
    if main_process and not stages:
        # GPU pipelines: the memory plan first, so a stage that will not fit is named before hours are spent.
        from georft.plan import plan_text

        text = plan_text(cfg)
        if text:
            _say("memory plan (georft plan):\n" + text)
    if main_process:
        for stage in chosen:
            _reset(dirs[stage])  # only ever our own run folders (a user's base checkpoint is never one of them)
        save_config(cfg, Path(cfg.output_dir) / "pipeline_config.yaml")
    selected = [only] if only is not None else (stages or list(STAGES))
    status = {}
    for stage in STAGES:
        if stage not in selected:
            status[stage] = "not run"
            continue
        if is_complete(stage, dirs):
            _say(f"{stage}: complete, skipped ({dirs[stage]})")
            changed = config_changes(_marker(dirs[stage]).get("config"), stage_config(cfg, stage))
            if changed:
                _say(f"WARNING {stage}: its config changed since it ran ({'; '.join(changed)}); the output above "
                     f"is from the old config. Redo it with --from {stage}")
            status[stage] = "skipped"
            continue
        _say(f"{stage}: running -> {dirs[stage]}")
        start = time.time()
        info = RUNNERS[stage](cfg, dirs)
        if main_process:
            mark_complete(stage, dirs, {"seconds": round(time.time() - start, 1), **(info or {}),
                                        "config": stage_config(cfg, stage)})
        _say(f"{stage}: done in {time.time() - start:.0f} s")
        status[stage] = "done"
    return status


def stage_config(cfg: PipelineConfig, stage: str) -> dict:
    """The resolved config section a stage runs from (compare has none of its own: it follows eval's)."""
    from omegaconf import OmegaConf

    section = {"base_model": cfg.base_model, "data": cfg.data, "sft": cfg.sft, "grpo": cfg.grpo,
               "eval": cfg.eval, "compare": cfg.eval}[stage]
    return OmegaConf.to_container(OmegaConf.structured(section), resolve=True)


def config_changes(old: dict | None, new: dict, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every dotted key whose value differs (empty when `old` was not recorded)."""
    if old is None:
        return []
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def _stages_to_redo(from_stage: str | None, only: str | None) -> list[str]:
    for name in (from_stage, only):
        if name is not None and name not in STAGES:
            from data_engine.registry import did_you_mean

            raise UserError(f"unknown stage {name!r}.{did_you_mean(name, STAGES)} Stages: {', '.join(STAGES)}")
    if only is not None:
        return [only]
    if from_stage is not None:
        return list(STAGES[STAGES.index(from_stage):])
    return []


def _reset(path: Path) -> None:
    """Forget a stage's output so it runs again (the folder is removed; it only holds that stage's output)."""
    if path.exists():
        shutil.rmtree(path)


def _run_base_model(cfg: PipelineConfig, dirs: dict[str, Path]) -> dict:
    if cfg.base_model.path:  # a user checkpoint: nothing to build (the marker goes in our run dir, see stage_dirs)
        from georft.pretrain import verify_manifest

        manifest = verify_manifest(cfg.base_model.path)  # a shipped pre-trained model: its files are checked
        if manifest is not None:
            _say(f"base model {cfg.base_model.path}: checksums match its manifest ({manifest.get('command')})")
        return {"path": cfg.base_model.path, "manifest": bool(manifest)}
    from models.tiny import build_tiny

    build_tiny(cfg.base_model.tiny, dirs["base_model"])
    return {"arch": cfg.base_model.tiny.arch}


def _run_data(cfg: PipelineConfig, dirs: dict[str, Path]) -> dict:
    from data_engine.build import build

    recipe = cfg.data.recipe
    if not recipe:
        from data_engine.synth import synthesize

        recipe = synthesize(dirs["data"] / "raw", seed=cfg.data.synth_seed, size=cfg.data.synth_size)
    summary = build(recipe, dirs["data"] / "built", strict=cfg.data.strict)
    info = {"recipe": str(recipe), "samples": summary.get("total")}
    if cfg.data.has_test_world:
        # The sealed test world: another seed, the same recipe; its val split is the `test` held-out set.
        test = cfg.data.test_recipe
        if not test:
            test = synthesize(dirs["data"] / "test" / "raw", seed=cfg.data.resolved_test_seed,
                              size=cfg.data.synth_size, heldout_only=True)
            info["test_seed"] = cfg.data.resolved_test_seed
        test_summary = build(test, sealed_root(dirs), strict=cfg.data.strict)
        info.update(test_recipe=str(test), test_samples=test_summary.get("total"))
    return info


def sealed_root(dirs: dict[str, Path]) -> Path:
    """The sealed test world's built dataset inside the run directory."""
    return dirs["data"] / "test" / "built"


def _resumed(stage_cfg, out: Path, name: str):
    """`models.loading.resumed` with the pipeline's messages."""
    from models.loading import resumed

    return resumed(stage_cfg, out, name, _say)


def _run_sft(cfg: PipelineConfig, dirs: dict[str, Path]) -> dict:
    from georft.config import save_config
    from sft.train import main

    sft = _resumed(cfg.sft, dirs["sft"], "sft")
    if is_main_process():
        save_config(sft, dirs["sft"] / "config.yaml")
    return {"summary": main(sft)}


def _run_grpo(cfg: PipelineConfig, dirs: dict[str, Path]) -> dict:
    from georft.config import save_config
    from rl.train import main

    if cfg.grpo.schedule == "per_task":
        return _run_grpo_per_task(cfg, dirs)
    grpo = _resumed(cfg.grpo, dirs["grpo"], "grpo")
    if is_main_process():
        save_config(grpo, dirs["grpo"] / "config.yaml")
    return {"summary": main(grpo)}


STAGE_DONE = ".stage_complete"  # an intermediate per-task GRPO stage finished (the last one is the grpo stage)


def grpo_task_stages(grpo: GRPORunConfig, out: Path, present: set[str] | None = None) -> list[tuple[str, GRPORunConfig]]:
    """``schedule: per_task``: one plain GRPO run config per task group, in order (GeoVLM-R1's successive stages).

    Stage k trains on the data sources restricted to its tasks, with the reward overrides of those tasks (the
    reward set applies as in any run), for its share of ``trainer.max_steps`` (split evenly, the first stages
    taking the remainder), starting from stage k-1's model (stage 0 from ``grpo.model.path``). Intermediate stages
    write to ``<grpo>/stages/<k>_<tasks>/``; the last one writes to ``<grpo>`` itself, so the RL checkpoint is where
    the mixed schedule puts it.

    Args:
        present: the tasks the data holds (`grpo_data_tasks`); without ``grpo.stages`` there is one stage per
            rewarded task present, in declaration order.

    Returns:
        [(stage name, its config with ``schedule: mixed``)].
    """
    from dataclasses import replace

    groups = [list(g) for g in grpo.stages] or [[t] for t in grpo.rewarded_tasks()
                                                 if present is None or t in present]
    if not groups:
        raise UserError("grpo.schedule per_task: no rewarded task in the data")
    total = int(grpo.trainer.get("max_steps", -1))
    if total < len(groups):
        raise UserError(f"grpo.schedule per_task shares trainer.max_steps over {len(groups)} stages: set max_steps "
                        f">= {len(groups)}, got {total}")
    steps = [total // len(groups) + (k < total % len(groups)) for k in range(len(groups))]
    out_cfgs, model_path = [], grpo.model.path
    for k, group in enumerate(groups):
        name = f"{k}_{'+'.join(group)}"
        sources = [replace(src, tasks=[t for t in group if src.tasks is None or t in src.tasks])
                   for src in grpo.data.sources]
        sources = [src for src in sources if src.tasks]
        if not sources:
            raise UserError(f"grpo.stages: stage {name} has no data source with tasks {group}")
        stage_dir = out if k == len(groups) - 1 else out / "stages" / name
        out_cfgs.append((name, replace(
            grpo, output_dir=str(stage_dir), model=replace(grpo.model, path=str(model_path)),
            data=replace(grpo.data, sources=sources), rewards={t: v for t, v in grpo.rewards.items() if t in group},
            trainer={**grpo.trainer, "max_steps": steps[k]}, schedule="mixed", stages=[])))
        model_path = stage_dir
    return out_cfgs


def grpo_data_tasks(grpo: GRPORunConfig) -> set[str]:
    """The tasks the GRPO data sources hold after their split / tasks / names filters (task column only read)."""
    from datasets import load_from_disk

    from data_engine.mixture import source_path

    found: set[str] = set()
    for src in grpo.data.sources:
        try:
            meta = load_from_disk(str(source_path(grpo.data.root, src.path))).select_columns(["task", "split", "source"]).to_dict()
        except (FileNotFoundError, ValueError) as e:
            raise UserError(f"grpo.data.sources: {src.path} is not a built dataset: {str(e).splitlines()[0]}") from None
        found |= {t for t, sp, so in zip(meta["task"], meta["split"], meta["source"], strict=True)
                  if (src.split is None or sp == src.split) and (src.tasks is None or t in src.tasks)
                  and (src.names is None or so in src.names)}
    return found


def _run_grpo_per_task(cfg: PipelineConfig, dirs: dict[str, Path]) -> dict:
    """Run the per-task GRPO stages in order; a finished stage is skipped, an interrupted one resumes from its
    newest complete checkpoint (`_resumed`)."""
    from georft.config import save_config
    from rl.train import main

    summaries = {}
    present = None if cfg.grpo.stages else grpo_data_tasks(cfg.grpo)
    for name, stage in grpo_task_stages(cfg.grpo, dirs["grpo"], present):
        out = Path(stage.output_dir)
        if (out / STAGE_DONE).is_file():
            _say(f"grpo stage {name}: complete, skipped ({out})")
            continue
        _say(f"grpo stage {name}: {stage.trainer['max_steps']} steps -> {out}")
        stage = _resumed(stage, out, f"grpo stage {name}")
        if is_main_process():
            save_config(stage, out / "config.yaml")
        summaries[name] = main(stage)
        if is_main_process() and out != dirs["grpo"]:
            (out / STAGE_DONE).write_text(json.dumps({"finished": time.strftime("%Y-%m-%d %H:%M:%S")}))
    return {"schedule": "per_task", "stages": summaries}


def _checkpoint_paths(cfg: PipelineConfig, dirs: dict[str, Path]) -> dict[str, Path]:
    base = Path(cfg.base_model.path) if cfg.base_model.path else dirs["base_model"]
    return {"base": base, "sft": dirs["sft"], "rl": dirs["grpo"]}


def eval_args(cfg: PipelineConfig, dirs: dict[str, Path], heldout: str, name: str) -> list[str]:
    """The `georft eval` command line of one checkpoint on one held-out set (the user's overrides come first, so
    the held-out set and the test world's root are the pipeline's)."""
    args = ["eval", "--model", str(_checkpoint_paths(cfg, dirs)[name]), "--suite", cfg.eval.suite,
            "--out", str(dirs["eval"] / heldout / name), "--backend", cfg.eval.backend]
    if cfg.eval.limit:
        args += ["--limit", str(cfg.eval.limit)]
    args += [str(o) for o in cfg.eval.overrides] + [f"heldout={heldout}"]
    if heldout == "test":
        args.append(f"test_root={sealed_root(dirs)}")
    return args


def _run_eval(cfg: PipelineConfig, dirs: dict[str, Path]) -> dict:
    from georft.cli import main as cli

    jobs = [(heldout, name, eval_args(cfg, dirs, heldout, name))
            for heldout in cfg.heldout_sets for name in cfg.eval.checkpoints]
    if cfg.eval.backend == "vllm" or cfg.eval.processes > 1:
        # Subprocesses: a vLLM engine holds its GPU memory share until its process exits (vLLM 0.30 has no reliable
        # in-process shutdown), so one process per checkpoint; on CPU, `eval.processes` runs that many side by side.
        _run_eval_processes(jobs, 1 if cfg.eval.backend == "vllm" else cfg.eval.processes)
    else:
        for heldout, name, args in jobs:
            if cli(args):
                raise UserError(f"eval of the {name} checkpoint on {heldout} failed")
    return {"checkpoints": list(cfg.eval.checkpoints), "heldout": cfg.heldout_sets}


def _run_eval_processes(jobs: list[tuple[str, str, list[str]]], processes: int) -> None:
    """Run `georft eval` jobs as subprocesses, at most `processes` at a time; each one's output goes to
    `<its --out>.log` (they would interleave on the terminal), and a failure names that log."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    def run(job: tuple[str, str, list[str]]) -> str | None:
        heldout, name, args = job
        log = Path(args[args.index("--out") + 1] + ".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        _say(f"eval {name} on {heldout} (log: {log})")
        with open(log, "w", encoding="utf-8") as f:
            rc = subprocess.run([sys.executable, "-m", "georft.cli", *args], stdout=f, stderr=subprocess.STDOUT)
        return f"eval of the {name} checkpoint on {heldout} failed (exit {rc.returncode}; {log})" if rc.returncode \
            else None

    with ThreadPoolExecutor(processes) as pool:
        failed = [problem for problem in pool.map(run, jobs) if problem]
    if failed:
        raise UserError("; ".join(failed))


def _run_compare(cfg: PipelineConfig, dirs: dict[str, Path]) -> dict:
    from georft.cli import main as cli

    reports = {}
    for heldout in cfg.heldout_sets:
        evals = [str(dirs["eval"] / heldout / name) for name in cfg.eval.checkpoints]
        out = dirs["compare"] / heldout
        rc = cli(["compare", *evals, "--out", str(out)])
        if rc:
            raise UserError(f"compare on {heldout} failed (exit {rc})")
        reports[heldout] = str(out / "report.html")
    return {"reports": reports}


RUNNERS = {
    "base_model": _run_base_model,
    "data": _run_data,
    "sft": _run_sft,
    "grpo": _run_grpo,
    "eval": _run_eval,
    "compare": _run_compare,
}
