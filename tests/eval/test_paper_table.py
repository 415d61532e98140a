"""`georft compare --layout geovlm_r1` (issue 29 §4): the seed paper's rows, one column per run (directories of a
run share its name), the paper's numbers from configs/paper_tables/, † where our protocol differs."""

from __future__ import annotations

import json

import pytest

from data_engine.errors import UserError
from eval.report.paper_table import load_layout
from georft.cli import main


def _eval_dir(path, metrics):
    path.mkdir(parents=True)
    (path / "metrics.json").write_text(json.dumps({"metrics": metrics}))
    return str(path)


def test_layout_holds_the_issue_numbers():
    title, refs, rows = load_layout("geovlm_r1")
    paper = {r.benchmark: r.paper for r in rows}
    assert paper["UCM"] == {"GeoVLM-R1": 97.81, "Qwen2.5-VL-3B zero-shot": 60.86}
    assert paper["WHU-RS19"] == {"GeoVLM-R1": 97.91} and paper["NWPU-Captions ROUGE-1"] == {"GeoVLM-R1": 46.94}
    assert paper["LEVIR-MCI change captions ROUGE-1"] == {"GeoVLM-R1": 37.85} and len(rows) == 10


def test_compare_layout_one_column_per_run(tmp_path, capsys):
    a1 = _eval_dir(tmp_path / "sft" / "whu", {"whu_rs19": {"accuracy": 0.9}})
    a2 = _eval_dir(tmp_path / "sft" / "nwpu", {"nwpu_captions_test": {"rouge_1_f": 0.4123}})
    b1 = _eval_dir(tmp_path / "rl" / "whu", {"whu_rs19": {"accuracy": 0.95}})
    main(["compare", a1, a2, b1, "--names", "sft,sft,rl", "--layout", "geovlm_r1", "--out", str(tmp_path / "t")])
    md = (tmp_path / "t" / "geovlm_r1.md").read_text()
    lines = {ln.split(" | ")[0].lstrip("| "): ln for ln in md.splitlines() if ln.startswith("| ")}
    assert "| benchmark | metric | sft | rl | GeoVLM-R1 | Qwen2.5-VL-3B zero-shot |" in md
    assert lines["WHU-RS19"].endswith("| 90.00 †2 | 95.00 †2 | 97.91 | — |")  # UCM and AID share note 1
    assert lines["NWPU-Captions ROUGE-1"].endswith("| 41.23 | — | 46.94 | — |")
    assert md.rstrip().endswith("†5: the issue does not name the metric of 30.62; ROUGE-1 is assumed (as NWPU-Captions)")
    doc = json.loads((tmp_path / "t" / "geovlm_r1.json").read_text())
    assert doc["columns"] == ["sft", "rl", "GeoVLM-R1", "Qwen2.5-VL-3B zero-shot"]


def test_unknown_layout_fails_in_one_line():
    with pytest.raises(UserError, match="unknown layout 'geovlm_r2'.*geovlm_r1"):
        load_layout("geovlm_r2")


def test_paper_column_outside_references_fails_at_load(tmp_path, monkeypatch):
    import eval.report.paper_table as pt

    (tmp_path / "bad.yaml").write_text("# x\ntitle: t\nreferences: [P]\nrows:\n  - {benchmark: b, suite: s, dataset: d, "
                                       "metric: m, paper: {Q: 1.0}}\n")
    monkeypatch.setattr(pt, "LAYOUTS_DIR", tmp_path)
    with pytest.raises(UserError, match="paper column 'Q' is not in references"):
        load_layout("bad")
    (tmp_path / "typo.yaml").write_text("# x\nrows:\n  - {benchmark: b, suite: s, dataset: d, metric: m, papr: {}}\n")
    with pytest.raises(UserError, match="papr"):
        load_layout("typo")
