"""The `format` reward gives 1 only to the answer format of docs/formats.md §3, whose integers are ASCII digits:
the same box in Arabic-Indic (or any other script's) digits is read for accuracy but is not in the format (issue 27,
"Also")."""

from __future__ import annotations

import pytest

from data_engine.frames import Frame
from rewards import score

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
DET = {"task": "detection", "target": {"classes": ["plane", "ship"], "objects": [
    {"label": "plane", "poly": [10, 10, 50, 10, 50, 40, 10, 40]}]}}
GR = {"task": "grounding", "target": {"expression": "the plane", "box": [10, 10, 50, 40]}}
FRAME = Frame.identity(100, 100)


@pytest.mark.parametrize(("sample", "answer"), [
    (DET, "10,10,50,40 plane"),
    (DET, "10,10,50,40 plane\n60,60,90,90 ship"),
    (GR, "10,10,50,40 the plane"),
])
@pytest.mark.parametrize("digits", [ARABIC_INDIC, DEVANAGARI])
def test_other_scripts_digits_are_not_the_format(sample, answer, digits):
    task = sample["task"]
    assert score(task, answer, sample, FRAME, name="format")["overall"] == 1.0
    assert score(task, answer.translate(digits), sample, FRAME, name="format")["overall"] == 0.0


def test_one_non_ascii_number_among_ascii_lines_is_not_the_format():
    answer = "10,10,50,40 plane\n" + "60,60,90,90".translate(ARABIC_INDIC) + " ship"
    assert score("detection", answer, DET, FRAME, name="format")["overall"] == 0.0
