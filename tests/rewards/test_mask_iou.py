"""mask_iou: pycocotools-equal IoU of the grid answer, 'There is none.' only on an empty target, no whole-image bonus,
malformed and wrong-shape answers 0."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mu

from data_engine.frames import Frame
from data_engine.masks import encode_mask, grid_to_mask
from data_engine.seg_answers import format_seg_grid, grid_rows
from rewards import score

W, H = 200, 100
FRAME = Frame("absolute", W, H, 224, 112, 8, 4)  # 8 x 4 cells of 28 px; each cell is 25 x 25 original pixels


def _sample(mask):
    return {"task": "referring_segmentation", "width": W, "height": H,
            "target": {"expression": "the ship", "mask": encode_mask(mask)}}


def _answer(grid):
    return "<seg>" + grid_rows(grid) + "</seg>"


def _coco_iou(a, b):
    enc = [mu.encode(np.asfortranarray(m.astype(np.uint8))) for m in (a, b)]
    return float(mu.iou([enc[0]], [enc[1]], [0])[0, 0])


def test_the_rendered_answer_scores_one_and_a_partial_grid_its_pycocotools_iou():
    target = np.zeros((H, W), bool)
    target[25:75, 50:125] = True  # 2 x 3 cells exactly
    s = _sample(target)
    assert score("referring_segmentation", format_seg_grid(s["target"]["mask"], FRAME), s, FRAME,
                 name="mask_iou")["overall"] == 1.0
    grid = np.zeros((4, 8), bool)
    grid[1, 2:6] = True  # 1 x 4 cells: 3 inside the 2 x 3 target, 1 outside
    want = _coco_iou(grid_to_mask(grid, H, W), target)
    assert want == pytest.approx(3 / 7)
    out = score("referring_segmentation", _answer(grid), s, FRAME, name="mask_iou")
    assert out["overall"] == pytest.approx(want) and out["format"] == 1.0


def test_whole_image_scores_its_true_iou_and_none_only_on_empty():
    target = np.zeros((H, W), bool)
    target[10:30, 10:60] = True
    s = _sample(target)
    whole = score("referring_segmentation", _answer(np.ones((4, 8), bool)), s, FRAME, name="mask_iou")
    assert whole["overall"] == pytest.approx(target.sum() / (H * W))
    assert score("referring_segmentation", "There is none.", s, FRAME, name="mask_iou")["overall"] == 0.0
    empty = _sample(np.zeros((H, W), bool))
    none = score("referring_segmentation", "There is none.", empty, FRAME, name="mask_iou")
    assert none["overall"] == 1.0 and none["says_none"] == 1.0
    assert score("referring_segmentation", _answer(np.ones((4, 8), bool)), empty, FRAME,
                 name="mask_iou")["overall"] == 0.0


@pytest.mark.parametrize("text", ["", "<seg>1*8</seg>", "<seg>" + ";".join(["1*4"] * 4) + "</seg>", "1,2,3,4 ship",
                                  "<seg>1*8;1*8;1*8;1*9</seg>", "There are none."])
def test_malformed_or_wrong_shape_answers_score_zero(text):
    target = np.ones((H, W), bool)
    out = score("referring_segmentation", text, _sample(target), FRAME, name="mask_iou")
    assert out["overall"] == 0.0


def test_format_reward_follows_the_parser():
    target = np.zeros((H, W), bool)
    target[:50, :50] = True
    s = _sample(target)
    assert score("referring_segmentation", format_seg_grid(s["target"]["mask"], FRAME), s, FRAME,
                 name="format")["overall"] == 1.0
    assert score("referring_segmentation", "<seg>1*3</seg>", s, FRAME, name="format")["overall"] == 0.0


# ------------------------------------------------------------------------------- seg_polygon (docs/formats.md §7)
POLY_FRAME = Frame("absolute", W, H, W, H, 7, 3)  # one model unit per pixel: polygon answers are exact


def _poly_sample(mask):
    return dict(_sample(mask), mask_format="seg_polygon")


def test_polygon_answers_score_their_pycocotools_iou():
    from data_engine.seg_polygons import format_seg_polygon

    target = np.zeros((H, W), bool)
    target[20:60, 40:120] = True  # 80 x 40
    s = _poly_sample(target)
    assert format_seg_polygon(s["target"]["mask"], POLY_FRAME) == "40,20,120,20,120,60,40,60"
    for name in ("mask_iou", "format"):
        assert score("referring_segmentation", "40,20,120,20,120,60,40,60", s, POLY_FRAME, name=name)["overall"] == 1
    # the left half of the target: IoU 1/2 by hand and by pycocotools
    half = "40,20,80,20,80,60,40,60"
    pred = np.zeros((H, W), bool)
    pred[20:60, 40:80] = True
    out = score("referring_segmentation", half, s, POLY_FRAME, name="mask_iou")
    assert out["overall"] == pytest.approx(0.5) == pytest.approx(_coco_iou(pred, target))
    # two parts, one outside the target: 1600 / (3200 + 400)
    out = score("referring_segmentation", half + "\n0,0,20,0,20,20,0,20", s, POLY_FRAME, name="mask_iou")
    assert out["overall"] == pytest.approx(1600 / 3600)
    # the whole image scores its true IoU; "There is none." only on an empty target
    whole = f"0,0,{W},0,{W},{H},0,{H}"
    assert score("referring_segmentation", whole, s, POLY_FRAME, name="mask_iou")["overall"] == pytest.approx(
        3200 / (W * H))
    assert score("referring_segmentation", "There is none.", s, POLY_FRAME, name="mask_iou")["overall"] == 0.0
    empty = _poly_sample(np.zeros((H, W), bool))
    assert score("referring_segmentation", "There is none.", empty, POLY_FRAME, name="mask_iou")["overall"] == 1.0


def test_each_format_reads_only_its_own_grammar():
    target = np.zeros((H, W), bool)
    target[:50, :50] = True
    grid_answer = format_seg_grid(encode_mask(target), FRAME)
    poly = _poly_sample(target)
    for name in ("mask_iou", "format"):
        assert score("referring_segmentation", grid_answer, poly, FRAME, name=name)["overall"] == 0.0
        assert score("referring_segmentation", "0,0,50,0,50,50,0,50", _sample(target), FRAME,
                     name=name)["overall"] == 0.0
        assert score("referring_segmentation", "0,0,50,0,50,50,0,50", poly, POLY_FRAME, name=name)["overall"] == 1.0


def test_polygon_reward_without_a_frame_reads_original_pixels_and_drops_ignored_pixels():
    target = np.zeros((H, W), bool)
    target[0:50, 0:100] = True
    ignore = np.zeros((H, W), bool)
    ignore[50:100, 0:100] = True
    s = _poly_sample(target)
    s["target"]["ignore"] = encode_mask(ignore)
    # the left half of the image: intersection 5000, union 10000 minus the 5000 ignored pixels
    out = score("referring_segmentation", "0,0,100,0,100,100,0,100", s, None, name="mask_iou")
    assert out["overall"] == pytest.approx(1.0)
