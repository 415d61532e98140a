"""GeoChat-Instruct, GeoChat-Bench referring.jsonl and NWPU VHR-10 adapters on files in their real layouts,
including broken records: right rows and counted skips (records in = rows out + skips)."""

from __future__ import annotations

import json

import pytest

from tests.data_engine.conftest import write_image
from tests.data_engine.test_adapters import run


def test_geochat_refer_turns_become_referring_rows_the_rest_stays_chat(tmp_path):
    write_image(tmp_path / "imgs" / "P0001_0001.png", 200, 100)
    write_image(tmp_path / "imgs" / "floodnet" / "b.tif", 50, 50)
    data = [
        {"id": "g1", "image": "P0001_0001.png", "conversations": [
            {"from": "human", "value": "<image>\n[refer] give me the location of <p>small white car</p>"},
            {"from": "gpt", "value": "{<12><40><15><44>|<0>}{<30><41><33><45>|<90>}"},
            {"from": "human", "value": "What is in the image?"}, {"from": "gpt", "value": "Two cars."}]},
        {"id": "g2", "image": "floodnet/b.tif", "conversations": [
            {"from": "human", "value": "<image>\n[refer] <p>house</p>"}, {"from": "gpt", "value": "{<0><0><100><50>}"},
            {"from": "human", "value": "[refer] <p>pool</p>"}, {"from": "gpt", "value": "{<10><10><120><50>|<0>}"},
            {"from": "human", "value": "[refer] <p>road</p>"}, {"from": "gpt", "value": "no box here"}]},
        {"id": "g3", "image": "missing.png", "conversations": [
            {"from": "human", "value": "[refer] <p>x</p>"}, {"from": "gpt", "value": "{<1><1><2><2>|<0>}"}]},
        {"id": "g4", "image": "P0001_0001.png", "conversations": [{"from": "gpt", "value": "x"}]},
    ]
    (tmp_path / "GeoChat_Instruct.json").write_text(json.dumps(data))
    rows, skips = run("geochat", tmp_path, annotations="GeoChat_Instruct.json", image_root=tmp_path / "imgs")
    ref = [r for r in rows if r["task"] == "referring_detection"]
    chat = [r for r in rows if r["task"] == "chat"]
    assert [r["id"] for r in ref] == ["s/g1:0", "s/g2:0"]
    # 0-100 grid -> pixels of the 200 x 100 image
    assert ref[0]["target"] == {"expression": "small white car", "boxes": [[24, 40, 30, 44], [60, 41, 66, 45]],
                                "angles": [0.0, 90.0]}
    assert ref[1]["target"]["boxes"] == [[0, 0, 50, 25]] and ref[1]["target"]["angles"] == [0.0]
    assert [r["id"] for r in chat] == ["s/g1"]
    assert chat[0]["target"]["messages"] == [{"role": "user", "content": "What is in the image?"},
                                             {"role": "assistant", "content": "Two cars."}]
    assert [(s.reason, s.line) for s in skips] == [("malformed box", 1), ("malformed box", 1), ("missing image", 2),
                                                   ("malformed conversation", 3)]
    assert "outside 0-100" in skips[0].detail and "no {" in skips[1].detail
    # the 4 [refer] turns of records with images: 2 rows + 2 "malformed box" skips; the other turns are chat rows


