"""Issue 29 benchmarks read as released (docs/benchmarks.md): WHU-RS19 (folder per class), NWPU-Captions (JSON keyed
by category, raw..raw_4) and RSITMD (Karpathy JSON with keywords, train/test only, .tif images). Every field the
release has is written; a missing image is a counted skip."""

from __future__ import annotations

import json

import numpy as np
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
