"""Shapes to draw on a sample's image: ground truth and prediction(s), each coloured by match / miss / false alarm.

Everything stays in original pixels (the coordinates predictions and targets are stored in), so the SVG overlay
uses the original size as its viewBox and never rescales a coordinate. Matching is the detection metric's rule:
class-aware, greedy by descending IoU, a pair counts at rotated IoU >= 0.5 (`eval.geometry.rotated_iou`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_engine.boxes import hbb_to_poly
from data_engine.masks import mask_iou, mask_polygons
from data_engine.tasks import TASKS
from eval.geometry import rotated_iou

IOU_MATCH = 0.5

# status -> stroke colour (also used by the legend in the templates)
COLOURS = {"match": "#1a9850", "miss": "#fdae61", "false_alarm": "#d73027", "gt": "#4575b4",
           "crop": "#984ea3", "evidence": "#4575b4", "a": "#e66101", "b": "#5e3c99",
           "gt_mask": "#4575b4", "predicted_mask": "#e66101", "pred": "#e66101"}
# Ground-truth mask colour per class index of a semantic-segmentation row's class list (a referring row uses
# "gt_mask"); predicted masks are always "predicted_mask", so the two read apart whatever the class.
CLASS_COLOURS = ("#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666", "#1f78b4")


@dataclass
class Shape:
    """One polygon to draw: 8 floats in original pixels, its role (gt / pred / crop / evidence) and status."""

    poly: list[float]
    role: str
    status: str
    label: str
    colour_key: str = ""  # overrides the status colour (compare view: one colour per model)
    fill: str = ""  # an explicit colour (a class's mask colour), over colour_key and status

    @property
    def points(self) -> str:
        """The SVG `points` attribute."""
        p = self.poly
        return " ".join(f"{p[i]:.1f},{p[i + 1]:.1f}" for i in range(0, 8, 2))

    @property
    def colour(self) -> str:
        return self.fill or COLOURS.get(self.colour_key or self.status, COLOURS["gt"])

    @property
    def dashed(self) -> bool:
        """Misses and false alarms are dashed, so they read without relying on colour alone."""
        return self.status in ("miss", "false_alarm")


def load_json(value: Any) -> Any:
    """A JSON column value (string, already-decoded object or None) -> Python object; malformed text -> None."""
    if value is None or isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _valid_poly(p: Any) -> list[float] | None:
    try:
        arr = [float(v) for v in p]
    except (TypeError, ValueError):
        return None
    return arr if len(arr) == 8 and all(np.isfinite(arr)) else None


def _box_poly(b: Any) -> list[float] | None:
    try:
        arr = [float(v) for v in b]
    except (TypeError, ValueError):
        return None
    if len(arr) != 4 or not all(np.isfinite(arr)):
        return None
    return [float(v) for v in hbb_to_poly([arr])[0]]


def match_objects(gt: list[tuple[str, list[float]]], pred: list[tuple[str, list[float]]]) -> tuple[list[int], list[int]]:
    """Class-aware greedy matching at IoU >= 0.5.

    Args:
        gt: (label, poly8) ground-truth objects.
        pred: (label, poly8) predicted objects.

    Returns:
        (gt_match, pred_match): for each gt the matched pred index or -1, and for each pred the gt index or -1.
    """
    gt_match, pred_match = [-1] * len(gt), [-1] * len(pred)
    if not gt or not pred:
        return gt_match, pred_match
    iou = rotated_iou(np.array([p for _, p in pred]), np.array([p for _, p in gt]))
    same = np.array([[pl == gl for gl, _ in gt] for pl, _ in pred])
    iou = np.where(same, iou, 0.0)
    # Greedy over all pairs by descending IoU: the pair with the highest overlap is settled first.
    order = np.argsort(-iou, axis=None, kind="stable")
    for flat in order:
        i, j = divmod(int(flat), len(gt))
        if iou[i, j] < IOU_MATCH:
            break
        if pred_match[i] < 0 and gt_match[j] < 0:
            pred_match[i], gt_match[j] = j, i
    return gt_match, pred_match


def overlay_kind(task: Any) -> str:
    """The overlay kind a task declares (`data_engine.tasks`: objects / box / zoom / none); "none" when unknown."""
    decl = TASKS.get(task) if isinstance(task, str) else None
    return decl.overlay if decl is not None else "none"


def _objects(task: str, payload: Any, gt: bool) -> list[tuple[str, list[float]]]:
    """(label, poly) list of an "objects" / "box" target or prediction; [] for tasks without boxes."""
    if not isinstance(payload, dict):
        return []
    kind = overlay_kind(task)
    if kind == "objects":
        out = []
        for o in payload.get("objects") or []:
            poly = _valid_poly(o.get("poly")) if isinstance(o, dict) else None
            if poly is not None:
                out.append((str(o.get("label", "")), poly))
        return out
    if kind == "box":
        poly = _box_poly(payload.get("box"))
        label = str(payload.get("expression", "target")) if gt else "prediction"
        return [(label, poly)] if poly is not None else []
    if kind == "boxes":  # several class-agnostic boxes (referring detection): one label so matching ignores it
        return [("target", p) for b in payload.get("boxes") or [] if (p := _box_poly(b)) is not None]
    return []


def detection_shapes(task: str, target: Any, prediction: Any) -> list[Shape]:
    """GT and predicted shapes of one sample with statuses (match / miss / false_alarm).

    A "box" task (grounding) is matched class-agnostically (one expression, one box). A row without a target
    (``None``: a `georft predict` row) has nothing to match: its predictions get the status "pred".
    """
    if target is None:
        if overlay_kind(task) == "box":  # a merged grounding prediction also lists every window's hit
            best = [p for _, p in _objects(task, prediction, gt=False)[:1]]
            hits = [p for b in (prediction or {}).get("boxes") or []
                    if (p := _box_poly(b)) is not None and p not in best]
            return [Shape(p, "pred", "pred", "pred answer") for p in best] + \
                [Shape(p, "pred", "pred", "pred hit (other window)") for p in hits]
        return [Shape(p, "pred", "pred", f"pred {label}") for label, p in _objects(task, prediction, gt=False)]
    gt = _objects(task, target, gt=True)
    pred = _objects(task, prediction, gt=False)
    one_box = overlay_kind(task) == "box"
    if one_box:
        gt = [("target", p) for _, p in gt][:1]
        pred = [("target", p) for _, p in pred][:1]
        gt_labels = [str(target.get("expression", "target"))] if isinstance(target, dict) else ["target"]
    else:
        gt_labels = [label for label, _ in gt]
    gt_match, pred_match = match_objects(gt, pred)
    shapes = []
    for (_label, poly), m, shown in zip(gt, gt_match, gt_labels, strict=False):
        shapes.append(Shape(poly, "gt", "match" if m >= 0 else "miss", f"GT {shown}" + ("" if m >= 0 else " (missed)")))
    for (label, poly), m in zip(pred, pred_match, strict=True):
        name = "prediction" if one_box else label
        shapes.append(Shape(poly, "pred", "match" if m >= 0 else "false_alarm",
                            f"pred {name}" + ("" if m >= 0 else " (false alarm)")))
    return shapes


def zoom_shapes(target: Any, turns: Any) -> list[Shape]:
    """Evidence boxes of a zoom target and each turn's crop box (labelled by turn number)."""
    shapes = []
    if isinstance(target, dict):
        for k, b in enumerate(target.get("evidence") or []):
            poly = _box_poly(b)
            if poly is not None:
                shapes.append(Shape(poly, "gt", "evidence", f"evidence {k + 1}"))
    for k, t in enumerate(turns if isinstance(turns, list) else []):
        shapes.extend(turn_shape(t, k))
    return shapes


