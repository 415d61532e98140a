"""Offline build: recipe checks, skip reporting, --strict, summary stored and shown, CLI."""

from __future__ import annotations

import json

import pytest

from data_engine.build import build, format_summary, load_built, load_recipe, load_summary
from data_engine.errors import UserError
from tests.data_engine.conftest import write_image


def _dota(root, lines: str):
    write_image(root / "train" / "images" / "a.png", 50, 50)
    write_image(root / "train" / "images" / "b.png", 50, 50)
    (root / "train" / "labelTxt").mkdir(parents=True)
    (root / "train" / "labelTxt" / "a.txt").write_text(lines)
    (root / "train" / "labelTxt" / "b.txt").write_text("1 1 9 1 9 9 1 9 ship 0\n")


def test_build_counts_and_reports_bad_records(tmp_path):
    _dota(tmp_path / "DOTA", "1 1 9 1 9 9 1 9 plane 0\n1 2 3\n")
    (tmp_path / "r.yaml").write_text("sources:\n  - {name: d, format: dota, root: DOTA, weight: '*2'}\n")
    s = build(tmp_path / "r.yaml", tmp_path / "out", progress=False)
    assert s["num_samples"] == 2 and s["num_skipped"] == 1
    assert s["skipped"][0]["reason"] == "malformed line" and s["skipped"][0]["line"] == 2
    assert s["skipped"][0]["file"].endswith("a.txt")
    assert s["sources"][0]["by_task_split"] == [{"task": "detection", "split": "train", "samples": 2}]
    # classes were not fixed: the labels found in the source
    rows = list(load_built(tmp_path / "out"))
    assert {json.dumps(json.loads(r["target"])["classes"]) for r in rows} == {'["plane", "ship"]'}
    assert load_summary(tmp_path / "out") == s
    text = format_summary(s)
    assert "malformed line" in text and "a.txt:2" in text
    # rebuilding into a previous build folder is allowed
    build(tmp_path / "r.yaml", tmp_path / "out", progress=False)


def test_strict_fails_with_file_and_line(tmp_path):
    _dota(tmp_path / "DOTA", "1 1 9 1 9 9 1 9 plane 0\n1 2 3\n")
    (tmp_path / "r.yaml").write_text("sources:\n  - {name: d, format: dota, root: DOTA}\n")
    with pytest.raises(UserError, match=r"a\.txt:2: malformed line"):
        build(tmp_path / "r.yaml", tmp_path / "out", strict=True, progress=False)


@pytest.mark.parametrize(
    "body, match",
    [
        ("sources: []", "non-empty 'sources:'"),
        ("sources:\n  - {name: d, format: dotaa, root: .}", 'Did you mean "dota"'),
        ("sources:\n  - {name: d, format: dota, root: ., splt: train}", 'Did you mean "split"'),
        ("sources:\n  - {name: d, format: dota, root: missing}", "does not exist"),
        ("sources:\n  - {name: d, format: dota, root: ., task: detect}", "is not one of"),
        ("sources:\n  - {name: d, format: dota, root: .}\n  - {name: d, format: dota, root: .}", "duplicate"),
    ],
)
def test_recipe_errors_name_the_problem(tmp_path, body, match):
    (tmp_path / "r.yaml").write_text(body)
    with pytest.raises(UserError, match=match):
        load_recipe(tmp_path / "r.yaml")


def test_cli_build_and_show(tmp_path, capsys):
    from georft.cli import main

    _dota(tmp_path / "DOTA", "1 1 9 1 9 9 1 9 plane 0\n")
    (tmp_path / "r.yaml").write_text("sources:\n  - {name: d, format: dota, root: DOTA}\n")
    assert main(["data", "build", "--recipe", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "o")]) == 0
    assert main(["data", "show", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "d                        detection       train              2" in out
    assert main(["data", "show", str(tmp_path)]) == 2  # not a build: one-line user error
