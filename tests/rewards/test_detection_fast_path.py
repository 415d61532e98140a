"""The fast detection reward (sparse same-class IoU, forced-matching shortcut, array parser) equals the dense
formulation: full `rotated_iou` matrix, class mask, Hungarian matching on the overlapping block."""

import json

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from data_engine.answers import format_detection
from data_engine.frames import Frame
from eval.geometry import BOWTIE, quad_shape, rotated_iou, rotated_iou_sparse
from eval.parsers import detection as det_parser
from eval.parsers import parse_detection
from rewards.detection import match_iou, rotated_iou_f1

CLASSES = ["plane", "ship", "storage-tank", "small-vehicle", "harbor"]
MODEL = Frame("absolute", 1024, 1024, 1008, 1008)
PIX = Frame.identity(1024, 1024)


def scene(rng, n, size=1024.0, shrink=1.0):
    """n rotated rectangles on a jittered grid (5 classes); ``shrink`` < 1 packs them into overlapping clusters."""
    side = int(np.ceil(np.sqrt(n)))
    objs = []
    for k in range(n):
        cx = ((k % side + 0.5) * size / side + rng.uniform(-10, 10)) * shrink
        cy = ((k // side + 0.5) * size / side + rng.uniform(-10, 10)) * shrink
        w, h, a = rng.uniform(15, 60), rng.uniform(10, 30), rng.uniform(0, np.pi)
        c, s = np.cos(a), np.sin(a)
        pts = [(cx + dx * c - dy * s, cy + dx * s + dy * c) for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2),
                                                                          (w / 2, h / 2), (-w / 2, h / 2))]
        objs.append({"label": CLASSES[int(rng.integers(5)) if shrink < 1 else k % 5],
                     "poly": [float(v) for p in pts for v in p]})
    return objs


def dense_reward(text, target, frame, iou_threshold=0.5, f1_weight=0.5):
    """The reward computed the straightforward way (the formula of `rewards.detection`'s docstring, bow-ties
    included)."""
    gt = target["objects"]
    out = parse_detection(text, frame=frame, classes=target["classes"])
    objs = out["objects"]
    n_pred, n_gt = len(objs) + out["n_failed"], len(gt)
    matched = np.zeros(0)
    if objs:
        iou = rotated_iou(np.array([o["poly"] for o in objs]), np.array([g["poly"] for g in gt]))
        same = np.array([[o["label"] is not None and o["label"] == g["label"] for g in gt] for o in objs])
        same[quad_shape(np.array([o["poly"] for o in objs])) == BOWTIE] = False  # malformed: matches nothing
        iou = np.where(same, iou, 0.0)
        rows, cols = np.nonzero(iou.max(axis=1) > 0)[0], np.nonzero(iou.max(axis=0) > 0)[0]
        if rows.size:
            sub = iou[np.ix_(rows, cols)]
            r, c = linear_sum_assignment(sub, maximize=True)
            matched = sub[r, c][sub[r, c] > 0]
    tp = float(np.count_nonzero(matched >= iou_threshold))
    iou_part = float(matched.sum()) / max(n_gt, n_pred)
    f1 = 2 * tp / (n_pred + n_gt)
    return {"overall": (1 - f1_weight) * iou_part + f1_weight * f1, "iou": iou_part,
            "precision": tp / n_pred if n_pred else 0.0, "recall": tp / n_gt, "f1": f1, "n_pred": float(n_pred)}


def completions(rng, gt):
    """Answers of every kind against ``gt``: noisy, partial, duplicated, relabelled, unknown labels, garbage."""
    noisy = [dict(o, poly=list(np.asarray(o["poly"]) + rng.uniform(-8, 8, 8))) for o in gt if rng.random() < 0.85]
    dup = [dict(gt[i], label=CLASSES[int(rng.integers(5))]) for i in rng.integers(0, len(gt), 3)]
    for box_type in ("poly", "hbb", "obb"):
        frame = MODEL if box_type != "hbb" else None
        text = format_detection(noisy + dup, CLASSES, frame or PIX, box_type)
        yield text, frame
    text = format_detection(noisy, CLASSES, MODEL, "poly")
    yield text.replace("ship", "shipp").replace("harbor", "boat"), MODEL
    yield "<answer>" + text + "\n1,2,3,4,5,6 plane\nnan,1,2,3 ship\n</answer>", MODEL
    yield text + "\n" + format_detection(noisy[:5], CLASSES, MODEL, "hbb"), MODEL  # mixed arities


