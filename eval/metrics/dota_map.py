"""Oriented-detection mAP under two named protocols: the DOTA devkit's and mmrotate's.

Inputs are plain dicts in original-image pixels:

- detection: ``{"image_id", "label", "poly": 8 numbers, "score": optional}``; a missing score is 1.0;
- ground truth: ``{"image_id", "label", "poly": 8 numbers, "difficult": optional bool/int (default 0)}``.

Both protocols match each detection, in descending score order, to its **argmax-IoU** ground truth of the same
class and image (first one on ties, in input order) and never re-assign: a detection whose best GT is already
taken is a false positive even if another GT would have fitted.

| | ``protocol="dota_devkit"`` (default; ``dota_evaluation_task1.py``) | ``protocol="mmrotate"`` (``eval_rbbox_map``) |
|---|---|---|
| geometry | the devkit's ``polyiou`` on the quads as given (``quad_policy="devkit"``) | IoU of minimum-area rectangles (both GT and detections; any vertex order) |
| TP test | ``iou > iou_threshold`` | ``iou >= iou_threshold`` |
| difficult GT | not a positive; a detection matched to it is neither TP nor FP | ordinary GT |
| mean over | all classes (a class without positives gets the devkit's arithmetic: 0 for voc07, NaN for area) | classes with at least one GT |
| arithmetic | float64 | tp/fp/precision/AP float32, recall float64 |

``classes`` defaults to the sorted union of labels in detections and ground truths; pass the dataset's class
list to reproduce the devkit's fixed 15-class mean. The devkit prefilters by +1-pixel horizontal overlap before
computing polygon IoU; that only skips pairs whose polygon IoU is 0, so it is not reproduced.

**Quad policy** (devkit protocol): ``quad_policy="devkit"`` (default) measures every quad as given, exactly as
the devkit's ``polyiou`` does (`eval.geometry.iou`): a non-convex ("dart") GT has its true area, and a
self-intersecting ("bow-tie") detection gets the devkit's signed-area value (0 for a square's corners written
in bow-tie order, so an FP). ``quad_policy="hull"`` reads every quad as the convex hull of its corners instead
(forgiving corner-order mistakes); it is not the devkit's number. On convex quads the two agree exactly.
mmrotate's protocol converts every quad to its minimum-area rectangle, which depends only on the four corners,
not their order, so a bow-tie detection counts as the rectangle of its corners there. Which reference each
protocol matches, how it was verified and the devkit quirks not copied: docs/detection-protocols.md.

**Ties.** Score-less VLM output gives every detection score 1.0, and AP then depends on the ranking among equal
scores. We sort with a *stable* sort, so ties keep the order the detections were given in (image order, then
the order the model emitted them); the devkit's and mmrotate's ``np.argsort(-scores)`` is not stable.
`dota_map_tie_spread` reports how much the number moves over random tie orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_engine.boxes import obb_to_poly, poly_to_obb
from eval.geometry.iou import QUAD_POLICIES, rotated_iou_indexed
from eval.metrics.ap import area_ap, eleven_point_ap
from eval.metrics.pairing import same_key_pairs

PROTOCOLS = ("dota_devkit", "mmrotate")
AP_MODES = ("voc07", "area")


@dataclass
class Matched:
    """Order-independent part of the evaluation: each detection's best GT and its IoU."""

    classes: list
    det_cls: np.ndarray  # (K,) class index
    score: np.ndarray  # (K,) float64
    ovmax: np.ndarray  # (K,) best IoU with a same-class GT of the same image, -inf if none
    jmax: np.ndarray  # (K,) index of that GT, -1 if none
    gt_cls: np.ndarray  # (G,)
    gt_difficult: np.ndarray  # (G,) bool


def check_options(protocol: str, ap_mode: str) -> None:
    """Raise ValueError for an unknown protocol or AP mode (shared with the bootstrap's per-draw mAP)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if ap_mode not in AP_MODES:
        raise ValueError(f"ap_mode must be one of {AP_MODES}, got {ap_mode!r}")


def _polys(items: list[dict]) -> np.ndarray:
    if not items:
        return np.zeros((0, 8))
    return np.asarray([d["poly"] for d in items], dtype=np.float64).reshape(-1, 8)


def resolve_quad_policy(protocol: str, quad_policy: str | None) -> str:
    """The quad IoU policy in force: the given one (checked), or the protocol's default."""
    if quad_policy is None:
        return "devkit" if protocol == "dota_devkit" else "hull"
    if quad_policy not in QUAD_POLICIES:
        raise ValueError(f"quad_policy must be one of {QUAD_POLICIES}, got {quad_policy!r}")
    if protocol == "mmrotate":
        raise ValueError("quad_policy applies to protocol='dota_devkit' only (mmrotate uses minimum-area rectangles)")
    return quad_policy


