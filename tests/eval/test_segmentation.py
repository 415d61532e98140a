"""Mask answers and metrics: seg_grid render -> parse identity, the exact grammar, mask IoU against pycocotools,
referring metrics by hand, and mmseg's IoUMetric definitions against an independent plain-numpy implementation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mu

from data_engine.families import get_family
from data_engine.frames import Frame
from data_engine.masks import (
    decode_mask,
    encode_mask,
    grid_intersection_union,
    grid_to_mask,
    mask_iou,
    mask_to_grid,
)
from data_engine.resize import smart_resize
from data_engine.seg_answers import NO_MASK_ANSWER, format_seg_grid, grid_rows, referring_seg_user_prompt
from eval.metrics.segmentation import intersect_and_union, referring_metrics, semantic_metrics
from eval.parsers import parse
from eval.parsers.segmentation import parse_segmentation, read_seg_grid


def _frame(family: str, w: int, h: int, max_pixels: int = 448 * 448) -> Frame:
    fam = get_family(family)
    rh, rw = smart_resize(h, w, fam.factor, 4 * fam.factor ** 2, max_pixels)
    return Frame.for_family(fam.coord_frame, w, h, rw, rh, fam.factor)


def test_the_frame_records_the_family_grid():
    f = _frame("qwen2_5_vl", 512, 512)
    assert (f.grid_w, f.grid_h) == (448 // 28, 448 // 28) == (16, 16)
    g = _frame("qwen3_vl", 512, 256)
    assert g.model_w == 1000 and g.grid_w * 32 <= 512 and g.grid_w == 2 * g.grid_h
    assert Frame.from_dict(f.to_dict()) == f
    assert "grid_w" not in Frame("absolute", 10, 10, 28, 28).to_dict()  # old records stay as they were


def test_hand_grid_and_text():
    # 4 x 6 image, 2 x 3 grid: cells are 2 x 2 pixels
    m = np.zeros((4, 6), bool)
    m[0:2, 0:2] = True  # cell (0,0) full
    m[2, 2:4] = True  # cell (1,1) half -> on
    m[3, 5] = True  # cell (1,2) a quarter -> off
    g = mask_to_grid(m, 2, 3)
    assert g.tolist() == [[True, False, False], [False, True, False]]
    assert grid_rows(g) == "1*1,0*2;0*1,1*1,0*1"
    assert grid_to_mask(g, 4, 6).sum() == 8


@settings(max_examples=60, deadline=None)
@given(family=st.sampled_from(["qwen2_5_vl", "qwen3_vl"]), w=st.integers(64, 700), h=st.integers(64, 700),
       seed=st.integers(0, 2**31 - 1), density=st.floats(0.05, 0.95))
def test_render_then_parse_is_the_identity_on_grid_representable_masks(family, w, h, seed, density):
    frame = _frame(family, w, h, max_pixels=max(w * h, 64 * 64))
    assert frame.grid_w <= w and frame.grid_h <= h  # every cell holds a pixel
    rng = np.random.default_rng(seed)
    grid = rng.random((frame.grid_h, frame.grid_w)) < density
    grid[0, 0] = True  # not empty
    mask = grid_to_mask(grid, h, w)
    rle = encode_mask(mask)
    text = format_seg_grid(rle, frame)
    status, back = read_seg_grid(text)
    assert status == "grid" and np.array_equal(back, grid)
    pred = parse("referring_segmentation", text, frame=frame)
    assert pred["format_ok"] and np.array_equal(decode_mask(pred["mask"]), mask)
    assert mask_iou(pred["mask"], rle) == 1.0


def test_empty_target_and_none_answer():
    f = _frame("qwen2_5_vl", 100, 80)
    empty = encode_mask(np.zeros((80, 100)))
    assert format_seg_grid(empty, f) == NO_MASK_ANSWER
    p = parse_segmentation(NO_MASK_ANSWER, frame=f)
    assert p["format_ok"] and p["empty"] and p["mask"] is None


@pytest.mark.parametrize("text", [
    "", "<seg></seg>", "<seg>1*2</seg>x", "<seg>1*0,0*4</seg>", "<seg>1*01,0*3</seg>", "<seg>1*2,1*2</seg>",
    "<seg>1*2,0*2;1*3</seg>", "<seg>2*4</seg>", "<seg> 1*4</seg>", "<seg>1*4;</seg>", "<seg>1*4", "1*4</seg>",
    "There are none.", "there is none.", "<seg>1*4;;1*4</seg>", "<seg>1*99999999</seg>", "<SEG>1*4</SEG>",
    "<seg>1*4</seg><seg>1*4</seg>", "<seg>" + "1*1,0*1," * 10 + "1*1</seg>" + "\x00",
])
def test_the_parser_rejects_anything_the_renderer_does_not_write(text):
    assert read_seg_grid(text) == ("malformed", None)
    out = parse_segmentation(text, frame=_frame("qwen3_vl", 128, 128))
    assert not out["format_ok"] and out["mask"] is None


def test_hostile_inputs_never_raise():
    f = _frame("qwen3_vl", 128, 128)
    for text in [None, 3, ["<seg>"], "<seg>" + "1*1,0*1," * 300_000 + "</seg>", "<seg>" + "1*4;" * 10**5 + "1*4</seg>",
                 "x" * 5_000_000, "<seg>" + "9" * 1000 + "</seg>", "\ud800<seg>"]:
        out = parse_segmentation(text, frame=f)
        assert isinstance(out, dict) and not out["format_ok"]


def test_a_grid_of_another_shape_than_the_shown_image_is_malformed():
    f = _frame("qwen2_5_vl", 224, 224)  # 8 x 8
    assert parse_segmentation("<seg>" + ";".join(["1*4"] * 4) + "</seg>", frame=f)["format_ok"] is False
    assert parse_segmentation("<seg>" + ";".join(["1*8"] * 8) + "</seg>", frame=f)["format_ok"] is True


def test_prompt_reads_once_the():
    assert referring_seg_user_prompt("the left ship") == "Locate the left ship, output the segmentation mask"
    assert referring_seg_user_prompt("red car") == "Locate the red car, output the segmentation mask"


@settings(max_examples=40, deadline=None)
@given(w=st.integers(8, 200), h=st.integers(8, 200), gw=st.integers(1, 8), gh=st.integers(1, 8),
       seed=st.integers(0, 2**31 - 1))
def test_grid_iou_equals_pycocotools_iou_of_the_upsampled_mask(w, h, gw, gh, seed):
    rng = np.random.default_rng(seed)
    grid = rng.random((gh, gw)) < 0.5
    target = rng.random((h, w)) < rng.random()
    gt = encode_mask(target)
    inter, union = grid_intersection_union(grid, gt)
    pm = mu.encode(np.asfortranarray(grid_to_mask(grid, h, w).astype(np.uint8)))
    tm = mu.encode(np.asfortranarray(target.astype(np.uint8)))
    want = float(mu.iou([pm], [tm], [0])[0, 0])
    got = inter / union if union else 0.0
    assert got == pytest.approx(want, abs=1e-12)
    if union:
        assert mask_iou(encode_mask(grid_to_mask(grid, h, w)), gt) == pytest.approx(want, abs=1e-12)


def test_referring_metrics_by_hand():
    a = np.zeros((10, 10), bool)
    a[:, :5] = True  # 50 px
    b = np.zeros((10, 10), bool)
    b[:, :4] = True  # 40 px inside a: IoU 0.8
    c = np.zeros((10, 10), bool)
    c[:2, :] = True  # 20 px, 10 inside a: IoU 10/60
    out = referring_metrics([encode_mask(b), encode_mask(c), None], [encode_mask(a)] * 3)
    assert out["iou"] == pytest.approx([0.8, 1 / 6, 0.0])
    assert out["mIoU"] == pytest.approx((0.8 + 1 / 6) / 3)
    assert out["cIoU"] == pytest.approx((40 + 10) / (50 + 60 + 50))
    assert out["pr@0.5"] == pytest.approx(1 / 3) and out["pr@0.8"] == pytest.approx(1 / 3)
    assert out["pr@0.9"] == 0.0
    empty = encode_mask(np.zeros((10, 10)))
    assert referring_metrics([None], [empty])["mIoU"] == 1.0  # nothing to find, nothing found


def _numpy_mmseg(pairs, num_classes, ignore_index):
    """mmseg's IoUMetric written out independently: per-class boolean counts over non-ignored pixels."""
    inter, pred_area, label_area = (np.zeros(num_classes) for _ in range(3))
    for pred, label in pairs:
        keep = label != ignore_index
        for k in range(num_classes):
            inter[k] += np.sum((pred == k) & (label == k) & keep)
            pred_area[k] += np.sum((pred == k) & keep)
            label_area[k] += np.sum((label == k) & keep)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (pred_area + label_area - inter)
        acc = inter / label_area
        prec = inter / pred_area
        f = 2 * prec * acc / (prec + acc)
    res = {"aAcc": inter.sum() / label_area.sum(), "mIoU": np.nanmean(iou), "mAcc": np.nanmean(acc),
           "mFscore": np.nanmean(f)}
    return res, iou


