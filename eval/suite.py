"""Eval suites: which built datasets to evaluate, and how (pixel budget, answer format, decoding, rewards).

A suite is one YAML under ``configs/eval/`` validated by `georft.config.load_config` against `SuiteConfig`::

    data_root: runs/demo/data/built        # dataset paths are relative to it (absolute paths are kept)
    min_pixels: 12544
    max_pixels: 50176
    box_type: hbb
    datasets:
      - {name: demo_detection, path: ., split: val, tasks: [detection]}
      - {name: dota_val, path: dota_v1_val_patches, split: val, patches: true}

Suites are named by path or by file stem (``--suite demo`` is ``configs/eval/demo.yaml``).

Held-out sets (docs/heldout-sets.md): ``heldout: dev`` (the default) evaluates each dataset's ``split`` under
``data_root`` — the training world's held-out split, for every tuning decision; ``heldout: test`` evaluates the same
datasets (same relative paths, splits and filters) under ``test_root`` — a world built with the same recipe from
another seed, evaluated once at the end. The trivial baselines are fitted on ``data_root`` in both cases (the
training data), and metrics.json records which set was evaluated (``heldout``)::

    georft eval --model runs/demo/sft --suite demo --out /tmp/sft_dev heldout=dev
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_engine.errors import UserError
from data_engine.options import (
    ANSWER_MODES,
    ANSWER_RULES,
    BOX_TYPES,
    DETECTION_PROTOCOLS,
    HELDOUT_SETS,
    MASK_FORMATS,
    SUBMISSION_FORMATS,
    check_choice,
)
from data_engine.reasoning import check_reasoning
from data_engine.registry import did_you_mean
from data_engine.tasks import evaluable_tasks

EVAL_TASKS = evaluable_tasks()  # the declared tasks with a parser and a scorer (`data_engine.tasks`)
SUITES_DIR = Path(__file__).resolve().parent.parent / "configs" / "eval"


@dataclass
class DatasetEntry:
    """One dataset of a suite.

    Attributes:
        name: the key of this dataset in metrics.json (unique within the suite).
        path: a built dataset directory (`georft data build --out`), relative to the suite's `data_root`.
        split: keep rows of this split only (null: every row).
        tasks: keep rows of these tasks only (empty: every evaluable task; "chat" rows are never evaluated).
        sources: keep rows of these sources only (empty: all).
        limit: at most this many rows (the first ones in id order), after the filters.
        patches: rows are DOTA-style patches (`<id>__<size>__<x>___<y>`): detections are merged to full images
            (rotated NMS) and scored against the full-image ground truth rebuilt from the patches.
        zoom_chain: answer the dataset's vqa rows with the zoom-in chain too (they are evaluated as zoom_vqa rows
            without evidence boxes, e.g. the LRS-VQA benchmark).
        baseline_split: the split the trivial baselines are fitted on (`eval.baselines`; same path, tasks and
            sources); null: no baselines for this dataset.
        answer_rule: VQA scoring, one of `data_engine.options.ANSWER_RULES`: "exact" (normalised exact match) or
            "lrs_vqa" (also LRS-VQA's official WordNet rule, both normalisations: `eval.metrics.lrs_vqa`) or
            "mme_realworld" (also MME-RealWorld's official letter extraction: `eval.metrics.multiple_choice`) or
            "xlrs" (also XLRS-Bench's letter-set equality: `eval.metrics.xlrs`).
        submission: also write a test-server submission of the predictions, one of
            `data_engine.options.SUBMISSION_FORMATS` ("dota_task1": `<out>/dota_task1/Task1_<class>.txt` and
            `<out>/dota_task1.zip`, `eval.submission`; the dataset has no ground truth and is not scored; at most one
            per suite); null: none.
    """

    name: str = "???"
    path: str = "???"
    split: str | None = None
    tasks: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    limit: int | None = None
    patches: bool = False
    zoom_chain: bool = False
    baseline_split: str | None = "train"
    answer_rule: str = "exact"
    submission: str | None = None


@dataclass
class DetectionSection:
    """Detection scoring.

    Attributes:
        iou_threshold: IoU threshold of mAP / mAP_nc / mF1.
        protocol: mAP protocol, "dota_devkit" or "mmrotate" (mAP_nc and mF1 always follow LMMRotate).
        merge_iou: rotated-NMS IoU used when merging patch detections (DOTA: 0.1).
    """

    iou_threshold: float = 0.5
    protocol: str = "dota_devkit"
    merge_iou: float = 0.1


@dataclass
class ZoomSection:
    """Zoom chains for zoom_vqa rows.

    Attributes:
        max_calls: zoom calls allowed per chain; a call beyond it ends the chain without an answer.
        direct: also answer each question without the chain (plain single-turn VQA) and report both.
    """

    max_calls: int = 2
    direct: bool = True


@dataclass
class SuiteConfig:
    """An evaluation suite.

    Attributes:
        name: suite name written to metrics.json (empty: the YAML's file stem).
        data_root: folder the dataset paths are relative to.
        datasets: the datasets, evaluated in this order.
        min_pixels, max_pixels: pixel budget of every image shown (as in training).
        box_type: detection answer box type, one of `data_engine.options.BOX_TYPES`.
        answer_mode: one of `data_engine.options.ANSWER_MODES` ("text": RSCoVLM plain text, or "json").
        reasoning: one of `data_engine.options.REASONING_MODES` ("none" or "think_answer", `data_engine.reasoning`),
            as the model was trained.
        reasoning_tasks: the tasks the think-answer frame applies to (None: every single-turn task).
        mask_format: segmentation answers, one of `data_engine.options.MASK_FORMATS` (as the data section's).
        max_new_tokens: generation budget per turn.
        batch_size: prompts per generate call.
        temperature: 0 = greedy.
        seed: sampling seed (used when temperature > 0).
        grounding_strict: Acc@τ with IoU > τ (RSCoVLM) instead of IoU >= τ.
        detection, zoom: task sections.
        report_rewards: score every sample with the configured rewards too (the `rewards` field in predictions).
        rewards: ``{task: [{name, weight, kwargs}]}`` as in a GRPO config; empty: the default reward set.
        baselines: also score the trivial policies of `eval.baselines` on the same samples (``baselines/`` in the
            output directory).
        java_metrics: caption METEOR through Java when ``java`` is on the PATH (one JVM start per dataset, tens of
            seconds on a small CPU); the baselines never compute it.
        max_image_pixels: the pixel limit (None: `data_engine.images.DEFAULT_MAX_IMAGE_PIXELS`); raise it for UHR
            benchmarks such as LRS-VQA (~27k px a side).
        heldout: which held-out set is evaluated, one of `data_engine.options.HELDOUT_SETS` ("dev": the datasets
            under ``data_root``; "test": the same datasets under ``test_root``).
        test_root: the folder the dataset paths are relative to with ``heldout: test`` (the sealed test world's
            `georft data build --out`).
    """

    name: str = ""
    data_root: str = ""
    datasets: list[DatasetEntry] = field(default_factory=list)
    min_pixels: int = 12544
    max_pixels: int = 50176
    box_type: str = "poly"
    answer_mode: str = "text"
    reasoning: str = "none"
    reasoning_tasks: list | None = None
    mask_format: str = "seg_grid"
    max_new_tokens: int = 512
    batch_size: int = 8
    temperature: float = 0.0
    seed: int = 0
    grounding_strict: bool = False
    detection: DetectionSection = field(default_factory=DetectionSection)
    zoom: ZoomSection = field(default_factory=ZoomSection)
    report_rewards: bool = True
    rewards: dict[str, Any] = field(default_factory=dict)
    baselines: bool = True
    java_metrics: bool = True
    max_image_pixels: int | None = None
    heldout: str = "dev"
    test_root: str = ""

    def validate(self) -> None:
        if not self.datasets:
            raise UserError("suite has no datasets")
        names = [d.name for d in self.datasets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise UserError(f"suite: dataset names must be unique, repeated: {', '.join(dup)}")
        for d in self.datasets:
            for t in d.tasks:
                if t not in EVAL_TASKS:
                    raise UserError(f"dataset {d.name!r}: task {t!r} cannot be evaluated.{did_you_mean(t, EVAL_TASKS)}"
                                    f" Known: {', '.join(EVAL_TASKS)}")
            check_choice(d.answer_rule, ANSWER_RULES, f"dataset {d.name!r}: answer_rule")
            if d.submission is not None:
                check_choice(d.submission, SUBMISSION_FORMATS, f"dataset {d.name!r}: submission")
            if d.limit is not None and d.limit < 1:
                raise UserError(f"dataset {d.name!r}: limit must be >= 1, got {d.limit}")
        subs = [d.name for d in self.datasets if d.submission]
        if len(subs) > 1:
            raise UserError(f"suite: at most one dataset may set submission (it is written to <out>/), got {subs}")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise UserError(f"need 0 < min_pixels <= max_pixels, got {self.min_pixels}, {self.max_pixels}")
        check_choice(self.box_type, BOX_TYPES, "box_type")
        check_choice(self.answer_mode, ANSWER_MODES, "answer_mode")
        check_reasoning(self.reasoning, "reasoning", self.reasoning_tasks)
        check_choice(self.mask_format, MASK_FORMATS, "mask_format")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise UserError("max_new_tokens and batch_size must be >= 1")
        check_choice(self.detection.protocol, DETECTION_PROTOCOLS, "detection.protocol")
        if self.max_image_pixels is not None and self.max_image_pixels <= 0:
            raise UserError(f"max_image_pixels must be > 0 (or null: the default), got {self.max_image_pixels}")
        if self.zoom.max_calls < 0:
            raise UserError(f"zoom.max_calls must be >= 0, got {self.zoom.max_calls}")
        check_choice(self.heldout, HELDOUT_SETS, "heldout")
        if self.heldout == "test":
            if not self.test_root:
                raise UserError("heldout=test needs test_root (the sealed test world's `georft data build --out`)")
            absolute = [d.name for d in self.datasets if Path(d.path).expanduser().is_absolute()]
            if absolute:
                raise UserError(f"heldout=test reads the datasets under test_root, but {', '.join(absolute)} "
                                "have absolute paths; make them relative to data_root")

    def dataset_path(self, entry: DatasetEntry, training: bool = False) -> Path:
        """The entry's directory: `path` under the evaluated set's root (`data_root`, or `test_root` with
        ``heldout: test``) unless absolute.

        Args:
            training: the training world's directory whatever the held-out set (where baselines are fitted).
        """
        root = self.test_root if self.heldout == "test" and not training else self.data_root
        p = Path(entry.path).expanduser()
        return p if p.is_absolute() or not root else Path(root).expanduser() / p

    def heldout_info(self) -> dict:
        """What metrics.json records of the evaluated held-out set: its name and root, and the training root."""
        return {"name": self.heldout, "root": self.test_root if self.heldout == "test" else self.data_root,
                "training_root": self.data_root}

    def select(self, names: list[str] | None) -> list[DatasetEntry]:
        """The datasets named (all when `names` is empty), in suite order; an unknown name fails with the known ones."""
        if not names:
            return list(self.datasets)
        known = [d.name for d in self.datasets]
        for n in names:
            if n not in known:
                raise UserError(f"unknown dataset {n!r} in suite {self.name!r}.{did_you_mean(n, known)} "
                                f"Known: {', '.join(known)}")
        return [d for d in self.datasets if d.name in names]


def suite_path(name_or_path: str) -> Path:
    """A suite YAML from a path or a name of `configs/eval/` (unknown names fail with the known ones)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise UserError(f"suite file not found: {p}")
        return p
    known = sorted(f.stem for f in SUITES_DIR.glob("*.yaml"))
    if name_or_path not in known:
        raise UserError(f"unknown suite {name_or_path!r}.{did_you_mean(name_or_path, known)} Known: {', '.join(known)}")
    return SUITES_DIR / f"{name_or_path}.yaml"

