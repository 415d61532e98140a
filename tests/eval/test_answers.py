"""Answer serialisation: hand-derived strings for each task and mode."""

import json

import pytest

from data_engine.answers import (
    EMPTY_ANSWER,
    SYSTEM_PROMPTS,
    category_prompt,
    detection_user_prompt,
    format_caption,
    format_classification,
    format_detection,
    format_grounding,
    format_vqa,
    format_zoom_call,
    grounding_user_prompt,
)
from data_engine.errors import UserError
from data_engine.frames import Frame

# Original 200x100 image shown at 100x50 ("absolute", scale 0.5) or on the 0-1000 grid (scale 5 and 10).
ABS = Frame("absolute", 200, 100, 100, 50)
N1K = Frame("norm1000", 200, 100, 1000, 1000)
CLASSES = ["small-vehicle", "Plane", "harbor"]


def test_category_prompt_normalises_and_sorts():
    assert category_prompt(CLASSES) == "harbor, plane, small vehicle"
    assert detection_user_prompt(CLASSES, "hbb", "text") == "find the harbor, plane, small vehicle"
    assert not detection_user_prompt(CLASSES, "poly", "text").endswith(".")


def test_hbb_text_sorted_by_rank_then_y_then_x():
    objs = [
        {"label": "small-vehicle", "poly": [10, 10, 30, 10, 30, 20, 10, 20]},
        {"label": "harbor", "poly": [100, 60, 140, 60, 140, 80, 100, 80]},
        {"label": "harbor", "poly": [120, 40, 160, 40, 160, 50, 120, 50]},
    ]
    # harbor (rank 0) first, y=40 before y=60; small vehicle (rank 2) last. Coordinates halved (absolute frame).
    assert format_detection(objs, CLASSES, ABS, "hbb", "text") == (
        "60,20,80,25 harbor\n50,30,70,40 harbor\n5,5,15,10 small vehicle"
    )
    # norm1000: x*5, y*10.
    assert format_detection(objs[:1], CLASSES, N1K, "hbb", "text") == "50,100,150,200 small vehicle"


def test_hbb_json_and_empty():
    objs = [{"label": "Plane", "poly": [10, 10, 30, 10, 30, 20, 10, 20]}]
    out = format_detection(objs, CLASSES, ABS, "hbb", "json")
    assert out == '```json\n[\n\t{"bbox_2d": [5, 5, 15, 10], "label": "plane"}\n]\n```'
    assert json.loads(out[len("```json\n") : -len("\n```")]) == [{"bbox_2d": [5, 5, 15, 10], "label": "plane"}]
    assert format_detection([], CLASSES, ABS, "poly", "text") == EMPTY_ANSWER == "There are none."
    assert format_detection([], CLASSES, ABS, "hbb", "json") == EMPTY_ANSWER


def test_clipping_and_unknown_label():
    # x from -20 -> clipped to 0; x 260 -> 130 clipped to 100 (model width).
    objs = [{"label": "harbor", "poly": [-20, 0, 260, 0, 260, 40, -20, 40]}]
    assert format_detection(objs, CLASSES, ABS, "hbb") == "0,0,100,20 harbor"
    with pytest.raises(UserError, match="not in the class list"):
        format_detection([{"label": "ship", "poly": [0] * 8}], CLASSES, ABS, "hbb")


def test_grounding_and_zoom_and_text_answers():
    assert format_grounding([10, 20, 50, 60], "the red roof", ABS) == "5,10,25,30 the red roof"
    assert format_grounding([10, 20, 50, 60], "roof", N1K, "json") == (
        '```json\n[\n\t{"bbox_2d": [50, 200, 250, 600], "label": "roof"}\n]\n```'
    )
    assert grounding_user_prompt("roof") == "find the roof"
    assert format_zoom_call([1, 2, 3.4, 4]) == (
        '<tool_call>\n{"name": "image_zoom_in", "arguments": {"bbox": [1, 2, 3, 4]}}\n</tool_call>'
    )
    assert format_vqa("  yes \n") == "yes" and format_vqa(True) == "yes" and format_vqa(3) == "3"
    assert format_classification("Dense-Residential") == "dense residential"
    assert format_caption("Many  planes\nparked.") == "Many planes parked."
    assert set(SYSTEM_PROMPTS) == {"hbb", "obb", "poly"}
