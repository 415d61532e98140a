"""Multi-image samples in the dashboard: every frame side by side, each co-registered frame with the same overlay
(sample view, compare view, step view's small multiples)."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from rollout.store import RolloutWriter
from tests.dashboard.test_browser import _loaded, _open, live_server, page, shots  # noqa: F401 - fixtures

SQ = [10, 10, 60, 10, 60, 40, 10, 40]


def _frames(d):
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, size in enumerate([(128, 96), (128, 96), (64, 64)]):
        p = d / f"f{k}.png"
        Image.new("RGB", size, (40 * k, 90, 60)).save(p)
        paths.append(str(p))
    return paths


def _eval(d, name, frames, pred_poly):
    d.mkdir(parents=True)
    row = {"id": "cd-0", "dataset": "synth_levir_cd", "task": "change_detection", "images": frames[:2],
           "width": 128, "height": 96, "completion": "10,10,60,40 change",
           "prediction": {"objects": [{"label": "change", "poly": pred_poly}], "format_ok": True, "n_failed": 0},
           "target": {"classes": ["change"], "objects": [{"label": "change", "poly": SQ}]},
           "scores": {"f1": 1.0}, "rewards": {}, "turns": []}
    fm = dict(row, id="fm-0", dataset="synth_fmow", task="temporal_classification", images=frames,
              completion="crop_field", prediction={"label": "crop_field", "format_ok": True},
              target={"label": "crop_field", "classes": ["crop_field"], "timestamps": ["a", "b", "c"]},
              scores={"correct": 1.0})
    (d / "metrics.json").write_text(json.dumps({"model": name, "suite": "s", "backend": "hf", "metrics": {
        "synth_levir_cd": {"f1": 1.0}, "synth_fmow": {"accuracy": 1.0}}}))
    (d / "predictions.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(fm) + "\n")


def _figs(html: str) -> list[str]:
    return re.findall(r'<div class="frame">.*?</div>\s*</div>', html, flags=re.S)


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory):
    """A run with two eval dirs (a 2-frame change-detection row, a 3-frame fMoW row) and one rollout step."""
    run = tmp_path_factory.mktemp("multi") / "run"
    frames = _frames(run / "imgs")
    _eval(run / "eval" / "a", "a", frames, SQ)
    _eval(run / "eval" / "b", "b", frames, [70, 50, 120, 50, 120, 90, 70, 90])
    prompt = json.dumps([{"role": "user", "content": [
        {"type": "text", "text": "Image 1: "}, {"type": "image"}, {"type": "text", "text": "Image 2: "},
        {"type": "image"}, {"type": "text", "text": "\nfind the change"}]}])
    target = json.dumps({"classes": ["change"], "objects": [{"label": "change", "poly": SQ}]})
    pred = json.dumps({"objects": [{"label": "change", "poly": SQ}], "format_ok": True})
    RolloutWriter(run).write_step(0, [
        {"step": 0, "group": "g0", "sample_id": "cd-0", "task": "change_detection", "source": "s", "generation": k,
         "prompt": prompt, "completion": "10,10,60,40 change", "images": frames[:2], "width": 128, "height": 96,
         "target": target, "prediction": pred, "reward": 1.0 - 0.5 * k, "advantage": 0.0, "turns": "[]",
         "length": 5, "truncated": False} for k in range(2)])
    return run


def test_multi_image_rows_show_every_frame_with_the_overlay(multi_run):
    from starlette.testclient import TestClient

    from dashboard.app import create_app

    with TestClient(create_app([multi_run]), base_url="http://127.0.0.1") as c:
        sample = c.get("/eval/0.0/sample?id=cd-0").text
        frames_html = _figs(sample)
        assert len(frames_html) == 2 and 'data-frames="2"' in sample
        assert all(f.count("<polygon") == 2 for f in frames_html)  # GT + prediction on both frames
        assert ">image 1<" in sample and ">image 2<" in sample
        # frames of another size (fMoW sites) are shown, without overlay: coordinates are the first frame's
        fm = c.get("/eval/0.0/sample?id=fm-0").text
        assert 'data-frames="3"' in fm and len(_figs(fm)) == 3
        # compare lists only the samples scored by its metric: f1 (the change pair), correct (the fMoW site)
        comp = c.get("/compare?a=0.0&b=0.1&metric=f1").text
        assert comp.count('data-frames="2"') == 1 and 'data-frames="3"' not in comp
        assert 'data-frames="3"' in c.get("/compare?a=0.0&b=0.1&metric=correct").text
        step = c.get("/run/0/step/0").text
        assert step.count('data-frames="2"') == 2  # each completion's small multiple shows both frames


@pytest.fixture(scope="module")
def multi_server(multi_run):
    yield from live_server([multi_run])


def test_frames_side_by_side_in_chromium(multi_server, page, shots):  # noqa: F811 - fixtures
    _open(page, f"{multi_server}/eval/0.0/sample?id=cd-0", shots, "multi_image_sample")
    assert all(w > 0 for w in _loaded(page, ".frames img"))
    boxes = [page.locator(".frames .frame").nth(k).bounding_box() for k in range(2)]
    # side by side: same top, the second to the right of the first, same size; each has a drawn overlay
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 1 and boxes[1]["x"] >= boxes[0]["x"] + boxes[0]["width"] - 1
    assert abs(boxes[0]["width"] - boxes[1]["width"]) < 1
    for k in range(2):
        poly = page.locator(".frames .frame").nth(k).locator("polygon").first.bounding_box()
        assert poly and poly["width"] > 5  # the overlay is laid out on the frame, not collapsed
    _open(page, f"{multi_server}/run/0/step/0", shots, "multi_image_step")
    multiple = page.locator(".multiple").first.bounding_box()
    frames = page.locator(".multiple").first.locator(".frame")
    assert frames.count() == 2 and frames.nth(1).bounding_box()["x"] > frames.nth(0).bounding_box()["x"]
    assert multiple["width"] >= 300
