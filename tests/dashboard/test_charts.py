"""The shared chart code (eval.report.figures): EMA against pandas, part kinds, the Plotly figure's structure, and
the dashboard's chart list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eval.report.figures import SERIES_COLOURS, ema, line_chart, part_kind


@pytest.mark.parametrize("w", [0.0, 0.3, 0.6, 0.9, 0.99])
def test_ema_is_pandas_adjusted_ewm(w):
    x = np.random.default_rng(0).normal(size=50).cumsum()
    ref = pd.Series(x).ewm(alpha=1 - w, adjust=True).mean().to_numpy() if w > 0 else x
    assert ema(x, w) == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_ema_by_hand_and_gaps():
    # w = 0.5: s0 = 1; s1 = (0.5*0.5*1 + 0.5*3) / (1 - 0.25) = 1.75 / 0.75
    assert ema([1.0, 3.0], 0.5) == pytest.approx([1.0, 1.75 / 0.75])
    out = ema([np.nan, 2.0, np.nan, 4.0], 0.5)
    # a NaN is skipped (the average carries over it): s3 = (0.5 * 0.5 * 2 + 0.5 * 4) / (1 - 0.25)
    assert np.isnan(out[0]) and out[1] == 2.0 and out[2] == 2.0 and out[3] == pytest.approx(2.5 / 0.75)
    ref = pd.Series([np.nan, 2.0, np.nan, 4.0]).ewm(alpha=0.5, adjust=True, ignore_na=True).mean().to_numpy()
    assert out[1:] == pytest.approx(ref[1:])
    with pytest.raises(ValueError):
        ema([1.0], 1.0)


def test_part_kinds():
    assert [part_kind(p) for p in ("detection/n_gt", "n_pred", "zoom_vqa/n_steps", "x/box_count")] == ["count"] * 4
    assert [part_kind(p) for p in ("grounding/iou", "grounding/grounding_iou/distance", "format",
                                   "zoom_vqa/budget_penalty")] == ["score"] * 4
    assert part_kind("caption/length") == "length" and part_kind("answer_tokens") == "length"
    # a "score" whose values leave [-1, 1] (CIDEr-D) gets its own axis; a count stays a count whatever its values
    assert part_kind("caption/cider_d/cider", [0.2, None, 4.1]) == "value"
    assert part_kind("grounding/iou", [0.3, None, 1.0]) == "score" and part_kind("n_gt", [0.5]) == "count"


def test_line_chart_raw_and_smoothed_traces():
    fig = line_chart("t", [{"title": "score", "range": (0, 1), "series": [("a", [0, 1, 2], [0.0, 1.0, None]),
                                                                         ("b", [0, 1], [0.5, 0.5])]},
                           {"title": "count", "range": None, "series": [("a", [0, 1], [3, 5])]}], smoothing=0.5)
    data, layout = fig["data"], fig["layout"]
    assert len(data) == 6
    raw, smooth = data[0], data[1]
    assert raw["y"] == [0.0, 1.0, None] and raw["showlegend"] is False and raw["opacity"] < 0.5
    assert smooth["meta"] == {"raw": 0} and smooth["y"] == pytest.approx([0.0, 0.5 / 0.75, 0.5 / 0.75])
    assert smooth["customdata"] == raw["y"]  # hover shows the raw value beside the smoothed one
    # One legend entry per name, shared by its traces in every panel; a name keeps its colour across panels.
    assert [d["showlegend"] for d in data if "meta" in d] == [True, True, False]
    assert data[5]["legendgroup"] == "a" and data[5]["line"]["color"] == data[1]["line"]["color"] == SERIES_COLOURS[0]
    assert data[5]["yaxis"] == "y2" and layout["yaxis"]["range"] == [0, 1] and "range" not in layout["yaxis2"]
    top, bottom = layout["yaxis"]["domain"], layout["yaxis2"]["domain"]
    assert top[1] == 1.0 and bottom[0] == 0.0 and bottom[1] < top[0]


def test_parts_charts_split_by_kind():
    from dashboard.charts import build

    pts = [(0, 0.5, 0.0), (1, 0.7, 0.0)]
    series = {"steps": [0, 1], "tasks": {"detection": {
        "reward": pts, "reward/detection/f1": pts, "reward/detection/format": pts, "reward/detection/n_gt": [
            (0, 4.0, 0.0), (1, 4.0, 0.0)], "reward/detection/n_pred": [(0, 2.0, 0.0), (1, 6.0, 0.0)]}}}
    charts = {c["id"]: c["figure"] for c in build(series)}
    assert list(charts) == ["reward", "parts-detection"]  # no panel without data
    parts = charts["parts-detection"]
    assert parts["layout"]["yaxis"]["title"]["text"] == "score (0–1)"
    assert parts["layout"]["yaxis2"]["title"]["text"] == "count"
    by_axis = {}
    for t in parts["data"]:
        if "meta" in t:
            by_axis.setdefault(t["yaxis"], []).append(t["name"])
    assert by_axis == {"y": ["f1", "format"], "y2": ["n_gt", "n_pred"]}


def test_parts_of_one_reward_name_it_in_the_title():
    from dashboard.charts import build

    pts = [(0, 0.5, 0.0)]
    series = {"steps": [0], "tasks": {"grounding": {
        "reward/grounding/grounding_iou/iou": pts, "reward/grounding/grounding_iou/distance": pts,
        "reward/grounding/grounding_iou/n_boxes": [(0, 1.0, 0.0)]}}}
    chart = {c["id"]: c for c in build(series)}["parts-grounding"]
    assert chart["title"] == "Reward parts · grounding (grounding_iou)"
    assert [t["name"] for t in chart["figure"]["data"] if "meta" in t] == ["distance", "iou", "n_boxes"]
    legend = chart["figure"]["layout"]["legend"]
    assert legend["orientation"] == "v" and legend["x"] > 1  # beside the panels, not over them


def test_validation_chart_from_the_run_file(tmp_path):
    import json

    from dashboard.charts import build
    from dashboard.rollouts import validation_series
    from rollout.store import RolloutReader

    d = tmp_path / "validation"
    d.mkdir()
    lines = [{"step": 0, "metric": "rsvg/mean_iou", "metrics": {"rsvg/n": 4, "rsvg/acc@0.5": 0.0,
                                                                "rsvg/mean_iou": 0.1, "scenes/accuracy": 0.5}},
             {"step": 5, "metric": "rsvg/mean_iou", "metrics": {"rsvg/n": 4, "rsvg/acc@0.5": 0.25,
                                                                "rsvg/mean_iou": None, "scenes/accuracy": 0.75}}]
    (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"torn')
    val = validation_series(RolloutReader(tmp_path))
    assert val["metric"] == "rsvg/mean_iou"
    assert val["points"]["rsvg/mean_iou"] == [(0, 0.1)]  # a null (NaN at write time) is left out
    assert val["points"]["scenes/accuracy"] == [(0, 0.5), (5, 0.75)]
    charts = build({"steps": [], "tasks": {}, "validation": val})
    assert [c["id"] for c in charts] == ["validation"]
    names = [t["name"] for t in charts[0]["figure"]["data"] if t.get("showlegend", True) is not False]
    # the declared metric, then each dataset's first reported metric that is not a count or a rate of failures
    assert {"rsvg/mean_iou", "rsvg/acc@0.5", "scenes/accuracy"} <= set(names)
    assert build({"steps": [], "tasks": {}, "validation": validation_series(RolloutReader(tmp_path / "x"))}) == []
