"""The eval and compare pages show the held-out set and the collapse flags of metrics.json (docs/collapse-flags.md),
and warn when A and B come from different held-out sets."""

from __future__ import annotations

import json

from starlette.testclient import TestClient


def _eval(d, model, heldout, flags):
    d.mkdir(parents=True)
    rows = [{"id": "c0", "dataset": "scenes", "task": "classification", "images": [], "width": 8, "height": 8,
             "completion": "harbor", "target": {"label": "harbor"}, "scores": {"correct": 1.0}}]
    (d / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "metrics.json").write_text(json.dumps({"model": model, "suite": "s", "heldout": heldout,
                                                "metrics": {"scenes": {"accuracy": 0.4, **flags}}}))


def test_flags_and_heldout_on_eval_and_compare_pages(tmp_path):
    from dashboard.app import create_app

    run = tmp_path / "run"
    _eval(run / "eval" / "dev" / "rl", "rl", {"name": "dev", "root": "/w/built"},
          {"distinct_answer_share": 0.005, "top_answer_share": 1.0, "same_as_constant_share": 0.995})
    _eval(run / "eval" / "test" / "rl", "rl", {"name": "test", "root": "/w/test/built"},
          {"distinct_answer_share": 0.25, "top_answer_share": 0.3, "same_as_constant_share": 0.2})
    with TestClient(create_app([run]), base_url="http://127.0.0.1:8765") as c:
        page = c.get("/eval/0.0").text  # sorted by path: 0.0 = eval/dev/rl
        assert "held-out set: <b>dev</b> (/w/built)" in page
        assert "<td>scenes</td><td>distinct_answer_share</td><td>0.005</td>" in page
        assert "<td>scenes</td><td>same_as_constant_share</td><td>0.995</td>" in page
        assert "<td>accuracy</td>" in page  # the quality metrics stay in the metric table
        cmp = c.get("/compare?a=0.0&b=0.1").text
        assert "held-out set A: dev, B: test" in cmp
        assert "evaluated on different held-out sets" in cmp
        assert "<td>scenes</td><td>top_answer_share</td><td>1.000</td><td>0.300</td>" in cmp
        same = c.get("/compare?a=0.0&b=0.0").text
        assert "different held-out sets" not in same


def test_eval_page_shows_well_formed_beside_empty_reasoning(tmp_path):
    from dashboard.app import create_app

    run = tmp_path / "run"
    _eval(run / "eval" / "rl", "rl", None, {"distinct_answer_share": 0.5, "empty_think_share": 0.999,
                                            "think_format_rate": 1.0})
    with TestClient(create_app([run]), base_url="http://127.0.0.1:8765") as c:
        page = c.get("/eval/0.0").text
    assert "<td>scenes</td><td>empty_think_share</td><td>0.999</td>" in page
    assert "<td>scenes</td><td>well-formed share (think_format_rate)</td><td>1.000</td>" in page
