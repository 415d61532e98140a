"""Window predictions -> one prediction in scene pixels, per task.

Each window's completion is parsed with the window's own frame (`eval.parsers.parse`: window pixels) and shifted by
the window's offset (`shift_prediction`). Merging then depends on the task:

- **detection / change detection**: rotated NMS per class (`eval.geometry.rotated_nms`, IoU ``iou_thr``, DOTA's
  0.1 by default). The model gives no scores, so NMS ranks boxes by how far they lie from the window's *inner*
  edges (the edges that are not the scene's border; `interior_priority`): an object cut by a window edge is seen
  whole by the neighbouring window, whose box lies inside, and that box wins over the cut one; a cut box showing
  only a sliver (IoU with the whole box under the threshold) is dropped when 30 % of it lies inside a kept whole
  box (`nms_with_votes`, `IOF_CUT`: the box around the corner of a rotated object cut off by a window edge is about
  twice the corner's area). Each kept box records ``votes``, the number of window boxes it absorbed (1 = seen by
  one window only).
- **grounding**: every window answers with a box (the expression may be anywhere). All hits are kept in ``boxes``
  (deduplicated by the same NMS, each with ``votes``); ``box``, the answer, is the hit with the most votes — the one
  most overlapping windows agree on —, ties going to the more interior one. There are no model scores to rank by.
- **referring detection**: all windows' boxes, deduplicated by NMS, in ``boxes`` (with ``votes``).
- **segmentation**: each window's mask is pasted over the part of the scene the window *owns*: overlaps are split at
  their middle on each axis, so every scene pixel comes from exactly one window, the one it is most inside.
- every other task is shown the whole scene once: its one prediction is the merged one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from data_engine.masks import decode_mask, encode_mask
from eval.geometry import rotated_iou, rotated_nms

IOF_CUT = 0.3  # a cut box this much inside a whole one is the same object seen through a window edge (the
# box around a corner of a rotated object cut off by a window edge is about twice the corner's area)
CUT_MARGIN = 2.0  # pixels: a box this close to an inner window edge counts as cut by it (answers are quantised)


def _hbb_poly(b) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in b)
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def shift_prediction(task: str, pred: dict, dx: float, dy: float) -> dict:
    """A parsed prediction in window pixels -> scene pixels (a copy; masks stay in window pixels, see
    `merge_masks`)."""
    out = dict(pred)
    if dx == 0 and dy == 0:
        return out
    off4 = np.array([dx, dy, dx, dy], dtype=np.float64)
    if isinstance(pred.get("objects"), list):
        objs = []
        for o in pred["objects"]:
            o = dict(o)
            if o.get("poly") is not None:
                o["poly"] = (np.asarray(o["poly"], dtype=np.float64) + np.tile([dx, dy], 4)).tolist()
            if o.get("box") is not None:
                o["box"] = (np.asarray(o["box"], dtype=np.float64) + off4).tolist()
            objs.append(o)
        out["objects"] = objs
    if pred.get("box") is not None:
        out["box"] = (np.asarray(pred["box"], dtype=np.float64) + off4).tolist()
    if isinstance(pred.get("boxes"), list):
        out["boxes"] = [(np.asarray(b, dtype=np.float64) + off4).tolist() for b in pred["boxes"]]
    return out


def interior_priority(polys: np.ndarray, window, scene_w: int, scene_h: int) -> np.ndarray:
    """How far each polygon stays from its window's inner edges (those not on the scene border), in pixels.

    Args:
        polys: (N, 8) polygons in scene pixels.
        window: [x1, y1, x2, y2] of the window they were seen in.
        scene_w, scene_h: scene size (edges on the scene border do not cut objects).

    Returns:
        (N,) distances >= 0 (0: touching or crossing an inner edge); a window without inner edges gives the window's
        larger side to every polygon.
    """
    p = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
    x1, y1, x2, y2 = (float(v) for v in window)
    xs, ys = p[:, 0::2], p[:, 1::2]
    big = float(max(x2 - x1, y2 - y1))
    gaps = [np.full(len(p), big)]
    if x1 > 0:
        gaps.append(xs.min(1) - x1)
    if y1 > 0:
        gaps.append(ys.min(1) - y1)
    if x2 < scene_w:
        gaps.append(x2 - xs.max(1))
    if y2 < scene_h:
        gaps.append(y2 - ys.max(1))
    return np.maximum(np.min(np.stack(gaps), axis=0), 0.0)


def nms_with_votes(polys: np.ndarray, priority: np.ndarray, iou_thr: float, iof_cut: float = IOF_CUT
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Rotated NMS ranked by ``priority``, then cut boxes dropped, and how many input boxes each kept box absorbed.

    A *cut* box (priority <= `CUT_MARGIN`: it touches an inner window edge) that survives NMS because only a sliver
    of the object was in its window (IoU with the whole box <= ``iou_thr``) is dropped too when at least ``iof_cut`` of its area
    lies inside a kept uncut box.

    Returns:
        (kept indices in descending priority, (K,) votes: each input box counts once, for the first kept box (in
        that order) it overlaps with IoU > ``iou_thr`` or lies inside by ``iof_cut``, or for itself).
    """
    polys = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
    priority = np.asarray(priority, dtype=np.float64).reshape(-1)
    if len(polys) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keep = rotated_nms(polys, priority, iou_thr)
    inside = _iof(polys, polys[keep])  # (N, K): share of box n's area inside kept box k
    whole = priority[keep] > CUT_MARGIN
    cut_inside = ~whole & (inside[keep] * whole[None, :] >= iof_cut).any(axis=1)
    keep = keep[~cut_inside]
    iou = rotated_iou(polys, polys[keep])
    iou[keep, np.arange(len(keep))] = 1.0
    absorbed = (iou > iou_thr) | (_iof(polys, polys[keep]) * (priority[keep] > CUT_MARGIN)[None, :] >= iof_cut)
    owner = np.argmax(absorbed, axis=1)  # first kept box (descending priority) absorbing each box
    return keep, np.bincount(owner, minlength=len(keep)).astype(np.int64)


