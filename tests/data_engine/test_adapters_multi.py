"""Multi-image adapters on files written in the real layouts (docs/multi-image.md §3-§4), broken records included."""

from __future__ import annotations

import json

from data_engine.adapters.base import read_frames
from tests.data_engine.conftest import write_image
from tests.data_engine.test_adapters import run

NO_CHANGE = "the scene is the same as before ."


def _levir_cc(tmp_path, entries, pairs):
    for split, name, size_a, size_b in pairs:
        if size_a:
            write_image(tmp_path / "images" / split / "A" / name, *size_a)
        if size_b:
            write_image(tmp_path / "images" / split / "B" / name, *size_b)
    (tmp_path / "LevirCCcaptions.json").write_text(json.dumps({"images": entries}))


def _entry(name, split, sents, **extra):
    return {"filename": name, "split": split, "sentences": [{"tokens": s.split()[:-1], "raw": s} for s in sents],
            **extra}


def test_levir_cc_pairs_flags_and_skips(tmp_path):
    built = ["two buildings are built .", "there are two new buildings ."]
    entries = [
        _entry("train_000000.png", "train", built, changeflag=1),
        _entry("train_000001.png", "train", [NO_CHANGE, "there is no difference ."]),  # no changeflag: from text
        _entry("val_000002.png", "val", ["a road is built ."]),
        _entry("test_000003.png", "test", built),  # B missing -> counted skip
        _entry("test_000004.png", "test", []),  # no sentence -> counted skip
        {"split": "test", "sentences": []},  # no filename -> malformed
        _entry("test_000006.png", "test", built, changeflag=7),  # bad flag
        {"filename": "test_000007.png", "split": "test", "sentences": [{"tokens": ["a", "road"]}]},  # tokens only
    ]
    _levir_cc(tmp_path, entries, [
        ("train", "train_000000.png", (64, 64), (64, 64)), ("train", "train_000001.png", (64, 64), (64, 64)),
        ("val", "val_000002.png", (64, 64), (48, 48)),  # captions have no geometry: sizes may differ
        ("test", "test_000003.png", (64, 64), None), ("test", "test_000007.png", (32, 32), (32, 32)),
    ])
    rows, skips = run("levir_cc", tmp_path)
    assert [(r["id"], r["task"], r["split"]) for r in rows] == [
        ("s/train/train_000000", "change_caption", "train"), ("s/train/train_000001", "change_caption", "train"),
        ("s/val/val_000002", "change_caption", "val"), ("s/test/test_000007", "change_caption", "test")]
    assert [r["target"]["changed"] for r in rows] == [True, False, True, True]
    assert rows[0]["target"]["references"] == built  # raw, verbatim
    assert rows[3]["target"]["references"] == ["a road"]
    assert [p.split("/")[-2:] for p in rows[0]["images"]] == [["A", "train_000000.png"], ["B", "train_000000.png"]]
    assert (rows[0]["width"], rows[0]["height"]) == (64, 64)
    assert sorted((s.reason, s.line) for s in skips) == [
        ("malformed JSON", 5), ("malformed JSON", 6), ("missing image", 3), ("no references", 4)]
    assert len(rows) + len(skips) == len(entries)  # records in = rows out + skips
    val, _ = run("levir_cc", tmp_path, split=["val"])
    assert [r["split"] for r in val] == ["val"]


def test_levir_cc_missing_or_broken_json(tmp_path):
    rows, skips = run("levir_cc", tmp_path)
    assert not rows and [s.reason for s in skips] == ["missing annotations"]
    (tmp_path / "LevirCCcaptions.json").write_text('{"images": [\n{"filename": }')
    rows, skips = run("levir_cc", tmp_path)
    assert not rows and [(s.reason, s.line) for s in skips] == [("malformed JSON", 2)]


def test_read_frames_coregistration_rule(tmp_path):
    a = write_image(tmp_path / "a.png", 64, 64)
    b = write_image(tmp_path / "b.png", 64, 48)
    assert read_frames([a, b], tmp_path / "x.json") == [(64, 64), (64, 48)]
    skip = read_frames([a, b], tmp_path / "x.json", 3, coregistered=True)
    assert skip.reason == "frames differ in size" and skip.line == 3 and "b.png 64x48" in skip.detail
    assert read_frames([a, tmp_path / "c.png"], tmp_path / "x.json").reason == "missing image"


