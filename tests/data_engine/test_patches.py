"""DOTA-style patch splitting: windows, iof filter, ids, and rendering of a patch window."""

from __future__ import annotations

import json

import numpy as np

from data_engine.patches import iof, parse_patch_id, split_row, window_starts


def test_window_starts_hand_derived():
    # step = 1024 - 200 = 824; ceil((2000-1024)/824)+1 = 3 windows; last pulled back to 2000-1024 = 976
    assert window_starts(2000, 1024, 200) == [0, 824, 976]
    assert window_starts(1024, 1024, 200) == [0]
    assert window_starts(500, 1024, 200) == [0]
    # 1848 = 1024 + 824: exactly two windows, no pull-back
    assert window_starts(1848, 1024, 200) == [0, 824]


def test_iof_and_split_row():
    # a 10x10 square half inside the window [0,0,105,...]: x in [100,110] -> iof 0.5
    polys = np.array([[100, 0, 110, 0, 110, 10, 100, 10], [10, 10, 20, 10, 20, 20, 10, 20]], dtype=float)
    np.testing.assert_allclose(iof(polys, (0, 0, 105, 105)), [0.5, 1.0])
    objs = [{"label": "a", "poly": [600, 10, 700, 10, 700, 40, 600, 40], "difficult": False},  # in windows x=0, x=424?
            {"label": "b", "poly": [1100, 900, 1140, 900, 1140, 940, 1100, 940], "difficult": True}]
    row = {"id": "s/P1", "source": "s", "task": "detection", "split": "train", "images": ["/x.png"], "width": 1200,
           "height": 1000, "target": json.dumps({"objects": objs, "classes": ["a", "b"]})}
    # size 800, gap 200: x starts [0, 400] (600 step, 1200-800 = 400 pulled back), y starts [0, 200]
    patches = split_row(row, size=800, gap=200)
    ids = [p["id"] for p in patches]
    assert ids == ["s/P1__800__0___0", "s/P1__800__400___0", "s/P1__800__0___200", "s/P1__800__400___200"]
    got = {p["id"]: [(o["label"], o["poly"][:2], o["truncated"]) for o in json.loads(p["target"])["objects"]]
           for p in patches}
    # object a (x 600-700, y 10-40) is fully inside windows starting at y=0; cut out of y=200 windows
    assert got["s/P1__800__0___0"] == [("a", [600, 10], False)]
    assert got["s/P1__800__400___0"] == [("a", [200, 10], False)]
    assert got["s/P1__800__400___200"] == [("b", [700, 700], False)]
    assert got["s/P1__800__0___200"] == []
    assert json.loads(patches[1]["target"])["patch"] == {"parent": "s/P1", "x": 400, "y": 0, "size": 800}
    assert parse_patch_id("s/P1__800__400___200") == ("s/P1", 800, 400, 200)
    assert parse_patch_id("s/P1") is None


def test_patch_row_renders_its_window(tmp_path):
    from PIL import Image

    from data_engine.render import render_sft

    arr = np.zeros((100, 150, 3), dtype=np.uint8)
    arr[:, 100:] = 255  # right third white
    Image.fromarray(arr).save(tmp_path / "big.png")
    t = {"objects": [], "classes": ["a"], "patch": {"parent": "s/x", "x": 100, "y": 0, "size": 56}}
    row = {"id": "s/x__56__100___0", "source": "s", "task": "detection", "split": None,
           "images": [str(tmp_path / "big.png")], "width": 56, "height": 56, "target": json.dumps(t)}
    r = render_sft(row, "qwen2_5_vl", min_pixels=56 * 56, max_pixels=56 * 56)
    img = np.asarray(r["images"][0])
    # window x in [100, 156): image columns 100-149 are white, 150-155 lie beyond the border -> black padding
    assert img.shape == (56, 56, 3) and img[:, :50].min() == 255 and img[:, 50:].max() == 0
    assert r["messages"][-1]["content"][0]["text"] == "There are none."