def _iof(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, K) share of each polygon of ``a`` (N, 8) lying inside each polygon of ``b`` (K, 8)."""
    sa = shapely.make_valid(shapely.polygons(a.reshape(-1, 4, 2)))
    sb = shapely.make_valid(shapely.polygons(b.reshape(-1, 4, 2)))
    inter = shapely.area(shapely.intersection(sa[:, None], sb[None, :]))
    area = shapely.area(sa)[:, None]
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)


def _window_objects(records: list[dict], scene_w: int, scene_h: int, key: str):
    """(polys (N, 8), priorities (N,), window index (N,), payloads) of every shape under ``key`` of every record."""
    polys, prio, win, items = [], [], [], []
    for k, r in enumerate(records):
        pred = r["prediction"]
        if key == "objects":
            shapes = [(o["poly"], o) for o in pred.get("objects") or [] if o.get("poly") is not None]
        elif key == "box":
            shapes = [(_hbb_poly(pred["box"]), pred["box"])] if pred.get("box") is not None else []
        else:
            shapes = [(_hbb_poly(b), b) for b in pred.get("boxes") or []]
        if not shapes:
            continue
        ps = np.array([s for s, _ in shapes], dtype=np.float64).reshape(-1, 8)
        polys.append(ps)
        prio.append(interior_priority(ps, r["window"], scene_w, scene_h))
        win += [k] * len(ps)
        items += [it for _, it in shapes]
    if not polys:
        return np.zeros((0, 8)), np.zeros(0), np.zeros(0, dtype=np.int64), []
    return np.concatenate(polys), np.concatenate(prio), np.asarray(win, dtype=np.int64), items


def merge_objects(records: list[dict], scene_w: int, scene_h: int, iou_thr: float) -> dict:
    """Detection: class-aware rotated NMS over every window's objects (see the module docstring)."""
    polys, prio, win, items = _window_objects(records, scene_w, scene_h, "objects")
    out = []
    labels = [str(o.get("label")) for o in items]
    for label in dict.fromkeys(labels):
        idx = np.array([i for i, lab in enumerate(labels) if lab == label], dtype=np.int64)
        keep, votes = nms_with_votes(polys[idx], prio[idx], iou_thr)
        for j, v in zip(keep, votes, strict=True):
            i = int(idx[j])
            out.append({**items[i], "poly": polys[i].tolist(), "votes": int(v),
                        "window": [int(c) for c in records[win[i]]["window"]]})
    return {"objects": out, "empty": not out}


