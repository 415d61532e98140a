"""Paired bootstrap intervals: known intervals, corpus mAP per draw equal to dota_map, and the compare report /
compare.json carrying baselines, † markers and Δ [lo, hi] that match hand-derived values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_baselines import handmade_world, run_eval, write_built  # tests/eval is on sys.path (pytest prepend mode)

from eval.bootstrap import ResampledMAP, paired_mean_interval, paired_stat_interval
from eval.metrics.dota_map import dota_map
from georft.cli import main as cli


def test_constant_difference_has_a_point_interval():
    a = np.array([0.0, 1.0, 0.5, 0.25])
    iv = paired_mean_interval(a, a + 0.1)
    assert (iv.delta, iv.lo, iv.hi) == pytest.approx((0.1, 0.1, 0.1)) and iv.excludes_zero
    same = paired_mean_interval(a, a)
    assert (same.lo, same.hi) == (0.0, 0.0) and not same.excludes_zero


def test_interval_of_a_proportion_matches_the_normal_approximation():
    # b right on 30 of 100 samples a gets wrong, equal elsewhere: Δ = 0.3, sd of the paired difference sqrt(.21)
    a = np.zeros(100)
    b = np.r_[np.ones(30), np.zeros(70)]
    iv = paired_mean_interval(a, b, n_resamples=4000, seed=1)
    half = 1.96 * np.sqrt(0.3 * 0.7 / 100)
    assert iv.delta == pytest.approx(0.3)
    assert iv.lo == pytest.approx(0.3 - half, abs=0.02) and iv.hi == pytest.approx(0.3 + half, abs=0.02)
    # seeded: the same call gives the same interval
    assert paired_mean_interval(a, b, n_resamples=4000, seed=1) == iv


def test_pairing_narrows_the_interval():
    rng = np.random.default_rng(0)
    skill = rng.random(200)
    a = (skill > 0.5).astype(float)
    b = a.copy()
    b[:10] = 1.0  # b gains wherever a was wrong among the first ten samples
    paired = paired_mean_interval(a, b)
    unpaired_half = 1.96 * np.sqrt(a.var() / 200 + b.var() / 200)
    assert paired.hi - paired.lo < unpaired_half  # much narrower than an unpaired interval's half width


def test_corpus_statistic_of_a_mean_equals_the_mean_path():
    rng = np.random.default_rng(3)
    a, b = rng.random(50), rng.random(50)
    iv_mean = paired_mean_interval(a, b, seed=5)
    iv_stat = paired_stat_interval(50, lambda i: a[i].mean(), lambda i: b[i].mean(), seed=5)
    assert (iv_stat.delta, iv_stat.lo, iv_stat.hi) == pytest.approx((iv_mean.delta, iv_mean.lo, iv_mean.hi), abs=1e-12)
    same = paired_stat_interval(50, lambda i: a[i].mean(), lambda i: a[i].mean())
    assert (same.lo, same.hi) == (0.0, 0.0)


@pytest.mark.parametrize("protocol", ["dota_devkit", "mmrotate"])
def test_resampled_map_equals_dota_map_on_the_drawn_images(protocol):
    rng = np.random.default_rng(0)
    dets, gts = [], []
    for _ in range(40):
        d, g = [], []
        for k in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(0, 100, 2)
            g.append({"label": f"c{k % 2}", "poly": [x, y, x + 12, y, x + 12, y + 9, x, y + 9],
                      "difficult": int(rng.random() < 0.15)})
            if rng.random() < 0.8:
                x += rng.normal(0, 3)
                d.append({"label": f"c{int(rng.integers(0, 3))}", "poly": [x, y, x + 12, y, x + 12, y + 9, x, y + 9]})
        if rng.random() < 0.3:
            d.append({"label": "c1", "poly": [0, 0, 5, 0, 5, 5, 0, 5]})
        dets.append(d)
        gts.append(g)
    fast = ResampledMAP(dets, gts, protocol=protocol)
    for t in range(8):
        idx = np.arange(40) if t == 0 else rng.integers(0, 40, 40)
        d = [{**x, "image_id": p} for p, i in enumerate(idx) for x in dets[i]]
        g = [{**x, "image_id": p} for p, i in enumerate(idx) for x in gts[i]]
        assert fast(idx) == dota_map(d, g, protocol=protocol)["map"]


# ---------------------------------------------------------------- the report


def _perfect(rows):
    out = {}
    for r in rows:
        t = r["target"]
        if r["task"] == "vqa":
            out[r["id"]] = t["answer"]
        elif r["task"] == "classification":
            out[r["id"]] = t["label"]
        elif r["task"] == "grounding":
            out[r["id"]] = ",".join(str(int(v)) for v in t["box"]) + " tank"
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    world = handmade_world()
    built = write_built(tmp / "built", world)
    val = [r for r in world if r["split"] == "val"]
    run_eval(tmp, built, {}, "sft")
    run_eval(tmp, built, _perfect(val), "rl")
    assert cli(["compare", str(tmp / "sft"), str(tmp / "rl"), "--out", str(tmp / "report")]) == 0
    return tmp


def _interval(doc, ds, metric):
    return next(s for s in doc["intervals"] if s["dataset"] == ds and s["metric"] == metric)


def test_compare_json_baselines_markers_and_differences(report, capsys):
    doc = json.loads((report / "report" / "compare.json").read_text())
    vqa = _interval(doc, "vqa", "accuracy")
    assert vqa["values"] == {"sft": 0.0, "rl": 1.0}
    assert vqa["baselines"] == {"constant": 0.5, "random": pytest.approx(vqa["baselines"]["random"])}
    assert vqa["best_baseline"]["value"] >= 0.5
    assert vqa["beats_best_baseline"] == {"sft": False, "rl": True}
    (diff,) = vqa["differences"]
    assert (diff["a"], diff["b"], diff["delta"], diff["lo"], diff["hi"], diff["excludes_zero"]) == \
        ("sft", "rl", 1.0, 1.0, 1.0, True)
    # rl − best baseline on 4 samples: the baseline is right on 2 -> Δ 0.5, bootstrap ends are multiples of 1/4
    vs = vqa["vs_best_baseline"]["rl"]
    assert vs["delta"] == pytest.approx(1 - vqa["best_baseline"]["value"])
    assert vs["lo"] * 4 == pytest.approx(round(vs["lo"] * 4)) and vs["lo"] <= vs["delta"] <= vs["hi"] <= 1.0
    cls = _interval(doc, "cls", "accuracy")
    assert cls["baselines"]["constant"] == pytest.approx(0.6)  # "river" on every scene
    assert cls["best_baseline"]["value"] == max(cls["baselines"].values())
    grd = _interval(doc, "grd", "mean_iou")
    assert grd["baselines"]["constant"] == pytest.approx(2 / 3, abs=1e-6)
    # values recomputed from the rows equal metrics.json
    for run in ("sft", "rl"):
        metrics = json.loads((report / run / "metrics.json").read_text())["metrics"]
        for ds, metric in (("vqa", "accuracy"), ("cls", "accuracy"), ("grd", "mean_iou"), ("grd", "acc@0.5"),
                           ("det", "mAP"), ("cap", "cider_d"), ("cap", "rouge_l")):
            assert _interval(doc, ds, metric)["values"][run] == pytest.approx(metrics[ds][metric], abs=1e-12)
    assert doc["bootstrap"]["n_resamples"] == 1000
    assert cli(["compare", str(report / "sft"), str(report / "rl"), "--out", str(report / "r2"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == doc


def test_report_shows_baseline_rows_daggers_and_intervals(report):
    md = (report / "report" / "report.md").read_text()
    assert "## Against trivial baselines and sampling noise" in md
    assert "| trivial: constant | 0.5000 |" in md
    assert "| sft | 0.0000 † |" in md  # the empty answers do not beat the majority answer
    assert "+1.000 [+1.000, +1.000] *" in md
    page = (report / "report" / "report.html").read_text()
    assert 'data-kind="baseline" data-run="constant" data-dataset="vqa" data-metric="accuracy" data-value="0.5"' in page


def test_compare_rejects_too_few_resamples(report, capsys):
    assert cli(["compare", str(report / "sft"), "--out", str(report / "r3"), "--resamples", "100"]) == 2
    assert "--resamples must be >= 1000" in capsys.readouterr().err


def test_verdict_counts_significant_moves(report):
    doc = json.loads((report / "report" / "compare.json").read_text())
    v = doc["verdict"]
    assert v["n"] == 5
    # sft answers nothing, rl answers vqa, classification and grounding perfectly: Δ = 1 on every sample there
    (pair,) = v["pairs"]
    assert (pair["a"], pair["b"], sorted(pair["up"]), pair["down"]) == \
        ("sft", "rl", ["cls/classification", "grd/grounding", "vqa/vqa"], [])
    assert v["beats_trivial"]["sft"] == []
    md = (report / "report" / "report.md").read_text()
    assert "rl − sft: significantly up on 3" in md
