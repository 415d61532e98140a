"""Each adapter on small files written in the exact real format, with the edge cases of dataset-layouts.md."""

from __future__ import annotations

import json
from pathlib import Path

from data_engine.adapters import FORMATS, Skip, SourceSpec
from tests.data_engine.conftest import write_image


def run(fmt: str, root: Path, **kw) -> tuple[list[dict], list[Skip]]:
    items = list(FORMATS.get(fmt)(SourceSpec(name="s", format=fmt, root=root, **kw)))
    rows = [i for i in items if isinstance(i, dict)]
    for r in rows:
        r["target"] = json.loads(r["target"])
    return rows, [i for i in items if isinstance(i, Skip)]


# ------------------------------------------------------------------------------------------------------------ DOTA
def test_dota_headers_empty_difficult_and_bad_lines(tmp_path):
    for split, stem in (("train", "P0001"), ("train", "P0002"), ("val", "P0003"), ("train", "P0004")):
        write_image(tmp_path / split / "images" / f"{stem}.png", 100, 80)
    lab = tmp_path / "train" / "labelTxt"
    lab.mkdir(parents=True)
    (lab / "P0001.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.146343590398\n"
        "10 10 30 10 30 20 10 20 plane 1\n"
        "1.5 2.5 40.5 2.5 40.5 9.5 1.5 9.5 small-vehicle\n"  # floats, no difficult token -> 0
        "5 5 6 6 ship 0\n"  # 7 tokens: malformed
        "0 0 10 0 20 0 30 0 harbor 0\n"  # collinear: zero area
    )
    (lab / "P0002.txt").write_bytes(b"")  # 0-byte: an image with no objects
    (lab / "P0004.txt").write_text("gsd:None\n1 1 9 1 9 9 1 9 ship 2\n")  # header 'None', mmrotate's flag 2
    (lab / "P0009.txt").write_text("1 1 9 1 9 9 1 9 ship 0\n")  # no image
    (lab / "P0010.txt").write_bytes(b"1 1 9 1 9 9 1 9 sh\xffip 0\n")  # not UTF-8
    (tmp_path / "val" / "labelTxt").mkdir(parents=True)
    (tmp_path / "val" / "labelTxt" / "P0003.txt").write_text("1 1 9 1 9 9 1 9 plane 0\n")

    rows, skips = run("dota", tmp_path)
    by = {r["id"]: r for r in rows}
    assert sorted(by) == ["s/P0001", "s/P0002", "s/P0003", "s/P0004"]
    t1 = by["s/P0001"]["target"]
    assert t1["gsd"] == 0.146343590398
    assert [(o["label"], o["difficult"]) for o in t1["objects"]] == [("plane", True), ("small-vehicle", False)]
    assert t1["objects"][1]["poly"] == [1.5, 2.5, 40.5, 2.5, 40.5, 9.5, 1.5, 9.5]
    assert by["s/P0002"]["target"]["objects"] == []
    assert "gsd" not in by["s/P0004"]["target"]
    assert by["s/P0004"]["target"]["objects"][0]["difficult"] is False  # only flag 1 is difficult
    assert (by["s/P0001"]["split"], by["s/P0003"]["split"]) == ("train", "val")
    assert (by["s/P0001"]["width"], by["s/P0001"]["height"]) == (100, 80)
    reasons = sorted((s.reason, Path(s.file).name, s.line) for s in skips)
    assert reasons == [
        ("degenerate polygon", "P0001.txt", 6),
        ("malformed line", "P0001.txt", 5),
        ("missing image", "P0009.txt", None),
        ("non-UTF-8", "P0010.txt", 1),
    ]
    only_val, _ = run("dota", tmp_path, split=["val"])
    assert [r["id"] for r in only_val] == ["s/P0003"]


def test_dota_unknown_class_with_fixed_classes(tmp_path):
    write_image(tmp_path / "train" / "images" / "a.png")
    (tmp_path / "train" / "labelTxt").mkdir(parents=True)
    (tmp_path / "train" / "labelTxt" / "a.txt").write_text("1 1 9 1 9 9 1 9 plane 0\n1 1 9 1 9 9 1 9 ufo 0\n")
    rows, skips = run("dota", tmp_path, classes=["plane"])
    assert [o["label"] for o in rows[0]["target"]["objects"]] == ["plane"]
    assert [(s.reason, s.line) for s in skips] == [("unknown class", 2)]


