"""A plug-in reward returning NaN, inf or a string fails at start-up naming the reward and the sample, and mid-run
fails the step the same way; it is never trained on as 0 (issue 19, item 9)."""

from __future__ import annotations

import json

import pytest

from data_engine.errors import UserError
from data_engine.frames import Frame
from rewards import check_rewards, make_reward_funcs

ROW = {"task": "vqa", "sample_id": "v1", "source": "syn", "images": [],
       "frame": json.dumps(Frame("absolute", 100, 100, 100, 100).to_dict()),
       "target": json.dumps({"question": "q", "answer": "yes"})}

PLUGIN = '''
import math


def bad(completion, sample, frame=None, value="nan", part=False):
    v = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "str": "high", "none": None}[value]
    return {"overall": 0.5, "extra": v} if part else v


def fine_until_yes(completion, sample, frame=None):
    text = completion[-1]["content"] if isinstance(completion, list) else completion
    return math.nan if "boom" in text else 1.0
'''


@pytest.fixture
def plugin(tmp_path):
    path = tmp_path / "plugin.py"
    path.write_text(PLUGIN)
    return str(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "str", "none"])
@pytest.mark.parametrize("part", [False, True])
def test_preflight_refuses_a_non_finite_result(plugin, value, part):
    cfg = {"vqa": [{"name": f"{plugin}:bad", "weight": 1.0, "kwargs": {"value": value, "part": part}}]}
    with pytest.raises(UserError) as e:
        check_rewards(cfg, [ROW])
    msg = str(e.value)
    assert f"reward '{plugin}:bad' returned" in msg and "sample 'v1'" in msg and "finite numbers" in msg
    assert ("part 'extra'" in msg) == part


def test_mid_run_a_non_finite_result_fails_the_step_naming_reward_and_sample(plugin):
    cfg = {"vqa": [{"name": f"{plugin}:fine_until_yes", "weight": 1.0}]}
    assert check_rewards(cfg, [ROW]) == {"vqa": 1}
    (fn,), _ = make_reward_funcs(cfg)
    rows = [ROW, {**ROW, "sample_id": "v2"}]
    columns = {k: [r[k] for r in rows] for k in ROW}
    ok = [[{"role": "assistant", "content": "yes"}]] * 2
    assert fn(prompts=[None, None], completions=ok, **columns) == [1.0, 1.0]
    bad = [[{"role": "assistant", "content": "yes"}], [{"role": "assistant", "content": "boom"}]]
    with pytest.raises(UserError, match=r"returned its result = nan on sample 'v2'"):
        fn(prompts=[None, None], completions=bad, **columns)
