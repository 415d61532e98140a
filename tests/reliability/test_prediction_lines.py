"""`georft eval --predictions`: every bad line is counted and reported with its number, the good lines are scored
exactly as without them, and no line makes it crash (issue 19, item 10)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from georft.cli import main as cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
from test_runner import _suite, fixed_predictions  # noqa: E402 - the hand-checked rows of the eval tests

BAD_LINES = [
    (b'{"id": "t1", "dataset": "vqa", "task": "vqa", "target": {"question": "q", "ans', "not valid JSON"),
    (json.dumps({"id": "x1", "task": "vqa", "target": {"question": "q", "answer": "a"}, "completion": "a"}).encode(),
     "no 'dataset' field"),
    (json.dumps({"id": "x2", "dataset": "vqa", "task": "vqa", "target": ["a"], "completion": "a"}).encode(),
     "target must be an object"),
    (json.dumps({"id": "x3", "dataset": "vqa", "task": "segmentation", "target": {}, "completion": "a"}).encode(),
     "task 'segmentation' is not one of"),
    (json.dumps({"id": {"k": 1}, "dataset": "vqa", "task": "vqa", "target": {"question": "q", "answer": "a"},
                 "completion": "a"}).encode(), "id must be a string or an integer"),
    (json.dumps({"id": "x5", "dataset": "vqa", "task": "vqa", "target": {"question": "q", "answer": "a"},
                 "completion": "a", "prediction": "yes"}).encode(), "prediction must be an object"),
    (json.dumps({"id": "x6", "dataset": "det", "task": "detection", "target": {
        "classes": ["plane"], "objects": [{"label": "plane", "poly": "abc"}]}, "completion": "x"}).encode(),
     "target object 0 needs a text label and a poly of 8 finite numbers"),
    (json.dumps({"id": "x7", "dataset": "vqa", "task": "vqa", "target": {"question": "q", "answer": "a"},
                 "completion": "caf\u00e9"}, ensure_ascii=False).encode().replace(b"\xc3\xa9", b"\xe9"), "non-UTF-8 byte 0xe9"),
    (json.dumps({"id": "q1", "dataset": "vqa", "task": "vqa", "target": {"question": "q", "answer": "no"},
                 "completion": "no"}).encode(), "repeats (dataset, id) of line"),
    (b"[1, 2]", "a JSON list, not an object"),
]


def test_bad_lines_are_counted_with_their_numbers_and_the_rest_scores_as_without_them(tmp_path, capsys):
    good = fixed_predictions()
    suite = _suite(tmp_path, [{"name": n, "path": n} for n in sorted({r["dataset"] for r in good})])
    clean, mixed = tmp_path / "clean.jsonl", tmp_path / "mixed.jsonl"
    clean.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in good))
    lines = [json.dumps(r).encode() for r in good]
    expected = {}
    for k, (raw, _) in enumerate(BAD_LINES):
        lines.insert(2 * k + 1, raw)  # interleaved: bad lines between good ones
    for k, raw in enumerate(lines, start=1):
        match = next((reason for bad, reason in BAD_LINES if bad == raw), None)
        if match:
            expected[k] = match
    mixed.write_bytes(b"\n".join(lines) + b"\n")
    assert cli(["eval", "--predictions", str(clean), "--suite", str(suite), "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert cli(["eval", "--predictions", str(mixed), "--suite", str(suite), "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["metrics"] == b["metrics"]  # n is unchanged: no bad line reached the scores
    assert b["bad_prediction_lines"]["count"] == len(BAD_LINES)
    got = {e["line"]: e["reason"] for e in b["bad_prediction_lines"]["lines"]}
    assert sorted(got) == sorted(expected)
    for line, reason in expected.items():
        assert got[line].startswith(reason) or reason in got[line], (line, got[line])
        assert f"{mixed}, line {line}: skipped: " in err
    assert "Traceback" not in err


def test_a_file_of_only_bad_lines_is_one_line(tmp_path, capsys):
    suite = _suite(tmp_path, [{"name": "vqa", "path": "vqa"}])
    pred = tmp_path / "p.jsonl"
    pred.write_bytes(b'{"id": 1\n\xff\n')
    capsys.readouterr()
    assert cli(["eval", "--predictions", str(pred), "--suite", str(suite), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "no usable prediction rows (2 bad line(s); the first: line 1" in err