# ---------------------------------------------------------------------------------------------------------- DIOR-R
DIOR_XML = """<annotation><filename>{id}.jpg</filename><size><width>80</width><height>60</height></size>
<object><type>robndbox</type><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>
<difficult>{diff}</difficult><robndbox><x_left_top>10</x_left_top><y_left_top>5</y_left_top>
<x_right_top>30</x_right_top><y_right_top>5</y_right_top><x_right_bottom>30</x_right_bottom>
<y_right_bottom>25</y_right_bottom><x_left_bottom>10</x_left_bottom><y_left_bottom>25</y_left_bottom>
<angle>0</angle></robndbox></object></annotation>"""


def test_dior_r_splits_folders_lowercase_difficult(tmp_path):
    ann = tmp_path / "Annotations" / "Oriented Bounding Boxes"
    ann.mkdir(parents=True)
    sets = tmp_path / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("00001\n")
    (sets / "val.txt").write_text("00002\n")
    (sets / "test.txt").write_text("11726\n00404\n")
    (ann / "00001.xml").write_text(DIOR_XML.format(id="00001", name="Expressway-Service-area", diff=1))
    (ann / "00002.xml").write_text(DIOR_XML.format(id="00002", name="airplane", diff=0))
    (ann / "11726.xml").write_text(DIOR_XML.format(id="11726", name="ship", diff=0))
    (ann / "00404.xml").write_text("<annotation><object>")  # truncated XML
    write_image(tmp_path / "JPEGImages-trainval" / "00001.jpg", 80, 60)
    write_image(tmp_path / "JPEGImages-trainval" / "00002.jpg", 80, 60)
    write_image(tmp_path / "JPEGImages-test" / "11726.jpg", 80, 60)
    rows, skips = run("dior_r", tmp_path)
    got = {r["id"]: (r["split"], r["target"]["objects"][0]["label"], r["target"]["objects"][0]["difficult"]) for r in rows}
    assert got == {"s/00001": ("train", "expressway-service-area", True), "s/00002": ("val", "airplane", False),
                   "s/11726": ("test", "ship", False)}
    # LT, RT, RB, LB order
    assert rows[0]["target"]["objects"][0]["poly"] == [10, 5, 30, 5, 30, 25, 10, 25]
    assert [(s.reason, Path(s.file).name) for s in skips] == [("malformed XML", "00404.xml")]


# ---------------------------------------------------------------------------------------------------------- FAIR1M
FAIR_XML = """<?xml version="1.0" encoding="utf-8"?><annotation><source><filename>{n}.tif</filename>
<origin>GF2/GF3</origin></source><research><version>1.0</version></research><size><width>50</width>
<height>40</height><depth>3</depth></size><objects><object><coordinate>pixel</coordinate><type>rectangle</type>
<description>None</description><possibleresult><name>Boeing 737</name></possibleresult><points>
<point>1.000000,2.000000</point><point>11.000000,2.000000</point><point>11.000000,12.000000</point>
<point>1.000000,12.000000</point><point>1.000000,2.000000</point></points></object></objects></annotation>"""


def test_fair1m_parts_validation_and_labelxmls(tmp_path):
    for rel, labdir in (("train/part1", "labelXml"), ("validation", "labelXmls")):
        (tmp_path / rel / labdir).mkdir(parents=True)
        (tmp_path / rel / labdir / "0.xml").write_text(FAIR_XML.format(n=0))
        write_image(tmp_path / rel / "images" / "0.tif", 50, 40)
    rows, skips = run("fair1m", tmp_path)
    assert not skips
    assert sorted((r["id"], r["split"]) for r in rows) == [("s/train/part1/0", "train"), ("s/validation/0", "val")]
    obj = rows[0]["target"]["objects"][0]
    assert obj == {"label": "Boeing 737", "poly": [1.0, 2.0, 11.0, 2.0, 11.0, 12.0, 1.0, 12.0], "difficult": False}


# ------------------------------------------------------------------------------------------------------- DIOR-RSVG
def _rsvg(objs) -> str:
    body = "".join(f"<object><name>{n}</name><pose>Unspecified</pose><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                   f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox><description>{d}</description></object>"
                   for n, b, d in objs)
    return f"<annotation><filename>{{}}</filename>{body}</annotation>"


