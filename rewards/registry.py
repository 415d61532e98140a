"""Reward registry: every built-in reward by name, with the tasks it scores, its parts and what it needs.

A reward follows the contract of `rewards.contract` (``fn(completion, sample, frame=None, **kwargs)`` ->
``{"overall", <part>: ...}``). User rewards (``file.py:function`` or ``module:function``) follow the same contract
and may also return a bare float; they may declare the dataset columns they read as a ``columns`` attribute
(default: task, target) and their needs as ``needs_turns`` / ``needs_doc_freq`` attributes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_engine.errors import UserError
from data_engine.registry import Registry
from data_engine.tasks import TASKS, rewardable_tasks
from rewards import (
    caption,
    change_caption,
    damage,
    detection,
    grounded_description,
    grounding,
    lexical,
    multilabel,
    referring,
    segmentation,
    text_match,
    think,
    zoom,
)
from rewards import format as format_mod
from rewards.contract import BatchRewardFn, RewardFn

# Every task GRPO can reward (declared in `data_engine.tasks`): what task-agnostic and user rewards score.
ALL_TASKS = rewardable_tasks()
CAPTION_TASKS = ("caption", "region_caption")  # answer with a caption: CIDEr-D and the lexical rewards score them
# Tasks the think-then-answer frame applies to (`data_engine.reasoning.row_reasoning`: single-turn ones).
SINGLE_TURN_TASKS = tuple(t for t in ALL_TASKS if TASKS[t].interaction == "single_turn")


@dataclass(frozen=True)
class RewardDef:
    """A named reward.

    Attributes:
        name: registry name used in configs.
        fn: the reward (`rewards.contract.RewardFn`).
        tasks: tasks it can score.
        parts: names of the parts it returns besides "overall".
        description: one line for ``georft rewards list``.
        columns: dataset columns its adapter reads from each GRPO row.
        batch: optional `rewards.contract.BatchRewardFn` giving the same results as ``fn`` row by row, used by the
            TRL adapter for speed.
        needs_turns: it reads the rollout's zoom steps: the adapter passes the row's ``turns`` as ``turns=``.
        needs_doc_freq: it reads a corpus document-frequency table: the adapter passes the training references'
            table as ``df=`` unless the config's kwargs set ``df`` or ``df_path``.
        full_completion: it reads the whole completion even in think-then-answer rows (``think_format``); every
            other reward gets the answer block only there (`rewards.adapter.reward_view`).
    """

    name: str
    fn: RewardFn | Callable[..., Any]
    tasks: tuple[str, ...]
    parts: tuple[str, ...]
    description: str
    columns: tuple[str, ...] = ("task", "target")
    batch: BatchRewardFn | Callable[..., list[dict]] | None = None
    needs_turns: bool = False
    needs_doc_freq: bool = False
    full_completion: bool = False


REWARDS: Registry[RewardDef] = Registry("reward")
for _d in (
    RewardDef("rotated_iou_f1", detection.rotated_iou_f1, ("detection", "change_detection"), detection.PARTS,
              "rotated-polygon IoU, Hungarian class-aware matching, mixed with F1 at IoU 0.5",
              ("task", "target", "frame")),
    RewardDef("grounding_iou", grounding.grounding_iou, ("grounding",), grounding.PARTS,
              "IoU of the first box in original pixels plus a 0.1-weighted centre-distance term",
              ("task", "target", "frame")),
    RewardDef("vqa_match", text_match.vqa_match, ("vqa",), text_match.PARTS,
              "normalised exact match (articles, punctuation, yes/no, numbers, choice letters)"),
    RewardDef("classification_match", text_match.classification_match, ("classification", "temporal_classification"),
              text_match.PARTS,
              "the named class equals the label (cut-off fuzzy label matching)"),
    RewardDef("cider_d", caption.cider_d_reward, ("caption", "region_caption"), caption.PARTS,
              "per-completion CIDEr-D with training-set document frequencies, min(x, 3) / 3",
              ("task", "target"), caption.cider_d_batch, needs_doc_freq=True),
    RewardDef("change_cider_d", change_caption.change_cider_d, ("change_caption",), change_caption.PARTS,
              "change-caption CIDEr-D (training df) times 1 when the caption's no-change verdict matches the pair",
              ("task", "target"), change_caption.change_cider_d_batch, needs_doc_freq=True),
    RewardDef("damage_ordinal", damage.damage_ordinal, ("damage",), damage.PARTS,
              "damage level: 1 exact, 0.5 one level off, 0 otherwise (kwarg credit); disaster type: class match"),
    RewardDef("zoom_chain", zoom.zoom_chain, ("zoom_vqa",), zoom.PARTS,
              "answer accuracy; valid in-view zoom steps and evidence coverage as a bonus gated on a correct answer",
              ("task", "target", "frame"), needs_turns=True),
    RewardDef("mask_iou", segmentation.mask_iou, ("referring_segmentation", "semantic_segmentation"), segmentation.PARTS,
              "mask IoU in original pixels of the grid or polygon answer (pycocotools-equal); 'There is none.' right only on "
              "an empty target", ("task", "target", "frame")),
    RewardDef("format", format_mod.format_reward, ALL_TASKS, format_mod.PARTS,
              "1 when the completion has exactly the task's answer format (lines / JSON / tool calls), else 0",
              ("task", "target", "frame")),
    RewardDef("referring_iou_f1", referring.referring_iou_f1, ("referring_detection",), referring.PARTS,
              "several boxes: Hungarian-matched IoU over max(n_pred, n_true) mixed with F1 at IoU 0.5",
              ("task", "target", "frame")),
    RewardDef("multilabel_f1", multilabel.multilabel_f1, ("multilabel_classification",), multilabel.PARTS,
              "sample F1 of the named classes (not recall: naming every class pays in precision)"),
    RewardDef("count_error", text_match.count_error, ("vqa",), text_match.COUNT_PARTS,
              "counting: 1 - min(|pred - true| / max(true, 1), 1) on a numeric answer"),
    RewardDef("rouge_l", lexical.rouge_l_reward, CAPTION_TASKS, lexical.PARTS,
              "best single-reference ROUGE-L F of the caption, times the distinct-bigram share"),
    RewardDef("levenshtein_ratio", lexical.levenshtein_ratio, CAPTION_TASKS, lexical.PARTS,
              "best normalised Levenshtein similarity to a reference (rapidfuzz), times the distinct-bigram share"),
    RewardDef("jaccard", lexical.jaccard, CAPTION_TASKS, lexical.PARTS,
              "best token-set Jaccard index with a reference, times the distinct-bigram share"),
    RewardDef("grounding_description", grounded_description.grounding_description, ("grounding_description",),
              grounded_description.PARTS, "description ROUGE-L (repetition-guarded) times the boxes' referring score",
              ("task", "target", "frame")),
    RewardDef("think_format", think.think_format, SINGLE_TURN_TASKS, think.PARTS,
              "1 when the whole completion is exactly one <think> block then one <answer> block, else 0",
              ("task",), full_completion=True),
):
    REWARDS.add(_d.name, _d)


def is_user_reward(name: str) -> bool:
    """True for ``file.py:function`` / ``module:function`` names."""
    return ":" in name


def load_user_reward(name: str) -> RewardDef:
    """Import a user reward ``path/to/file.py:function`` or ``package.module:function``.

    Raises:
        UserError: the file/module or the function does not exist, or it is not callable.
    """
    target, _, attr = name.rpartition(":")
    if not target or not attr:
        raise UserError(f"user reward {name!r} must look like path/to/file.py:function or module:function")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"user reward {name!r}: file {path} not found")
        mod_name = f"georft_user_reward_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise UserError(f"user reward {name!r}: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise UserError(f"user reward {name!r}: cannot import module {target!r}: {e}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UserError(f"user reward {name!r}: {target} has no function {attr!r}")
    columns = tuple(getattr(fn, "columns", ("task", "target")))
    doc = (fn.__doc__ or "user reward").strip().splitlines()[0]
    return RewardDef(name, fn, ALL_TASKS, tuple(getattr(fn, "parts", ())), doc, columns,
                     needs_turns=bool(getattr(fn, "needs_turns", False)),
                     needs_doc_freq=bool(getattr(fn, "needs_doc_freq", False)),
                     full_completion=bool(getattr(fn, "full_completion", False)))


def get_reward(name: str) -> RewardDef:
    """A registered reward or a user reward by ``path:function`` (with "did you mean" on a typo)."""
    return load_user_reward(name) if is_user_reward(name) else REWARDS.get(name)
