"""The per-task verdict table (eval.report.verdict_table): its rows equal compare.json's intervals, colour follows the
interval and the metric's direction, won / lost / tied counts the samples, and "trained by GRPO?" comes from the
GRPO run's resolved config."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
from test_baselines import handmade_world, run_eval, write_built  # tests/eval is on sys.path (pytest prepend mode)
from test_intervals import _perfect

from eval.report.verdict_table import higher_is_better, outcome, sample_outcomes, trained_tasks
from georft.cli import main as cli


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verdict")
    world = handmade_world()
    built = write_built(tmp / "built", world)
    val = [r for r in world if r["split"] == "val"]
    run_eval(tmp, built, {}, "sft")
    run_eval(tmp, built, _perfect(val), "rl")
    # a pipeline run's layout: <run>/grpo/config.yaml beside the eval folders (the resolved GRPO config)
    (tmp / "grpo").mkdir()
    (tmp / "grpo" / "config.yaml").write_text(
        "data:\n  sources:\n  - {path: ., split: train, tasks: [classification, vqa]}\nreward_set: accuracy\n")
    (tmp / "grpo" / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"step": 1, "loss": 0.5, "kl": 0.01, "num_tokens": 100, "step_time": 1.0},
        {"step": 2, "loss": 0.4, "kl": 0.02, "num_tokens": 300, "step_time": 2.0}]}))
    assert cli(["compare", str(tmp / "sft"), str(tmp / "rl"), "--out", str(tmp / "report")]) == 0
    return tmp


def test_verdict_rows_equal_compare_json_intervals(report):
    doc = json.loads((report / "report" / "compare.json").read_text())
    (table,) = doc["verdict_table"]
    assert (table["a"], table["b"]) == ("sft", "rl")
    heads = {}
    for s in doc["intervals"]:  # the first interval metric of each (dataset, task) is the headline
        heads.setdefault((s["dataset"], s["task"]), s)
    assert [(r["dataset"], r["task"]) for r in table["rows"]] == list(heads)
    for r in table["rows"]:
        s = heads[(r["dataset"], r["task"])]
        (d,) = s["differences"]
        assert r["metric"] == s["metric"]
        assert (r["a_value"], r["b_value"]) == (s["values"]["sft"], s["values"]["rl"])
        assert (r["delta"], r["lo"], r["hi"], r["excludes_zero"]) == (d["delta"], d["lo"], d["hi"], d["excludes_zero"])
        assert r["won"] + r["lost"] + r["tied"] == s["n"]
        assert (r["a_beats_best"], r["b_beats_best"]) == (s["beats_best_baseline"]["sft"],
                                                          s["beats_best_baseline"]["rl"])
    by = {r["dataset"]: r for r in table["rows"]}
    # sft answers nothing, rl answers vqa, classification and grounding perfectly (4 vqa samples: all won)
    assert (by["vqa"]["outcome"], by["vqa"]["won"], by["vqa"]["lost"]) == ("better", 4, 0)
    assert by["grd"]["outcome"] == "better" and by["det"]["outcome"] == "tied"
    # trained by GRPO: the config's data sources list classification and vqa only
    assert (by["vqa"]["trained"], by["cls"]["trained"], by["grd"]["trained"]) == (True, True, False)
    assert table["trained_from"].endswith("grpo/config.yaml")


def test_report_opens_with_the_verdict_table_coloured_by_interval(report):
    page = (report / "report" / "report.html").read_text()
    doc = json.loads((report / "report" / "compare.json").read_text())
    first_table = page.index("<table", page.index('<h2 id="sec-1">Headline metrics'))
    assert page.index('data-kind="verdict"') < page.index("</table>", first_table)  # the first table after runs
    cells = re.findall(r'<td class="num delta( better| worse)?" data-kind="verdict" data-dataset="([^"]+)"'
                       r' data-task="[^"]+" data-metric="[^"]+" data-value="([^"]+)"', page)
    rows = {r["dataset"]: r for r in doc["verdict_table"][0]["rows"]}
    assert {ds for _, ds, _ in cells} == set(rows)
    for cls, ds, value in cells:
        iv = json.loads(html.unescape(value))
        assert (iv["delta"], iv["lo"], iv["hi"]) == (rows[ds]["delta"], rows[ds]["lo"], rows[ds]["hi"])
        assert cls.strip() == ("" if rows[ds]["outcome"] == "tied" else rows[ds]["outcome"])
    # a table of contents links every section, the verdict's first
    toc = re.findall(r'<li><a href="#(sec-\d+)">([^<]+)</a></li>', page)
    assert toc[0][1].startswith("Headline metrics") and all(f'<h2 id="{a}">' in page for a, _ in toc)
    md = (report / "report" / "report.md").read_text()
    assert "| vqa | vqa | yes | accuracy ↑ | 0.0000 † | 1.0000 | +1.000 [+1.000, +1.000] | better | 4 / 0 / 0 |" in md


def test_report_draws_the_grpo_runs_training_dynamics(report):
    md = (report / "report" / "report.md").read_text()
    assert "## Training dynamics: rl" in md and "![training dynamics of rl](img/dynamics_1.png)" in md
    assert (report / "report" / "img" / "dynamics_1.png").stat().st_size > 1000


def test_direction_decides_colour_and_sample_outcomes():
    assert higher_is_better("mAP") and higher_is_better("reward vqa_match") and not higher_is_better("count_mae")
    # count_mae falling significantly is an improvement (was coloured red by the old headline table)
    assert outcome(-0.56, -0.8, -0.3, "count_mae") == "better"
    assert outcome(-0.56, -0.8, -0.3, "accuracy") == "worse"
    assert outcome(0.042, -0.01, 0.09, "pixel_f1") == "tied"  # interval includes 0: no colour
    assert sample_outcomes(np.array([0.0, 1, 1, 2]), np.array([1.0, 1, 0, 3]), "iou") == {"won": 2, "lost": 1,
                                                                                            "tied": 1}
    assert sample_outcomes(np.array([0.0, 1, 1, 2]), np.array([1.0, 1, 0, 3]), "count_mae") == {
        "won": 1, "lost": 2, "tied": 1}


def test_trained_tasks_reads_every_stage_and_refuses_to_guess(tmp_path):
    g = tmp_path / "grpo"
    (g / "stages" / "0_vqa").mkdir(parents=True)
    (g / "config.yaml").write_text("data:\n  sources:\n  - {path: ., tasks: [semantic_segmentation]}\n")
    (g / "stages" / "0_vqa" / "config.yaml").write_text("data:\n  sources:\n  - {path: ., tasks: [vqa]}\n")
    assert trained_tasks(g)[0] == {"semantic_segmentation", "vqa"}
    (g / "config.yaml").write_text("data:\n  sources:\n  - {path: ., tasks: null}\n")
    tasks, why = trained_tasks(g)
    assert tasks is None and "without a task list" in why
    assert trained_tasks(None) == (None, "no GRPO config found")