def test_dior_rsvg_global_object_indices_span_splits(tmp_path):
    (tmp_path / "Annotations").mkdir()
    # sorted file order: 00001.xml (objects 0, 1), 00002.xml (object 2)
    (tmp_path / "Annotations" / "00002.xml").write_text(
        _rsvg([("ship", (1, 2, 20, 30), "The ship on the left ")]).format("00002.jpg"))
    (tmp_path / "Annotations" / "00001.xml").write_text(
        _rsvg([("vehicle", (0, 0, 5, 5), "A vehicle"), ("dam", (3, 3, 40, 40), "the large dam")]).format("00001.jpg"))
    write_image(tmp_path / "JPEGImages" / "00001.jpg")
    write_image(tmp_path / "JPEGImages" / "00002.jpg")
    (tmp_path / "train.txt").write_text("0\n2\n")
    (tmp_path / "test.txt").write_text("1\n")
    rows, skips = run("dior_rsvg", tmp_path)
    assert not skips
    got = {r["id"]: (r["split"], r["target"]["expression"], r["target"]["box"], Path(r["images"][0]).name) for r in rows}
    assert got == {
        "s/0": ("train", "A vehicle", [0, 0, 5, 5], "00001.jpg"),
        "s/1": ("test", "the large dam", [3, 3, 40, 40], "00001.jpg"),  # same image, another split
        "s/2": ("train", "The ship on the left", [1, 2, 20, 30], "00002.jpg"),  # stripped, case kept
    }


# ---------------------------------------------------------------------------------------------------------- refGeo
def test_refgeo_jsonl(tmp_path):
    meta = tmp_path / "metainfo_v2"
    meta.mkdir()
    write_image(tmp_path / "images" / "P0001.png")
    rec = {"image_id": "P0001.png", "dataset": "dota", "question": "the red car", "bbox": [1, 2, 10, 20],
           "poly": [[1, 2], [10, 2], [10, 20], [1, 20]], "question_id": 7, "image_width": 64, "image_height": 48}
    flat = dict(rec, poly=[[1, 2], [5, 2], [10, 2], [1, 2]], question_id=8)  # zero area
    words = dict(rec, poly=[["a", 2], [10, 2], [10, 20], [1, 20]], question_id=9)  # not numbers
    lines = [json.dumps(rec), "{broken", json.dumps(flat), json.dumps(words)]
    (meta / "dota_train_v2.jsonl").write_text("\n".join(lines) + "\n")
    rows, skips = run("refgeo", tmp_path, annotations="metainfo_v2/*.jsonl", image_root=tmp_path / "images")
    assert [(r["id"], r["split"], r["target"]["expression"], r["target"]["poly"]) for r in rows] == [
        ("s/7", "train", "the red car", [1, 2, 10, 2, 10, 20, 1, 20])]
    assert [(s.reason, s.line) for s in skips] == [("malformed line", 2), ("degenerate polygon", 3),
                                                   ("malformed line", 4)]
    assert skips[1].detail.startswith("poly: degenerate") and skips[2].detail.startswith("poly: ")


# ----------------------------------------------------------------------------------------------------------- RSVQA
def _rsvqa_split(root: Path, split: str, active_imgs: dict, questions: dict, answers: dict, n_img=3, n_q=4):
    imgs = [active_imgs.get(k, {"id": k, "active": False}) for k in range(n_img)]
    qs = [questions.get(k, {"id": k, "active": False}) for k in range(n_q)]
    ans = [answers.get(k, {"id": k, "active": False}) for k in range(n_q)]
    for key, data in (("images", imgs), ("questions", qs), ("answers", ans)):
        (root / f"LR_split_{split}_{key}.json").write_text(json.dumps({key: data}))


def test_rsvqa_honours_active_and_positional_ids(tmp_path):
    for k in range(3):
        write_image(tmp_path / "Images_LR" / f"{k}.tif", 32, 32)
    q = lambda k, img, text, t, active=True: {"id": k, "img_id": img, "type": t, "question": text,  # noqa: E731
                                                 "answers_ids": [k], "active": active}
    a = lambda k, ans: {"id": k, "question_id": k, "answer": ans, "active": True}  # noqa: E731
    _rsvqa_split(tmp_path, "train",
                 {0: {"id": 0, "active": True, "questions_ids": [0, 1], "original_name": "x.tif"}},
                 {0: q(0, 0, "Is there a road?", "presence"), 1: q(1, 0, "How many buildings?", "count", False)},
                 {0: a(0, "yes"), 1: a(1, "3")})
    _rsvqa_split(tmp_path, "test",
                 {2: {"id": 2, "active": True, "questions_ids": [3]}, 1: {"id": 1, "active": False,
                                                                          "questions_ids": [2]}},
                 {3: q(3, 2, "Is it a rural or an urban area", "rural_urban"), 2: q(2, 1, "x", "count")},
                 {3: a(3, "rural"), 2: a(2, "0")})
    rows, skips = run("rsvqa", tmp_path)
    got = [(r["id"], r["split"], r["target"]["question"], r["target"]["answer"], r["target"]["qtype"]) for r in rows]
    assert got == [("s/test/3", "test", "Is it a rural or an urban area", "rural", "rural_urban"),
                   ("s/train/0", "train", "Is there a road?", "yes", "presence")]
    assert [(s.reason, s.detail) for s in skips] == [("inactive question", "question id 1 of active image 0")]
    assert Path(rows[1]["images"][0]).name == "0.tif"


