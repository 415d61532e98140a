"""The one sample schema shared by the build, both training stages, rewards and evaluation.

One row per sample, stored as a Hugging Face `datasets` Arrow dataset (`save_to_disk` / `load_from_disk`):

| column | type | meaning |
|---|---|---|
| id | str | unique, stable across rebuilds |
| source | str | the recipe's source name |
| task | str | one of `TASKS` (declared in `data_engine.tasks`) |
| split | str or null | the source's split, null when it declares none |
| images | list[str] | absolute image paths (more than one for multi-image / bi-temporal data) |
| width, height | int | original pixel size of the first image |
| target | str | JSON; per-task shape below, **coordinates in original-image pixels** |

`target` per task (the required keys are each task's ``target_keys`` in `data_engine.tasks`):

- detection: ``{"objects": [{"label", "poly": [x1,y1,...,x4,y4], "difficult": bool}], "classes": [...]}``
  (horizontal boxes stored as 4-point polygons)
- grounding: ``{"expression", "box": [x1,y1,x2,y2]}`` (plus ``"poly"`` when the source has one)
- vqa: ``{"question", "answer", "qtype"}``
- caption: ``{"references": [...]}``
- classification: ``{"label", "classes": [...]}``
- zoom_vqa: ``{"question", "answer", "evidence": [[x1,y1,x2,y2], ...]}`` (plus ``"choices"`` for multiple choice)
- chat: ``{"messages": [{"role", "content"}]}``
- change_caption: ``{"references": [...], "changed": bool}`` (images: before, after)
- change_detection: ``{"objects": [{"label", "poly"}], "classes": [...]}`` (images: before, after, co-registered;
  the changed regions, none when nothing changed; LEVIR-CD adds ``"mask"``, the label PNG's path; xBD labels are the
  damage levels and objects add ``"shape"``, the building polygon)
- temporal_classification: ``{"label", "classes": [...], "timestamps": [...]}`` (2-4 frames of one site, oldest
  first; frames may differ in size)
- damage: ``{"question", "answer", "classes", "qtype"}`` plus ``"box": [x1,y1,x2,y2]`` for a building's damage
  level (images: pre, post; co-registered)
- referring_segmentation: ``{"expression", "mask": {"size": [h, w], "counts": str}, "box"?: [x1,y1,x2,y2]}`` (the
  mask as COCO RLE of the original image, `data_engine.masks.encode_mask`)
- semantic_segmentation: ``{"class", "mask": RLE, "classes": [...], "ignore"?: RLE}`` — one row per (image, class)
  for EVERY class of the source, an absent class with an empty mask, so an image's rows together hold its full
  label map; ``ignore`` marks the ``ignore_index`` pixels, which no metric or reward counts
- multilabel_classification: ``{"labels": [...], "classes": [...]}`` (every class present; BigEarthNet)
- region_caption: ``{"box": [x1,y1,x2,y2], "references": [...]}`` (the region is shown in the prompt)
- grounding_description: ``{"references": [...], "objects": [{"phrase", "box": [x1,y1,x2,y2]}]}`` (the first
  reference names the phrases)
- referring_detection: ``{"expression", "boxes": [[x1,y1,x2,y2], ...]}`` (zero or more; plus ``"polys"`` when the
  source has rotated boxes, ``"size_group"`` when it names one)
"""

from __future__ import annotations

import json
from typing import Any

from data_engine import tasks as _tasks
from data_engine.errors import DataError, UserError

# Derived from the task declarations (`data_engine.tasks`), the one place a task is listed.
TASKS = _tasks.task_names()
COLUMNS = ("id", "source", "task", "split", "images", "width", "height", "target")

# Keys each task's target must have (extra keys are allowed and kept).
REQUIRED_TARGET_KEYS: dict[str, tuple[str, ...]] = {t.name: t.target_keys for t in _tasks.TASKS.values()}


def features():
    """The Arrow schema as `datasets.Features` (imported lazily: `datasets` is slow to import)."""
    from datasets import Features, Sequence, Value

    return Features(
        {
            "id": Value("string"),
            "source": Value("string"),
            "task": Value("string"),
            "split": Value("string"),
            "images": Sequence(Value("string")),
            "width": Value("int32"),
            "height": Value("int32"),
            "target": Value("string"),
        }
    )


def load_target(sample: dict[str, Any]) -> dict[str, Any]:
    """The decoded `target` of a row (accepts an already-decoded dict)."""
    t = sample["target"]
    if isinstance(t, dict):
        return t
    try:
        return json.loads(t)
    except (TypeError, ValueError) as e:
        raise DataError(f"sample {sample.get('id')!r}: target is not valid JSON: {e}") from None


def validate_sample(sample: dict[str, Any]) -> None:
    """Raise `UserError` naming the field when a row breaks the schema."""
    sid = sample.get("id")
    for col in COLUMNS:
        if col not in sample:
            raise UserError(f"sample {sid!r}: missing column {col!r}")
    if sample["task"] not in TASKS:
        raise UserError(f"sample {sid!r}: task {sample['task']!r} is not one of {TASKS}")
    if not isinstance(sample["images"], (list, tuple)):
        raise UserError(f"sample {sid!r}: images must be a list of paths")
    for col, kind in (("id", str), ("source", str), ("split", (str, type(None))), ("width", int), ("height", int)):
        if not isinstance(sample[col], kind) or isinstance(sample[col], bool):
            raise UserError(f"sample {sid!r}: {col} must be {_kind(kind)}, got {sample[col]!r}")
    if not all(isinstance(p, str) for p in sample["images"]):
        raise UserError(f"sample {sid!r}: images must be a list of paths, got {sample['images']!r}")
    need = _tasks.TASKS[sample["task"]].min_images
    if len(sample["images"]) < need:
        raise UserError(f"sample {sid!r}: {sample['task']} needs at least {need} images, got {len(sample['images'])}")
    target = load_target(sample)
    if not isinstance(target, dict):
        raise UserError(f"sample {sid!r}: target must be a JSON object, got {type(target).__name__}")
    for key in REQUIRED_TARGET_KEYS[sample["task"]]:
        if key not in target:
            raise UserError(f"sample {sid!r}: {sample['task']} target lacks {key!r}")
    for key, kind in TARGET_TYPES.get(sample["task"], {}).items():
        value = target.get(key)
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _tuple(kind))
        if key in target and not ok:
            raise UserError(f"sample {sid!r}: {sample['task']} target {key!r} must be {_kind(kind)}, got {value!r}")
    if sample["task"] in ("caption", "change_caption") and not all(isinstance(r, str) for r in target["references"]):
        raise UserError(f"sample {sid!r}: caption references must be strings, got {target['references']!r}")


# Types of the text fields a model is trained on: a number where text belongs is a malformed record (a VQA answer may
# be a number or a boolean: `format_vqa` writes those).
TARGET_TYPES: dict[str, dict[str, type | tuple]] = {
    "grounding": {"expression": str},
    "vqa": {"question": str, "answer": (str, int, float, bool)},
    "zoom_vqa": {"question": str, "answer": (str, int, float, bool)},
    "caption": {"references": list},
    "classification": {"label": str},
    "detection": {"objects": list},
    "change_caption": {"references": list, "changed": bool},
    "change_detection": {"objects": list},
    "damage": {"question": str, "answer": str},
    "temporal_classification": {"label": str, "timestamps": list},
}


def _tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind(kind) -> str:
    return " or ".join("null" if k is type(None) else k.__name__ for k in _tuple(kind))
