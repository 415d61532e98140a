"""The dashboard's per-task verdict table (dashboard.verdicts): on the home page and on /compare's default pair
(eval/sft vs eval/rl, never the baselines), with the same rows as `georft compare`'s compare.json."""

from __future__ import annotations

import json
import re

from dashboard.runs import EvalDir
from dashboard.verdicts import default_pair
from eval.report import build_report

_ROW = re.compile(r'<tr class="verdict-row[^"]*" data-dataset="([^"]+)" data-task="([^"]+)"\s+data-delta="([^"]+)" '
                  r'data-lo="([^"]+)" data-hi="([^"]+)" data-outcome="([^"]+)">')


def _rows(page: str) -> dict[tuple[str, str], tuple[float, float, float, str]]:
    def num(x: str) -> float | None:
        return None if x == "None" else float(x)

    return {(ds, t): (num(d), num(lo), num(hi), o) for ds, t, d, lo, hi, o in _ROW.findall(page)}


def test_home_and_compare_show_the_report_verdict_rows(client, run_dirs, tmp_path):
    run = run_dirs["run"]
    build_report([run / "eval" / "sft", run / "eval" / "rl"], tmp_path / "report")
    doc = json.loads((tmp_path / "report" / "compare.json").read_text())
    heads = {}
    for s in doc["intervals"]:
        heads.setdefault((s["dataset"], s["task"]), (s["differences"] or [None])[0])
    home = client.get("/").text
    shown = _rows(home)
    assert set(shown) == set(heads) and len(shown) == 6
    assert all(heads.values())  # every dataset has an interval (each row carries its task's per-sample score)
    for key, (d, lo, hi, outcome) in shown.items():
        ref = heads[key]
        assert (d, lo, hi) == (ref["delta"], ref["lo"], ref["hi"])
        assert outcome == ("tied" if not ref["excludes_zero"] else "better" if ref["lo"] > 0 else "worse")
    table = {(r["dataset"], r["task"]): r for r in doc["verdict_table"][0]["rows"]}
    assert set(table) == set(shown)
    # /compare opens on eval/sft vs eval/rl with the same table
    page = client.get("/compare").text
    assert "A = grpo_run/eval/sft · B = grpo_run/eval/rl" in page
    assert _rows(page) == shown


def test_default_pair_skips_baselines(tmp_path):
    evs = [EvalDir(f"0.{k}", 0, tmp_path / n, n) for k, n in enumerate(
        ["eval/test/rl/baselines/constant", "eval/test/rl/baselines/random", "eval/test/rl", "eval/test/sft"])]
    a, b = default_pair(evs)
    assert (a.name, b.name) == ("eval/test/sft", "eval/test/rl")
    assert default_pair(evs[:2]) is None


def test_compare_pages_only_samples_with_the_metric_and_filters_by_task(client):
    # "correct" is scored on the vqa, classification and zoom_vqa rows only (conftest SAMPLE_SCORE)
    page = client.get("/compare?a=0.1&b=0.0&metric=correct").text
    assert page.count('<tr class="pair"') == 3 and "3 in all" in page  # the pager counts the 3 listed
    assert "3 shared sample(s) without correct in both runs are not listed." in page
    vqa = client.get("/compare?a=0.1&b=0.0&metric=correct&task=vqa").text
    assert vqa.count('<tr class="pair"') == 1 and "Q: Is there a ship?  A: yes" in vqa
    assert "not listed" not in vqa
