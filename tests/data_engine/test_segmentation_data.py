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


# ------------------------------------------------------------------------------------------- semantic segmentation
def _label_png(path, array, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode=None).convert(mode).save(path)


def _semantic(root, fmt, **kw):
    spec = SourceSpec(name="s", format=fmt, root=root, **kw)
    items = list(FORMATS.get(fmt)(spec))
    rows = [dict(i, target=json.loads(i["target"])) for i in items if isinstance(i, dict)]
    return rows, [i for i in items if isinstance(i, Skip)]


def test_mmseg_layout_reduce_zero_label_and_counted_skips(tmp_path):
    label = np.array([[0, 1, 1, 2], [3, 3, 2, 255], [1, 1, 1, 1]])  # 0 and 255 -> ignore; 1..3 -> classes 0..2
    write_image(tmp_path / "img_dir" / "val" / "a.png", 4, 3)
    _label_png(tmp_path / "ann_dir" / "val" / "a.png", label)
    write_image(tmp_path / "img_dir" / "val" / "b.png", 4, 3)  # no label map
    write_image(tmp_path / "img_dir" / "val" / "c.png", 5, 3)
    _label_png(tmp_path / "ann_dir" / "val" / "c.png", np.ones((3, 4)))  # wrong size
    write_image(tmp_path / "img_dir" / "val" / "d.png", 4, 3)
    _label_png(tmp_path / "ann_dir" / "val" / "d.png", np.full((3, 4), 9))  # id 9 -> 8: unknown
    write_image(tmp_path / "img_dir" / "val" / "e.png", 4, 3)
    write_image(tmp_path / "ann_dir" / "val" / "e.png", 4, 3)  # an RGB colour map, not ids
    write_image(tmp_path / "img_dir" / "train" / "f.png", 4, 3)
    _label_png(tmp_path / "ann_dir" / "train" / "f.png", np.ones((3, 4)))
    rows, skips = _semantic(tmp_path, "mmseg", classes=["road", "tree", "car"], split=["val"],
                            extra={"reduce_zero_label": True, "ignore_index": 255})
    assert [r["id"] for r in rows] == ["s/val/a/road", "s/val/a/tree", "s/val/a/car"]
    masks = {r["target"]["class"]: decode_mask(r["target"]["mask"]) for r in rows}
    assert masks["road"].sum() == 6 and masks["tree"].sum() == 2 and masks["car"].sum() == 2
    assert decode_mask(rows[0]["target"]["ignore"]).tolist() == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert all(r["target"]["classes"] == ["road", "tree", "car"] and r["split"] == "val" for r in rows)
    assert [s.reason for s in skips] == ["missing label map", "label map size differs", "unknown class id",
                                         "label map is not single-channel"]
    assert "ids [8]" in skips[2].detail and skips[0].file.endswith("ann_dir/val/b.png")


def test_loveda_layout_ids_and_the_unlabelled_test_split(tmp_path):
    for folder, domain in (("Train", "Urban"), ("Val", "Rural"), ("Test", "Urban")):
        write_image(tmp_path / folder / domain / "images_png" / "7.png", 3, 2)
    _label_png(tmp_path / "Train" / "Urban" / "masks_png" / "7.png", [[0, 1, 2], [7, 7, 3]])
    _label_png(tmp_path / "Val" / "Rural" / "masks_png" / "7.png", [[4, 5, 6], [1, 1, 1]])
    rows, skips = _semantic(tmp_path, "loveda")
    assert len(rows) == 14 and {r["split"] for r in rows} == {"train", "val"}
    first = {r["target"]["class"]: int(decode_mask(r["target"]["mask"]).sum()) for r in rows[:7]}
    assert first == {"background": 1, "building": 1, "road": 1, "water": 0, "barren": 0, "forest": 0,
                     "agriculture": 2}
    assert rows[0]["id"] == "s/Train/Urban/7/background" and "ignore" in rows[0]["target"]
    assert "ignore" not in rows[7]["target"]
    assert [s.reason for s in skips] == ["unlabelled split"] and "Test" in skips[0].file


def test_recipe_label_map_options_fail_at_load_time(tmp_path):
    import pytest

    from data_engine.build import load_recipe
    from data_engine.errors import UserError

    (tmp_path / "r.yaml").write_text("sources:\n  - {name: p, format: mmseg, root: ., classes: [a],"
                                     " reduce_zero_label: yes-please}\n")
    with pytest.raises(UserError, match="reduce_zero_label must be true or false"):
        load_recipe(tmp_path / "r.yaml")


