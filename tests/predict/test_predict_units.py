"""The pieces of `georft predict` with values worked out by hand: window geometry, prompt targets, mask stitching,
grounding votes, mask polygons in GeoJSON, raster band stretch, inputs and prompt files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_engine.errors import UserError
from data_engine.masks import decode_mask, encode_mask
from eval.predict import plan
from eval.predict.merge import merge_boxes, merge_masks, owned_spans

rasterio = pytest.importorskip("rasterio")


def test_window_side_fits_the_budget_on_the_family_grid():
    assert plan.window_side(1008 * 1008, 28) == 1008
    assert plan.window_side(1008 * 1008 - 1, 28) == 980  # sqrt just under 1008 -> the next multiple down
    assert plan.window_side(1024 * 32 * 32, 32) == 1024
    assert plan.window_side(1024 * 32 * 32, 32, n_frames=2) == 704  # isqrt(524288) = 724 -> 22 * 32
    assert plan.window_side(10, 28) == 28  # never below one token


def test_scene_windows_on_a_short_axis_span_the_axis():
    w = plan.scene_windows(2000, 500, 1000, 200)
    assert w.tolist() == [[0, 0, 1000, 500], [800, 0, 1800, 500], [1000, 0, 2000, 500]]
    with pytest.raises(UserError, match="overlap"):
        plan.scene_windows(2000, 500, 100, 100)


def test_build_target_from_prompts():
    assert plan.build_target("grounding", "the red ship", None) == {"expression": "the red ship"}
    assert plan.build_target("region_caption", "1, 2, 30, 40", None) == {"box": [1.0, 2.0, 30.0, 40.0]}
    assert plan.build_target("semantic_segmentation", "water", None) == {"class": "water", "classes": ["water"]}
    assert plan.build_target("detection", None, None)["classes"][0] == "plane"  # DOTA-v1.0 by default
    t = plan.build_target("damage", json.dumps({"question": "q {box}", "box": [0, 0, 5, 5]}), ["minor", "major"])
    assert t == {"question": "q {box}", "box": [0.0, 0.0, 5.0, 5.0], "classes": ["minor", "major"]}
    for task, prompt, classes, msg in [
        ("grounding", None, None, "needs a prompt: the expression"),
        ("caption", "hello", None, "takes no prompt"),
        ("classification", None, None, "needs a class list"),
        ("region_caption", "5,5,1,1", None, "x2 > x1"),
        ("vqa", "{not json", None, "not JSON"),
    ]:
        with pytest.raises(UserError, match=msg):
            plan.build_target(task, prompt, classes)


def test_owned_spans_split_overlaps_at_their_middle():
    # windows [0, 100), [80, 180), [150, 250): overlaps [80, 100) and [150, 180) split at 90 and 165
    assert owned_spans([(0, 100), (80, 180), (150, 250)]) == [(0, 90), (90, 165), (165, 250)]


def test_masks_are_stitched_from_the_owning_windows():
    truth = np.zeros((60, 100), dtype=bool)
    truth[10:50, 30:70] = True  # crosses the overlap [40, 60) of the two windows
    records = []
    for x1, x2 in ((0, 60), (40, 100)):
        m = truth[:, x1:x2].copy()
        if x1 == 0:
            m[:, 50:] = ~m[:, 50:]  # window 0 is wrong from x=50 on: the part window 1 owns (overlap 40-60)
        else:
            m[:, :10] = ~m[:, :10]  # window 1 is wrong before x=50: the part window 0 owns
        records.append({"window": [x1, 0, x2, 60], "prediction": {"mask": encode_mask(m), "format_ok": True}})
    merged = merge_masks(records, 100, 60)
    assert (decode_mask(merged["mask"]).astype(bool) == truth).all()


def test_grounding_answers_with_the_best_voted_hit():
    # the same object seen whole by three windows, one hallucination in a fourth
    obj, alt = [500.0, 500.0, 540.0, 530.0], [501.0, 500.0, 541.0, 530.0]
    records = [{"window": w, "prediction": {"box": b}} for w, b in [
        ([0, 0, 600, 600], obj), ([400, 0, 1000, 600], alt),
        ([0, 400, 600, 1000], obj), ([400, 400, 1000, 1000], [900.0, 900.0, 950.0, 950.0])]]
    out = merge_boxes(records, 1000, 1000, 0.1, "box")
    # the three views vote for one hit, kept as the most interior view: the second window's box lies 70 px from
    # its inner edges (x=400, y=600), the other two views 60 px from theirs (x=600)
    assert out["box"] == alt and sorted(h["votes"] for h in out["hits"]) == [1, 3]
    assert len(out["boxes"]) == 2


def test_mask_polygons_are_mapped_by_the_geotransform():
    from affine import Affine
    from rasterio.crs import CRS

    from eval.predict.geojson import feature_collection, pixel_features

    m = np.zeros((20, 30), dtype=bool)
    m[5:10, 2:12] = True
    feats = pixel_features("semantic_segmentation", {"mask": encode_mask(m)}, {"class": "water"}, None, (30, 20))
    assert len(feats) == 1 and feats[0][0].area == 50 and feats[0][0].bounds == (2.0, 5.0, 12.0, 10.0)
    doc = feature_collection(feats, Affine(10.0, 0, 1000.0, 0, -10.0, 2000.0), CRS.from_epsg(3857), False)
    xs, ys = np.array(doc["features"][0]["geometry"]["coordinates"][0]).T
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (1020.0, 1120.0, 1900.0, 1950.0)
    assert doc["features"][0]["properties"]["class"] == "water"


def test_non_8_bit_rasters_are_stretched_per_band(tmp_path):
    from affine import Affine

    from eval.predict.raster import open_scene

    data = np.zeros((3, 100, 100), dtype=np.uint16)
    data[0] = np.arange(100, dtype=np.uint16)[None, :] * 40  # 0..3960 along x
    data[1] = 1000
    data[2, :, 50:] = 60000
    path = tmp_path / "u16.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=3, dtype="uint16",
                       crs="EPSG:4326", transform=Affine(0.001, 0, 10, 0, -0.001, 50)) as ds:
        ds.write(data)
    with open_scene(path) as s:
        assert s.georeferenced and s.bands == (1, 2, 3)
        rgb = np.asarray(s.read((0, 0, 100, 1)))
    # band 1: 2nd / 98th percentile of 0..3960 in steps of 40 = 79.2 / 3880.8
    lo, hi = np.percentile(np.arange(100) * 40.0, [2, 98])
    expect = np.clip((np.arange(100) * 40.0 - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    assert (rgb[0, :, 0] == expect).all()
    assert (rgb[0, :, 1] == 0).all()  # a constant band: lo == hi, nothing to stretch
    assert (rgb[0, :50, 2] == 0).all() and (rgb[0, 50:, 2] == 255).all()


def test_inputs_from_a_list_file_and_prompts_from_a_file(tmp_path):
    from PIL import Image

    from eval.predict.inputs import find_inputs, pair_inputs, read_prompts

    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "list.txt").write_text("# chips\na.png\n\nb.png\n")
    assert [n for n, _ in find_inputs(tmp_path / "list.txt")] == ["a", "b"]
    (tmp_path / "bad.txt").write_text("a.png\nmissing.png\n")
    with pytest.raises(FileNotFoundError, match="bad.txt, line 2"):
        find_inputs(tmp_path / "bad.txt")
    assert pair_inputs(tmp_path / "a.png", tmp_path / "b.png")[0][0] == "a"
    (tmp_path / "p.jsonl").write_text('"water"\n{"class": "road"}\n')
    assert read_prompts(None, tmp_path / "p.jsonl") == ["water", '{"class": "road"}']
    with pytest.raises(UserError, match="not both"):
        read_prompts("x", tmp_path / "p.jsonl")


def test_predict_accepts_a_pil_image():
    from PIL import Image

    from eval.predict.predictor import Predictor
    from rollout.generate import Generation

    class Echo:
        def generate(self, requests, sampling):
            return [Generation("ship", 1, False) for _ in requests]

    p = Predictor("none", "classification", Echo(), family="qwen3_vl", classes=["forest", "ship"],
                  max_pixels=64 * 64, min_pixels=32 * 32)
    r = p.predict(Image.new("RGB", (200, 100), "white"))
    assert r.merged["label"] == "ship" and r.windows[0]["window"] == [0, 0, 200, 100] and not r.georeferenced


def test_every_evaluable_task_is_predictable_and_has_a_prompt_rule():
    from data_engine.tasks import evaluable_tasks

    # a task added to data_engine.tasks must be added to eval.predict.plan too (its prompt field, tiling, pair)
    assert set(evaluable_tasks()) == set(plan.PREDICT_TASKS)
    assert set(plan.PROMPT_FIELD) == set(plan.PREDICT_TASKS)
    assert set(plan.TILED_TASKS) <= set(plan.PREDICT_TASKS) and set(plan.PAIR_TASKS) <= set(plan.PREDICT_TASKS)


def test_zoom_chain_crops_are_windowed_reads_of_the_full_resolution_raster(tmp_path):
    from affine import Affine

    from eval.predict.predictor import Predictor
    from rollout.generate import Generation

    data = np.random.default_rng(3).integers(0, 255, (3, 600, 900), dtype=np.uint8)
    path = tmp_path / "uhr.tif"
    with rasterio.open(path, "w", driver="GTiff", width=900, height=600, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=Affine(1, 0, 5e5, 0, -1, 4.5e6)) as ds:
        ds.write(data)
    call = '<tool_call>\n{"name": "image_zoom_in", "arguments": {"bbox": [0, 0, 500, 500]}}\n</tool_call>'

    class Scripted:
        def __init__(self):
            self.requests = []

        def generate(self, requests, sampling):
            self.requests += requests
            return [Generation(call if len(r.images) == 1 else "yes", 3, False) for r in requests]

    backend = Scripted()
    p = Predictor("none", "zoom_vqa", backend, family="qwen3_vl", max_pixels=256 * 256, min_pixels=32 * 32,
                  zoom_calls=1)
    r = p.predict(path, "Is there a ship?")
    turn = r.windows[0]["turns"][0]
    # Qwen3-VL writes 0-1000: [0, 0, 500, 500] is the top-left quarter of the 900 x 600 scene
    assert turn["valid"] and turn["box"] == [0.0, 0.0, 450.0, 300.0] and turn["crop_region"] == [0, 0, 450, 300]
    assert r.merged["answer"] == "yes" and r.merged["calls"][0]["box"] == [0.0, 0.0, 450.0, 300.0]
    crop = np.asarray(backend.requests[1].images[1]).astype(float)
    from PIL import Image

    expect = np.asarray(Image.fromarray(np.moveaxis(data[:, :300, :450], 0, -1)).resize(
        (crop.shape[1], crop.shape[0]), Image.Resampling.BICUBIC)).astype(float)
    # 450 x 300 smart-resized into 256^2 pixels on the 32-px grid: 288 x 192
    assert crop.shape[:2] == (192, 288) and np.abs(crop - expect).mean() < 2.0  # the crop, not the whole scene
