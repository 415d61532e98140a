"""The allowed values of every enumerated config field, in one table, and the one check that enforces them.

Config sections (`DataSection`, `ModelSection`, the eval `SuiteConfig`, the pipeline) validate against these tuples
at load time, and the code that acts on a value (the renderer, the parsers, the suites) imports the same tuples, so a
value is accepted in one place exactly when it works in the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from data_engine.errors import UserError
from data_engine.registry import did_you_mean

BOX_TYPES = ("hbb", "obb", "poly")  # detection answer lines: x1,y1,x2,y2 / cx,cy,w,h,angle / 4 vertices
MASK_FORMATS = ("seg_grid", "seg_polygon")  # mask answers: run lengths on the patch grid / polygon lines (docs/formats.md §6, §7)
ANSWER_MODES = ("text", "json")  # RSCoVLM plain-text lines, or a fenced JSON list
DTYPES = ("auto", "float32", "bfloat16", "float16")
ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")
QUANTIZATIONS = ("none", "4bit")  # model.quantization: 4bit = QLoRA (bitsandbytes NF4 base weights, needs CUDA)
ADAPTER_MODES = ("continue", "merge")  # model.lora.from_adapter: train the given adapter on, or merge it first
DETECTION_PROTOCOLS = ("dota_devkit", "mmrotate")
SUBMISSION_FORMATS = ("dota_task1",)  # test-server exports of an eval's predictions (eval.submission)
# VQA scoring: normalised exact match / + LRS-VQA's WordNet rule (eval.metrics.lrs_vqa) / + MME-RealWorld's official
# letter extraction (eval.metrics.multiple_choice) / + XLRS-Bench's letter-set equality (eval.metrics.xlrs)
ANSWER_RULES = ("exact", "lrs_vqa", "mme_realworld", "xlrs")
MULTI_EVIDENCE = ("union", "single_turn")  # zoom chains of questions with several evidence boxes
PIPELINE_CHECKPOINTS = ("base", "sft", "rl")
# Held-out sets (docs/heldout-sets.md): "dev" = the training world's held-out split (every tuning decision), "test" =
# a world synthesized from another seed with the same recipe (evaluated once, at the end).
HELDOUT_SETS = ("dev", "test")
REASONING_MODES = ("none", "think_answer")  # plain answers, or <think>…</think><answer>…</answer> (data_engine.reasoning)


def check_choice(value: object, allowed: Sequence[str], field: str) -> None:
    """Raise `UserError` naming `field` when `value` is not one of `allowed` (with a "did you mean")."""
    if value not in allowed:
        raise UserError(f"{field} must be one of {', '.join(allowed)}, got {value!r}.{did_you_mean(str(value), allowed)}")


def check_range(value: float, field: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> None:
    """Raise `UserError` naming `field` when `value` is outside [low, high] (`low_open`: (low, high])."""
    bad = (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high)
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise UserError(f"{field} must be in {'(' if low_open else '['}{lo}, {hi}], got {value!r}")