# ------------------------------------------------------------------------------------------------------- captions
def test_karpathy_five_captions_across_splits(tmp_path):
    refs = ["A plane is parked .", "many planes", "there is a plane", "a plane", "a plane"]  # RSICD-style repeats
    images = []
    for k, split in enumerate(("train", "val", "test")):
        write_image(tmp_path / "imgs" / f"{k + 1}.tif")
        images.append({"filename": f"{k + 1}.tif", "imgid": k, "split": split, "sentids": list(range(5 * k, 5 * k + 5)),
                       "sentences": [{"tokens": r.lower().split(), "raw": r, "imgid": k, "sentid": 5 * k + j}
                                     for j, r in enumerate(refs)]})
    (tmp_path / "dataset.json").write_text(json.dumps({"images": images, "dataset": "ucm"}))
    rows, skips = run("captions_karpathy", tmp_path)
    assert not skips
    assert [(r["id"], r["split"]) for r in rows] == [("s/0", "train"), ("s/1", "val"), ("s/2", "test")]
    assert all(r["target"]["references"] == refs for r in rows)  # raw, verbatim, repeats kept, in order
    val, _ = run("captions_karpathy", tmp_path, split=["val", "test"])
    assert [r["split"] for r in val] == ["val", "test"]


# ------------------------------------------------------------------------------------------------- classification
def test_folder_classification_ucmerced_and_split_folders(tmp_path):
    write_image(tmp_path / "uc" / "Images" / "agricultural" / "agricultural00.tif", 256, 256)
    write_image(tmp_path / "uc" / "Images" / "airplane" / "airplane00.tif", 256, 247)
    (tmp_path / "uc" / "Images" / "airplane" / "notes.txt").write_text("not an image")
    rows, skips = run("folder_classification", tmp_path / "uc")
    assert not skips
    assert [(r["target"]["label"], r["split"], r["height"]) for r in rows] == [("agricultural", None, 256),
                                                                             ("airplane", None, 247)]
    write_image(tmp_path / "sp" / "train" / "Airport" / "a.jpg")
    write_image(tmp_path / "sp" / "val" / "BareLand" / "b.jpg")
    rows, _ = run("folder_classification", tmp_path / "sp")
    assert [(r["target"]["label"], r["split"]) for r in rows] == [("Airport", "train"), ("BareLand", "val")]


# ---------------------------------------------------------------------------------------------------------- LRS-VQA
def test_lrs_vqa_zoom_records_and_benchmark(tmp_path):
    write_image(tmp_path / "images" / "train" / "DOTA2.0" / "P1.png", 300, 200)
    rec = {"id": 5, "image": "DOTA2.0/P1.png", "image_ori_width": 300, "image_ori_height": 200,
           "question": "What color is the car?\nAnswer the question using a single word or phrase.", "answer": "red",
           "bbox_info": {"crop_hbox": [[10, 20, 110, 120], [5, 5, 50, 50]], "rbox": [[1, 2, 3, 4, 5, 6, 7, 8]]}}
    bad = {**rec, "id": 6, "bbox_info": {"crop_hbox": [[10, 20, 5, 120]]}}
    (tmp_path / "ann.json").write_text(json.dumps([rec, bad]))
    rows, skips = run("lrs_vqa", tmp_path, annotations="ann.json", image_root=tmp_path / "images" / "train")
    assert rows[0]["task"] == "zoom_vqa" and rows[0]["split"] is None
    assert rows[0]["target"]["evidence"] == [[10.0, 20.0, 110.0, 120.0], [5.0, 5.0, 50.0, 50.0]]
    assert rows[0]["target"]["question"] == rec["question"]
    assert [(s.reason, s.line) for s in skips] == [("degenerate polygon", 1)]

    write_image(tmp_path / "LRS_VQA" / "image" / "x.png", 40, 30)
    line = {"question_id": "FAIR_1", "image": "LRS_VQA/image/x.png", "category": "count", "text": "How many?",
            "ground_truth": "3", "hbox": [1, 1, 9, 9]}
    (tmp_path / "LRS_VQA" / "LRS_VQA_merged.jsonl").write_text(json.dumps(line) + "\n")
    rows, _ = run("lrs_vqa", tmp_path / "LRS_VQA", annotations="LRS_VQA_merged.jsonl", image_root=tmp_path)
    assert [(r["id"], r["task"], r["target"]) for r in rows] == [
        ("s/FAIR_1", "vqa", {"question": "How many?", "answer": "3", "qtype": "count", "evidence": [[1, 1, 9, 9]]})]