def turn_shape(turn: Any, k: int) -> list[Shape]:
    """The crop box of zoom turn `k` (0-based) alone, for the per-turn figure."""
    poly = _box_poly(turn.get("box")) if isinstance(turn, dict) else None
    return [Shape(poly, "pred", "crop", f"turn {k + 1} crop")] if poly is not None else []


def _rle(value: Any) -> dict | None:
    """A stored mask (COCO RLE dict) or None when it is missing or malformed."""
    if not isinstance(value, dict) or not isinstance(value.get("counts"), str):
        return None
    try:
        size = [int(v) for v in value["size"]]
    except (KeyError, TypeError, ValueError):
        return None
    return value if len(size) == 2 and min(size) > 0 else None


def mask_shapes(task: str, target: Any, prediction: Any) -> list[Shape]:
    """Translucent ground-truth and predicted masks (drawn as a few rectangles each, `data_engine.masks.
    mask_polygons`): the ground truth in its class's colour (semantic rows) or "gt_mask", the prediction in
    "predicted_mask"; each rectangle's label names the class or expression and the sample's mask IoU."""
    shapes: list[Shape] = []
    target = target if isinstance(target, dict) else {}
    gt = _rle(target.get("mask"))
    pred = _rle(prediction.get("mask")) if isinstance(prediction, dict) else None
    name = str(target.get("class") or target.get("expression") or "target")
    classes = target.get("classes") if isinstance(target.get("classes"), list) else []
    fill = CLASS_COLOURS[classes.index(name) % len(CLASS_COLOURS)] if name in classes else ""
    iou = ""
    try:
        if gt is not None:
            iou = f", IoU {mask_iou(pred if pred is not None and pred['size'] == gt['size'] else None, gt):.2f}"
            shapes += [Shape(p, "gt", "gt_mask", f"GT {name}{iou}", fill=fill) for p in mask_polygons(gt)]
        if pred is not None:
            shapes += [Shape(p, "pred", "predicted_mask", f"predicted {name}{iou}") for p in mask_polygons(pred)]
    except Exception:  # noqa: BLE001 - a corrupt stored RLE draws nothing rather than breaking the page
        return []
    return shapes


