"""Trivial baselines: hand-derived fits (majority per question type, best constant box against a dense grid, most
common caption), seeded random choice, and the runner writing them as eval dirs scored like a checkpoint."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from eval.baselines import KINDS, POLICIES, best_constant_box, box_ious, policies_of, question_type, sample_rng
from georft.cli import main as cli


def _policy(task: str, name: str):
    return next(p for p in policies_of(task) if p.kind == name)


def test_best_constant_box_beats_a_dense_grid():
    boxes = np.array([[0.1, 0.1, 0.4, 0.5], [0.2, 0.3, 0.6, 0.6], [0.5, 0.5, 0.9, 0.8], [0.15, 0.2, 0.45, 0.55],
                      [0.3, 0.1, 0.7, 0.4]])
    box, miou = best_constant_box(boxes)
    assert miou == pytest.approx(box_ious(box, boxes).mean(), abs=1e-12)
    grid = np.round(np.arange(0, 1.0001, 0.05), 4)
    xs = np.array(list(itertools.combinations(grid, 2)))  # every x1 < x2 (and y1 < y2) on the grid
    cand = np.array([[x[0], y[0], x[1], y[1]] for x in xs for y in xs])
    iw = np.clip(np.minimum(cand[:, None, 2], boxes[None, :, 2]) - np.maximum(cand[:, None, 0], boxes[None, :, 0]), 0,
                 None)
    ih = np.clip(np.minimum(cand[:, None, 3], boxes[None, :, 3]) - np.maximum(cand[:, None, 1], boxes[None, :, 1]), 0,
                 None)
    area_c = ((cand[:, 2] - cand[:, 0]) * (cand[:, 3] - cand[:, 1]))[:, None]
    area_b = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None, :]
    grid_best = (iw * ih / (area_c + area_b - iw * ih)).mean(1).max()
    assert miou >= grid_best - 1e-9
    # all training boxes equal: that box, mean IoU 1
    same, m1 = best_constant_box(np.tile([[0.2, 0.3, 0.5, 0.7]], (4, 1)))
    assert m1 == pytest.approx(1.0) and same == pytest.approx([0.2, 0.3, 0.5, 0.7], abs=1e-6)


def test_box_ious_hand_values():
    got = box_ious(np.array([0, 0, 2, 2.0]), np.array([[1, 1, 3, 3.0], [0, 0, 2, 2], [5, 5, 6, 6], [0, 0, 0, 0]]))
    assert got == pytest.approx([1 / 7, 1.0, 0.0, 0.0])


def _t(**target):
    return {"target": target, "width": 100, "height": 200}


def test_vqa_majority_per_question_type_and_fallback():
    train = [_t(question="Is there a ship?", answer="yes", qtype="presence"),
             _t(question="Is there a road?", answer="Yes.", qtype="presence"),
             _t(question="Is there a car?", answer="no", qtype="presence"),
             _t(question="How many ships?", answer="2", qtype="count"),
             _t(question="How many cars?", answer="two", qtype="count"),
             _t(question="How many planes?", answer="3", qtype="count")]
    pol = _policy("vqa", "constant")
    state = pol.fit(train)
    rng = random.Random(0)
    assert pol.answer(state, _t(question="x", answer="no", qtype="presence"), rng) in ("yes", "Yes.")
    assert pol.answer(state, _t(question="x", answer="1", qtype="count"), rng) == "2"  # "2" and "two" are one answer
    # an unseen type: the overall majority (yes: 2, 2: 2 -> the first key in sorted order, "2")
    assert pol.answer(state, _t(question="x", answer="1", qtype="colour"), rng) == "2"
    # no qtype: the question's first two words
    assert question_type({"question": "What color is the vehicle?\nAnswer briefly."}) == "what color"


def test_random_choice_uses_choices_and_is_seeded():
    pol = _policy("vqa", "random")
    state = pol.fit([_t(question="a", answer="B", choices=["x", "y", "z"], qtype="mc")])
    row = _t(question="a", answer="B", choices=["x", "y", "z"], qtype="mc")
    answers = [pol.answer(state, row, sample_rng(0, "ds", str(k))) for k in range(300)]
    assert set(answers) == {"A", "B", "C"}
    assert answers == [pol.answer(state, row, sample_rng(0, "ds", str(k))) for k in range(300)]
    cls = _policy("classification", "random")
    st = cls.fit([_t(label="forest", classes=["forest", "river"])])
    picks = {cls.answer(st, _t(label="river", classes=["forest", "river"]), sample_rng(1, "c", str(k)))
             for k in range(50)}
    assert picks == {"forest", "river"}


def test_every_evaluable_task_declares_a_constant_policy():
    from data_engine.tasks import TASKS, evaluable_tasks

    assert {p.kind for p in POLICIES.values()} <= set(KINDS)
    for name in evaluable_tasks():
        kinds = [p.kind for p in policies_of(name)]
        assert "constant" in kinds and len(kinds) == len(set(kinds)), name  # at most one policy per report row
    assert all(n in POLICIES for t in TASKS.values() for n in t.baselines)


# ---------------------------------------------------------------- through georft eval


def write_built(root: Path, rows: list[dict]) -> Path:
    """A built dataset (the schema's columns, target as JSON text) written by hand."""
    from datasets import Dataset

    cols = {k: [] for k in ("id", "source", "task", "split", "images", "width", "height", "target")}
    for r in rows:
        for k in cols:
            cols[k].append(json.dumps(r[k]) if k == "target" else r[k])
    Dataset.from_dict(cols).save_to_disk(str(root))
    return root


def _s(sid, task, split, target, w=100, h=100):
    return {"id": sid, "source": "hand", "task": task, "split": split, "images": [], "width": w, "height": h,
            "target": target}


def handmade_world() -> list[dict]:
    classes = ["forest", "river", "port"]
    rows = [
        # vqa: presence majority "yes" (2 of 3), count majority "2"
        _s("tq1", "vqa", "train", {"question": "Is there a ship?", "answer": "yes", "qtype": "presence"}),
        _s("tq2", "vqa", "train", {"question": "Is there a car?", "answer": "yes", "qtype": "presence"}),
        _s("tq3", "vqa", "train", {"question": "Is there a road?", "answer": "no", "qtype": "presence"}),
        _s("tq4", "vqa", "train", {"question": "How many ships?", "answer": "2", "qtype": "count"}),
        _s("q1", "vqa", "val", {"question": "Is there a ship?", "answer": "yes", "qtype": "presence"}),
        _s("q2", "vqa", "val", {"question": "Is there a car?", "answer": "no", "qtype": "presence"}),
        _s("q3", "vqa", "val", {"question": "How many cars?", "answer": "2", "qtype": "count"}),
        _s("q4", "vqa", "val", {"question": "How many ships?", "answer": "1", "qtype": "count"}),
        # classification: majority "river"
        *[_s(f"tc{k}", "classification", "train", {"label": lab, "classes": classes})
          for k, lab in enumerate(["river", "river", "forest"])],
        *[_s(f"c{k}", "classification", "val", {"label": lab, "classes": classes})
          for k, lab in enumerate(["river", "forest", "port", "river", "river"])],
        # grounding: every training box is the same relative box -> the constant box is that box
        _s("tg1", "grounding", "train", {"expression": "tank", "box": [10, 20, 50, 60]}),
        _s("tg2", "grounding", "train", {"expression": "tank", "box": [20, 40, 100, 120]}, w=200, h=200),
        _s("g1", "grounding", "val", {"expression": "tank", "box": [10, 20, 50, 60]}),
        _s("g2", "grounding", "val", {"expression": "tank", "box": [30, 20, 70, 60]}),
        # detection: "There are none." is right on the one empty image of two
        _s("td", "detection", "train", {"objects": [], "classes": ["ship"]}),
        _s("d1", "detection", "val", {"objects": [], "classes": ["ship"]}),
        _s("d2", "detection", "val", {"objects": [{"label": "ship", "poly": [0, 0, 10, 0, 10, 10, 0, 10]}],
                                      "classes": ["ship"]}),
        # caption: "a port." twice in training
        _s("tp1", "caption", "train", {"references": ["a port.", "ships in a port."]}),
        _s("tp2", "caption", "train", {"references": ["A port.", "boats."]}),
        _s("p1", "caption", "val", {"references": ["a port.", "a harbour."]}),
    ]
    return rows


def run_eval(tmp: Path, built: Path, completions: dict[str, str], out: str, **suite_keys) -> dict:
    """Score `completions` (id -> text; missing ids answer "") on the val rows of `built` through the CLI."""
    from datasets import load_from_disk

    names = {"vqa": "vqa", "classification": "cls", "grounding": "grd", "detection": "det", "caption": "cap"}
    suite = {"name": "hand", "data_root": str(built), "box_type": "hbb", "java_metrics": False, **suite_keys,
             "datasets": [{"name": n, "path": ".", "split": "val", "tasks": [t]} for t, n in names.items()]}
    spath = tmp / "suite.yaml"
    spath.write_text("# georft eval --suite suite.yaml\n" + json.dumps(suite), encoding="utf-8")
    pred = tmp / f"{out}.jsonl"
    with pred.open("w", encoding="utf-8") as fh:
        for r in load_from_disk(str(built)):
            if r["split"] == "val":
                fh.write(json.dumps({"id": r["id"], "dataset": names[r["task"]], "task": r["task"],
                                     "target": json.loads(r["target"]), "width": r["width"], "height": r["height"],
                                     "images": [], "completion": completions.get(r["id"], "")}) + "\n")
    assert cli(["eval", "--predictions", str(pred), "--suite", str(spath), "--out", str(tmp / out)]) == 0
    return json.loads((tmp / out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def hand_built(tmp_path_factory):
    root = tmp_path_factory.mktemp("hand")
    return root, write_built(root / "built", handmade_world())


def test_runner_writes_baselines_scored_like_a_checkpoint(hand_built):
    tmp, built = hand_built
    doc = run_eval(tmp, built, {}, "empty")
    assert doc["baselines"] == {"constant": "baselines/constant", "random": "baselines/random"}
    const = json.loads((tmp / "empty" / "baselines" / "constant" / "metrics.json").read_text())
    m = const["metrics"]
    assert m["vqa"]["accuracy"] == pytest.approx(2 / 4)  # yes, yes, 2, 2 against yes, no, 2, 1
    assert m["vqa"]["acc/presence"] == pytest.approx(1 / 2) and m["vqa"]["acc/count"] == pytest.approx(1 / 2)
    assert m["cls"]["accuracy"] == pytest.approx(3 / 5)  # river on every scene
    assert m["grd"]["mean_iou"] == pytest.approx((1.0 + 1 / 3) / 2, abs=1e-6)  # 40x40 box, then shifted by 20
    assert m["grd"]["acc@0.5"] == pytest.approx(0.5)
    assert m["det"]["mAP"] == 0.0
    assert const["baseline"]["answers"]["cap"] == "most common training reference caption 'a port.'"
    assert const["baseline"]["n_train"] == {"vqa": 4, "cls": 3, "grd": 2, "det": 1, "cap": 2}
    rows = [json.loads(x) for x in (tmp / "empty" / "baselines" / "constant" / "predictions.jsonl").open()]
    by_id = {r["id"]: r for r in rows}
    assert by_id["d1"]["completion"] == "There are none." and by_id["d1"]["scores"]["f1"] == 1.0
    assert by_id["d2"]["scores"]["f1"] == 0.0
    assert by_id["g2"]["completion"] == "10,20,50,60 tank"
    assert by_id["p1"]["completion"] == "a port."
    # per-sample rewards are there too (the same reward path as a checkpoint's)
    assert by_id["d1"]["rewards"]["rotated_iou_f1/overall"] == 1.0
    rand = json.loads((tmp / "empty" / "baselines" / "random" / "metrics.json").read_text())
    assert set(rand["metrics"]) == {"vqa", "cls"}  # random choice only where there are choices


def test_baselines_answer_in_the_suites_think_answer_frame(hand_built):
    """A suite that reads VQA answers from `<answer>` blocks scores the baselines in that frame too (before the
    fix their bare answers failed to parse there, and the majority policy scored 0 instead of 2 / 4)."""
    tmp, built = hand_built
    run_eval(tmp, built, {}, "think", reasoning="think_answer", reasoning_tasks=["vqa"])
    const = json.loads((tmp / "think" / "baselines" / "constant" / "metrics.json").read_text())
    assert const["metrics"]["vqa"]["accuracy"] == pytest.approx(2 / 4)
    assert const["metrics"]["cls"]["accuracy"] == pytest.approx(3 / 5)  # not in the frame: answered plainly
    rows = [json.loads(x) for x in (tmp / "think" / "baselines" / "constant" / "predictions.jsonl").open()]
    vqa = [r for r in rows if r["task"] == "vqa"]
    assert all(r["completion"].startswith("<think></think>\n<answer>") and r["reasoning"] == "think_answer"
               for r in vqa)


def test_baselines_skip_with_a_reason(tmp_path):
    rows = [r for r in handmade_world() if not (r["task"] == "caption" and r["split"] == "train")]
    built = write_built(tmp_path / "built", rows)
    run_eval(tmp_path, built, {}, "out")
    const = json.loads((tmp_path / "out" / "baselines" / "constant" / "metrics.json").read_text())
    assert "cap" not in const["metrics"]
    assert "no rows" in const["baseline"]["skipped"]["cap"]