# ------------------------------------------------------------------------------------------------------- LEVIR-CD
def _mask(path, size, rects):
    import numpy as np
    from PIL import Image

    m = np.zeros(size[::-1], np.uint8)
    for x1, y1, x2, y2 in rects:
        m[y1:y2, x1:x2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(m, "L").save(path)


def test_levir_cd_official_layout_components_and_skips(tmp_path):
    for name in ("train_1.png", "train_2.png", "val_3.png", "test_4.png", "test_5.png"):
        write_image(tmp_path / "A" / name, 64, 64)
        if name != "test_4.png":  # B missing -> skip
            write_image(tmp_path / "B" / name, *((64, 64) if name != "test_5.png" else (64, 48)))
    _mask(tmp_path / "label" / "train_1.png", (64, 64), [(2, 2, 12, 8), (30, 30, 50, 60), (60, 0, 62, 2)])
    _mask(tmp_path / "label" / "train_2.png", (64, 64), [])
    _mask(tmp_path / "label" / "val_3.png", (64, 64), [(0, 0, 64, 64)])
    _mask(tmp_path / "label" / "test_4.png", (64, 64), [])
    _mask(tmp_path / "label" / "test_5.png", (64, 64), [])
    rows, skips = run("levir_cd", tmp_path)
    assert [(r["id"], r["split"], r["task"]) for r in rows] == [
        ("s/train/train_1", "train", "change_detection"), ("s/train/train_2", "train", "change_detection"),
        ("s/val/val_3", "val", "change_detection")]
    t = rows[0]["target"]
    # two components of >= 16 px become their exact rectangles (pixel edges); the 2x2 one is counted in n_small
    boxes = sorted(tuple(sorted({(o["poly"][k], o["poly"][k + 1]) for k in (0, 2, 4, 6)})) for o in t["objects"])
    assert boxes == [((2, 2), (2, 8), (12, 2), (12, 8)), ((30, 30), (30, 60), (50, 30), (50, 60))]
    assert t["n_small"] == 1 and t["classes"] == ["change"] and t["mask"].endswith("label/train_1.png")
    assert rows[1]["target"]["objects"] == [] and len(rows[2]["target"]["objects"]) == 1
    assert sorted(s.reason for s in skips) == ["frames differ in size", "missing image"]
    assert len(rows) + len(skips) == 5
    only_val, _ = run("levir_cd", tmp_path, split=["val"])
    assert [r["id"] for r in only_val] == ["s/val/val_3"]
    small, _ = run("levir_cd", tmp_path, extra={"min_area": 2})
    assert len(small[0]["target"]["objects"]) == 3 and small[0]["target"]["n_small"] == 0


def test_levir_cd_split_folders_layout(tmp_path):
    for split in ("train", "test"):
        write_image(tmp_path / split / "A" / "0001.png", 32, 32)
        write_image(tmp_path / split / "B" / "0001.png", 32, 32)
        _mask(tmp_path / split / "label" / "0001.png", (32, 32), [(4, 4, 20, 10)])
    rows, skips = run("levir_cd", tmp_path)
    assert not skips and [r["id"] for r in rows] == ["s/test/0001", "s/train/0001"]
    assert [len(r["images"]) for r in rows] == [2, 2]


def test_levir_cd_min_area_is_checked_when_the_recipe_loads(tmp_path):
    import pytest

    from data_engine.build import load_recipe
    from data_engine.errors import UserError

    (tmp_path / "cd").mkdir()
    (tmp_path / "r.yaml").write_text("sources:\n  - {name: cd, format: levir_cd, root: cd, min_area: -3}\n")
    with pytest.raises(UserError, match="min_area must be a positive integer"):
        load_recipe(tmp_path / "r.yaml")


# ------------------------------------------------------------------------------------------------------------ xBD
def _xbd_label(path, feats, disaster_type="wind"):
    path.parent.mkdir(parents=True, exist_ok=True)
    xy = [{"properties": {"feature_type": "building", "uid": uid, **({"subtype": st} if st else {})}, "wkt": w}
          for uid, st, w in feats]
    path.write_text(json.dumps({"features": {"xy": xy, "lng_lat": []},
                                "metadata": {"disaster": "hurricane-michael", "disaster_type": disaster_type,
                                             "width": 64, "height": 64}}))


def test_xbd_pairs_buildings_questions_and_skips(tmp_path):
    root = tmp_path / "hold"
    sq = "POLYGON ((10.5 20.0, 40.0 20.0, 40.0 50.0, 10.5 50.0, 10.5 20.0))"
    tri = "POLYGON ((50 5, 60 5, 55 15, 50 5))"
    for stem in ("hurricane-michael_00000001", "hurricane-michael_00000002", "flood_00000003", "fire_00000004",
                 "fire_00000005"):
        for t in ("pre", "post"):
            if (stem, t) != ("flood_00000003", "pre"):  # a post without its pre -> skip
                write_image(root / "images" / f"{stem}_{t}_disaster.png", 64, 64)
    _xbd_label(root / "labels" / "hurricane-michael_00000001_post_disaster.json",
               [("b", "minor-damage", sq), ("a", "destroyed", tri), ("c", "un-classified", tri)])
    _xbd_label(root / "labels" / "hurricane-michael_00000002_post_disaster.json", [])
    _xbd_label(root / "labels" / "flood_00000003_post_disaster.json", [("a", "no-damage", sq)], "flooding")
    _xbd_label(root / "labels" / "fire_00000004_post_disaster.json", [("a", "no-damage", "POLYGON ((1 2, 3")], "fire")
    _xbd_label(root / "labels" / "fire_00000005_post_disaster.json", [("a", "burnt", sq)], "fire")
    (root / "labels" / "hurricane-michael_00000001_pre_disaster.json").write_text("{}")  # pre labels are not read
    rows, skips = run("xbd", root)
    assert sorted(s.reason for s in skips) == ["malformed WKT", "missing image", "unknown class"]
    cd = [r for r in rows if r["task"] == "change_detection"]
    dmg = [r for r in rows if r["task"] == "damage"]
    assert [r["id"] for r in cd] == ["s/hold/hurricane-michael_00000001", "s/hold/hurricane-michael_00000002"]
    t = cd[0]["target"]
    assert [o["label"] for o in t["objects"]] == ["minor-damage", "destroyed"] and t["n_unclassified"] == 1
    assert t["classes"] == ["no-damage", "minor-damage", "major-damage", "destroyed"] and t["disaster_type"] == "wind"
    assert t["objects"][0]["shape"] == [10.5, 20.0, 40.0, 20.0, 40.0, 50.0, 10.5, 50.0]
    assert sorted(t["objects"][0]["poly"][0::2]) == [10.5, 10.5, 40.0, 40.0]  # the rectangle of the square
    assert cd[1]["target"]["objects"] == []
    # per pair: the disaster type, then buildings by uid (a before b); no building question for un-classified
    assert [(r["id"], r["target"]["answer"]) for r in dmg] == [
        ("s/hold/hurricane-michael_00000001/type", "wind"), ("s/hold/hurricane-michael_00000001/a", "destroyed"),
        ("s/hold/hurricane-michael_00000001/b", "minor-damage"), ("s/hold/hurricane-michael_00000002/type", "wind")]
    assert dmg[2]["target"]["box"] == [10.5, 20.0, 40.0, 50.0] and dmg[0]["target"]["classes"] is None
    only, _ = run("xbd", root, task="damage", extra={"max_buildings": 1})
    assert [r["id"].rsplit("/", 1)[1] for r in only] == ["type", "a", "type"]


def test_xbd_damage_prompt_writes_the_box_in_the_model_frame(tmp_path):
    from data_engine.render import render_grpo

    write_image(tmp_path / "pre.png", 200, 100)
    write_image(tmp_path / "post.png", 200, 100)
    target = {"question": "What is the damage level of the building at {box}?", "answer": "destroyed",
              "box": [20, 10, 100, 50], "classes": ["no-damage", "minor-damage", "major-damage", "destroyed"],
              "qtype": "damage_level"}
    row = {"id": "x", "source": "s", "task": "damage", "split": None, "images": [str(tmp_path / "pre.png"),
           str(tmp_path / "post.png")], "width": 200, "height": 100, "target": json.dumps(target)}
    q3 = render_grpo(row, "qwen3_vl", min_pixels=0, max_pixels=10**7)["prompt"][-1]["content"][-1]["text"]
    assert "at [100, 100, 500, 500]?" in q3  # 0-1000 grid of the first image
    assert q3.endswith("Answer with one of: no-damage, minor-damage, major-damage, destroyed.")
    q2 = render_grpo(row, "qwen2_5_vl", min_pixels=0, max_pixels=2 * 56 * 112)
    w = q2["images"][0].width  # each frame gets half the budget: 112x56 -> 0.56 of the original
    assert w == 112 and "at [11, 6, 56, 28]?" in q2["prompt"][-1]["content"][-1]["text"]


# ----------------------------------------------------------------------------------------------------------- fMoW
def _fmow_frame(site, n, ts, size=(40, 30), image=True):
    stem = f"{site.name}_{n}_rgb"
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{stem}.json").write_text(json.dumps({"timestamp": ts, "gsd": 0.5, "img_width": size[0],
                                                   "img_height": size[1], "bounding_boxes": {"box": [1, 1, 5, 5]}}))
    (site / f"{site.name}_{n}_msrgb.json").write_text("{not read")
    if image:
        write_image(site / f"{stem}.jpg", *size)