@pytest.mark.parametrize("seed", range(5))
def test_semantic_metrics_equal_an_independent_numpy_implementation(seed):
    rng = np.random.default_rng(seed)
    c = 5
    pairs = []
    for _ in range(3):
        label = rng.integers(0, c, (17, 23))
        label[rng.random(label.shape) < 0.2] = 255
        pred = np.where(rng.random(label.shape) < 0.6, label, rng.integers(0, c, label.shape))
        pred[pred == 255] = 0
        pairs.append((pred, label))
    want, iou = _numpy_mmseg(pairs, c, 255)
    got = semantic_metrics(pairs, c, 255)
    for k in ("aAcc", "mIoU", "mAcc", "mFscore"):
        assert got[k] == pytest.approx(want[k], abs=1e-12), k
    assert [got[f"IoU/{k}"] for k in range(c)] == pytest.approx(list(iou))


def test_semantic_metrics_hand_case_with_absent_class():
    label = np.array([[0, 0, 1, 255]])
    pred = np.array([[0, 1, 1, 2]])
    # class 0: I 1, P 1, L 2 -> IoU 0.5; class 1: I 1, P 2, L 1 -> 0.5; class 2: absent -> NaN (ignored pixel)
    got = semantic_metrics([(pred, label)], 3, 255)
    assert got["mIoU"] == pytest.approx(0.5) and np.isnan(got["IoU/2"])
    assert got["aAcc"] == pytest.approx(2 / 3)
    ai, au, ap, al = intersect_and_union(pred, label, 3, 255)
    assert ai.tolist() == [1, 1, 0] and au.tolist() == [2, 2, 0] and ap.tolist() == [1, 2, 0]