# ----------------------------------------------------------------------------------------------------------- LLaVA
def test_llava_removes_image_token_and_reports_text_only(tmp_path):
    write_image(tmp_path / "imgs" / "a.jpg")
    data = [
        {"id": "g1", "image": "a.jpg", "conversations": [
            {"from": "human", "value": "<image>\n[refer] Where is the  Plane?"}, {"from": "gpt", "value": "top left"},
            {"from": "human", "value": "And <image> the ship?"}, {"from": "gpt", "value": "none"}]},
        {"id": "g2", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
        {"id": "g3", "image": "a.jpg", "conversations": [{"from": "gpt", "value": "x"}]},
    ]
    (tmp_path / "geochat.json").write_text(json.dumps(data))
    rows, skips = run("llava", tmp_path, annotations="geochat.json", image_root=tmp_path / "imgs")
    assert rows[0]["target"]["messages"] == [
        {"role": "user", "content": "[refer] Where is the  Plane?"}, {"role": "assistant", "content": "top left"},
        {"role": "user", "content": "And  the ship?"}, {"role": "assistant", "content": "none"}]
    assert [(s.reason, s.line) for s in skips] == [("text-only record", 1), ("malformed conversation", 2)]


# ------------------------------------------------------------------------------------------------------------ COCO
def test_coco_quad_segmentation_and_bbox_fallback(tmp_path):
    write_image(tmp_path / "images" / "P0001__512__0___0.png", 512, 512)
    write_image(tmp_path / "images" / "empty.png", 512, 512)
    coco = {
        "images": [{"id": 1, "file_name": "P0001__512__0___0.png", "width": 512, "height": 512},
                   {"id": 2, "file_name": "empty.png", "width": 512, "height": 512}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[1, 1, 21, 1, 21, 11, 1, 11]],
             "bbox": [1, 1, 20, 10], "area": 200, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 4, "bbox": [5, 6, 10, 4], "area": 40, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 3, "segmentation": [[1, 1, 2, 2, 3, 3]], "bbox": [1, 1, 2, 2]},
        ],
        "categories": [{"id": 3, "name": "plane"}, {"id": 4, "name": "ship"}],
    }
    (tmp_path / "trainval512.json").write_text(json.dumps(coco))
    rows, skips = run("coco", tmp_path, annotations="trainval512.json", image_root=tmp_path / "images")
    assert [r["split"] for r in rows] == ["trainval", "trainval"]
    objs = rows[0]["target"]["objects"]
    assert objs == [{"label": "plane", "poly": [1, 1, 21, 1, 21, 11, 1, 11], "difficult": False},
                    {"label": "ship", "poly": [5, 6, 15, 6, 15, 10, 5, 10], "difficult": False}]
    assert rows[0]["target"]["classes"] == ["plane", "ship"] and rows[1]["target"]["objects"] == []
    assert [s.reason for s in skips] == ["malformed annotation"]


def test_every_format_is_registered_and_documents_its_layout():
    import inspect

    assert FORMATS.names() == sorted(["dota", "dior_r", "fair1m", "dior_rsvg", "refgeo", "rsvqa", "captions_karpathy",
                                      "folder_classification", "lrs_vqa", "llava", "coco", "levir_cc",
                                      "levir_cd", "xbd", "fmow", "mmseg", "loveda", "rrsisd", "isprs", "geochat",
                                      "geochat_referring", "nwpu_vhr10", "bigearthnet", "bigearthnet19",
                                      # issue 29's benchmarks
                                      "dota_test", "nwpu_captions", "vrsbench", "mme_realworld", "xlrs_bench",
                                      "geochat_bench_region", "geochat_bench_scene"])
    for name, fn in FORMATS.items():
        doc = inspect.getmodule(fn).__doc__
        assert "Layout" in doc, name
