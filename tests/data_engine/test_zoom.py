"""Zoom-in chains: crop regions, nested plans, the conversation, crops cut from the full-resolution original."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from data_engine.answers import ZOOM_CROP_TEXT, ZOOM_TOOL_SYSTEM, format_zoom_call
from data_engine.zoom import build_zoom_conversation, crop_box, crop_view, plan_chain

BUDGET = {"min_pixels": 4 * 28 * 28, "max_pixels": 64 * 28 * 28}


def test_crop_box_hand_derived():
    assert crop_box([10.2, 20.7, 60.5, 80.1], 100, 100) == (10, 20, 61, 81)  # outward rounding
    assert crop_box([95, 5, 140, 10], 100, 100, min_side=28) == (72, 0, 100, 28)  # clipped, grown, shifted inside
    assert crop_box([50, 50, 50, 50], 100, 100, min_side=28) == (36, 36, 64, 64)  # a point grows around itself


def test_plan_chain_nests_down_to_the_target():
    boxes = plan_chain([900, 900, 1000, 1000], 4000, 4000, steps=2)
    # step 1 side = 4000 * (100/4000) ** (1/2) = 632.46, centred on the target centre 950
    np.testing.assert_allclose(boxes[0], [950 - 316.23, 950 - 316.23, 950 + 316.23, 950 + 316.23], atol=0.01)
    assert boxes[1] == [900, 900, 1000, 1000]
    assert plan_chain([0, 0, 10, 10], 100, 100, steps=1) == [[0, 0, 10, 10]]


def _uhr(tmp_path, evidence):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "uhr.png")
    row = {"id": "z/1", "source": "z", "task": "zoom_vqa", "split": None, "images": [str(tmp_path / "uhr.png")],
           "width": 1600, "height": 1200,
           "target": json.dumps({"question": "What color?", "answer": "red", "evidence": evidence})}
    return row, arr


def test_one_step_chain_qwen2_5(tmp_path):
    row, arr = _uhr(tmp_path, [[800, 600, 1000, 760]])
    conv = build_zoom_conversation(row, "qwen2_5_vl", **BUDGET)
    m = conv["messages"]
    assert [x["role"] for x in m] == ["system", "user", "assistant", "user", "assistant"]
    assert m[0]["content"][0]["text"] == ZOOM_TOOL_SYSTEM
    assert m[1]["content"][1]["text"] == "What color?\nZoom in to the region of interest and answer the question."
    # full view: 1600x1200 into 64 tokens of 28 px -> smart resize gives 252x196 (h'=floor(1200/β/28)*28 ...)
    full = conv["images"][0].size
    sx, sy = full[0] / 1600, full[1] / 1200
    want = [int(np.rint(v * s)) for v, s in zip([800, 600, 1000, 760], [sx, sy, sx, sy], strict=True)]
    assert m[2]["content"][0]["text"] == format_zoom_call(want)
    assert m[3]["content"][1]["text"] == ZOOM_CROP_TEXT and m[4]["content"][0]["text"] == "red"
    # the crop is cut from the ORIGINAL: its region is the written box mapped back, rounded outwards
    x1, y1, x2, y2 = conv["regions"][1]
    assert (x1, y1, x2, y2) == crop_box([want[0] / sx, want[1] / sy, want[2] / sx, want[3] / sy], 1600, 1200)
    ref = Image.fromarray(arr[y1:y2, x1:x2]).resize(conv["images"][1].size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    assert np.array_equal(np.asarray(conv["images"][1]), np.asarray(ref))
    assert np.array_equal(np.asarray(crop_view(row["images"][0], [x1, y1, x2, y2])), arr[y1:y2, x1:x2])


def test_multi_step_and_multi_evidence(tmp_path):
    row, _ = _uhr(tmp_path, [[100, 100, 160, 150], [300, 200, 340, 260]])
    conv = build_zoom_conversation(row, "qwen3_vl", **BUDGET, steps=2)
    calls = [x for x in conv["messages"] if x["role"] == "assistant"][:-1]
    assert len(calls) == 2 and len(conv["images"]) == 3
    regions = conv["regions"]
    # nested: each region inside the previous one, the last covers the union of the evidence (100..340, 100..260)
    for outer, inner in zip(regions[:-1], regions[1:], strict=True):
        assert outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]
    assert regions[-1][0] <= 100 and regions[-1][1] <= 100 and regions[-1][2] >= 339 and regions[-1][3] >= 259
    single = build_zoom_conversation(row, "qwen3_vl", **BUDGET, multi_evidence="single_turn")
    assert [x["role"] for x in single["messages"]] == ["user", "assistant"] and len(single["images"]) == 1
