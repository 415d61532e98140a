"""Issue 30's views in headless Chromium on the demo-like run (tests/dashboard/demo_run.py: simulated rollouts,
SFT and RL eval dirs scored by the real scorer, RL's classification collapsed onto one label, the GRPO data
sources' config and a simulated trainer log): the verdict table on the home page and /compare equals
compare.json's intervals, the collapsed row carries the flag, the training-dynamics and collapse charts are drawn,
the group inspector shows targets, the zero-variance badge and highlighted cells. Slow: it builds the world."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_browser import live_server, page, shots  # noqa: F401 - the Chromium fixtures

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parent))
    from demo_run import TRAINED, build_demo_evals, build_demo_run

    from data_engine.build import build
    from data_engine.synth import synthesize
    from eval.report import build_report

    root = tmp_path_factory.mktemp("demo")
    recipe = synthesize(root / "world" / "raw", seed=0, size="tiny")
    build(recipe, root / "world" / "built", progress=False)
    run = build_demo_run(root / "world" / "built", root / "demo_run", steps=6)
    sft, rl = build_demo_evals(root / "world" / "built", run)
    build_report([sft, rl], root / "report")
    return {"run": run, "compare": json.loads((root / "report" / "compare.json").read_text()), "trained": TRAINED,
            "report": root / "report"}


@pytest.fixture(scope="module")
def server(demo):
    yield from live_server([demo["run"]])


def _verdict_rows(pg) -> dict:
    return {(r["dataset"], r["task"]): r for r in pg.eval_on_selector_all(
        "table.verdict tr.verdict-row", """els => els.map(e => ({dataset: e.dataset.dataset, task: e.dataset.task,
        delta: e.dataset.delta, lo: e.dataset.lo, hi: e.dataset.hi, outcome: e.dataset.outcome,
        collapsed: e.classList.contains('collapsed'), trained: e.children[2].textContent.trim(),
        cls: e.children[6].className, colour: getComputedStyle(e.children[6]).backgroundColor}))""")}


GREEN, RED = "rgb(217, 242, 225)", "rgb(251, 224, 221)"  # style.css: td.better, td.worse


def test_verdict_table_equals_compare_json_on_both_surfaces(server, page, shots, demo):  # noqa: F811
    heads = {}
    for s in demo["compare"]["intervals"]:
        heads.setdefault((s["dataset"], s["task"]), s)
    for url in (f"{server}/", f"{server}/compare"):
        page.goto(url, wait_until="load")
        rows = _verdict_rows(page)
        assert set(rows) == set(heads), url
        for key, r in rows.items():
            (d,) = heads[key]["differences"]
            assert (float(r["delta"]), float(r["lo"]), float(r["hi"])) == (d["delta"], d["lo"], d["hi"])
            # coloured only when the interval excludes 0
            coloured = {"better": GREEN, "worse": RED}.get(r["outcome"])
            assert (coloured is not None) == d["excludes_zero"], (key, r)
            assert r["colour"] == coloured if coloured else r["colour"] not in (GREEN, RED), (key, r)
            assert r["trained"] == ("yes" if key[1] in demo["trained"] else "no")
        cls = rows[("synth_classification", "classification")]
        assert cls["collapsed"], "RL's one-label classification must carry the collapse flag"
    page.screenshot(path=str(shots / "verdict_compare.png"), full_page=True)
    # the report's first table holds the same rows
    table = {(r["dataset"], r["task"]): r for r in demo["compare"]["verdict_table"][0]["rows"]}
    assert set(table) == set(heads) and table[("synth_classification", "classification")]["collapse"]


def test_overview_draws_dynamics_and_collapse_charts(server, page, shots):  # noqa: F811
    page.goto(f"{server}/run/0", wait_until="load")
    page.wait_for_selector("#charts[data-ready='1']", timeout=20000)
    for cid in ("chart-dynamics", "chart-collapse"):
        assert page.locator(f"#{cid} .main-svg").count() >= 1, cid
    # the axis titles Plotly drew (its <text class="ytitle|y2title|..."> elements)
    titles = page.eval_on_selector_all("#chart-dynamics text[class^='y'][class$='title']",
                                       "els => els.map(e => e.textContent)")
    assert {"loss", "KL to the reference", "entropy", "clip ratio", "grad norm", "learning rate", "step time (s)",
            "tokens / s"} <= set(titles)
    page.locator("#chart-dynamics").screenshot(path=str(shots / "dynamics.png"))


def test_group_inspector_in_chromium(server, page, shots):  # noqa: F811
    page.goto(f"{server}/run/0/step/0?sort=std_asc&per=20", wait_until="load")
    groups = page.locator("section.group")
    assert groups.count() > 0
    stds = [float(x) for x in groups.evaluate_all("els => els.map(e => e.dataset.std)")]
    assert stds == sorted(stds)
    assert page.locator("section.group header .truth").count() == groups.count()  # a target on every group
    zero = page.locator("section.group .badge.zerovar").count()
    assert zero == sum(s == 0 for s in stds)
    varied = page.locator("section.group").nth(groups.count() - 1)
    assert varied.locator("table.inspector td.differs").count() >= 1
    colour = varied.locator("table.inspector td.differs").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(255, 243, 196)"
    varied.screenshot(path=str(shots / "inspector.png"))
    page.goto(f"{server}/run/0/search?stdmax=0", wait_until="load")
    assert page.locator("tr.hit").count() >= zero