def test_synthetic_landcover_rows_cover_every_class_per_image(tiny_rows):
    rows = [r for r in tiny_rows if r["source"] == "synth_landcover"]
    by_image: dict = {}
    for r in rows:
        by_image.setdefault(r["images"][0], []).append(json.loads(r["target"]))
    assert len(by_image) == 6 + 4
    for targets in by_image.values():
        assert [t["class"] for t in targets] == ["bare_ground", "building", "road", "water", "vegetation"]
        stacked = np.stack([decode_mask(t["mask"]) for t in targets] + [decode_mask(targets[0]["ignore"])])
        assert (stacked.sum(0) == 1).all()  # the classes and the ignored outline partition the image
    loveda = [r for r in tiny_rows if r["source"] == "synth_loveda"]
    assert len(loveda) == 7 * (6 + 4)


# ----------------------------------------------------------------------------------------------------------- RRSIS-D
def _rrsisd(tmp_path, refs, anns, images=None, pickle_bytes=None):
    import pickle

    from pycocotools import mask as mu

    images = images or [{"id": 1, "file_name": "00001.jpg", "height": 40, "width": 50},
                        {"id": 2, "file_name": "00002.jpg", "height": 40, "width": 50}]
    for im in images:
        write_image(tmp_path / "JPEGImages" / im["file_name"], im["width"], im["height"])
    full = np.zeros((40, 50), np.uint8)
    full[10:20, 5:25] = 1
    rle = mu.encode(np.asfortranarray(full))
    coded = {"size": [40, 50], "counts": rle["counts"].decode()}
    for a in anns:
        if a.get("segmentation") == "RLE":
            a["segmentation"] = coded
    (tmp_path / "instances.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                         "categories": [{"id": 1, "name": "bridge"}]}))
    (tmp_path / "refs(unc).p").write_bytes(pickle_bytes if pickle_bytes is not None else pickle.dumps(refs, protocol=2))
    items = list(FORMATS.get("rrsisd")(SourceSpec(name="s", format="rrsisd", root=tmp_path,
                                                  image_root=tmp_path / "JPEGImages", split=["test", "val"])))
    rows = [dict(i, target=json.loads(i["target"])) for i in items if isinstance(i, dict)]
    return rows, [i for i in items if isinstance(i, Skip)]


def _ref(ref_id, ann_id, image_id=1, split="test", sents=("the bridge",)):
    return {"ref_id": ref_id, "ann_id": ann_id, "image_id": image_id, "category_id": 1, "split": split,
            "sentences": [{"raw": t, "sent": t, "sent_id": 10 * ref_id + k, "tokens": t.split()}
                          for k, t in enumerate(sents)], "sent_ids": []}


def test_rrsisd_polygons_and_rle_rows_and_skips(tmp_path):
    anns = [{"id": 1, "image_id": 1, "bbox": [5, 10, 20, 10], "segmentation": [[5, 10, 25, 10, 25, 20, 5, 20]]},
            {"id": 2, "image_id": 1, "bbox": [5, 10, 20, 10], "segmentation": "RLE"},
            {"id": 3, "image_id": 2, "bbox": [0, 0, 1, 1], "segmentation": {"size": [10, 10], "counts": "PP"}},
            {"id": 4, "image_id": 2, "bbox": [0, 0, 1, 1], "segmentation": [[0, 0, 0, 0, 0, 0]]},
            {"id": 5, "image_id": 2, "bbox": [0, 0, 1, 1], "segmentation": [[1, 2, 3]]}]
    refs = [_ref(1, 1, sents=("the long bridge", "bridge on the left")), _ref(2, 2, split="val"),
            _ref(3, 3), _ref(4, 4), _ref(5, 5), _ref(6, 99), _ref(7, 1, split="train"), _ref(8, 1, image_id=7),
            {"ref_id": 9}]
    rows, skips = _rrsisd(tmp_path, refs, anns)
    assert [(r["id"], r["split"], r["target"]["expression"]) for r in rows] == [
        ("s/1/10", "test", "the long bridge"), ("s/1/11", "test", "bridge on the left"), ("s/2/20", "val", "the bridge")]
    poly_mask, rle_mask = decode_mask(rows[0]["target"]["mask"]), decode_mask(rows[2]["target"]["mask"])
    assert rle_mask.sum() == 200 and rle_mask[10:20, 5:25].all()
    assert abs(int(poly_mask.sum()) - 200) <= 30 and (poly_mask & rle_mask).sum() >= 180  # COCO's rasteriser
    assert rows[0]["target"]["box"] == [5, 10, 25, 20]
    assert [s.reason for s in skips] == ["mask size differs", "empty mask", "bad segmentation", "missing annotation",
                                         "missing image", "malformed refs"]


def test_rrsisd_pickle_that_names_a_global_is_refused_and_never_run(tmp_path):
    import os
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    rows, skips = _rrsisd(tmp_path, None, [], pickle_bytes=pickle.dumps([Evil()]))
    assert rows == [] and [s.reason for s in skips] == ["unsafe or malformed pickle"]
    assert "refusing global" in skips[0].detail and not marker.exists()
    rows, skips = _rrsisd(tmp_path, None, [], pickle_bytes=b"\x80\x02garbage")
    assert rows == [] and [s.reason for s in skips] == ["unsafe or malformed pickle"]
    from data_engine.adapters.rrsisd import load_refs_pickle

    assert load_refs_pickle(pickle.dumps([{"a": (1, 2.5, None, True, b"x", {3})}], protocol=2)) == [
        {"a": (1, 2.5, None, True, b"x", {3})}]


# ------------------------------------------------------------------------------------------------------------ ISPRS
def _colour_tif(path, ids, table):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray([[table[k] for k in row] for row in ids], dtype=np.uint8)).save(path)