def merge_boxes(records: list[dict], scene_w: int, scene_h: int, iou_thr: float, key: str) -> dict:
    """Grounding (``key="box"``) and referring detection (``"boxes"``): all hits, NMS-deduplicated, with votes;
    grounding's answer ``box`` is the hit with the most votes (ties: the more interior one)."""
    polys, prio, win, items = _window_objects(records, scene_w, scene_h, key)
    keep, votes = nms_with_votes(polys, prio, iou_thr)
    boxes = [[float(v) for v in items[int(i)]] for i in keep]
    hits = [{"box": b, "votes": int(v), "window": [int(c) for c in records[win[int(i)]]["window"]]}
            for b, v, i in zip(boxes, votes, keep, strict=True)]
    out: dict[str, Any] = {"boxes": boxes, "hits": hits, "empty": not boxes}
    if key == "box":
        best = int(np.argmax(votes)) if len(votes) else None  # argmax: first of the ties, i.e. the most interior
        out["box"] = boxes[best] if best is not None else None
    return out


def owned_spans(starts_ends: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Along one axis: the part each window owns, overlaps split at their middle.

    Args:
        starts_ends: sorted distinct (start, end) spans of the windows on this axis.

    Returns:
        (lo, hi) owned by each span, covering [first start, last end) without overlap.
    """
    out = []
    for k, (s, e) in enumerate(starts_ends):
        lo = s if k == 0 else (starts_ends[k - 1][1] + s) // 2
        hi = e if k == len(starts_ends) - 1 else (e + starts_ends[k + 1][0]) // 2
        out.append((lo, hi))
    return out


def merge_masks(records: list[dict], scene_w: int, scene_h: int) -> dict:
    """Segmentation: each window's mask (window pixels) pasted over the scene part it owns (`owned_spans`)."""
    xs = sorted({(int(r["window"][0]), int(r["window"][2])) for r in records})
    ys = sorted({(int(r["window"][1]), int(r["window"][3])) for r in records})
    own_x, own_y = dict(zip(xs, owned_spans(xs), strict=True)), dict(zip(ys, owned_spans(ys), strict=True))
    scene = np.zeros((scene_h, scene_w), dtype=bool)
    for r in records:
        rle = r["prediction"].get("mask")
        if rle is None:
            continue
        x1, y1, x2, y2 = (int(v) for v in r["window"])
        (lx, hx), (ly, hy) = own_x[(x1, x2)], own_y[(y1, y2)]
        m = decode_mask(rle).astype(bool)
        scene[ly:hy, lx:hx] = m[ly - y1: hy - y1, lx - x1: hx - x1]
    empty = not scene.any()
    return {"mask": None if empty else encode_mask(scene), "empty": empty}


def merge_windows(task: str, records: list[dict], scene_w: int, scene_h: int, iou_thr: float = 0.1) -> dict:
    """The scene prediction of a task from its window records (``{"window", "prediction"}``, scene pixels; masks
    in window pixels). Adds ``windows`` (how many) and ``n_failed_windows`` (completions the parser flagged)."""
    failed = sum(1 for r in records if r["prediction"].get("format_ok") is False)
    if task in ("detection", "change_detection"):
        merged = merge_objects(records, scene_w, scene_h, iou_thr)
    elif task == "grounding" and len(records) > 1:
        merged = merge_boxes(records, scene_w, scene_h, iou_thr, "box")
    elif task == "referring_detection":
        merged = merge_boxes(records, scene_w, scene_h, iou_thr, "boxes")
    elif task in ("referring_segmentation", "semantic_segmentation"):
        merged = merge_masks(records, scene_w, scene_h)
    else:
        merged = dict(records[0]["prediction"]) if records else {}
    merged["windows"] = len(records)
    merged["n_failed_windows"] = failed
    return merged
