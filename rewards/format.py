"""Format reward ``format``: 1 when the completion has exactly the answer shape of its task, else 0.

The shape is the one `data_engine.answers` writes, judged by the task's parser (``format_ok``): detection lines
or JSON list of one box type with known labels, or ``There are none.``; one grounding box line / JSON item; a
single-line VQA answer without markup; exactly one class name; a non-empty caption; for a zoom chain, every tool
call well-formed JSON naming ``image_zoom_in`` with 4 numbers and a well-formed final answer. Range {0, 1};
weight it low (e.g. 0.1) so it cannot dominate the accuracy reward (docs/rewards-and-metrics.md §1).
"""

from __future__ import annotations

from typing import Any

from data_engine.frames import Frame
from data_engine.tasks import TASKS
from eval.parsers import parse
from rewards.common import target_of

PARTS = ("format", "n_parsed", "n_failed")


def format_reward(completion: Any, sample: dict, frame: Frame | None = None, box_type: str | None = None,
                  **_: Any) -> dict:
    """``{"overall": 0 | 1, "format", "n_parsed", "n_failed"}`` for the sample's task."""
    decl = TASKS.get(sample.get("task")) if isinstance(sample.get("task"), str) else None
    if decl is None or not decl.rewardable:
        return {"overall": 0.0, "format": 0.0, "n_parsed": 0.0, "n_failed": 0.0}
    target = target_of(sample)
    # The parser options the task declares (`choices` names the letter only; it never changes the format verdict).
    kw: dict[str, Any] = {k: target.get(k) or None for k in decl.parse_target_keys}
    if decl.box_answers:
        kw["box_type"] = box_type
    if decl.parser == "segmentation" and sample.get("mask_format"):
        kw["mask_format"] = sample["mask_format"]  # the row's mask answer format (docs/formats.md §6, §7)
    out = parse(decl.name, completion, frame=frame, **kw)
    ok = float(out["format_ok"])
    return {"overall": ok, "format": ok, "n_parsed": float(out["n_parsed"]), "n_failed": float(out["n_failed"])}
