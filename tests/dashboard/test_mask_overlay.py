"""Masks on the dashboard and in the report: translucent ground-truth and predicted masks (per-class colour,
legend) in the sample and compare views, in headless Chromium, and blended into the report's thumbnails."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from dashboard.overlay import CLASS_COLOURS, COLOURS, compare_shapes, mask_shapes, sample_shapes
from data_engine.masks import encode_mask
from eval.report.figures import GT_COLOUR, thumbnail
from tests.dashboard.test_browser import _open, live_server, page, shots  # noqa: F401 - the Chromium fixtures

W, H = 320, 240


def _gt():
    m = np.zeros((H, W), bool)
    m[40:100, 40:120] = True
    m[100:140, 60:90] = True  # an L shape: two rectangles
    return m


def _pred():
    m = np.zeros((H, W), bool)
    m[50:110, 50:130] = True
    return m


def test_mask_shapes_cover_exactly_the_masks_with_class_colours():
    target = {"class": "building", "classes": ["road", "building"], "mask": encode_mask(_gt())}
    shapes = mask_shapes("semantic_segmentation", target, {"mask": encode_mask(_pred())})
    gt = [s for s in shapes if s.status == "gt_mask"]
    pred = [s for s in shapes if s.status == "predicted_mask"]
    area = lambda ss: sum((s.poly[2] - s.poly[0]) * (s.poly[5] - s.poly[1]) for s in ss)  # noqa: E731
    assert area(gt) == _gt().sum() and area(pred) == _pred().sum() and len(gt) == 2 and len(pred) == 1
    assert {s.colour for s in gt} == {CLASS_COLOURS[1]} and pred[0].colour == COLOURS["predicted_mask"]
    inter, union = (_gt() & _pred()).sum(), (_gt() | _pred()).sum()
    assert gt[0].label == f"GT building, IoU {inter / union:.2f}"
    referring = sample_shapes("referring_segmentation", {"expression": "the roof", "mask": encode_mask(_gt())},
                              {"mask": None, "format_ok": False})
    assert {s.colour for s in referring} == {COLOURS["gt_mask"]} and "IoU 0.00" in referring[0].label
    both = compare_shapes("referring_segmentation", {"expression": "x", "mask": encode_mask(_gt())},
                          {"mask": encode_mask(_pred())}, {"mask": None})
    assert [s.status for s in both].count("gt_mask") == 2 and {s.colour_key for s in both if s.role == "pred"} == {"a"}


@pytest.mark.parametrize("bad", [None, {}, {"size": [2, 2], "counts": "\x00\x01"}, {"size": "x", "counts": "a"},
                                 {"size": [3, 3], "counts": 5}, [1, 2]])
def test_broken_masks_draw_nothing_and_never_raise(bad):
    assert mask_shapes("referring_segmentation", {"expression": "x", "mask": bad}, {"mask": bad}) == []
    assert mask_shapes("semantic_segmentation", {"class": "a", "classes": "nope", "mask": bad}, bad) == []


def test_report_thumbnail_blends_the_masks(tmp_path):
    img = tmp_path / "a.png"
    Image.new("RGB", (W, H), (0, 0, 0)).save(img)
    row = {"task": "referring_segmentation", "images": [str(img)], "target": {"expression": "x",
                                                                             "mask": encode_mask(_gt())},
           "prediction": {"mask": None}}
    png = Image.open(io.BytesIO(thumbnail([row], side=W))).convert("RGB")
    inside, outside = png.getpixel((60, 60)), png.getpixel((300, 200))
    gt_rgb = tuple(int(GT_COLOUR[k:k + 2], 16) for k in (1, 3, 5))
    assert outside == (0, 0, 0) and all(abs(c - round(g * 110 / 255)) <= 1 for c, g in zip(inside, gt_rgb,
                                                                                          strict=True))


# ------------------------------------------------------------------------------------------------- in Chromium
@pytest.fixture(scope="module")
def mask_server(tmp_path_factory):


    run = tmp_path_factory.mktemp("maskrun")
    img = run / "scene.png"
    Image.new("RGB", (W, H), (110, 130, 90)).save(img)
    targets = {"referring_segmentation": {"expression": "the white roof", "mask": encode_mask(_gt())},
               "semantic_segmentation": {"class": "building", "classes": ["road", "building"],
                                         "mask": encode_mask(_gt())}}
    for name, pred in (("sft", None), ("rl", encode_mask(_pred()))):
        d = run / "eval" / name
        d.mkdir(parents=True)
        rows = [{"id": f"{t}-0", "dataset": f"synth-{t}", "task": t, "images": [str(img)], "width": W, "height": H,
                 "completion": "<seg>…</seg>", "prediction": {"mask": pred, "format_ok": True}, "target": target,
                 "scores": {"iou": 0.5 if pred else 0.0}, "rewards": {}, "turns": []} for t, target in targets.items()]
        (d / "metrics.json").write_text(json.dumps({"model": name, "suite": "s", "backend": "hf", "metrics": {
            f"synth-{t}": {"mIoU": 0.5} for t in targets}}))
        (d / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    yield from live_server([run])


def test_masks_render_translucent_in_the_sample_and_compare_views(mask_server, page, shots):  # noqa: F811
    _open(page, f"{mask_server}/eval/0.0/sample?id=semantic_segmentation-0", shots, "mask_sample")  # eval/rl
    gt = page.locator(".fig.big svg polygon.gt_mask")
    pred = page.locator(".fig.big svg polygon.predicted_mask")
    assert gt.count() == 2 and pred.count() == 1
    assert gt.nth(0).get_attribute("fill") == CLASS_COLOURS[1]
    style = page.eval_on_selector(".fig.big svg polygon.gt_mask", "e => getComputedStyle(e).fillOpacity")
    assert 0.2 < float(style) < 0.8  # translucent: the image shows through
    legend = page.locator(".legend").first.inner_text()
    assert "gt mask" in legend and "predicted mask" in legend
    box, fig = gt.nth(0).bounding_box(), page.locator(".fig.big").bounding_box()
    sx = fig["width"] / W
    assert abs(box["x"] - fig["x"] - 40 * sx) < 2 and abs(box["width"] - 80 * sx) < 2  # the mask's own pixels
    _open(page, f"{mask_server}/compare", shots, "mask_compare")
    assert page.locator("svg polygon.gt_mask").count() >= 2 and page.locator("svg polygon.predicted_mask").count() >= 1
