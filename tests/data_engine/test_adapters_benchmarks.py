"""Issue 29 benchmarks read as released (docs/benchmarks.md): WHU-RS19 (folder per class), NWPU-Captions (JSON keyed
by category, raw..raw_4) and RSITMD (Karpathy JSON with keywords, train/test only, .tif images). Every field the
release has is written; a missing image is a counted skip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from data_engine.adapters import FORMATS, Skip, SourceSpec

WHU_CLASSES = ["Airport", "Beach", "Bridge", "Commercial", "Desert", "Farmland", "footballField", "Forest",
               "Industrial", "Meadow", "Mountain", "Park", "Parking", "Pond", "Port", "railwayStation", "Residential",
               "River", "Viaduct"]


def _img(path, w=12, h=10, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path, format=fmt)


def _read(fmt, root, **kw):
    out = list(FORMATS.get(fmt)(SourceSpec("b", fmt, root, **kw)))
    return [r for r in out if not isinstance(r, Skip)], [s for s in out if isinstance(s, Skip)]


def test_whu_rs19_labels_verbatim_with_camel_case_and_junk_counted(tmp_path):
    root = tmp_path / "WHU-RS19"
    for c in WHU_CLASSES:
        _img(root / c / f"{c.lower()}_01.jpg", fmt="JPEG")
    (root / "footballField" / "Thumbs.db").write_bytes(b"\x00")
    (root / "Port" / "port_02.jpg").write_bytes(b"truncated jpeg")
    rows, skips = _read("folder_classification", root)
    assert len(rows) == 19
    labels = {json.loads(r["target"])["label"] for r in rows}
    assert labels == set(WHU_CLASSES)  # footballField / railwayStation kept as spelled
    # a system file is not an image record (no row); the corrupt JPEG is a record and is counted
    assert [(s.reason, s.file.endswith("port_02.jpg")) for s in skips] == [("unreadable image", True)]


def test_nwpu_captions_keyed_by_category_reference_order_and_missing_image(tmp_path):
    root = tmp_path / "NWPU-Captions"
    _img(root / "NWPU_images" / "airport" / "airport_001.jpg")
    _img(root / "NWPU_images" / "beach" / "beach_007.jpg")
    doc = {
        "airport": [
            # keys in a shuffled order: the references follow raw, raw_1 ... raw_4
            {"raw_2": "c three", "filename": "airport_001.jpg", "raw_4": "e five ", "split": "test", "imgid": 0,
             "raw": " a one", "sentids": [0, 1, 2, 3, 4], "raw_1": "b two", "raw_3": "d four",
             "tokens": ["a", "one"]},
            {"filename": "airport_002.jpg", "split": "test", "raw": "x", "raw_1": "y", "raw_2": "z", "raw_3": "w",
             "raw_4": "v", "imgid": 1, "sentids": [5, 6, 7, 8, 9]},
        ],
        "beach": [{"filename": "beach_007.jpg", "split": "train", "raw": "sand", "raw_1": "sea", "raw_2": "waves",
                   "raw_3": "shore", "raw_4": "coast", "imgid": 2, "sentids": [10, 11, 12, 13, 14]}],
    }
    (root / "dataset_nwpu.json").write_text(json.dumps(doc))
    rows, skips = _read("nwpu_captions", root)
    assert [r["id"] for r in rows] == ["b/airport/airport_001", "b/beach/beach_007"]
    assert json.loads(rows[0]["target"]) == {"references": ["a one", "b two", "c three", "d four", "e five"],
                                             "category": "airport"}
    assert [r["split"] for r in rows] == ["test", "train"]
    assert [s.reason for s in skips] == ["missing image"] and "airport_002.jpg" in skips[0].detail
    test_only, skipped = _read("nwpu_captions", root, split=["test"])
    assert [r["id"] for r in test_only] == ["b/airport/airport_001"] and len(skipped) == 1


def test_rsitmd_karpathy_layout_with_keywords_and_tif(tmp_path):
    root = tmp_path / "RSITMD"
    _img(root / "images" / "boat_0.tif", fmt="TIFF")
    _img(root / "images" / "baseballfield_452.tif", fmt="TIFF")
    sent = [{"tokens": ["two", "ships"], "raw": f"Two large ships {k}.", "imgid": 0, "sentid": k} for k in range(5)]
    doc = {"images": [
        {"filename": "boat_0.tif", "imgid": 0, "split": "train", "sentids": [0, 1, 2, 3, 4], "sentences": sent,
         "keywords": ["boat", "port"]},
        {"filename": "baseballfield_452.tif", "imgid": 1, "split": "test", "sentids": [5], "keywords": [],
         "sentences": [{"tokens": ["a"], "raw": "A field.", "imgid": 1, "sentid": 5}] * 5},
        {"filename": "church_3.tif", "imgid": 2, "split": "test", "sentids": [6], "keywords": ["church"],
         "sentences": [{"tokens": ["a"], "raw": "A church.", "imgid": 2, "sentid": 6}]},
    ]}
    (root / "dataset_RSITMD.json").write_text(json.dumps(doc))
    rows, skips = _read("captions_karpathy", root, split=["test"])
    assert [r["id"] for r in rows] == ["b/1"]
    assert json.loads(rows[0]["target"]) == {"references": ["A field."] * 5}  # duplicates kept (RSCoVLM)
    assert [s.reason for s in skips] == ["missing image"]
    rows, _ = _read("captions_karpathy", root, split=["train"])
    assert json.loads(rows[0]["target"])["references"][0] == "Two large ships 0."


def test_levir_mci_change_captions_read_by_levir_cc_with_the_label_folder_present(tmp_path):
    root = tmp_path / "Levir-MCI-dataset"
    for name in ("test_000001.png", "test_000002.png"):
        _img(root / "images" / "test" / "A" / name)
        _img(root / "images" / "test" / "label" / name)
    _img(root / "images" / "test" / "B" / "test_000001.png")  # test_000002 lacks its after image
    sents = [{"tokens": ["a", "road", "is", "built"], "raw": " a road is built . "}] * 5
    doc = {"images": [
        {"filepath": "test", "filename": "test_000001.png", "imgid": 0, "split": "test", "sentids": [0, 1, 2, 3, 4],
         "changeflag": 1, "sentences": sents},
        {"filepath": "test", "filename": "test_000002.png", "imgid": 1, "split": "test", "sentids": [5, 6, 7, 8, 9],
         "changeflag": 0, "sentences": [{"tokens": ["the", "scene", "is", "the", "same", "as", "before"],
                                         "raw": " the scene is the same as before . "}] * 5},
    ]}
    (root / "LevirCCcaptions.json").write_text(json.dumps(doc))
    rows, skips = _read("levir_cc", root)
    assert len(rows) == 1 and rows[0]["task"] == "change_caption"
    assert [p.rsplit("/", 2)[-2] for p in rows[0]["images"]] == ["A", "B"]
    assert json.loads(rows[0]["target"]) == {"references": [" a road is built . "] * 5, "changed": True}
    assert [s.reason for s in skips] == ["missing image"]


def _vrsbench(tmp_path):
    root = tmp_path / "VRSBench"
    _img(root / "Images_val" / "P0003_0002.png", w=512, h=256)
    _img(root / "Images_val" / "09194_0000.png", w=512, h=512)
    common = {"dataset": "RSBench"}
    cap = [{"image_id": "P0003_0002.png", "ground_truth": "Two boats by a pier.", "question": "Describe the image in "
            "detail", "question_id": 0, "type": "caption", **common},
           {"image_id": "missing_0001.png", "ground_truth": "x", "question": "Describe the image in detail",
            "question_id": 1, "type": "caption", **common}]
    vqa = [{"image_id": "09194_0000.png", "question": "What color is the roof?", "ground_truth": "Red",
            "question_id": 10, "type": "object color", **common}]
    ref = [{"image_id": "P0003_0002.png", "question": "The white boat at the left end of the pier.",
            "ground_truth": "{<12><40><25><58>}", "question_id": 20, "type": "ref", "unique": True,
            "obj_corner": [[0.12, 0.4], [0.25, 0.4], [0.25, 0.58], [0.12, 0.58]], "obj_cls": "ship", "obj_ids": [0],
            "size_group": "small", **common},
           {"image_id": "09194_0000.png", "question": "A plane.", "ground_truth": "{<50><50><50><60>}",
            "question_id": 21, "type": "ref", "unique": False, "obj_corner": [], "obj_cls": "plane", "obj_ids": [3],
            "size_group": "small", **common}]
    for name, doc in (("Cap", cap), ("vqa", vqa), ("referring", ref)):
        (root / f"VRSBench_EVAL_{name}.json").write_text(json.dumps(doc))
    return root


def test_vrsbench_eval_files_caption_vqa_referring(tmp_path):
    rows, skips = _read("vrsbench", _vrsbench(tmp_path))
    by_id = {r["id"]: r for r in rows}
    assert sorted(by_id) == ["b/0", "b/10", "b/20"]
    assert (by_id["b/0"]["task"], json.loads(by_id["b/0"]["target"])) == ("caption", {"references":
                                                                                      ["Two boats by a pier."]})
    assert json.loads(by_id["b/10"]["target"]) == {"question": "What color is the roof?", "answer": "Red",
                                                   "qtype": "object color"}
    ref = json.loads(by_id["b/20"]["target"])
    # 0-100 grid -> pixels of the 512x256 image: x * 512 / 100, y * 256 / 100
    assert ref["box"] == [61.44, 102.4, 128.0, 148.48] and ref["grid_box"] == [12, 40, 25, 58]
    assert (ref["unique"], ref["obj_cls"], ref["size_group"], ref["obj_ids"]) == (True, "ship", "small", [0])
    assert all(r["split"] == "val" for r in rows)
    assert sorted(s.reason for s in skips) == ["malformed record", "missing image"]  # empty box; missing image


def test_vrsbench_acc_split_unique_non_unique():
    from eval.runner_score import score_rows
    from eval.suite import DatasetEntry, SuiteConfig

    def row(i, box, pred, unique):
        return {"id": f"v/{i}", "task": "grounding", "target": {"expression": "x", "box": box, "unique": unique},
                "prediction": {"box": pred, "format_ok": True}}

    rows = [row(0, [0, 0, 10, 10], [0, 0, 10, 10], True),      # IoU 1
            row(1, [0, 0, 10, 10], [0, 0, 10, 6], True),       # IoU 0.6: @0.5 yes, @0.7 no
            row(2, [0, 0, 10, 10], [20, 20, 30, 30], False)]   # IoU 0
    suite = SuiteConfig(name="t", datasets=[DatasetEntry(name="v", path=".")])
    m = score_rows(rows, suite.datasets[0], suite)
    assert m["acc@0.5/unique"] == 1.0 and m["acc@0.7/unique"] == 0.5 and m["n/unique"] == 2
    assert m["acc@0.5/non_unique"] == 0.0 and m["acc@0.5"] == pytest.approx(2 / 3)


def _mme_rec(qid, image, gt, subtask="Remote Sensing", category="color"):
    return {"Question_id": qid, "Image": image, "Text": "What color is the roof of the largest building?",
            "Question Type": "Multiple Choice",
            "Answer choices": ["(A) Red", "(B) White", "(C) Blue", "(D) Green", "(E) The image does not feature the "
                               "color."], "Ground truth": gt, "Task": "Perception", "Subtask": subtask,
            "Category": category}


def test_mme_realworld_rs_subset_only_other_subsets_filtered_not_skipped(tmp_path):
    root = tmp_path / "MME-RealWorld"
    _img(root / "remote_sensing" / "03553_Toronto.png")
    doc = [_mme_rec("perception/remote_sensing/color/0001", "remote_sensing/03553_Toronto.png", "B"),
           _mme_rec("perception/ocr/0001", "ocr/1.png", "A", subtask="OCR with Complex Context"),
           _mme_rec("perception/remote_sensing/count/0002", "remote_sensing/gone.png", "A", category="count"),
           _mme_rec("perception/remote_sensing/color/0003", "remote_sensing/03553_Toronto.png", "AB")]
    (root / "MME_RealWorld.json").write_text(json.dumps(doc))
    rows, skips = _read("mme_realworld", root)
    assert [r["id"] for r in rows] == ["b/perception/remote_sensing/color/0001"]
    t = json.loads(rows[0]["target"])
    assert (t["answer"], t["qtype"], t["task"], len(t["choices"])) == ("B", "color", "Perception", 5)
    assert sorted(s.reason for s in skips) == ["malformed record", "missing image"]  # OCR record: not a skip


@pytest.mark.parametrize(("text", "letter"), [
    ("The best answer is (B)", "B"), ("B", "B"), ("The answer is: C.", "C"),
    ("A large airport", "A"),  # the official rule takes the first capital A-E anywhere
    ("the roof looks white to me and it is not painted in any other visible colour at all", ""),  # > 10 words
    ("White", "B"),  # no letter: the first choice containing the text
    ("", ""), (None, ""),
])
def test_mme_official_extraction(text, letter):
    from eval.metrics.multiple_choice import mme_extract

    assert mme_extract(text, ["(A) Red", "(B) White", "(C) Blue", "(D) Green", "(E) none"]) == letter


def test_mme_report_per_category_and_e_count():
    from eval.metrics.multiple_choice import mme_report

    ch = [["(A) x", "(B) y", "(C) z", "(D) w", "(E) none"]] * 4
    rep = mme_report(["B", "The answer is E", "(A)", "C"], ["B", "A", "A", "D"], ["color", "color", "count", "count"],
                     ch)
    assert rep["accuracy"] == 0.5 and rep["acc/color"] == 0.5 and rep["acc/count"] == 0.5 and rep["n_E"] == 1


def test_geochat_bench_region_captioning(tmp_path):
    root = tmp_path / "GeoChat-Bench"
    _img(root / "images" / "P0019_0005.png", w=200, h=100)
    recs = [{"question_id": 0, "image_id": "P0019_0005", "question": "{<10><20><30><50>|<0>}",
             "ground_truth": "a white small vehicle parked at the road side", "type": "region_caption",
             "dataset": "dota", "obj_ids": [4], "size_group": "small"},
            {"question_id": 1, "image_id": "P0019_0005", "question": "{<30><20><10><50>|<0>}", "ground_truth": "x",
             "type": "region_caption", "dataset": "dota", "obj_ids": [5], "size_group": "small"},
            {"question_id": 2, "image_id": "P9999_0000", "question": "{<10><20><30><50>|<0>}", "ground_truth": "y",
             "type": "region_caption", "dataset": "dota", "obj_ids": [6], "size_group": "large"}]
    (root / "region_captioning.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs) + "{not json\n")
    rows, skips = _read("geochat_bench_region", root, image_root=root / "images")
    assert [r["id"] for r in rows] == ["b/0"] and rows[0]["task"] == "region_caption"
    t = json.loads(rows[0]["target"])
    assert t["box"] == [20.0, 20.0, 60.0, 50.0] and t["references"] == [recs[0]["ground_truth"]]
    assert (t["angle"], t["size_group"], t["obj_ids"]) == (0.0, "small", [4])
    assert sorted(s.reason for s in skips) == ["malformed box", "malformed line", "missing image"]


def test_geochat_bench_scene_classes_from_text(tmp_path):
    root = tmp_path / "GeoChat-Bench"
    _img(root / "UCMerced" / "denseresidential" / "denseresidential42.tif", fmt="TIFF")
    text = ("Classify the image within one of the given classes: Classes: agricultural, Dense Residential, "
            "medium residential\nAnswer with one word or phrase.")
    recs = [{"question_id": "denseresidential/denseresidential42", "image": "denseresidential/denseresidential42.tif",
             "text": text, "ground_truth": "Dense Residential"},
            {"question_id": "x/1", "image": "denseresidential/denseresidential42.tif", "text": text,
             "ground_truth": "MediumResidentialgt"},
            {"question_id": "x/2", "image": "gone.tif", "text": text, "ground_truth": "agricultural"}]
    (root / "UCmerced.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    rows, skips = _read("geochat_bench_scene", root, annotations="UCmerced.jsonl", image_root=root / "UCMerced")
    targets = [json.loads(r["target"]) for r in rows]
    assert targets[0] == {"label": "dense residential",
                          "classes": ["agricultural", "dense residential", "medium residential"]}
    assert targets[1]["label"] == "medium residential" and [s.reason for s in skips] == ["missing image"]


def test_xlrs_bench_parquet_read_with_datasets(tmp_path):
    import io

    import datasets

    def png(w, h):
        buf = io.BytesIO()
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(buf, format="PNG")
        return buf.getvalue()

    feats = datasets.Features({
        "index": datasets.Value("int64"), "image": datasets.Sequence(datasets.Image()),
        "question": datasets.Value("string"), "multi-choice options": datasets.Sequence(datasets.Value("string")),
        "answer": datasets.Value("string"), "category": datasets.Value("string"),
        "l2-category": datasets.Value("string")})
    opts = ["(A) farmland", "(B) forest", "(C) water", "(D) road"]
    ds = datasets.Dataset.from_dict({
        "index": [7, 8, 9],
        "image": [[{"bytes": png(16, 12), "path": None}], [{"bytes": png(8, 8), "path": None},
                                                           {"bytes": png(8, 8), "path": None}], []],
        "question": ["Which land uses appear? Answer with multiple choices separated by spaces.", "How many new "
                     "buildings?", "q"],
        "multi-choice options": [opts, opts, opts], "answer": ["A C", "B", "A"],
        "category": ["Land use classification/Overall Land use classification", "Counting/Change counting", "x/y"],
        "l2-category": ["Overall Land use classification", "Change counting", "y"]}, features=feats)
    root = tmp_path / "XLRS-Bench-lite" / "data"
    root.mkdir(parents=True)
    ds.to_parquet(str(root / "train-00000-of-00001.parquet"))
    rows, skips = _read("xlrs_bench", tmp_path / "XLRS-Bench-lite")
    assert [r["id"] for r in rows] == ["b/7", "b/8"] and len(rows[1]["images"]) == 2
    t = json.loads(rows[0]["target"])
    assert (t["answer"], t["qtype"], t["choices"]) == ("A C", "Land use classification/Overall Land use "
                                                                "classification", opts)
    assert (rows[0]["width"], rows[0]["height"]) == (16, 12) and rows[0]["images"][0].endswith("7_0.png")
    assert [s.reason for s in skips] == ["malformed record"]  # the row without images


@pytest.mark.parametrize(("pred", "ok"), [("A C", True), ("(C) and (A)", True), ("The answer is C A.", True),
                                          ("A", False), ("A C D", False), ("farmland", False)])
def test_xlrs_set_equality(pred, ok):
    from eval.metrics.xlrs import xlrs_report

    assert xlrs_report([pred], ["A C"], ["c"])["accuracy"] == float(ok)
