"""Referring-segmentation data: the refgeo adapter's masks (good and broken files), the synthetic refGeo-layout
masks, and the rendered grid answers of built rows."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image, ImageDraw

from data_engine.adapters import FORMATS, Skip, SourceSpec
from data_engine.frames import Frame
from data_engine.masks import decode_mask, mask_area
from data_engine.render import render_grpo, render_sft
from eval.parsers import parse
from tests.data_engine.conftest import write_image


def _run(root, **kw):
    spec = SourceSpec(name="s", format="refgeo", root=root, annotations="metainfo*/*.jsonl",
                      image_root=root / "images", task="referring_segmentation", **kw)
    items = list(FORMATS.get("refgeo")(spec))
    rows = [dict(i, target=json.loads(i["target"])) for i in items if isinstance(i, dict)]
    return rows, [i for i in items if isinstance(i, Skip)]


def _mask(path, w, h, box=None, value=255):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("L", (w, h), 0)
    if box:
        ImageDraw.Draw(im).rectangle(box, fill=value)
    im.save(path)


def test_refgeo_masks_rows_and_counted_skips(tmp_path):
    write_image(tmp_path / "images" / "rsvg" / "00011.jpg", 64, 48)
    m = tmp_path / "masks" / "rsvg"
    _mask(m / "00011_1.png", 64, 48, (10, 5, 29, 14))  # 20 x 10 px
    _mask(m / "00011_2.png", 64, 48)  # empty
    _mask(m / "00011_3.png", 32, 32, (1, 1, 5, 5))  # wrong size
    (m / "00011_4.png").write_bytes(b"not a png")
    _mask(m / "00011_7.png", 64, 48, (0, 0, 9, 9), value=1)  # values <= 1 are background (RSCoVLM reads > 1)
    _mask(m / "00011_8.png", 64, 48, (0, 0, 3, 3))  # no mask_exists key, file exists: used
    base = {"dataset": "rsvg", "image_id": "00011.jpg", "question": "the gray bridge", "bbox": [10, 5, 30, 15],
            "image_width": 64, "image_height": 48, "mask_exists": True}
    recs = [dict(base, question_id=1), dict(base, question_id=2), dict(base, question_id=3),
            dict(base, question_id=4), dict(base, question_id=5), dict(base, question_id=6, mask_exists=False),
            dict(base, question_id=7), {k: v for k, v in dict(base, question_id=8).items() if k != "mask_exists"},
            {k: v for k, v in dict(base, question_id=9).items() if k != "mask_exists"}]
    (tmp_path / "metainfo").mkdir()
    (tmp_path / "metainfo" / "rsvg_val.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    rows, skips = _run(tmp_path)
    assert [r["id"] for r in rows] == ["s/1", "s/8"]
    assert all(r["task"] == "referring_segmentation" and r["split"] == "val" for r in rows)
    mask = decode_mask(rows[0]["target"]["mask"])
    assert mask.shape == (48, 64) and mask.sum() == 200 and mask[5:15, 10:30].all()
    assert rows[0]["target"]["box"] == [10, 5, 30, 15] and mask_area(rows[1]["target"]["mask"]) == 16
    assert [(s.reason, s.line) for s in skips] == [
        ("empty mask", 2), ("mask size differs", 3), ("unreadable mask", 4), ("missing mask", 5), ("no mask", 6),
        ("empty mask", 7), ("no mask", 9)]
    assert "00011_3.png is 32x32" in skips[1].detail and all("rsvg_val.jsonl" in s.file for s in skips)


def test_grounding_rows_of_the_same_source_stay_as_they_were(tmp_path):
    write_image(tmp_path / "images" / "a.jpg", 64, 48)
    rec = {"dataset": "x", "image_id": "a.jpg", "question": "q", "bbox": [1, 1, 9, 9], "question_id": 1,
           "mask_exists": True}
    (tmp_path / "metainfo").mkdir()
    (tmp_path / "metainfo" / "x_test.jsonl").write_text(json.dumps(rec) + "\n")
    items = list(FORMATS.get("refgeo")(SourceSpec(name="s", format="refgeo", root=tmp_path,
                                                  annotations="metainfo/*.jsonl", image_root=tmp_path / "images")))
    assert len(items) == 1 and json.loads(items[0]["target"]) == {"expression": "q", "box": [1, 1, 9, 9]}


def test_synthetic_masks_are_the_rasterised_objects_and_render_to_grids(tiny_rows):
    rows = [r for r in tiny_rows if r["task"] == "referring_segmentation"]
    assert {r["split"] for r in rows} == {"train", "val"} and len(rows) == 2 * (6 + 4)
    for r in rows:
        t = json.loads(r["target"])
        m = decode_mask(t["mask"])
        assert m.shape == (r["height"], r["width"]) and m.any()
        x1, y1, x2, y2 = t["box"]
        ys, xs = np.nonzero(m)
        assert x1 - 1 <= xs.min() and xs.max() <= x2 + 1 and y1 - 1 <= ys.min() and ys.max() <= y2 + 1
    for fam in ("qwen2_5_vl", "qwen3_vl"):
        for r in rows[:4]:
            out = render_sft(r, fam, min_pixels=224 * 224, max_pixels=224 * 224)
            answer = out["messages"][-1]["content"][0]["text"]
            g = render_grpo(r, fam, min_pixels=224 * 224, max_pixels=224 * 224)
            frame = json.loads(g["frame"])
            assert frame["grid_w"] * {"qwen2_5_vl": 28, "qwen3_vl": 32}[fam] == g["images"][0].size[0]
            pred = parse("referring_segmentation", answer, frame=Frame.from_dict(frame))
            assert pred["format_ok"] and answer.startswith("<seg>")