def match_detections(detections, ground_truths, protocol: str, classes, quad_policy: str) -> Matched:
    """Each detection's best same-class GT of its image and their IoU: the order-independent part of mAP, computed
    once and reused by `evaluate_order` (and by `eval.bootstrap` for every resample)."""
    labels = (
        sorted({d["label"] for d in detections} | {g["label"] for g in ground_truths})
        if classes is None
        else list(classes)
    )
    cls_index = {c: i for i, c in enumerate(labels)}
    images: dict = {}
    for item in list(ground_truths) + list(detections):
        images.setdefault(item["image_id"], len(images))
    dets = [d for d in detections if d["label"] in cls_index]  # labels outside `classes` are not evaluated
    gts = [g for g in ground_truths if g["label"] in cls_index]
    n_cls = max(len(labels), 1)
    det_key = np.array([images[d["image_id"]] * n_cls + cls_index[d["label"]] for d in dets], dtype=np.int64)
    gt_key = np.array([images[g["image_id"]] * n_cls + cls_index[g["label"]] for g in gts], dtype=np.int64)
    det_poly, gt_poly = _polys(dets), _polys(gts)
    if protocol == "mmrotate":
        det_poly = obb_to_poly(poly_to_obb(det_poly))
        gt_poly = obb_to_poly(poly_to_obb(gt_poly))
    k = len(dets)
    ovmax = np.full(k, -np.inf)
    jmax = np.full(k, -1, dtype=np.int64)
    if k and len(gts):
        # every (detection, GT) pair sharing image and class, GTs in input order within a key
        pair_det, pair_gt, count = same_key_pairs(det_key, gt_key)
        iou = rotated_iou_indexed(det_poly, gt_poly, pair_det, pair_gt, quad_policy)
        has = count > 0
        ovmax[has] = np.maximum.reduceat(iou, (np.cumsum(count) - count)[has])
        at_max = np.flatnonzero(iou == ovmax[pair_det])
        dets_at_max, first_at_max = np.unique(pair_det[at_max], return_index=True)
        jmax[dets_at_max] = pair_gt[at_max[first_at_max]]
    return Matched(
        classes=labels,
        det_cls=np.array([cls_index[d["label"]] for d in dets], dtype=np.int64),
        score=np.array([float(d.get("score", 1.0)) for d in dets], dtype=np.float64),
        ovmax=ovmax,
        jmax=jmax,
        gt_cls=np.array([cls_index[g["label"]] for g in gts], dtype=np.int64),
        gt_difficult=np.array([bool(g.get("difficult", 0)) for g in gts], dtype=bool),
    )


