"""DOTA-v1.0 test-server export (issue 29 §3): the unlabelled test images become detection rows, and `georft eval
--predictions` on the dota_v1_test suite writes the 15 devkit Task1 files (patches merged back to full images) and
the zip with the files at its root."""

from __future__ import annotations

import json
import zipfile

import numpy as np
from PIL import Image

from data_engine.adapters import FORMATS, Skip, SourceSpec
from data_engine.adapters.dota import DOTA_V1_CLASSES
from eval.submission import dota_class
from georft.cli import main


def test_devkit_spelling_whatever_the_model_wrote():
    assert len(DOTA_V1_CLASSES) == 15
    assert dota_class("Small Vehicle") == dota_class("small_vehicle") == dota_class("SMALL-VEHICLE") == "small-vehicle"
    assert dota_class("harbour") is None and dota_class("") is None and dota_class("plane ") == "plane"


def test_test_images_become_unlabelled_rows_and_junk_is_counted(tmp_path):
    img = tmp_path / "DOTA" / "test" / "images"
    img.mkdir(parents=True)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(img / "P0006.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img / "P0011.png")
    (img / "Thumbs.db").write_bytes(b"\x00\x01")
    (img / "P0999.png").write_bytes(b"not a png")
    out = list(FORMATS.get("dota_test")(SourceSpec("dota_v1_test", "dota_test", tmp_path / "DOTA")))
    rows = [r for r in out if not isinstance(r, Skip)]
    skips = sorted(s.reason for s in out if isinstance(s, Skip))
    assert [r["id"] for r in rows] == ["dota_v1_test/P0006", "dota_v1_test/P0011"]
    assert (rows[0]["width"], rows[0]["height"], rows[0]["split"], rows[0]["task"]) == (30, 20, "test", "detection")
    assert json.loads(rows[0]["target"]) == {"objects": [], "classes": DOTA_V1_CLASSES, "unlabelled": True}
    assert skips == ["not an image", "unreadable image"]


def _row(pid, completion):
    return {"id": f"dota_v1_test/{pid}", "dataset": "dota_v1_test", "task": "detection",
            "target": {"objects": [], "classes": list(DOTA_V1_CLASSES), "unlabelled": True}, "completion": completion}


def test_eval_predictions_writes_the_15_task1_files_and_the_zip(tmp_path, capsys):
    rows = [
        # patch at (0, 0): a plane written "Plane", and a small vehicle in the overlap with the next window
        _row("P0006__1024__0___0", "10,20,50,20,50,60,10,60 Plane\n824,0,828,0,828,4,824,4 small-vehicle"),
        # patch at (824, 0): the same small vehicle (written with a space) seen from this window: shifted back it is
        # the same polygon, merged away by the rotated NMS
        _row("P0006__1024__824___0", "0,0,4,0,4,4,0,4 Small Vehicle"),
        # an image that fit in one window (id without patch suffix): offset 0; an unknown class is counted
        _row("P0011", "5,5,45,5,45,35,5,35 plane\n1,1,9,1,9,9,1,9 harbour-crane"),
        _row("P0006__1024__0___824", "There are none."),
    ]
    rows.append({**_row("P0006__1024__824___0", "10,20,50,20,50,60,10,60 plane"), "id": "dota_v1_test/P0006__1024__"
                 "824___824"})
    pred = tmp_path / "predictions.jsonl"
    pred.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "sub"
    main(["eval", "--predictions", str(pred), "--suite", "dota_v1_test", "--out", str(out)])
    files = sorted(p.name for p in (out / "dota_task1").iterdir())
    assert files == sorted(f"Task1_{c}.txt" for c in DOTA_V1_CLASSES)
    plane = (out / "dota_task1" / "Task1_plane.txt").read_text().splitlines()
    assert plane == [
        "P0006 1 10.00 20.00 50.00 20.00 50.00 60.00 10.00 60.00",
        "P0006 1 834.00 844.00 874.00 844.00 874.00 884.00 834.00 884.00",
        "P0011 1 5.00 5.00 45.00 5.00 45.00 35.00 5.00 35.00",
    ]
    assert (out / "dota_task1" / "Task1_small-vehicle.txt").read_text() == (
        "P0006 1 824.00 0.00 828.00 0.00 828.00 4.00 824.00 4.00\n")
    assert (out / "dota_task1" / "Task1_helicopter.txt").read_text() == ""
    with zipfile.ZipFile(out / "dota_task1.zip") as z:
        assert sorted(z.namelist()) == files  # at the archive root, no folder
        assert z.read("Task1_plane.txt").decode().splitlines() == plane
    m = json.loads((out / "metrics.json").read_text())["metrics"]["dota_v1_test"]
    assert m["n_images"] == 2 and m["n_detections"] == 4 and m["merged_away"] == 1 and m["n"] == 5
    assert m["unknown_class_detections"] == 1
