"""Multi-image rewards: change captions (CIDEr-D gated by the no-change verdict) and xBD damage (ordinal credit)."""

from __future__ import annotations

import json
import math

import pytest

from data_engine.change_text import is_no_change_caption
from rewards.caption import build_df, cider_d_batch, training_dfs
from rewards.change_caption import change_cider_d, change_cider_d_batch

CHANGED = {"task": "change_caption",
           "target": json.dumps({"references": ["two buildings are built .", "two new buildings appear .",
                                                "two buildings are constructed ."], "changed": True})}
SAME = {"task": "change_caption",
        "target": json.dumps({"references": ["the scene is the same as before .", "there is no change .",
                                             "nothing has changed in the scene ."], "changed": False})}
TRAIN = [CHANGED, SAME, {"task": "change_caption", "target": json.dumps(
    {"references": ["a road is built .", "a new road appears ."], "changed": True})}]


@pytest.mark.parametrize("text,verdict", [
    ("the scene is the same as before .", True), ("There is no change.", True), ("No changes occurred", True),
    ("the two scenes seem identical", True), ("nothing has changed", True), ("the area remains the same", True),
    ("two buildings are built", False), ("a road changed direction", False), ("", False), (None, False), (3, False),
])
def test_no_change_verdict(text, verdict):
    assert is_no_change_caption(text) is verdict


def test_consistency_term_zeroes_the_wrong_verdict():
    df = build_df(json.loads(r["target"])["references"] for r in TRAIN)
    right = change_cider_d("two buildings are built .", CHANGED, df=df)
    wrong = change_cider_d("the scene is the same as before .", CHANGED, df=df)
    assert right["consistent"] == 1.0 and right["overall"] > 0.3
    assert wrong["consistent"] == 0.0 and wrong["overall"] == 0.0
    same_right = change_cider_d("the scene is the same as before .", SAME, df=df)
    same_wrong = change_cider_d("two buildings are built .", SAME, df=df)
    assert same_right["overall"] > 0.3 and same_wrong["overall"] == 0.0 and same_wrong["consistent"] == 0.0
    # with a consistent verdict the value is exactly the caption reward's
    plain = cider_d_batch(["two buildings are built ."], [CHANGED], df=df)[0]
    assert right["overall"] == plain["overall"] and right["cider"] == plain["cider"]


def test_per_task_training_tables(tmp_path):
    caption_row = {"task": "caption", "target": json.dumps({"references": ["a plane on a runway ."]})}
    tables = training_dfs([*TRAIN, caption_row], tmp_path)
    assert set(tables) == {"caption", "change_caption"}
    assert tables["change_caption"].n_images == 3 and tables["caption"].n_images == 1
    assert sorted(p.name.startswith("cider_df_change_caption_") for p in tmp_path.iterdir()) == [False, True]


def test_hostile_completions_never_raise():
    for comp in ["", None, 42, "\x00" * 50, [{"role": "assistant", "content": "no change"}], "same " * 500,
                 [{"role": "assistant", "content": [{"type": "text", "text": "two buildings are built"}]}]]:
        for sample in (CHANGED, SAME, {"task": "change_caption", "target": "{broken"}, {}):
            out = change_cider_d_batch([comp], [sample])[0]
            assert all(math.isfinite(v) for v in out.values()) and 0.0 <= out["overall"] <= 1.0


LEVELS = ["no-damage", "minor-damage", "major-damage", "destroyed"]


@pytest.mark.parametrize("answer,expected", [("major-damage", 1.0), ("Major damage", 1.0), ("destroyed", 0.5),
                                             ("minor-damage", 0.5), ("no-damage", 0.0), ("", 0.0), ("fire", 0.0)])
def test_damage_ordinal_credit(answer, expected):
    from rewards.damage import damage_ordinal

    sample = {"task": "damage", "target": {"question": "q", "answer": "major-damage", "classes": LEVELS}}
    assert damage_ordinal(answer, sample)["overall"] == expected
    assert damage_ordinal(answer, sample, credit=[1.0, 0.25])["overall"] == (0.25 if expected == 0.5 else expected)


def test_damage_disaster_type_is_class_match_and_hostile_inputs_are_safe():
    from rewards.damage import damage_ordinal

    s = {"task": "damage", "target": {"question": "q", "answer": "wind", "classes": ["fire", "flooding", "wind"]}}
    assert damage_ordinal("wind", s)["overall"] == 1.0 and damage_ordinal("fire", s)["overall"] == 0.0
    for comp in ["", None, 7, "\x00", [{"role": "assistant", "content": "wind"}], "destroyed " * 300]:
        for sample in (s, {"task": "damage", "target": "{bad"}, {}, {"target": {"answer": 3, "classes": "x"}}):
            out = damage_ordinal(comp, sample, credit="nonsense")
            assert all(math.isfinite(v) for v in out.values()) and 0.0 <= out["overall"] <= 1.0