def test_geochat_bench_referring_jsonl(tmp_path):
    write_image(tmp_path / "images" / "0001.png", 100, 100)
    recs = [
        {"question_id": 7, "image_id": "0001", "question": "[refer] give me the location of <p>all ships</p>",
         "ground_truth": [[[10, 10], [30, 10], [30, 20], [10, 20]], [[50, 50], [60, 45], [70, 55], [60, 60]]],
         "type": "multi", "dataset": "DOTA", "obj_ids": [1, 2], "size_group": "small"},
        {"question_id": 8, "image_id": "0001", "question": "[refer] <p>plane</p>", "ground_truth": [[[1, 2], [3]]]},
        {"question_id": 9, "image_id": "0002", "question": "[refer] <p>plane</p>",
         "ground_truth": [[[1, 1], [5, 1], [5, 5], [1, 5]]]},
        {"question_id": 10, "question": "no image"},
    ]
    lines = [json.dumps(r) for r in recs] + ["{not json", "[1, 2]"]
    (tmp_path / "referring.jsonl").write_text("\n".join(lines) + "\n")
    rows, skips = run("geochat_referring", tmp_path, annotations="referring.jsonl", image_root=tmp_path / "images")
    assert len(rows) == 1 and rows[0]["id"] == "s/7" and rows[0]["task"] == "referring_detection"
    t = rows[0]["target"]
    assert t["expression"] == "all ships" and t["boxes"] == [[10, 10, 30, 20], [50, 45, 70, 60]]
    assert t["polys"][1] == [50, 50, 60, 45, 70, 55, 60, 60] and t["size_group"] == "small" and t["type"] == "multi"
    assert [(s.reason, s.line) for s in skips] == [("malformed box", 2), ("missing image", 3), ("malformed record", 4),
                                                   ("malformed line", 5), ("malformed JSON", 6)]


def _nwpu(tmp_path):
    write_image(tmp_path / "positive image set" / "001.jpg", 300, 200)
    write_image(tmp_path / "positive image set" / "002.jpg", 300, 200)
    write_image(tmp_path / "positive image set" / "004.jpg", 300, 200)
    gt = tmp_path / "ground truth"
    gt.mkdir()
    (gt / "001.txt").write_text("(10,20),(50,60),2\n(100, 20),(150,60),2\n(5,5),(25,30),1\n\n")
    (gt / "002.txt").write_text("(10,20),(50,60),11\n")
    (gt / "003.txt").write_text("(10,20),(50,60),1\n")
    (gt / "004.txt").write_text("(10,20),(5,60),1\n")


def test_nwpu_vhr10_detection_rows_and_skips(tmp_path):
    _nwpu(tmp_path)
    rows, skips = run("nwpu_vhr10", tmp_path)
    assert [r["id"] for r in rows] == ["s/001"] and rows[0]["task"] == "detection"
    objs = rows[0]["target"]["objects"]
    assert [o["label"] for o in objs] == ["ship", "ship", "airplane"]
    assert objs[0]["poly"] == [10, 20, 50, 20, 50, 60, 10, 60] and len(rows[0]["target"]["classes"]) == 10
    assert [(s.reason, s.line) for s in skips] == [("unknown class", 1), ("missing image", None),
                                                   ("degenerate box", 1)]


@pytest.mark.parametrize("task", ["referring_detection"])
def test_nwpu_vhr10_referring_rows_pick_every_object_of_a_class(tmp_path, task):
    _nwpu(tmp_path)
    rows, skips = run("nwpu_vhr10", tmp_path, task=task)
    assert [(r["id"], r["target"]["expression"]) for r in rows] == [("s/001:airplane", "all airplanes"),
                                                                    ("s/001:ship", "all ships")]
    assert rows[1]["target"]["boxes"] == [[10, 20, 50, 60], [100, 20, 150, 60]]
    assert len(skips) == 3


def _patch(root, name, labels, shapes=((4, 6),) * 3, values=(1000, 3000, 0), bands=("B04", "B03", "B02")):
    import numpy as np
    import tifffile

    folder = root / name
    folder.mkdir(parents=True)
    for band, shape, v in zip(bands, shapes, values, strict=False):
        tifffile.imwrite(folder / f"{name}_{band}.tif", np.full(shape, v, dtype=np.uint16))
    if labels is not None:
        (folder / f"{name}_labels_metadata.json").write_text(
            labels if isinstance(labels, str) else json.dumps({"labels": labels}))


def _bigearthnet(tmp_path):
    _patch(tmp_path, "P1", ["Sea and ocean", "Rice fields", "Airports"])
    _patch(tmp_path, "P2", ["Airports", "Port areas"])  # both dropped by the 19-class map
    _patch(tmp_path, "P3", ["Atlantis"])
    _patch(tmp_path, "P4", ["Pastures"], bands=("B04", "B03"))
    _patch(tmp_path, "P5", ["Pastures"], shapes=((4, 6), (4, 6), (2, 3)))
    _patch(tmp_path, "P6", "{broken")
    (tmp_path / "train.csv").write_text("P1,S1_x\nP2\nP3\nP4\n")
    (tmp_path / "test.csv").write_text("P5\nP6\nP7\n")


