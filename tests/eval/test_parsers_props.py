"""Property tests: hostile strings never make a parser raise, and outputs keep their documented types."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_engine.frames import Frame
from data_engine.masks import decode_mask
from eval.parsers import PARSERS, parse

FRAGMENTS = [
    "0", "12", "-7", "3.5", "1e999", "nan", "inf", "-inf", "9" * 400, ",", ", ", " ", "\n", "\t", "[", "]", "{", "}",
    "(", ")", ":", '"', "'", '"bbox_2d": ', '"oriented bbox": ', '"quadrant bbox": ', '"label": ', '"plane"',
    "plane", "small-vehicle", "Harbour", "There are none.", "none", "```json\n", "```", "<tool_call>",
    "</tool_call>", '{"name": "image_zoom_in", "arguments": {"bbox": [', "]}}", "<answer>", "</answer>",
    "<think>", "</think>", "{<12><40><15><44>|<0>}", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>(1,2),(30,40)<|box_end|>", "<|box_start|>(", "),(", " [1, 2, 3, 4]", "\u00e9\u6f22\u0000", "A", "yes", "1,2,3,4 plane\n", "10,20,30,40,50 plane\n",
    "<seg>", "</seg>", "1*4", "0*2,", "1*2", ";", "There is none.", "*", "0*1,1*1",
    "0,0,10,0,10,10", "1000,1000", "616,476,", "01,", "\n0,0,5,5,0,5",  # seg_polygon lines
]
HOSTILE = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=60).map("".join),
)
FRAMES = [None, Frame("absolute", 640, 480, 616, 476), Frame("norm1000", 640, 480, 1000, 1000)]
CLASSES = ["plane", "small-vehicle", "harbor"]
CHOICES = ["A. x", "B. y"]


def _finite_list(v, n):
    return isinstance(v, list) and len(v) == n and all(isinstance(x, float) and math.isfinite(x) for x in v)


def check_output(task, out):
    assert isinstance(out["format_ok"], bool)
    assert isinstance(out["n_parsed"], int) and isinstance(out["n_failed"], int)
    assert out["n_parsed"] >= 0 and out["n_failed"] >= 0
    if task == "detection":
        assert isinstance(out["empty"], bool)
        for o in out["objects"]:
            assert _finite_list(o["poly"], 8) and (o["label"] is None or o["label"] in CLASSES)
    elif task == "grounding":
        assert out["box"] is None or _finite_list(out["box"], 4)
    elif task == "zoom_vqa":
        for c in out["calls"]:
            assert c["box"] is None or _finite_list(c["box"], 4)
        assert isinstance(out["answer"], str)
    elif task == "caption":
        assert isinstance(out["caption"], str)
    elif task == "grounding_description":
        assert isinstance(out["caption"], str) and all(_finite_list(b, 4) for b in out["boxes"])
    elif task == "multilabel_classification":
        assert isinstance(out["empty"], bool) and all(isinstance(x, str) for x in out["labels"])
    elif task == "referring_detection":
        assert isinstance(out["empty"], bool) and all(_finite_list(b, 4) for b in out["boxes"])
    elif task == "segmentation":
        assert isinstance(out["empty"], bool)
        if out["mask"] is not None:  # a valid RLE (pycocotools can decode it) in original pixels
            assert out["format_ok"] and decode_mask(out["mask"]).ndim == 2
    else:
        assert isinstance(out["answer"], str)


def _run(text, frame_i):
    for task in PARSERS:
        for reasoning in ("none", "think_answer"):
            check_output(task, parse(task, text, FRAMES[frame_i], CLASSES, choices=CHOICES if task == "vqa" else None,
                                     reasoning=reasoning))
    check_output("segmentation", parse("segmentation", text, FRAMES[frame_i], mask_format="seg_polygon"))


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(HOSTILE, st.integers(0, 2))
def test_parsers_never_raise(text, frame_i):
    _run(text, frame_i)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(HOSTILE, st.integers(0, 2))
def test_parsers_never_raise_10k(text, frame_i):
    _run(text, frame_i)


@pytest.mark.parametrize("text", [None, 123, ["x"], {"content": 5}, "\x00" * 1000, "{" * 50_000, "[" * 50_000])
def test_non_strings_and_deep_nesting(text):
    for task in PARSERS:
        check_output(task, parse(task, text, None, CLASSES))
