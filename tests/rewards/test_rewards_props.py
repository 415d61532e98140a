"""Property tests: no completion makes any reward raise or return a non-finite / out-of-range value."""

import importlib.util
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_engine.frames import Frame
from data_engine.masks import encode_mask
from rewards import REWARDS, score
from rewards.caption import build_df

FRAGMENTS = [
    "0", "12", "-7", "3.5", "1e999", "nan", "inf", "-1e308", "9" * 400, ",", " ", "\n", "[", "]", "{", "}", ":",
    '"bbox_2d": ', '"quadrant bbox": ', '"label": "plane"', "plane", "ship", "There are none.", "```json\n", "```",
    "<tool_call>", "</tool_call>", '{"name": "image_zoom_in", "arguments": {"bbox": [', "]}}", "red", "yes", "C",
    "0,0,10,10 plane\n", "1,2,3,4,5,6,7,8 ship\n", "\u00e9\u6f22\u0000", "<answer>", "</answer>",
    "<think>", "</think>", "<think>x</think>\n<answer>", "<answer>yes</answer>",
    "<seg>", "</seg>", "1*4", "0*2,", "1*2", ";", "There is none.", "*", "1*999999999",
    "0,0,100,0,100,100", "1000,1000,", "112,", "\n20,50,120,50,120,150",  # seg_polygon lines
]
HOSTILE = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=80).map("".join),
    st.lists(st.sampled_from(FRAGMENTS), max_size=6).map(lambda xs: [{"role": "assistant", "content": x} for x in xs]),
)
REFS = ["many planes are parked near the terminal", "several planes at an airport"]
SAMPLES = {
    "detection": {"width": 200, "height": 200, "target": {"classes": ["plane", "ship"], "objects": [
        {"label": "plane", "poly": [0, 0, 10, 0, 10, 10, 0, 10]}, {"label": "ship", "poly": [50, 50, 70, 50, 70, 60, 50, 60]}]}},
    "grounding": {"width": 200, "height": 200, "target": {"expression": "roof", "box": [10, 10, 50, 50]}},
    "vqa": {"target": {"question": "q", "answer": "yes"}},
    "classification": {"target": {"label": "plane", "classes": ["plane", "ship"]}},
    "caption": {"target": {"references": REFS}},
    "multilabel_classification": {"target": {"labels": ["Inland waters", "Transitional woodland, shrub"], "classes": [
        "Arable land", "Inland waters", "Transitional woodland, shrub", "Urban fabric"]}},
    "grounding_description": {"width": 200, "height": 200, "target": {"references": REFS, "objects": [
        {"phrase": "planes", "box": [0, 0, 10, 10]}, {"phrase": "terminal", "box": [50, 50, 70, 60]}]}},
    "region_caption": {"width": 200, "height": 200, "target": {"box": [10, 10, 50, 50], "references": REFS}},
    "referring_detection": {"width": 200, "height": 200, "target": {"expression": "red ships", "boxes": [
        [0, 0, 10, 10], [50, 50, 70, 60]]}},
    "referring_segmentation": {"width": 200, "height": 200, "target": {"expression": "the ship", "mask": encode_mask(
        np.pad(np.ones((100, 100)), ((50, 50), (20, 80))))}},
    "semantic_segmentation": {"width": 200, "height": 200, "target": {"class": "road", "classes": ["road", "x"],
        "mask": encode_mask(np.pad(np.ones((100, 100)), ((0, 100), (0, 100)))),
        "ignore": encode_mask(np.pad(np.ones((10, 200)), ((190, 0), (0, 0))))}},
    "zoom_vqa": {"width": 1000, "height": 1000, "target": {"question": "q", "answer": "red", "evidence": [[1, 1, 90, 90]]}},
    "change_caption": {"target": {"references": ["two buildings are built", "the scene is the same as before"],
                                  "changed": True}},
    "change_detection": {"width": 200, "height": 200, "target": {"classes": ["change"], "objects": [
        {"label": "change", "poly": [0, 0, 10, 0, 10, 10, 0, 10]}]}},
    "damage": {"width": 200, "height": 200, "target": {"question": "q", "answer": "major-damage", "box": [1, 1, 9, 9],
               "classes": ["no-damage", "minor-damage", "major-damage", "destroyed"]}},
    "temporal_classification": {"target": {"label": "zoo", "classes": ["zoo", "port"], "timestamps": ["a", "b"]}},
}
FRAMES = [None, Frame("absolute", 200, 200, 112, 112), Frame("norm1000", 200, 200, 1000, 1000)]
DF = build_df([REFS, ["a forest"]])


# levenshtein_ratio needs the optional rapidfuzz package (pip install 'georft[geovlm]'); without it the reward
# refuses to run (at the pre-flight check), which is not what this test is about.
_SKIP = set() if importlib.util.find_spec("rapidfuzz") else {"levenshtein_ratio"}


def _check_all(completion, frame_i, turns=None, think=False):
    for name, rdef in REWARDS.items():
        if name in _SKIP:
            continue
        for task in rdef.tasks:
            kw = {"df": DF} if name in ("cider_d", "change_cider_d") else {}
            if name == "zoom_chain" and turns is not None:
                kw["turns"] = turns
            for extra in ({}, {"mask_format": "seg_polygon"}) if "segmentation" in task else ({},):
                sample = dict(SAMPLES[task], task=task, reasoning="think_answer" if think else "none", **extra)
                out = score(task, completion, sample, FRAMES[frame_i], name=name, **kw)
                assert 0.0 <= out["overall"] <= 1.0, (name, task, out)
                assert all(isinstance(v, float) and math.isfinite(v) for v in out.values()), (name, task, out)


TURNS = st.none() | st.lists(st.fixed_dictionaries({
    "box": st.none() | st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=5),
    "view": st.none() | st.lists(st.floats(-1e6, 1e6), min_size=4, max_size=4)}), max_size=4)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(HOSTILE, st.integers(0, 2), TURNS, st.booleans())
def test_rewards_never_raise(completion, frame_i, turns, think):
    _check_all(completion, frame_i, turns, think)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(HOSTILE, st.integers(0, 2), TURNS, st.booleans())
def test_rewards_never_raise_10k(completion, frame_i, turns, think):
    _check_all(completion, frame_i, turns, think)


@pytest.mark.parametrize("completion", [
    "", "1" * 1_000_000, "nan,nan,nan,nan plane", "-1e308,-1e308,1e308,1e308 plane", "1,1,5,5 plane\n" * 10_000,
    "[" * 100_000, "<tool_call>" * 1000, "<tool_call>" + '{"a":' * 5000 + "</tool_call>red", json.dumps([{"bbox_2d": [0, 0, 1e400, 1]}]),
])
def test_bad_inputs(completion):
    _check_all(completion, 1)
    _check_all(completion, 1, think=True)