def test_fmow_sites_sorted_by_time_max_frames_and_skips(tmp_path):
    a = tmp_path / "train" / "construction_site" / "construction_site_0"
    for n, ts in enumerate(["2017-03-01T10:00:00Z", "2015-01-01T10:00:00Z", "2016-05-01T10:00:00Z",
                            "2018-01-01T10:00:00Z", "2015-06-01T10:00:00Z"]):
        _fmow_frame(a, n, ts, size=(40 + n, 30))
    b = tmp_path / "val" / "airport" / "airport_7"
    _fmow_frame(b, 0, "2016-01-01T00:00:00Z")
    _fmow_frame(b, 1, "2014-01-01T00:00:00Z")
    _fmow_frame(tmp_path / "val" / "airport" / "airport_8", 0, "2016-01-01T00:00:00Z")  # one frame
    _fmow_frame(tmp_path / "val" / "airport" / "airport_9", 0, "yesterday")
    _fmow_frame(tmp_path / "val" / "airport" / "airport_9", 1, "2016-01-01T00:00:00Z")
    c = tmp_path / "val" / "airport" / "airport_10"
    _fmow_frame(c, 0, "2016-01-01T00:00:00Z")
    _fmow_frame(c, 1, "2017-01-01T00:00:00Z", image=False)
    _fmow_frame(tmp_path / "val" / "spaceport" / "spaceport_1", 0, "2016-01-01T00:00:00Z")
    rows, skips = run("fmow", tmp_path)
    assert [r["id"] for r in rows] == ["s/train/construction_site_0", "s/val/airport_7"]
    t = rows[0]["target"]
    # five frames by time: n = 1, 4, 2, 0, 3; four evenly spaced, first and last kept: indices 0, 1, 3, 4
    assert t["timestamps"] == ["2015-01-01T10:00:00Z", "2015-06-01T10:00:00Z", "2017-03-01T10:00:00Z",
                               "2018-01-01T10:00:00Z"]
    assert [p.rsplit("_", 2)[-2] for p in rows[0]["images"]] == ["1", "4", "0", "3"]
    assert (rows[0]["width"], rows[0]["height"]) == (41, 30) and len(t["classes"]) == 62
    assert rows[1]["target"]["label"] == "airport" and rows[1]["target"]["timestamps"][0].startswith("2014")
    assert sorted(s.reason for s in skips) == ["malformed JSON", "missing image", "too few frames", "unknown class"]
    two, _ = run("fmow", tmp_path, split=["train"], extra={"max_frames": 2})
    assert two[0]["target"]["timestamps"] == ["2015-01-01T10:00:00Z", "2018-01-01T10:00:00Z"]