@pytest.mark.parametrize("seed", range(3))
def test_semantic_scorer_over_rows_equals_the_label_map_metric(seed):
    """One row per (image, class), predictions as per-class grids of a predicted label map: the scorer's totals
    give mmseg's metrics of the label maps themselves."""
    from eval.runner_score import SCORERS
    from eval.suite import DatasetEntry, SuiteConfig

    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c", "d"]
    rows, pairs = [], []
    for k in range(3):
        h, w = 40 + 8 * k, 56
        label = rng.integers(0, 4, (h // 8, w // 8)).repeat(8, 0).repeat(8, 1)
        label[rng.random(label.shape) < 0.1] = 255
        pred_grid = np.where(rng.random((h // 8, w // 8)) < 0.7, label[::8, ::8], rng.integers(0, 4, (h // 8, w // 8)))
        pred_grid[pred_grid == 255] = 0
        pred = pred_grid.repeat(8, 0).repeat(8, 1)
        pairs.append((pred, label))
        frame = Frame("absolute", w, h, w // 8 * 28, h // 8 * 28, w // 8, h // 8)
        for c, name in enumerate(classes):
            target = {"class": name, "mask": encode_mask(label == c), "classes": classes,
                      "ignore": encode_mask(label == 255)}
            text = "<seg>" + grid_rows(pred_grid == c) + "</seg>" if (pred_grid == c).any() else NO_MASK_ANSWER
            rows.append({"id": f"{k}/{name}", "task": "semantic_segmentation", "target": target,
                         "prediction": parse("semantic_segmentation", text, frame=frame)})
    metrics, scores = SCORERS["semantic_segmentation"](rows, DatasetEntry(name="d", path="."), SuiteConfig())
    want = semantic_metrics(pairs, 4, 255, classes)
    for key in ("aAcc", "mIoU", "mAcc", "mFscore", "IoU/a", "IoU/d", "Fscore/b"):
        assert metrics[key] == pytest.approx(want[key], abs=1e-12), key
    assert len(scores) == 12 and all(0 <= s["iou"] <= 1 for s in scores)


def test_mask_iou_reward_drops_ignored_pixels_from_the_union():
    from rewards import score

    label = np.zeros((20, 20), int)
    label[:10] = 1
    label[10:, :10] = 255  # ignored quarter
    frame = Frame("absolute", 20, 20, 56, 56, 2, 2)  # 10-px cells
    sample = {"task": "semantic_segmentation", "target": {"class": "x", "classes": ["y", "x"],
                                                          "mask": encode_mask(label == 1),
                                                          "ignore": encode_mask(label == 255)}}
    # top row right, plus the ignored bottom-left cell: the ignored cell costs nothing
    assert score("semantic_segmentation", "<seg>1*2;1*1,0*1</seg>", sample, frame, name="mask_iou")["overall"] == 1.0
    # the bottom-right cell is a real false positive: IoU 200 / 300
    assert score("semantic_segmentation", "<seg>1*2;0*1,1*1</seg>", sample, frame,
                 name="mask_iou")["overall"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("counts", ["\x00\x01", "PP", "0" * 3, "o", "1", "ic0z" * 3, "", 5, None])
def test_corrupt_rle_is_a_clean_error_never_a_pycocotools_crash(counts):
    from data_engine.errors import UserError
    from data_engine.masks import intersection_union, mask_area
    from rewards import score

    bad = {"size": [10, 10], "counts": counts}
    good = encode_mask(np.ones((10, 10)))
    for fn in (lambda: decode_mask(bad), lambda: mask_area(bad), lambda: intersection_union(bad, good),
               lambda: intersection_union(good, bad)):
        with pytest.raises(UserError, match="malformed mask RLE"):
            fn()
    out = score("referring_segmentation", "<seg>1*1</seg>", {"task": "referring_segmentation",
                                                            "target": {"expression": "x", "mask": bad}},
                None, name="mask_iou")
    assert out["overall"] == 0.0


def test_rle_check_accepts_everything_pycocotools_writes():
    from data_engine.masks import rle_problem

    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 40, 2)
        m = rng.random((h, w)) < rng.random()
        rle = encode_mask(m)
        assert rle_problem(rle["counts"], int(h), int(w)) is None
        assert np.array_equal(decode_mask(rle), m)


def _rle_problem_reference(counts: str, h: int, w: int) -> str | None:
    """The former run-by-run Python check (pycocotools' `rleFrString` in Python): the reference for the
    vectorised one on whether a string is refused."""
    if not (0 < h and 0 < w and h * w <= 1 << 31):
        return "size"
    runs, p, n = [], 0, len(counts)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                return "truncated"
            c = ord(counts[p]) - 48
            if not 0 <= c < 64:
                return "alphabet"
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        if x < 0 or k > 7:
            return "run"
        runs.append(x)
    return None if sum(runs) == h * w else "sum"


def test_vectorised_rle_check_refuses_exactly_what_the_run_by_run_check_refuses():
    from data_engine.masks import rle_problem

    rng = np.random.default_rng(1)
    alphabet = [chr(c) for c in range(48, 48 + 64)] + ["\x00", "/", "\u00e9"]
    for _ in range(3000):
        h, w = (int(v) for v in rng.integers(1, 12, 2))
        if rng.random() < 0.5:  # a real RLE, mutated in one place
            counts = list(encode_mask(rng.random((h, w)) < rng.random())["counts"])
            counts[rng.integers(len(counts))] = alphabet[rng.integers(len(alphabet))]
            counts = "".join(counts)
        else:
            counts = "".join(alphabet[i] for i in rng.integers(0, len(alphabet), rng.integers(0, 12)))
        assert (rle_problem(counts, h, w) is None) == (_rle_problem_reference(counts, h, w) is None), (counts, h, w)


def test_a_huge_counts_string_is_refused_fast_and_never_cached():
    import time

    from data_engine import masks

    before = masks._rle_problem_cached.cache_info().currsize
    start = time.monotonic()
    assert "more than any RLE" in masks.rle_problem("1" * 20_000_000, 100, 100)
    # a long string that fits the length bound is decoded once, vectorised: its runs pass h*w
    assert "runs cover" in masks.rle_problem("1" * 2_000_000, 1000, 1000)
    assert time.monotonic() - start < 5  # the run-by-run check took ~27 s on such lines
    assert masks._rle_problem_cached.cache_info().currsize == before