# Shape builders by overlay kind (the ``overlay`` a task declares in `data_engine.tasks`):
# fn(task, target, prediction, turns) -> shapes.
OVERLAYS: dict[str, Callable[[str, Any, Any, Any], list[Shape]]] = {
    "objects": lambda task, target, prediction, turns: detection_shapes(task, target, prediction),
    "box": lambda task, target, prediction, turns: detection_shapes(task, target, prediction),
    "boxes": lambda task, target, prediction, turns: detection_shapes(task, target, prediction),
    "zoom": lambda task, target, prediction, turns: zoom_shapes(target, turns),
    "mask": lambda task, target, prediction, turns: mask_shapes(task, target, prediction),
    "none": lambda task, target, prediction, turns: [],
}


def sample_shapes(task: str, target: Any, prediction: Any, turns: Any = None) -> list[Shape]:
    """Every shape to draw for one sample of any task (empty for text-only tasks)."""
    return OVERLAYS[overlay_kind(task)](task, target, prediction, turns)


def parse_failed(prediction: Any) -> bool:
    """True when the parser flagged the completion (`format_ok` false) or the prediction is missing."""
    return not isinstance(prediction, dict) or prediction.get("format_ok") is False


def compare_shapes(task: str, target: Any, pred_a: Any, pred_b: Any, turns_a: Any = None,
                   turns_b: Any = None) -> list[Shape]:
    """Ground truth once plus both models' predicted shapes, coloured per model (A, B); status kept in the label."""
    side_a = sample_shapes(task, target, pred_a, turns_a)
    side_b = sample_shapes(task, target, pred_b, turns_b)
    shapes = [s for s in side_a if s.role == "gt"]
    for s in shapes:
        s.colour_key = "gt"
        if s.status != "gt_mask":  # a mask keeps its status: it is drawn filled, not outlined
            s.status = "gt"
    for key, side in (("a", side_a), ("b", side_b)):
        for s in side:
            if s.role != "gt":
                s.colour_key = key
                s.label = f"{key.upper()}: {s.label}"
                shapes.append(s)
    return shapes