@pytest.mark.parametrize("seed", range(12))
def test_fast_reward_equals_dense_formulation(seed):
    rng = np.random.default_rng(seed)
    for shrink in (1.0, 0.25):
        gt = scene(rng, int(rng.integers(1, 130)), shrink=shrink)
        target = {"classes": CLASSES, "objects": gt}
        sample = {"task": "detection", "target": json.dumps(target)}
        for text, frame in completions(rng, gt):
            fast = rotated_iou_f1(text, sample, frame)
            ref = dense_reward(text, target, frame)
            for k, v in ref.items():
                assert fast[k] == pytest.approx(v, abs=1e-12, rel=0), (seed, shrink, k)


def test_match_iou_ties_duplicates_and_unknown_labels():
    box = [0, 0, 10, 0, 10, 10, 0, 10]
    shifted = [5, 0, 15, 0, 15, 10, 5, 10]
    # two identical predictions compete for two identical GT boxes: two matches of IoU 1 whichever is chosen
    got = match_iou(np.array([box, box, shifted]), ["a", "a", None], np.array([box, box]), ["a", "a"])
    assert sorted(got.tolist()) == [1.0, 1.0]
    # None never matches, not even a GT label None; unhashable and non-str labels behave like the dense form
    assert match_iou(np.array([box]), [None], np.array([box]), [None]).size == 0
    assert match_iou(np.array([box]), [["a"]], np.array([box]), [["a"]]).size == 0
    assert match_iou(np.array([box]), [3], np.array([box]), [3]).tolist() == [1.0]


def test_rotated_iou_sparse_equals_matrix_entries():
    rng = np.random.default_rng(3)
    a = np.array([o["poly"] for o in scene(rng, 60, shrink=0.3)])
    b = np.array([o["poly"] for o in scene(rng, 50, shrink=0.3)])
    dense = rotated_iou(a, b)
    ia, ib, v = rotated_iou_sparse(a, b)
    assert np.array_equal(dense[ia, ib], v)
    rest = np.ones_like(dense, dtype=bool)
    rest[ia, ib] = False
    assert not dense[rest].any()
    ga, gb = rng.integers(0, 3, len(a)), rng.integers(0, 3, len(b))
    ia, ib, v = rotated_iou_sparse(a, b, ga, gb)
    assert (ga[ia] == gb[ib]).all() and np.array_equal(dense[ia, ib], v)
    assert np.count_nonzero(np.where(ga[:, None] == gb[None, :], dense, 0)) == np.count_nonzero(v)
    assert [x.size for x in rotated_iou_sparse(a[:0], b)] == [0, 0, 0]


@pytest.mark.parametrize("text", [
    "1,2,30,40 ship\n5,6,70,80 plane",
    "1,2,30,40 ship\n5,6,70,80,9,10,11,12 plane",  # mixed arities: general path
    "\u0663,2,30,40 ship",  # a non-ASCII digit matches the canonical regex: general path
    "9" * 400 + ",1,2,3 ship\n4,5,6,7 plane",  # overflows: dropped as non-finite on both paths
    "12345678901234567890123,1,2,3 ship",
    "123456789012345678,-12345678901234567,9007199254740993,3 ship",  # 18 characters: the compiled path, rounded
    "1234567890123456789,1,2,3 ship",  # 19 digits: general path
    "-0,0,5,5 ship\n1,2,3,4,5,6 plane",
    "10,10,40,20,30 ship\n1,1,5,5,0 harbor",
    "1,2,3,4 ship\n" * 2100,  # over MAX_OBJECTS
])
def test_canonical_fast_conversion_equals_general_path(text, monkeypatch):
    fast = [parse_detection(text, frame=f, classes=CLASSES) for f in (None, MODEL)]
    monkeypatch.setattr(det_parser, "_canonical_values", lambda rows: None)
    slow = [parse_detection(text, frame=f, classes=CLASSES) for f in (None, MODEL)]
    assert fast == slow
