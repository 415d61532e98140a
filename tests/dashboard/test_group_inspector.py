"""The group inspector (step view and /run/{r}/search): target in the header, group mean / std with the
zero-variance badge, the completions x reward-parts table with differing cells, filters and sorts by reward std
and |advantage|, and the search over every step. Rewards of the test run (conftest.REWARDS, + 0.05 x step)."""

from __future__ import annotations

import re

import numpy as np
from conftest import REWARDS

from dashboard.rollouts import parts_table


def _groups(page: str) -> list[str]:
    return re.findall(r'<section class="group" data-group="([^"]+)"', page)


def test_header_shows_target_stats_and_zero_variance_badge(client):
    page = client.get("/run/0/step/0").text
    vqa = page[page.index('data-group="vqa-s0"'):page.index('data-group="caption-s0"')]
    assert "Q: Is there a ship?  A: yes" in vqa
    r = np.array(REWARDS["vqa"])  # step 0: the rewards themselves
    assert f'<b class="gmean">{r.mean():.3f}</b> std <b class="gstd">{r.std():.3f}</b>' in vqa
    assert "zero variance — no gradient" not in vqa
    caption = page[page.index('data-group="caption-s0"'):page.index('data-group="classification-s0"')]
    assert "zero variance — no gradient" in caption and "a plane and a ship" in caption
    # one highlighted reward cell in VQA (the lone 0 among three 1s), none in the caption group's reward column
    assert vqa.count('class="num differs"') >= 1
    table = caption[caption.index('<table class="grid inspector">'):]
    rows = re.findall(r"<tr data-gen=\"\d\">(.*?)</tr>", table, re.S)
    assert len(rows) == 4 and all('<td class="num">0.400</td>' in row for row in rows)


def test_parts_table_marks_cells_unlike_the_groups_most_common_value():
    rows = [{"reward": 1.0, "advantage": 0.25, "parts": {"match": 1.0}},
            {"reward": 0.0, "advantage": -0.75, "parts": {"match": 0.0}},
            {"reward": 1.0, "advantage": 0.25, "parts": {"match": 1.0, "extra": 2.0}}]
    t = parts_table(rows)
    assert t["columns"] == ["reward", "advantage", "match", "extra"]
    assert [[d for _, d in cells] for cells in t["cells"]] == [[False, False, False, False],
                                                               [True, True, True, False],
                                                               [False, False, False, True]]


def test_filter_and_sort_by_reward_std_and_advantage(client):
    zero = _groups(client.get("/run/0/step/1?stdmax=0").text)
    assert zero == ["caption-s1"]
    # std of the step-1 rewards (min(1, r + 0.05)), highest first; caption (0) last
    stds = {t: float(np.std(np.minimum(1.0, np.array(r) + 0.05))) for t, r in REWARDS.items()}
    expected = [f"{t}-s1" for t in sorted(stds, key=lambda t: -stds[t])]
    got = _groups(client.get("/run/0/step/1?sort=std_desc&per=10").text)
    assert [stds[g.rsplit("-", 1)[0]] for g in got] == sorted(stds.values(), reverse=True) and got[-1] == expected[-1]
    # |advantage| >= 0.7: the groups whose largest |reward - group mean| (the test run's advantage) reaches it
    adv = {t: max(abs(x - np.mean(r)) for x in r) for t, r in REWARDS.items()}
    assert set(_groups(client.get("/run/0/step/1?advmin=0.7&per=10").text)) == {
        f"{t}-s1" for t, a in adv.items() if a >= 0.7}
    assert client.get("/run/0/step/1?sort=bogus").status_code == 400


def test_search_across_steps(client):
    page = client.get("/run/0/search?stdmax=0").text
    hits = re.findall(r'<tr class="hit" data-step="(\d+)" data-group="([^"]+)">', page)
    assert hits == [("0", "caption-s0"), ("1", "caption-s1"), ("2", "caption-s2")]
    failed = re.findall(r'data-group="([^"]+)"', client.get("/run/0/search?failed=1&task=detection").text)
    assert failed == ["detection-s0", "detection-s1", "detection-s2"]  # completion #2 never parses
    assert client.get("/run/0/search?rmin=2").text.count('class="hit"') == 0
