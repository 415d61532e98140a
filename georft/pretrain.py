"""Pre-train an embedded base model that can see: `georft model pretrain --config configs/pretrain/<name>.yaml`.

The demo should start from a base model that already localises, the way a user starts from Qwen2.5-VL, not from
random weights. This stage makes one, reproducibly, from the repository alone:

1. build a small model of the real architecture (`model:`, the sizes `georft model tiny` takes) with random weights,
   or start from an earlier result (`init_from`, e.g. the shipped model, to pre-train it longer in a later session);
2. synthesize a world of its OWN seed (`world.seed`, never the demo's training seed 0 or its sealed test seed) and
   build it;
3. train it on that world's training split with the SFT stage (`sft:`, TRL's SFTTrainer, a mixture weighted towards
   grounding and detection), saving checkpoints as it goes; a re-run resumes from the newest complete checkpoint, so
   pre-training can be spread over several sessions;
4. score every checkpoint on the world's held-out split (`curve:`: grounding mean IoU, acc@0.5, detection mAP@0.5,
   beside the constant-box baseline), written to `curve.json` / `curve.md`, so the choice of length is visible;
5. copy the final model and processor into `ship_dir` with a `MANIFEST.json` (sha256 of every file, the exact
   command, the resolved config and the curve). `georft pipeline` verifies that manifest before using the model.

Everything heavy is imported lazily: `georft config check` validates these configs without torch.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from data_engine.errors import UserError
from models.qwen_tokenizer import sha256_of
from models.tiny import TinyModelConfig
from sft.config import SFTRunConfig

MANIFEST = "MANIFEST.json"
# What a shipped model folder holds besides the manifest (optimizer state and logs stay in the run directory).
SHIP_FILES = ("config.json", "generation_config.json", "model.safetensors", "chat_template.jinja",
              "processor_config.json", "preprocessor_config.json", "video_preprocessor_config.json",
              "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass
class WorldSection:
    """The synthetic world pre-training reads: its own seed, so no demo image or question is seen."""

    seed: int = 100
    size: str = "medium"


@dataclass
class CurveSection:
    """Held-out scores of each saved checkpoint (the pre-training curve)."""

    suite: str = "configs/eval/pretrain_curve.yaml"
    limit: int = 100             # samples per dataset and checkpoint
    overrides: list = field(default_factory=list)


@dataclass
class PretrainConfig:
    """One pre-training run. `sft` is a plain SFT stage config; its model and data paths are set by the stage."""

    output_dir: str = "runs/pretrain"
    ship_dir: str = ""           # where the final model is copied with its manifest; empty: not shipped
    # Continue from these weights instead of a random `model:` build (e.g. the shipped model, to pre-train it longer
    # in a later session: the optimizer state restarts, the weights carry over; `model:` sizes are then ignored).
    init_from: str = ""
    command: str = ""            # the exact launch command, recorded in the manifest
    model: TinyModelConfig = field(default_factory=TinyModelConfig)
    world: WorldSection = field(default_factory=WorldSection)
    sft: SFTRunConfig = field(default_factory=SFTRunConfig)
    curve: CurveSection = field(default_factory=CurveSection)

    def validate(self) -> None:
        from data_engine.synth import SIZES

        self.model.validate()
        self.sft.validate()
        if self.world.size not in SIZES:
            raise UserError(f"world.size must be one of {sorted(SIZES)}, got {self.world.size!r}")
        if self.world.seed == 0:
            raise UserError("world.seed must not be 0: that is the demo's training world; pre-train on your own seed")
        if self.curve.limit < 1:
            raise UserError(f"curve.limit must be >= 1, got {self.curve.limit}")


def _say(msg: str) -> None:
    print(f"[georft pretrain] {msg}", file=sys.stderr, flush=True)


def verify_manifest(folder: str | Path) -> dict | None:
    """Check a shipped model folder against its MANIFEST.json; None when the folder has no manifest.

    Raises:
        UserError: a listed file is missing or its checksum differs (a partial clone, a Git LFS pointer, an edit).
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for name, digest in manifest.get("sha256", {}).items():
        f = folder / name
        if not f.is_file():
            raise UserError(f"{f}: missing (listed in {path}); re-clone or re-run: {manifest.get('command', '')}")
        if sha256_of(f) != digest:
            raise UserError(f"{f}: checksum differs from {path} (a partial download or an edited file); re-clone "
                            f"or re-run: {manifest.get('command', '')}")
    return manifest


def _world(cfg: PretrainConfig, out: Path) -> Path:
    from data_engine.build import build
    from data_engine.synth import synthesize

    built = out / "world" / "built"
    if (built / ".complete").is_file():
        return built
    recipe = synthesize(out / "world" / "raw", seed=cfg.world.seed, size=cfg.world.size)
    summary = build(recipe, built)
    (built / ".complete").write_text(json.dumps({"rows": summary.get("total")}))
    _say(f"world seed {cfg.world.seed} ({cfg.world.size}): {summary.get('total')} rows in {built}")
    return built


