"""The caption reward's repetition guard (a hack seen in the demo's GRPO run)."""

from __future__ import annotations

import pytest

from rewards import score
from rewards.caption import distinct_bigrams

SAMPLE = {"task": "caption", "target": {"references": ["two ships near the water.", "some ships near the water."]},
          "width": 64, "height": 64}


def test_distinct_bigrams_by_hand():
    # "one vehicle and two ships and two ships and two ships": 10 bigrams, 5 distinct.
    assert distinct_bigrams("one vehicle and two ships and two ships and two ships.") == 0.5
    assert distinct_bigrams("one ship near the water.") == 1.0
    assert distinct_bigrams("ships") == 1.0 and distinct_bigrams("") == 1.0


def test_repeating_a_reference_phrase_scores_below_the_plain_caption():
    plain = score("caption", "two ships near the water.", SAMPLE)
    spam = score("caption", "two ships and two ships and two ships near the water.", SAMPLE)
    off = score("caption", "two ships and two ships and two ships near the water.", SAMPLE, repetition_guard=False)
    # 10 bigrams, 6 distinct -> the guard multiplies the scaled CIDEr-D by 0.6.
    assert spam["distinct"] == pytest.approx(0.6)
    assert spam["overall"] == pytest.approx(off["overall"] * 0.6)
    assert plain["overall"] == 1.0 and spam["overall"] < plain["overall"]
