"""What `georft predict` asks and where it looks: the task's target from a user prompt, and the windows of a scene.

**Prompts.** A task's prompt function (`data_engine.tasks`) reads a few target keys; a user prompt fills them:
plain text goes to the task's main field (`PROMPT_FIELD`: the expression, the question, the class, the region box
``x1,y1,x2,y2`` in image pixels), a JSON object gives the target keys directly (``{"question": ..., "box": [...]}``
for damage), and ``--classes`` fills the class list. Detection without a class list asks for DOTA-v1.0's 15 classes
(`DEFAULT_DETECTION_CLASSES`).

**Windows.** Localisation tasks (`TILED_TASKS`) look at a scene larger than one window through overlapping windows:
the window side is the largest multiple of the family's factor whose square fits the per-frame pixel budget
(`window_side`; a change pair shares the budget between its frames, `data_engine.render.frame_budget`), so each
window is shown at native resolution; the overlap defaults to a fifth of the side (DOTA's 200 px of 1024). Window
starts follow `data_engine.patches.window_starts` (the last window pulled back to end at the border); on an axis
shorter than the side the window is the whole axis. Every other task (answers about the whole image) and
``tiling="whole"`` show the whole scene once, decimated to the budget.
"""

from __future__ import annotations

import json
import math

import numpy as np

from data_engine.errors import UserError
from data_engine.patches import window_starts
from data_engine.tasks import get_task

# The tasks `georft predict` runs: every evaluable task whose input is one image or a pair (not "chat").
PREDICT_TASKS = ("detection", "grounding", "vqa", "caption", "classification", "zoom_vqa", "change_caption",
                 "change_detection", "damage", "temporal_classification", "referring_segmentation",
                 "semantic_segmentation", "referring_detection", "multilabel_classification", "region_caption",
                 "grounding_description")
TILED_TASKS = ("detection", "change_detection", "grounding", "referring_detection", "referring_segmentation",
               "semantic_segmentation")
PAIR_TASKS = ("change_caption", "change_detection", "damage", "temporal_classification")
# The target key plain prompt text fills, per task (None: the task takes no prompt).
PROMPT_FIELD = {
    "detection": None, "change_detection": None, "caption": None, "change_caption": None,
    "grounding_description": None, "classification": None, "multilabel_classification": None,
    "temporal_classification": None,
    "grounding": "expression", "referring_detection": "expression", "referring_segmentation": "expression",
    "vqa": "question", "zoom_vqa": "question", "damage": "question", "semantic_segmentation": "class",
    "region_caption": "box",
}
CLASS_TASKS = ("detection", "change_detection", "classification", "multilabel_classification",
               "temporal_classification", "damage", "semantic_segmentation")
DEFAULT_DETECTION_CLASSES = (
    "plane", "baseball-diamond", "bridge", "ground-track-field", "small-vehicle", "large-vehicle", "ship",
    "tennis-court", "basketball-court", "storage-tank", "soccer-ball-field", "roundabout", "harbor",
    "swimming-pool", "helicopter")
GAP_FRACTION = 0.2


def check_task(task: str) -> str:
    """The task name when `georft predict` can run it; a one-line `UserError` otherwise (unknown: did you mean)."""
    get_task(task)
    if task not in PREDICT_TASKS:
        raise UserError(f"task {task!r} cannot be predicted (it has no single- or two-image prompt); "
                        f"one of: {', '.join(PREDICT_TASKS)}")
    return task


def _box(text: str) -> list[float]:
    try:
        vals = [float(v) for v in text.replace("[", "").replace("]", "").split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals) or vals[2] <= vals[0] or vals[3] <= vals[1]:
        raise UserError(f"region box must be 'x1,y1,x2,y2' in image pixels with x2 > x1 and y2 > y1, got {text!r}")
    return vals


def build_target(task: str, prompt: str | None, classes: list[str] | None) -> dict:
    """The target dict the task's prompt function reads, from a user prompt and a class list.

    Raises:
        UserError: a prompt the task needs is missing, a task without prompt got one, a JSON prompt is not an
            object, or a class list the task needs is missing.
    """
    check_task(task)
    field = PROMPT_FIELD[task]
    target: dict = {}
    text = None if prompt is None else str(prompt).strip()
    if text and text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise UserError(f"prompt {text[:60]!r} starts with '{{' but is not JSON: {e}") from None
        if not isinstance(obj, dict):
            raise UserError(f"a JSON prompt must be an object of target keys, got {text[:60]!r}")
        target.update(obj)
    elif text:
        if field is None:
            raise UserError(f"task {task} takes no prompt (got {text[:60]!r}); a class list goes in --classes")
        target[field] = _box(text) if field == "box" else text
    if classes:
        target.setdefault("classes", list(classes))
    if task in ("detection", "change_detection"):
        target.setdefault("classes", list(DEFAULT_DETECTION_CLASSES))
    if task == "semantic_segmentation":
        target.setdefault("classes", [target["class"]] if "class" in target else [])
    if task == "damage" and "box" in target:
        target["box"] = _box(",".join(str(v) for v in target["box"])) if isinstance(target["box"], list) \
            else _box(str(target["box"]))
    if field is not None and field not in target:
        raise UserError(f"task {task} needs a prompt: the {field} (--prompt TEXT or --prompts FILE)")
    if task in CLASS_TASKS and not target.get("classes"):
        raise UserError(f"task {task} needs a class list: --classes a,b,c")
    return target


def window_side(max_pixels: int, factor: int, n_frames: int = 1) -> int:
    """The side of a square window shown at native resolution: the largest multiple of ``factor`` whose square
    fits the per-frame budget ``max_pixels / n_frames`` (at least one ``factor``)."""
    per_frame = max_pixels // max(1, n_frames)
    return max(factor, int(math.isqrt(per_frame)) // factor * factor)


def scene_windows(width: int, height: int, side: int, gap: int | None = None) -> np.ndarray:
    """(K, 4) int64 windows [x1, y1, x2, y2] covering a ``width x height`` scene, row-major (y outer, x inner).

    Args:
        width, height: scene size in pixels.
        side: window side (`window_side`).
        gap: overlap of neighbouring windows in pixels (default: a fifth of ``side``).
    """
    gap = int(round(side * GAP_FRACTION)) if gap is None else int(gap)
    if not 0 <= gap < side:
        raise UserError(f"window overlap must be in [0, {side}), got {gap}")
    xs = [(x, min(x + side, width)) for x in window_starts(width, side, gap)]
    ys = [(y, min(y + side, height)) for y in window_starts(height, side, gap)]
    return np.array([[x1, y1, x2, y2] for y1, y2 in ys for x1, x2 in xs], dtype=np.int64).reshape(-1, 4)