def test_isprs_colour_labels_windows_splits_and_skips(tmp_path):
    from data_engine.adapters.isprs import COLOURS, tile_split

    table = {v: k for k, v in COLOURS.items()} | {9: (0, 0, 0), 8: (10, 20, 30)}
    ids = [[0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5], [0, 1, 2, 3, 4, 5], [1, 1, 1, 1, 1, 1], [9, 9, 9, 0, 0, 0]]
    write_image(tmp_path / "top" / "top_potsdam_2_13_RGB.tif", 6, 5)  # val tile
    _colour_tif(tmp_path / "top_potsdam_2_13_label.tif", ids, table)
    write_image(tmp_path / "top" / "top_potsdam_2_10_RGB.tif", 6, 5)
    _colour_tif(tmp_path / "top_potsdam_2_10_label.tif", [[8] * 6] * 5, table)  # unknown colour
    write_image(tmp_path / "top" / "top_potsdam_6_7_RGB.tif", 7, 5)
    _colour_tif(tmp_path / "top_potsdam_6_7_label.tif", ids, table)  # size differs
    _colour_tif(tmp_path / "top_potsdam_7_7_label.tif", ids, table)  # no tile
    rows, skips = _semantic(tmp_path, "isprs", image_root=tmp_path / "top", patches={"size": 4, "gap": 0})
    assert len(rows) == 4 * 6 and {r["split"] for r in rows} == {"val"}
    first = rows[:6]
    assert [r["target"]["class"] for r in first] == ["impervious_surface", "building", "low_vegetation", "tree", "car",
                                                     "clutter"]
    assert first[0]["id"] == "s/top_potsdam_2_13_RGB__4__0___0/impervious_surface"
    assert first[0]["target"]["patch"] == {"parent": "s/top_potsdam_2_13_RGB", "x": 0, "y": 0, "size": 4}
    assert first[0]["width"] == first[0]["height"] == 4
    assert decode_mask(first[1]["target"]["mask"]).sum() == 2 + 1 + 4  # building in the 4x4 top-left window
    last = rows[-6:]  # window x 2, y 1: holds the black boundary pixels, ignored
    assert last[0]["target"]["patch"]["x"] == 2 and decode_mask(last[0]["target"]["ignore"]).sum() == 1
    assert [s.reason for s in skips] == ["unknown colour", "label map size differs", "missing image"]
    assert "(10, 20, 30)" in skips[0].detail
    assert tile_split("top_mosaic_09cm_area1.tif") == "train" and tile_split("top_mosaic_09cm_area9.tif") is None
    whole, _ = _semantic(tmp_path, "isprs", image_root=tmp_path / "top", split=["val"])
    assert len(whole) == 6 and whole[0]["id"] == "s/top_potsdam_2_13_RGB/impervious_surface"