def test_bigearthnet_rgb_scaling_labels_splits_and_skips(tmp_path):
    import numpy as np
    from PIL import Image

    _bigearthnet(tmp_path)
    rows, skips = run("bigearthnet", tmp_path)
    assert [(r["id"], r["split"], r["width"], r["height"]) for r in rows] == [("s/P1", "train", 6, 4),
                                                                             ("s/P2", "train", 6, 4)]
    assert rows[0]["target"]["labels"] == ["Sea and ocean", "Rice fields", "Airports"]
    assert len(rows[0]["target"]["classes"]) == 43
    # B04, B03, B02 = 1000, 3000, 0 -> round(clip(x / 2000, 0, 1) * 255) = 128, 255, 0
    assert np.asarray(Image.open(rows[0]["images"][0])).reshape(-1, 3)[0].tolist() == [128, 255, 0]
    assert rows[0]["images"][0].endswith("rgb/P1.png")
    assert [(s.reason, s.line) for s in skips] == [("unknown class", None), ("missing image", 4),
                                                   ("band size mismatch", 1), ("malformed label file", None),
                                                   ("missing label file", 3)]
    rows19, skips19 = run("bigearthnet19", tmp_path, split=["train"])
    assert [r["target"]["labels"] for r in rows19] == [["Arable land", "Marine waters"]]
    assert len(rows19[0]["target"]["classes"]) == 19
    assert [s.reason for s in skips19] == ["no label in the 19-class set", "unknown class", "missing image"]


def test_bigearthnet_43_to_19_map_matches_the_published_index_map():
    from data_engine.adapters.bigearthnet import LABELS_19, LABELS_43, MAP_43_TO_19

    assert len(LABELS_43) == 43 and len(LABELS_19) == 19 and len(set(MAP_43_TO_19.values())) == 19
    dropped = sorted(LABELS_43.index(x) for x in LABELS_43 if x not in MAP_43_TO_19)
    assert dropped == [3, 4, 5, 6, 7, 8, 9, 10, 30, 32, 37]
    assert MAP_43_TO_19["Natural grassland"] == MAP_43_TO_19["Sparsely vegetated areas"] == LABELS_19[11]
    assert MAP_43_TO_19["Annual crops associated with permanent crops"] == "Permanent crops"
    assert MAP_43_TO_19["Estuaries"] == "Marine waters" and MAP_43_TO_19["Water courses"] == "Inland waters"


def test_geochat_identify_turns_become_region_caption_rows(tmp_path):
    write_image(tmp_path / "a.png", 200, 100)
    data = [{"id": "g1", "image": "a.png", "conversations": [
        {"from": "human", "value": "<image>\n[identify] what is this {<10><20><30><60>|<45>}"},
        {"from": "gpt", "value": "a white plane"},
        {"from": "human", "value": "[identify] what is this {<10><20><30><60>|<0>}{<1><1><2><2>}"},
        {"from": "gpt", "value": "two things"}]}]
    (tmp_path / "GeoChat_Instruct.json").write_text(json.dumps(data))
    rows, skips = run("geochat", tmp_path, annotations="GeoChat_Instruct.json")
    assert [(r["id"], r["task"]) for r in rows] == [("s/g1:0", "region_caption")]
    assert rows[0]["target"] == {"box": [20, 20, 60, 60], "references": ["a white plane"], "angle": 45.0}
    assert [(s.reason, s.line) for s in skips] == [("malformed box", 0)] and "exactly one box" in skips[0].detail


def test_bigearthnet_recipe_classes_narrow_the_class_list(tmp_path):
    _bigearthnet(tmp_path)
    rows, skips = run("bigearthnet", tmp_path, split=["train"], classes=["Airports", "Port areas"])
    assert [r["id"] for r in rows] == ["s/P2"] and rows[0]["target"]["classes"] == ["Airports", "Port areas"]
    assert [s.reason for s in skips] == ["unknown class"] * 3  # P1 and P4 outside the list, P3 not a CLC name
