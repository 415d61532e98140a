"""The one number parser for annotation text and the one geometry rule (issue 27, mechanism 2)."""

from __future__ import annotations

import pytest

from data_engine.adapters.base import check_box, check_poly, outside_image
from data_engine.numbers import BadNumber, parse_int, parse_number, parse_numbers


@pytest.mark.parametrize("text, value", [("12", 12.0), (" -3.5 ", -3.5), ("+.5", 0.5), ("7.", 7.0), ("1e3", 1000.0),
                                         ("2.5E-2", 0.025), (4, 4.0), (2.25, 2.25)])
def test_numbers_annotations_write_are_read(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["1.2.3", ".", "", "-", "nan", "inf", "Infinity", "1e400", "١٢", "１２", "0x10",
                                  "1_000", "9" * 5000, "1" * 41, True, None, [1], float("nan"), 10**60, "1e99999"])
def test_anything_else_is_a_bad_number_not_a_crash(text):
    with pytest.raises(BadNumber):
        parse_number(text)


def test_integers_and_lists():
    assert parse_int("-17") == -17 and parse_int(5) == 5
    for bad in ("1.0", "²", "٣", "9" * 5000, False, 2.0):
        with pytest.raises(BadNumber):
            parse_int(bad)
    assert parse_numbers(["1", 2, "3.5"]) == [1.0, 2.0, 3.5]
    with pytest.raises(BadNumber):
        parse_numbers(5)
    assert isinstance(BadNumber("x"), ValueError)  # callers that catch ValueError still count it


def test_one_geometry_rule_for_boxes_and_polygons():
    assert check_box(["1", "2", "3", "4"]) == [1, 2, 3, 4] and "non-numeric" in check_box(["1", "2", "3.3.3", "4"])
    assert "non-numeric" in check_poly(["nan"] * 8) and "non-numeric" in check_box([0, 0, float("inf"), 1])
    assert outside_image([10, 10, 20, 20], 100, 100) is None
    assert outside_image([90, 90, 150, 150], 100, 100) is None  # partly inside: kept (answers clip it)
    assert "outside" in outside_image([-500, -500, -400, -400], 224, 224)
    assert "outside" in outside_image([100, 0, 120, 10], 100, 100)  # touching the border is no area
    ring = [470, -10, 480, -10, -10, 480, -10, 470]  # its bounding box covers the image, its area does not
    assert "does not overlap" in outside_image(ring, 224, 224)
    assert outside_image([230, -20, 250, -20, -20, 250, -40, 250], 224, 224) is None  # crosses the image
    bowtie = [0, 0, 300, 300, 300, 0, 0, 300]  # self-intersecting, partly inside
    assert outside_image(bowtie, 224, 224) is None
    assert "non-finite" in outside_image([0, 0, float("nan"), 5], 10, 10)