def _sft_stage(cfg: PretrainConfig, out: Path, init: Path, built: Path) -> SFTRunConfig:
    from models.loading import resumed

    stage = replace(cfg.sft, output_dir=str(out / "sft"), model=replace(cfg.sft.model, path=str(init)),
                    data=replace(cfg.sft.data, root=str(built)))
    return resumed(stage, out / "sft", "pre-training", _say)


def checkpoints_in_order(sft_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete saved checkpoint, ascending."""
    from models.loading import checkpoint_problem, checkpoints_newest_first

    return [(int(p.name.split("-", 1)[1]), p) for p in reversed(checkpoints_newest_first(sft_dir))
            if checkpoint_problem(p) is None]


def score_curve(cfg: PretrainConfig, out: Path, built: Path, points: list[tuple[int, Path]]) -> list[dict]:
    """Evaluate each checkpoint on the held-out split (cached per step in curve/<step>/metrics.json)."""
    from georft.cli import main as cli

    rows = []
    for step, path in points:
        dest = out / "curve" / f"step_{step:06d}"
        if not (dest / "metrics.json").is_file():
            args = ["eval", "--model", str(path), "--suite", cfg.curve.suite, "--out", str(dest),
                    "--limit", str(cfg.curve.limit), f"data_root={built}", *[str(o) for o in cfg.curve.overrides]]
            if cli(args):
                raise UserError(f"curve: eval of {path} failed")
        doc = json.loads((dest / "metrics.json").read_text())
        # The constant baseline (best constant box, `There are none.`, majority class) beside every point.
        base = dest / (doc.get("baselines") or {}).get("constant", "-") / "metrics.json"
        const = curve_point(json.loads(base.read_text()), "constant:") if base.is_file() else {}
        rows.append({"step": step, **curve_point(doc), **const})
    return rows


CURVE_METRICS = ("mean_iou", "acc@0.5", "mAP", "f1", "accuracy")


def curve_point(doc: dict, prefix: str = "") -> dict:
    """The numbers one curve point reports, from an eval `metrics.json` ({dataset: {metric: value}})."""
    return {f"{prefix}{name}/{key}": float(m[key]) for name, m in doc.get("metrics", {}).items()
            for key in CURVE_METRICS if isinstance(m.get(key), (int, float))}


def write_curve(out: Path, rows: list[dict]) -> None:
    (out / "curve.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    keys = sorted({k for r in rows for k in r if k != "step"})
    lines = ["| step | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += ["| {} | {} |".format(r["step"], " | ".join(f"{r[k]:.3f}" if k in r else "" for k in keys)) for r in rows]
    (out / "curve.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _lineage(init_from: str) -> dict | None:
    if not init_from:
        return None
    before = json.loads((Path(init_from) / MANIFEST).read_text()) if (Path(init_from) / MANIFEST).is_file() else {}
    return {"path": init_from, "steps": before.get("steps"), "command": before.get("command"),
            "init_from": before.get("init_from")}


def ship(cfg: PretrainConfig, final: Path, curve: list[dict], summary: dict) -> Path:
    """Copy the final model + processor into `cfg.ship_dir` and write its manifest."""
    from georft.config import to_yaml

    dest = Path(cfg.ship_dir)
    dest.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name in SHIP_FILES:
        if (final / name).is_file():
            shutil.copy2(final / name, dest / name)
            digests[name] = sha256_of(dest / name)
    manifest = {
        "command": cfg.command,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "steps": summary.get("steps"),
        "train_seconds": summary.get("seconds"),
        "world": {"seed": cfg.world.seed, "size": cfg.world.size},
        # Lineage: a run continued from an earlier model records that model's own manifest (steps, curve, command).
        "init_from": _lineage(cfg.init_from),
        "sha256": digests,
        "curve": curve,
        "config": to_yaml(cfg),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return dest


def main(cfg: PretrainConfig) -> dict:
    """Build -> world -> SFT (resumable) -> curve -> ship. Returns the summary (also `output_dir/summary.json`)."""
    from georft.config import save_config
    from models.tiny import build_tiny
    from sft.train import main as sft_main

    cfg.validate()
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")

    init = out / "init"
    if not (init / "model.safetensors").is_file():
        if cfg.init_from:
            verify_manifest(cfg.init_from)
            shutil.copytree(cfg.init_from, init, ignore=shutil.ignore_patterns(MANIFEST))
        else:
            build_tiny(cfg.model, init)
    built = _world(cfg, out)

    final = out / "sft"
    if (final / "model.safetensors").is_file() and (final / "summary.json").is_file():
        summary = json.loads((final / "summary.json").read_text())
        _say(f"training complete, skipped ({final})")
    else:
        summary = sft_main(_sft_stage(cfg, out, init, built))
    steps = int(summary.get("steps") or cfg.sft.trainer.get("max_steps", 0))
    points = [p for p in checkpoints_in_order(final) if p[0] < steps] + [(steps, final)]
    curve = score_curve(cfg, out, built, points)
    write_curve(out, curve)
    result = {"final": str(final), "curve": curve, "train": summary}
    if cfg.ship_dir:
        result["shipped"] = str(ship(cfg, final, curve, summary))
        _say(f"shipped {result['shipped']}")
    (out / "summary.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return result