def test_llava_teochatlas_video_records(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / "imgs" / name, 32, 32)
    conv = [{"from": "human", "value": "This is a sequence of satellite images: <video> What changed?"},
            {"from": "gpt", "value": "A road was built."}]
    recs = [{"id": "v1", "video": ["imgs/b.png", "imgs/a.png", "imgs/c.png"],
             "timestamp": ["2018-05-01", "2016-01-01", "2019-01-01"], "conversations": conv},
            {"id": "v2", "video": ["imgs/a.png", "imgs/b.png"], "conversations": conv},
            {"id": "v3", "video": ["imgs/a.png", "imgs/b.png"], "timestamp": ["2018-05-01"], "conversations": conv},
            {"id": "v4", "video": ["imgs/a.png", "imgs/b.png"], "timestamp": ["2018-13-01", "2018-01-01"],
             "conversations": conv},
            {"id": "v5", "video": ["imgs/a.png", "imgs/missing.png"], "conversations": conv}]
    (tmp_path / "instruct_fMoW.json").write_text(json.dumps(recs))
    rows, skips = run("llava", tmp_path, annotations="instruct_*.json")
    assert [r["id"] for r in rows] == ["s/v1", "s/v2"]
    assert [p.rsplit("/", 1)[1] for p in rows[0]["images"]] == ["a.png", "b.png", "c.png"]  # oldest first
    assert rows[0]["target"]["timestamps"] == ["2016-01-01", "2018-05-01", "2019-01-01"]
    assert rows[0]["target"]["messages"][0]["content"] == "This is a sequence of satellite images:  What changed?"
    assert "timestamps" not in rows[1]["target"]
    assert sorted(s.reason for s in skips) == ["malformed JSON", "malformed JSON", "missing image"]

    from data_engine.render import render_sft

    row = dict(rows[0], target=json.dumps(rows[0]["target"]))
    out = render_sft(row, "qwen2_5_vl", min_pixels=0, max_pixels=3 * 28 * 28 * 4)
    user = out["messages"][0]["content"]
    assert [b.get("text") for b in user if b["type"] == "text"][:3] == ["Image 1: ", "Image 2: ", "Image 3: "]
    assert len(out["images"]) == 3
