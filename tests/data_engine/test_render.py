"""Rendering: frames + answer round trip (hypothesis), every task's conversation, random resize, GRPO columns."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from data_engine.answers import SYSTEM_PROMPTS, format_detection, format_grounding
from data_engine.families import get_family
from data_engine.frames import Frame, from_model, quantize, to_model
from data_engine.render import frame_budget, render_grpo, render_sft
from eval.parsers.detection import parse_detection
from eval.parsers.grounding import parse_grounding

BUDGET = {"min_pixels": 4 * 28 * 28, "max_pixels": 256 * 28 * 28}

frames = st.builds(
    lambda kind, ow, oh, mw, mh: Frame.for_family(kind, ow, oh, mw, mh),
    st.sampled_from(["absolute", "norm1000"]), st.integers(16, 6000), st.integers(16, 6000),
    st.integers(1, 64).map(lambda k: 28 * k), st.integers(1, 64).map(lambda k: 28 * k),
)


@settings(max_examples=200, deadline=None)
@given(frame=frames, data=st.data())
def test_hbb_answer_round_trip_is_exact_in_model_integers(frame, data):
    # integer model boxes -> original pixels -> rendered text -> parsed -> the same integers
    mx = data.draw(st.lists(st.integers(0, int(frame.model_w)), min_size=2, max_size=2, unique=True).map(sorted))
    my = data.draw(st.lists(st.integers(0, int(frame.model_h)), min_size=2, max_size=2, unique=True).map(sorted))
    model_box = [mx[0], my[0], mx[1], my[1]]
    orig = from_model(model_box, frame)
    text = format_grounding(orig, "the plane", frame)
    assert text == f"{mx[0]},{my[0]},{mx[1]},{my[1]} the plane"
    parsed = parse_grounding(text, frame=frame)["box"]
    assert quantize(to_model(parsed, frame)).tolist() == model_box
    # and the stored coordinates come back within half a model unit
    np.testing.assert_allclose(parsed, orig, atol=0.5 / min(frame.scale) + 1e-9)


@settings(max_examples=100, deadline=None)
@given(frame=frames, data=st.data())
def test_detection_poly_render_parse_render_is_a_fixed_point(frame, data):
    n = data.draw(st.integers(0, 4))
    objs = []
    for _ in range(n):
        cx = data.draw(st.floats(0.2, 0.8)) * frame.orig_w
        cy = data.draw(st.floats(0.2, 0.8)) * frame.orig_h
        w, h = data.draw(st.floats(0.05, 0.15)) * frame.orig_w, data.draw(st.floats(0.05, 0.15)) * frame.orig_h
        objs.append({"label": data.draw(st.sampled_from(["plane", "small-vehicle"])),
                     "poly": [cx - w, cy - h, cx + w, cy - h, cx + w, cy + h, cx - w, cy + h]})
    classes = ["plane", "small-vehicle"]
    text = format_detection(objs, classes, frame, "poly")
    parsed = parse_detection(text, frame=frame, classes=classes, box_type="poly")
    assert parsed["format_ok"]
    again = format_detection([{"label": o["label"], "poly": o["poly"]} for o in parsed["objects"]], classes, frame,
                             "poly")
    assert again == text


def test_every_task_renders_for_both_families(tiny_rows):
    seen = {}
    for row in tiny_rows:
        seen.setdefault(row["task"], row)
    assert sorted(seen) == ["caption", "change_caption", "change_detection", "classification", "damage", "detection",
                            "grounding", "grounding_description", "multilabel_classification", "referring_detection",
                            "referring_segmentation", "region_caption", "semantic_segmentation",
                            "temporal_classification", "vqa", "zoom_vqa"]
    for fam in ("qwen2_5_vl", "qwen3_vl"):
        f = get_family(fam)
        for task, row in seen.items():
            r = render_sft(row, fam, **BUDGET)
            n_blocks = sum(b.get("type") == "image" for m in r["messages"] for b in m["content"])
            assert n_blocks == len(r["images"]) >= 1, task
            assert all(im.width % f.factor == 0 and im.height % f.factor == 0 for im in r["images"]), task
            lo, _ = frame_budget(len(r["images"]), BUDGET["min_pixels"], BUDGET["max_pixels"], f.factor)
            assert all(lo <= im.width * im.height for im in r["images"])  # the frames share one budget
            assert sum(im.width * im.height for im in r["images"]) <= BUDGET["max_pixels"]
            assert r["messages"][-1]["role"] == "assistant"
            g = render_grpo(row, fam, **BUDGET)
            assert set(g) == {"prompt", "images", "task", "target", "frame", "sample_id", "source", "reasoning", "mask_format"}
            assert g["mask_format"] == "seg_grid"  # the default; rewards read masks by it
            assert g["prompt"][-1]["role"] == "user" and g["task"] == task and g["sample_id"] == row["id"]
            fr = Frame.from_dict(json.loads(g["frame"]))
            assert fr.kind == ("absolute" if fam == "qwen2_5_vl" else "norm1000")
            assert (fr.orig_w, fr.orig_h) == (row["width"], row["height"])
            assert (fr.grid_w * f.factor, fr.grid_h * f.factor) == g["images"][0].size  # the mask answers' grid


def test_detection_prompt_answer_and_json_mode(tiny_rows):
    row = next(r for r in tiny_rows if r["task"] == "detection" and json.loads(r["target"])["objects"])
    r = render_sft(row, "qwen2_5_vl", **BUDGET, box_type="hbb")
    assert r["messages"][0] == {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPTS["hbb"]}]}
    assert r["messages"][1]["content"][-1]["text"] == "find the plane, ship, storage tank, vehicle"
    # 224x224 stays 224x224 (a multiple of 28 inside the budget): absolute frame = original pixels
    t = json.loads(row["target"])
    assert r["messages"][2]["content"][0]["text"] == format_detection(t["objects"], t["classes"],
                                                                       Frame("absolute", 224, 224, 224, 224), "hbb")
    j = render_sft(row, "qwen2_5_vl", **BUDGET, mode="json")
    assert j["messages"][0]["role"] == "user" and j["messages"][-1]["content"][0]["text"].startswith("```json")


def test_random_resize_rescales_boxes_with_the_image(tiny_rows):
    row = next(r for r in tiny_rows if r["task"] == "grounding")
    box = json.loads(row["target"])["box"]
    rr = {"prob": 1.0, "min_scale": 0.5, "max_scale": 0.5}
    r = render_sft(row, "qwen2_5_vl", **BUDGET, rng=np.random.default_rng(0), random_resize=rr)
    # 224 * 0.5 = 112 = 4 * 28: the image is shown at 112x112 and boxes are halved (then truncated to ints)
    assert r["images"][0].size == (112, 112)
    ans = r["messages"][-1]["content"][0]["text"]
    assert ans.split(" ")[0] == ",".join(str(int(np.rint(v / 2))) for v in box)
    # Qwen3-VL's 0-1000 grid does not depend on the shown size: same answer with and without resize
    a = render_sft(row, "qwen3_vl", **BUDGET, rng=np.random.default_rng(0), random_resize=rr)
    b = render_sft(row, "qwen3_vl", **BUDGET)
    assert a["messages"][-1] == b["messages"][-1] and a["images"][0].size != b["images"][0].size


def test_caption_reference_choice_and_chat(tiny_rows, tmp_path):
    row = next(r for r in tiny_rows if r["task"] == "caption")
    refs = json.loads(row["target"])["references"]
    assert render_sft(row, "qwen3_vl", **BUDGET)["messages"][-1]["content"][0]["text"] == refs[0]
    picked = {render_sft(row, "qwen3_vl", **BUDGET, rng=np.random.default_rng(s))["messages"][-1]["content"][0]["text"]
              for s in range(30)}
    assert picked <= set(refs) and len(picked) > 1
    chat = {**row, "task": "chat", "target": json.dumps({"messages": [
        {"role": "user", "content": "what is it?"}, {"role": "assistant", "content": "a ship"}]})}
    m = render_sft(chat, "qwen2_5_vl", **BUDGET)["messages"]
    assert m == [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what is it?"}]},
                 {"role": "assistant", "content": [{"type": "text", "text": "a ship"}]}]