def evaluate_order(m: Matched, order: np.ndarray, iou_threshold: float, ap_mode: str, protocol: str) -> dict:
    """mAP for detections visited in `order` (ties in score keep this order)."""
    devkit = protocol == "dota_devkit"
    rank = order[np.argsort(-m.score[order], kind="stable")]
    hit_all = m.ovmax > iou_threshold if devkit else m.ovmax >= iou_threshold
    ap, num_gt, num_det = {}, {}, {}
    tp_total = fp_total = 0
    for c, label in enumerate(m.classes):
        sel = rank[m.det_cls[rank] == c]
        is_gt = m.gt_cls == c
        npos = int(np.sum(is_gt & ~m.gt_difficult)) if devkit else int(np.sum(is_gt))
        hit = hit_all[sel]
        g = m.jmax[sel]
        ignored = np.zeros_like(hit)
        if devkit:
            ignored[hit] = m.gt_difficult[g[hit]]
        cand = np.flatnonzero(hit & ~ignored)
        tp = np.zeros(sel.size, dtype=bool)
        # no re-assignment: the first (best-ranked) detection on a GT is the TP, later ones are duplicates (FP)
        _, first = np.unique(g[cand], return_index=True)
        tp[cand[first]] = True
        fp = ~tp & ~ignored
        num_gt[label], num_det[label] = npos, int(sel.size)
        tp_total += int(tp.sum())
        fp_total += int(fp.sum())
        if devkit:
            ctp, cfp = np.cumsum(tp, dtype=np.float64), np.cumsum(fp, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                rec = ctp / float(npos)  # npos == 0 -> NaN/inf, as in the devkit
            prec = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
            ap[label] = eleven_point_ap(rec, prec, "devkit") if ap_mode == "voc07" else area_ap(rec, prec)
        else:
            eps = np.finfo(np.float32).eps
            ctp, cfp = np.cumsum(tp, dtype=np.float32), np.cumsum(fp, dtype=np.float32)
            rec = ctp / np.maximum(np.float64(npos), eps)
            prec = ctp / np.maximum(ctp + cfp, eps)
            ap[label] = (
                eleven_point_ap(rec, prec, "mmrotate") if ap_mode == "voc07" else area_ap(rec, prec, np.float32)
            )
    if devkit:
        values = [ap[c] for c in m.classes]
    else:
        values = [ap[c] for c in m.classes if num_gt[c] > 0]
    mean = float(np.mean(values)) if values else 0.0
    positives = sum(num_gt.values())
    precision = tp_total / (tp_total + fp_total) if tp_total + fp_total else 0.0
    recall = tp_total / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "map": mean,
        "ap": ap,
        "num_gt": num_gt,
        "num_det": num_det,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def dota_map(
    detections: list[dict],
    ground_truths: list[dict],
    iou_threshold: float = 0.5,
    ap_mode: str = "voc07",
    protocol: str = "dota_devkit",
    classes=None,
    quad_policy: str | None = None,
) -> dict:
    """Oriented-detection mAP (see module docstring for both protocols and the tie rule).

    Args:
        detections: dicts ``image_id, label, poly (8), score?`` (missing score = 1.0), in emission order.
        ground_truths: dicts ``image_id, label, poly (8), difficult?``.
        iou_threshold: IoU threshold (``>`` for the devkit, ``>=`` for mmrotate).
        ap_mode: "voc07" (11-point) or "area".
        protocol: "dota_devkit" or "mmrotate".
        classes: class labels to evaluate and average over; default the sorted union of labels seen.
        quad_policy: devkit protocol only: "devkit" (default; the devkit's polygon IoU of the quads as given) or
            "hull" (convex hull of each quad's corners); see module docstring.

    Returns:
        ``{"map", "ap": {label: AP}, "num_gt": {label: positives}, "num_det": {label: n}, "precision", "recall",
        "f1"}``; precision/recall/F1 are micro-averaged over all detections at the end of the ranking
        (difficult-matched detections excluded under the devkit protocol).
    """
    check_options(protocol, ap_mode)
    m = match_detections(detections, ground_truths, protocol, classes, resolve_quad_policy(protocol, quad_policy))
    return evaluate_order(m, np.arange(m.score.size), iou_threshold, ap_mode, protocol)


def dota_map_tie_spread(
    detections: list[dict],
    ground_truths: list[dict],
    n_orders: int = 20,
    seed: int = 0,
    iou_threshold: float = 0.5,
    ap_mode: str = "voc07",
    protocol: str = "dota_devkit",
    classes=None,
    quad_policy: str | None = None,
) -> dict:
    """How much mAP depends on the order among equal scores: mAP over ``n_orders`` random tie orders.

    Detections are shuffled (seeded) before the stable score sort, which permutes only tied detections;
    matching and IoUs are computed once.

    Returns:
        ``{"map_emitted", "map_mean", "map_std" (population std), "map_min", "map_max", "n_orders"}``.
    """
    check_options(protocol, ap_mode)
    m = match_detections(detections, ground_truths, protocol, classes, resolve_quad_policy(protocol, quad_policy))
    rng = np.random.default_rng(seed)
    emitted = evaluate_order(m, np.arange(m.score.size), iou_threshold, ap_mode, protocol)["map"]
    maps = np.array(
        [evaluate_order(m, rng.permutation(m.score.size), iou_threshold, ap_mode, protocol)["map"] for _ in range(n_orders)]
    )
    return {
        "map_emitted": emitted,
        "map_mean": float(maps.mean()),
        "map_std": float(maps.std()),
        "map_min": float(maps.min()),
        "map_max": float(maps.max()),
        "n_orders": n_orders,
    }
