"""A 3000 x 2000 GeoTIFF with objects on the window borders: windows cover it, merged detections have no duplicates,
GeoJSON coordinates are the geotransform of the pixel polygons. The model is a stub that answers, for each window,
the part of every known object the window shows (cut at the window edge), written in the model's frame exactly as
training targets are (`data_engine.answers.format_detection`), so the real parser, shift and merge run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from data_engine.answers import format_detection
from data_engine.frames import Frame
from eval.geometry import rotated_iou
from eval.predict.predictor import Predictor
from eval.predict.run import Item, run_predict
from rollout.generate import Generation

rasterio = pytest.importorskip("rasterio")

W, H = 3000, 2000
SIDE = 1008  # qwen2_5_vl factor 28: window_side(1008**2, 28)
TRANSFORM = (0.5, 0.0, 500000.0, 0.0, -0.5, 4500000.0)  # 0.5 m pixels, UTM 33N, north up
CLASSES = ["plane", "ship"]


def _rot_rect(cx, cy, w, h, deg):
    t = np.deg2rad(deg)
    c, s = np.cos(t), np.sin(t)
    pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return [v for x, y in pts for v in (cx + x * c - y * s, cy + x * s + y * c)]


def _box(x1, y1, x2, y2):
    return [x1, y1, x2, y1, x2, y2, x1, y2]


# Windows: x starts 0, 806, 1612, 1992; y starts 0, 806, 992 (side 1008, gap 202).
OBJECTS = [
    {"label": "ship", "poly": _box(980, 300, 1040, 340)},     # crosses x=1008, the right edge of column 0
    {"label": "ship", "poly": _box(780, 500, 830, 530)},      # crosses x=806, the left edge of column 1
    {"label": "plane", "poly": _rot_rect(900, 900, 60, 20, 30)},  # whole in the 4-window overlap corner
    {"label": "plane", "poly": _box(1600, 990, 1640, 1030)},  # crosses x=1612, y=992 and y=1008
    {"label": "ship", "poly": _box(2960, 1500, 3000, 1530)},  # on the scene's right border (not a window edge)
    {"label": "plane", "poly": _box(400, 300, 450, 340)},     # inside one window only
    {"label": "ship", "poly": _box(1810, 1200, 1850, 1230)},  # a 4 px sliver in column 1 (x < 1814), whole in 2
    {"label": "ship", "poly": _rot_rect(1030, 150, 40, 40, 45)},  # a 6 px corner past x=1008: column 0 boxes it
]


class WindowStub:
    """Answers each request (in window order) with the known objects as that window shows them."""

    def __init__(self, windows):
        self.windows = [list(map(int, w)) for w in windows]
        self.k = 0
        self.calls = 0

    def generate(self, requests, sampling):
        self.calls += 1
        out = []
        for r in requests:
            x1, y1, x2, y2 = self.windows[self.k]
            self.k += 1
            win = shapely.box(x1, y1, x2, y2)
            seen = []
            for o in OBJECTS:
                part = shapely.Polygon(np.reshape(o["poly"], (4, 2))).intersection(win)
                if part.area <= 0:
                    continue
                if part.area < shapely.Polygon(np.reshape(o["poly"], (4, 2))).area - 1e-6:
                    bx = part.bounds  # a cut object: the model boxes the part it sees
                    poly = _box(*bx)
                else:
                    poly = o["poly"]
                seen.append({"label": o["label"], "poly": (np.array(poly) - [x1, y1] * 4).tolist()})
            w, h = r.images[0].size
            frame = Frame.for_family("absolute", x2 - x1, y2 - y1, w, h, 28)
            out.append(Generation(format_detection(seen, CLASSES, frame, "poly", "text"), 10, False))
        return out


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from affine import Affine

    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    data = np.random.default_rng(0).integers(0, 255, (3, H, W), dtype=np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=Affine(*TRANSFORM), tiled=True, blockxsize=256, blockysize=256) as ds:
        ds.write(data)
    return path


def _predictor() -> Predictor:
    """A qwen2_5_vl-family predictor whose backend is a fresh `WindowStub` (no checkpoint is read)."""
    p = Predictor("no-checkpoint", "detection", backend=WindowStub([]), family="qwen2_5_vl", classes=CLASSES,
                  max_pixels=SIDE * SIDE, min_pixels=28 * 28)
    p._backend = WindowStub(p.windows_for(W, H))
    return p


@pytest.fixture(scope="module")
def run_out(scene, tmp_path_factory):
    """One `run_predict` of the scene with the stub: (predictor, output folder)."""
    p = _predictor()
    out = tmp_path_factory.mktemp("predict")
    run_predict(p, [Item("scene", [scene])], [None], out, progress=False)
    assert p._backend.k == 12  # every window asked once
    return p, out


def _merged(out):
    return json.loads((out / "inputs" / "scene" / "merged.json").read_text())["prompts"][0]["prediction"]


def test_windows_cover_the_scene_at_the_pixel_budget():
    wins = _predictor().windows_for(W, H)
    assert wins[:, 2].max() == W and wins[:, 3].max() == H and wins.min() >= 0
    assert sorted(set(wins[:, 0].tolist())) == [0, 806, 1612, 1992]
    assert sorted(set(wins[:, 1].tolist())) == [0, 806, 992]
    assert ((wins[:, 2] - wins[:, 0]) == SIDE).all() and ((wins[:, 3] - wins[:, 1]) == SIDE).all()
    covered = np.zeros((H, W), dtype=bool)
    for x1, y1, x2, y2 in wins:
        covered[y1:y2, x1:x2] = True
    assert covered.all()


def test_merged_detections_have_no_duplicates_at_window_borders(run_out):
    from eval.geometry import merge_patches

    p, out = run_out
    merged = _merged(out)
    truth = np.array([o["poly"] for o in OBJECTS])
    pred = np.array([o["poly"] for o in merged["objects"]])
    assert len(pred) == len(OBJECTS)  # one box per object: every cut view and repeat view merged away
    iou = rotated_iou(pred, truth)
    assert (iou.max(axis=0) > 0.95).all()  # each object found whole (answers are quantised to 0.5 px)
    assert [o["label"] for o in merged["objects"]].count("plane") == 3
    corner = int(np.argmax(iou[:, 2]))
    assert merged["objects"][corner]["votes"] == 4  # the overlap corner: seen whole by four windows
    assert np.allclose(pred[corner], _rot_rect(900, 900, 60, 20, 30), atol=0.6)
    # DOTA's plain merge (mmrotate merge_det: equal scores, input order) on the same windows keeps the 4 px sliver
    # of object 6 (IoU 0.1 with the whole box, not above the threshold), object 7's corner (IoU 0.03) and the cut
    # view of object 0.
    rows = [json.loads(x) for x in (out / "inputs" / "scene" / "predictions.jsonl").read_text().splitlines()]
    assert {tuple(r["window"]) for r in rows} == {tuple(w) for w in p.windows_for(W, H).tolist()}
    dets = [{"image_id": f"scene__{SIDE}__{r['window'][0]}___{r['window'][1]}", "label": o["label"],
             "poly": (np.array(o["poly"]) - r["window"][:2] * 4).tolist()}
            for r in rows for o in r["prediction"]["objects"]]
    plain = np.array([d["poly"] for d in merge_patches(dets, 0.1)])
    assert len(plain) == len(OBJECTS) + 2
    assert rotated_iou(plain, truth[:1]).max() < 0.95  # object 0 kept as its cut view


def test_geojson_is_the_geotransform_of_the_pixel_polygons(run_out):
    _, out = run_out
    d = out / "inputs" / "scene"
    merged = _merged(out)
    gj = json.loads((d / "predictions.geojson").read_text())
    assert gj["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32633"
    assert len(gj["features"]) == len(merged["objects"]) == len(OBJECTS)
    a, b, c, dd, e, f = TRANSFORM
    for feat, obj in zip(gj["features"], merged["objects"], strict=True):
        px = np.reshape(obj["poly"], (4, 2))
        expect = np.column_stack([a * px[:, 0] + b * px[:, 1] + c, dd * px[:, 0] + e * px[:, 1] + f])
        ring = np.array(feat["geometry"]["coordinates"][0])
        assert ring.shape == (5, 2) and np.allclose(ring[:4], expect, rtol=0, atol=1e-6)
        assert feat["properties"]["class"] == obj["label"] and feat["properties"]["window"] == obj["window"]
    assert (d / "overlay.png").is_file() and (d / "preview.jpg").is_file()


def test_rerun_skips_finished_inputs_and_redoes_changed_ones(scene, run_out, tmp_path):
    import shutil

    from pyproj import Transformer

    _, out = run_out
    shutil.copytree(out, tmp_path / "out")
    first = (tmp_path / "out" / "inputs" / "scene" / "done.json").read_text()
    p = _predictor()
    doc = run_predict(p, [Item("scene", [scene])], [None], tmp_path / "out", progress=False)
    assert p._backend.calls == 0 and doc["metrics"]["predict"]["done"] == 1
    assert (tmp_path / "out" / "inputs" / "scene" / "done.json").read_text() == first
    # --to-wgs84 is another output: the input is predicted again, its polygons go through pyproj (lon, lat)
    doc = run_predict(p, [Item("scene", [scene])], [None], tmp_path / "out", to_wgs84=True, progress=False)
    assert doc["metrics"]["predict"]["windows_this_run"] == 12
    gw = json.loads((tmp_path / "out" / "inputs" / "scene" / "predictions.geojson").read_text())
    gj = json.loads((out / "inputs" / "scene" / "predictions.geojson").read_text())
    assert "crs" not in gw
    t = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    for feat, utm in zip(gw["features"], gj["features"], strict=True):
        x, y = np.array(utm["geometry"]["coordinates"][0]).T
        lon, lat = t.transform(x, y)
        assert np.allclose(np.array(feat["geometry"]["coordinates"][0]), np.column_stack([lon, lat]), atol=1e-9)
        assert 14 < lon.min() < 15.1 and 40 < lat.min() < 41  # UTM 33N, 4500 km north: southern Italy
