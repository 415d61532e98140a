"""georft eval on referring segmentation: metrics of fixed predictions by hand through the CLI, and the tiny model
on the demo suite's synth_refseg dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_engine.masks import encode_mask
from georft.cli import main as cli

FRAME = {"kind": "absolute", "orig_w": 100, "orig_h": 100, "model_w": 112, "model_h": 112, "grid_w": 4, "grid_h": 4}


def _suite(tmp, datasets, data_root="", **extra):
    doc = {"name": "seg", "data_root": data_root, "min_pixels": 12544, "max_pixels": 12544, "datasets": datasets,
           **extra}
    path = tmp / "suite.yaml"
    path.write_text("# georft eval --suite suite.yaml\n" + json.dumps(doc), encoding="utf-8")
    return path


def test_fixed_predictions_score_by_hand(tmp_path):
    target = np.zeros((100, 100), bool)
    target[:50, :50] = True  # the top-left 2 x 2 cells (25 px each)
    t = {"expression": "the field", "mask": encode_mask(target)}
    answers = ["<seg>1*2,0*2;1*2,0*2;0*4;0*4</seg>",  # exact: IoU 1
               "<seg>1*1,0*3;0*4;0*4;0*4</seg>",  # one of four cells: IoU 0.25
               "There is none.",  # IoU 0
               "<seg>1*4;1*4;1*4;1*4</seg>"]  # whole image: IoU 0.25
    rows = [{"id": f"r{k}", "dataset": "seg", "task": "referring_segmentation", "images": [], "width": 100,
             "height": 100, "frame": FRAME, "target": t, "completion": a} for k, a in enumerate(answers)]
    pred = tmp_path / "in.jsonl"
    pred.write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = _suite(tmp_path, [{"name": "seg", "path": "seg"}])
    assert cli(["eval", "--predictions", str(pred), "--suite", str(suite), "--out", str(tmp_path / "o")]) == 0
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())["metrics"]["seg"]
    assert m["mIoU"] == pytest.approx((1 + 0.25 + 0 + 0.25) / 4)
    inter, union = 2500 + 625 + 0 + 2500, 2500 + 2500 + 2500 + 10000
    assert m["cIoU"] == pytest.approx(inter / union)
    assert m["pr@0.5"] == 0.25 and m["parse_fail_rate"] == 0.0


def test_tiny_model_on_the_demo_suite_refseg_dataset(tmp_path, tiny_world):
    from models.tiny import build_tiny

    ckpt = build_tiny("qwen2_5_vl", tmp_path / "tiny", seed=0)
    suite = _suite(tmp_path, [{"name": "synth_refseg", "path": ".", "split": "val",
                               "tasks": ["referring_segmentation"]}], data_root=str(tiny_world[1]),
                   max_new_tokens=6, batch_size=4)
    assert cli(["eval", "--model", str(ckpt), "--suite", str(suite), "--out", str(tmp_path / "o")]) == 0
    doc = json.loads((tmp_path / "o" / "metrics.json").read_text())["metrics"]["synth_refseg"]
    assert doc["n"] == 8 and doc["parse_fail_rate"] == 1.0 and 0 <= doc["mIoU"] <= 1
    rows = [json.loads(x) for x in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert all(r["frame"]["grid_w"] == 4 and "iou" in r["scores"] for r in rows)


def test_mask_baselines_answer_in_original_pixels_and_score_their_share():
    from eval.baselines import POLICIES
    from eval.runner_score import SCORERS
    from eval.suite import DatasetEntry, SuiteConfig

    target = np.zeros((30, 40), bool)
    target[:10, :12] = True  # 120 of 1200 pixels
    row = {"id": "r", "task": "referring_segmentation", "width": 40, "height": 30,
           "target": {"expression": "x", "mask": encode_mask(target)}}
    p = POLICIES["whole_image_mask"]
    text = p.answer(p.fit([row]), row, None)
    from eval.parsers import parse

    pred = parse("referring_segmentation", text, frame=None)
    assert pred["format_ok"] and pred["mask"]["size"] == [30, 40]
    m, _ = SCORERS["referring_segmentation"]([dict(row, prediction=pred)], DatasetEntry(name="d", path="."),
                                             SuiteConfig())
    assert m["mIoU"] == pytest.approx(0.1)
    classes = ["road", "water"]
    rows = [{"id": c, "task": "semantic_segmentation", "width": 40, "height": 30,
             "target": {"class": c, "classes": classes, "mask": encode_mask(target if c == "road" else ~target)}}
            for c in classes]
    q = POLICIES["majority_class_mask"]
    state = q.fit(rows)
    assert state["majority"] == "water" and state["share"] == pytest.approx(0.9)
    assert q.answer(state, rows[0], None) == "There is none."
    preds = [dict(r, prediction=parse("semantic_segmentation", q.answer(state, r, None))) for r in rows]
    m, _ = SCORERS["semantic_segmentation"](preds, DatasetEntry(name="d", path="."), SuiteConfig())
    assert m["aAcc"] == pytest.approx(0.9) and m["IoU/water"] == pytest.approx(0.9) and m["IoU/road"] == 0.0


def test_a_polygon_suite_parses_and_rewards_polygon_completions(tmp_path):
    """mask_format: seg_polygon in the suite: completions are read as polygon lines (docs/formats.md §7) by the
    metrics and the rewards alike; a grid answer is malformed there."""
    target = np.zeros((100, 100), bool)
    target[:50, :50] = True
    t = {"expression": "the field", "mask": encode_mask(target)}
    frame = dict(FRAME, model_w=100, model_h=100)  # one model unit per pixel
    answers = ["0,0,50,0,50,50,0,50",  # exact: IoU 1
               "0,0,50,0,50,25,0,25",  # the top half: IoU 0.5
               "<seg>1*2,0*2;1*2,0*2;0*4;0*4</seg>"]  # a grid answer: malformed, IoU 0
    rows = [{"id": f"r{k}", "dataset": "seg", "task": "referring_segmentation", "images": [], "width": 100,
             "height": 100, "frame": frame, "target": t, "completion": a} for k, a in enumerate(answers)]
    pred = tmp_path / "in.jsonl"
    pred.write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = _suite(tmp_path, [{"name": "seg", "path": "seg"}], mask_format="seg_polygon")
    assert cli(["eval", "--predictions", str(pred), "--suite", str(suite), "--out", str(tmp_path / "o")]) == 0
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())["metrics"]["seg"]
    assert m["mIoU"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert m["parse_fail_rate"] == pytest.approx(1 / 3)
    out = [json.loads(x) for x in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert [r["rewards"]["mask_iou/overall"] for r in out] == pytest.approx([1.0, 0.5, 0.0])
    assert [r["rewards"]["format/overall"] for r in out] == [1.0, 1.0, 0.0]
    bad = _suite(tmp_path, [{"name": "seg", "path": "seg"}], mask_format="polygon")
    assert cli(["eval", "--predictions", str(pred), "--suite", str(bad), "--out", str(tmp_path / "p")]) == 2
