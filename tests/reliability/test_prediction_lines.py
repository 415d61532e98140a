"""`georft eval --predictions`: every bad line is counted and reported with its number, the good lines are scored
exactly as without them, and no line makes it crash (issue 19, item 10)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

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


FRAME = {"kind": "absolute", "orig_w": 100, "orig_h": 100, "model_w": 112, "model_h": 112, "grid_w": 4, "grid_h": 4}


def _seg_rows() -> tuple[list[dict], list[tuple[dict, str]]]:
    import numpy as np

    from data_engine.masks import encode_mask

    target = np.zeros((100, 100), bool)
    target[:50, :50] = True
    good = [{"id": f"r{k}", "dataset": "seg", "task": "referring_segmentation", "images": [], "width": 100,
             "height": 100, "frame": FRAME, "target": {"expression": "the field", "mask": encode_mask(target)},
             "completion": c} for k, c in enumerate(["<seg>1*2,0*2;1*2,0*2;0*4;0*4</seg>", "<seg>1*4;0*4;0*4;0*4</seg>"])]
    row = good[0]
    bad = [
        (dict(row, id="nan", frame=dict(FRAME, orig_w=float("nan"))), "frame sizes must be positive finite"),
        (dict(row, id="inf", frame=dict(FRAME, model_h=float("inf"))), "frame sizes must be positive finite"),
        (dict(row, id="corrupt", target={"expression": "x", "mask": {"size": [100, 100], "counts": "PP"}}),
         "target mask: malformed mask RLE"),
        (dict(row, id="huge", target={"expression": "x", "mask": {"size": [100, 100], "counts": "1" * 20_000_000}}),
         "target mask: malformed mask RLE: counts of 20000000 characters"),
        (dict(row, id="big", target={"expression": "x", "mask": {"size": [100000, 100000], "counts": "0"}}),
         "target mask: malformed mask RLE: bad mask size 100000x100000"),
    ]
    return good, bad


def test_bad_frames_and_target_masks_are_reported_lines_and_the_rest_is_scored(tmp_path, capsys):
    """Issue 27, items 18-19: a NaN frame size, a corrupt / 20 MB / 100000 x 100000 target RLE used to stop the
    whole command (traceback or one error, no metrics.json)."""
    import time

    from test_segmentation_eval import _suite as seg_suite

    good, bad = _seg_rows()
    suite = seg_suite(tmp_path, [{"name": "seg", "path": "seg"}])
    clean, mixed = tmp_path / "clean.jsonl", tmp_path / "mixed.jsonl"
    clean.write_text("".join(json.dumps(r) + "\n" for r in good))
    mixed.write_text("".join(json.dumps(r) + "\n" for r in [good[0], *(b for b, _ in bad), good[1]]))
    assert cli(["eval", "--predictions", str(clean), "--suite", str(suite), "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    start = time.monotonic()
    assert cli(["eval", "--predictions", str(mixed), "--suite", str(suite), "--out", str(tmp_path / "b")]) == 0
    assert time.monotonic() - start < 30  # the 20 MB line is refused from its length, not decoded
    err = capsys.readouterr().err
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["metrics"] == b["metrics"] and b["metrics"]["seg"]["n"] == 2
    # by hand: IoU 1, and a full top cell row (2500 px) over the 50 x 50 target: 1250 / 3750
    assert b["metrics"]["seg"]["mIoU"] == pytest.approx((1 + 1 / 3) / 2)
    got = {e["line"]: e["reason"] for e in b["bad_prediction_lines"]["lines"]}
    assert sorted(got) == list(range(2, 2 + len(bad)))
    for k, (_, reason) in enumerate(bad, start=2):
        assert reason in got[k], (k, got[k])
        assert f"{mixed}, line {k}: skipped: " in err
    assert "Traceback" not in err


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
