"""Mixture weights: repeat, percentage, temperature; seeded and identical across calls (ranks)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from data_engine.errors import UserError
from data_engine.mixture import mixture_order, parse_weight


def test_parse_weight():
    assert parse_weight("*25") == ("repeat", 25.0)
    assert parse_weight("%50") == ("percent", 50.0)
    assert parse_weight(2) == ("weight", 2.0)
    for bad in ("x3", "%0", "-1", "%150"):
        with pytest.raises(UserError):
            parse_weight(bad)


def test_repeat_and_percent_counts():
    order = mixture_order([10, 8], ["*2.5", "%50"], seed=3)
    c = Counter(s for s, _ in order)
    assert c == {0: 25, 1: 4}  # 10 rows x 2.5 = 25; 50 % of 8 = 4
    rows0 = Counter(r for s, r in order if s == 0)
    assert sorted(rows0.values()) == [2] * 5 + [3] * 5  # two whole copies + 5 distinct extra rows
    assert len({r for s, r in order if s == 1}) == 4  # subsample without replacement


def test_temperature_weights():
    # Sizes 100 and 300, weights 1: T=1 keeps proportions (100, 300); T -> inf tends to uniform (200, 200).
    c1 = Counter(s for s, _ in mixture_order([100, 300], [1, 1], temperature=1.0))
    assert (c1[0], c1[1]) == (100, 300)
    cbig = Counter(s for s, _ in mixture_order([100, 300], [1, 1], temperature=1e9))
    assert (cbig[0], cbig[1]) == (200, 200)
    # T=1 with weights 3:1 -> mass 300:300 -> 200 each of the 400 total.
    c3 = Counter(s for s, _ in mixture_order([100, 300], [3, 1]))
    assert (c3[0], c3[1]) == (200, 200)


def test_seeded_same_on_every_call_and_row_indices():
    a = mixture_order([5, 5], ["%60", "*1"], seed=7, row_indices=[np.array([1, 3, 5, 7, 9]), np.arange(5)])
    b = mixture_order([5, 5], ["%60", "*1"], seed=7, row_indices=[np.array([1, 3, 5, 7, 9]), np.arange(5)])
    assert a == b
    assert {r for s, r in a if s == 0} <= {1, 3, 5, 7, 9}
    assert a != mixture_order([5, 5], ["%60", "*1"], seed=8, row_indices=[np.array([1, 3, 5, 7, 9]), np.arange(5)])
