"""TRL adapter, config specs and the pre-flight check."""

import json

import pytest

from data_engine.errors import UserError
from data_engine.frames import Frame
from rewards import RewardSpec, check_rewards, make_reward_funcs
from rewards.config import as_specs

FRAME = Frame("absolute", 200, 200, 100, 100).to_dict()
DET_ROW = {"task": "detection", "sample_id": "d1", "source": "syn", "images": [], "frame": json.dumps(FRAME),
           "target": json.dumps({"classes": ["plane"], "objects": [{"label": "plane", "poly": [0, 0, 20, 0, 20, 20, 0, 20]}]})}
VQA_ROW = {"task": "vqa", "sample_id": "v1", "source": "syn", "images": [], "frame": json.dumps(FRAME),
           "target": json.dumps({"question": "q", "answer": "yes"})}
CFG = {"detection": [{"name": "rotated_iou_f1", "weight": 1.0}, {"name": "format", "weight": 0.1}],
       "vqa": [RewardSpec("vqa_match")]}


def _columns(rows):
    return {k: [r[k] for r in rows] for k in rows[0]}


def test_trl_functions_return_none_for_other_tasks_and_log_parts():
    funcs, weights = make_reward_funcs(CFG)
    assert [f.__name__ for f in funcs] == ["detection/rotated_iou_f1", "detection/format", "vqa/vqa_match"]
    assert weights == [1.0, 0.1, 1.0]
    metrics, extras = {}, {}
    rows = [DET_ROW, VQA_ROW, DET_ROW]
    # model frame is half size: "0,0,10,10" is the exact box; "0,0,5,10" covers half of it (IoU 0.5 -> TP):
    # 0.5 * 0.5 + 0.5 * 1 = 0.75
    completions = [[{"role": "assistant", "content": "0,0,10,10 plane"}], [{"role": "assistant", "content": "Yes"}],
                   [{"role": "assistant", "content": "0,0,5,10 plane"}]]
    out = funcs[0](prompts=[None] * 3, completions=completions, completion_ids=[[]] * 3,
                   log_metric=metrics.__setitem__, log_extra=extras.__setitem__, trainer_state=None, **_columns(rows))
    assert out[0] == 1.0 and out[1] is None and out[2] == pytest.approx(0.75)
    assert metrics["detection/iou"] == pytest.approx(0.75) and metrics["detection/rotated_iou_f1"] == pytest.approx(0.875)
    assert extras["detection/rotated_iou_f1/iou"] == [1.0, None, 0.5]
    assert funcs[2](prompts=[None] * 3, completions=completions, **_columns(rows)) == [None, 1.0, None]


def test_check_rewards_passes_and_fails_clearly():
    assert check_rewards(CFG, [VQA_ROW, DET_ROW]) == {"detection": 2, "vqa": 1}
    with pytest.raises(UserError, match="no 'vqa' rows"):
        check_rewards(CFG, [DET_ROW])
    no_frame = {k: v for k, v in DET_ROW.items() if k != "frame"}
    with pytest.raises(UserError, match=r"needs dataset column\(s\) \['frame'\]"):
        check_rewards({"detection": [{"name": "rotated_iou_f1"}]}, [no_frame])
    with pytest.raises(UserError, match=r"'tests/rewards/assets/my_reward.py:broken' raised on sample 'v1'"):
        check_rewards({"vqa": [{"name": "tests/rewards/assets/my_reward.py:broken"}]}, [VQA_ROW])
    assert check_rewards({"vqa": [{"name": "tests/rewards/assets/my_reward.py:short_answer",
                                   "kwargs": {"max_words": 2}}]}, [VQA_ROW]) == {"vqa": 1}


def test_config_errors():
    with pytest.raises(UserError, match="Did you mean"):
        make_reward_funcs({"detection": [{"name": "rotated_iou_fl"}]})
    with pytest.raises(UserError, match="does not score task"):
        make_reward_funcs({"vqa": [{"name": "rotated_iou_f1"}]})
    with pytest.raises(UserError, match="keys name, weight, kwargs"):
        as_specs({"vqa": [{"nam": "vqa_match"}]})


def test_caption_batch_path_equals_single_scores():
    from rewards import score
    from rewards.caption import build_df

    refs = ["many planes are parked near the terminal", "several planes parked at an airport"]
    row = {"task": "caption", "sample_id": "c1", "target": json.dumps({"references": refs})}
    df = build_df([refs, ["a dense forest"], ["a river"]])
    (fn,), _ = make_reward_funcs({"caption": [{"name": "cider_d"}]}, caption_df=df)
    texts = ["several planes parked", "a river", "", "many planes are parked near the terminal"]
    rows = [row, VQA_ROW, row, row]
    got = fn(prompts=[None] * 4, completions=texts, **_columns([{k: r.get(k) for k in row} for r in rows]))
    assert got[1] is None and got[2] == 0.0
    for i in (0, 3):
        assert got[i] == pytest.approx(score("caption", texts[i], row, df=df)["overall"])


def test_rewards_get_turns_and_the_df_table_only_when_they_declare_the_need(tmp_path):
    """The adapter passes `turns` / `df` by what a reward declares (`needs_turns`, `needs_doc_freq`), never by name."""
    mod = tmp_path / "needy.py"
    mod.write_text(
        "def plain(completion, sample, frame=None, **kw):\n"
        "    return {'overall': 0.5, 'got_turns': float('turns' in kw), 'got_df': float('df' in kw)}\n"
        "def needy(completion, sample, frame=None, **kw):\n"
        "    return {'overall': 0.5, 'got_turns': float(kw.get('turns') == [{'box': None}]),\n"
        "            'got_df': float(kw.get('df') == 'TABLE')}\n"
        "needy.needs_turns = True\n"
        "needy.needs_doc_freq = True\n"
    )
    from rewards.adapter import needs_doc_freq

    row = dict(VQA_ROW, turns=[{"box": None}])
    for name, expect in (("plain", 0.0), ("needy", 1.0)):
        cfg = {"vqa": [{"name": f"{mod}:{name}"}]}
        assert needs_doc_freq(cfg) is bool(expect)
        (fn,), _ = make_reward_funcs(cfg, caption_df="TABLE")
        extras = {}
        fn(prompts=[None], completions=["yes"], log_extra=extras.__setitem__, **_columns([row]))
        assert extras[f"vqa/{name}/got_turns"] == [expect] and extras[f"vqa/{name}/got_df"] == [expect]
    assert needs_doc_freq({"caption": [{"name": "cider_d"}]}) and not needs_doc_freq({"vqa": [{"name": "vqa_match"}]})
