"""Held-out sets (docs/heldout-sets.md): `dev` = the training world's held-out split, `test` = a sealed world of
another seed; the suite picks one (`heldout=`), baselines are fitted on the training world, metrics.json and the
compare report say which set every number comes from, and sets are never mixed."""

from __future__ import annotations

import json

import pytest
from test_baselines import _s, handmade_world, run_eval, write_built  # tests/eval is on sys.path (pytest prepend)

from data_engine.errors import UserError
from eval.runner import check_heldout, load_entry_rows
from georft.cli import main as cli
from georft.commands.eval import load_suite

CLASSES = ["forest", "river", "port"]


def _test_world() -> list[dict]:
    """Another world: different ids and answers, same tasks (only val rows: the test world has no training split)."""
    return [
        _s("x1", "vqa", "val", {"question": "Is there a ship?", "answer": "no", "qtype": "presence"}),
        _s("x2", "vqa", "val", {"question": "How many cars?", "answer": "3", "qtype": "count"}),
        *[_s(f"xc{k}", "classification", "val", {"label": lab, "classes": CLASSES})
          for k, lab in enumerate(["port", "port", "forest"])],
        _s("xg1", "grounding", "val", {"expression": "tank", "box": [0, 0, 40, 40]}),
        _s("xd1", "detection", "val", {"objects": [], "classes": ["ship"]}),
        _s("xp1", "caption", "val", {"references": ["a river.", "water."]}),
    ]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    root = tmp_path_factory.mktemp("worlds")
    return root, write_built(root / "train_world", handmade_world()), write_built(root / "test_world", _test_world())


def _suite_file(tmp, built, **keys):
    path = tmp / "s.yaml"
    path.write_text(json.dumps({"name": "s", "data_root": str(built), **keys,
                                "datasets": [{"name": "cls", "path": ".", "split": "val", "tasks": ["classification"]}]}))
    return path


def test_suite_picks_the_heldout_set(worlds):
    tmp, train, test = worlds
    spath = _suite_file(tmp, train, test_root=str(test))
    dev = load_suite(str(spath), [])
    assert dev.heldout == "dev"
    assert [r["id"] for r in load_entry_rows(dev, dev.datasets[0], None)] == ["c0", "c1", "c2", "c3", "c4"]
    sealed = load_suite(str(spath), ["heldout=test"])
    assert [r["id"] for r in load_entry_rows(sealed, sealed.datasets[0], None)] == ["xc0", "xc1", "xc2"]
    # the baselines' training rows come from the training world whatever the held-out set
    fit = sealed.datasets[0].__class__(name="cls", path=".", split="train", tasks=["classification"])
    assert [r["id"] for r in load_entry_rows(sealed, fit, None, training=True)] == ["tc0", "tc1", "tc2"]
    assert sealed.heldout_info() == {"name": "test", "root": str(test), "training_root": str(train)}


def test_bad_heldout_settings_fail_at_load(worlds):
    tmp, train, _ = worlds
    spath = _suite_file(tmp, train)
    with pytest.raises(UserError, match="heldout=test needs test_root"):
        load_suite(str(spath), ["heldout=test"])
    with pytest.raises(UserError, match="heldout must be one of dev, test, got 'tset'"):
        load_suite(str(spath), ["heldout=tset"])


def test_an_output_folder_keeps_one_heldout_set(tmp_path):
    check_heldout(tmp_path, "test")
    assert (tmp_path / "heldout.txt").read_text().strip() == "test"
    check_heldout(tmp_path, "test")  # resuming the same set is fine
    with pytest.raises(UserError, match="holds predictions of the 'test' held-out set, not 'dev'"):
        check_heldout(tmp_path, "dev")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "predictions.jsonl").write_text("")  # written before sets were recorded: dev
    with pytest.raises(UserError, match="'dev' held-out set, not 'test'"):
        check_heldout(legacy, "test")


def test_metrics_and_report_name_the_set_and_sets_are_not_mixed(worlds):
    tmp, train, test = worlds
    doc = run_eval(tmp, train, {}, "dev_run", test_root=str(test))
    assert doc["heldout"] == {"name": "dev", "root": str(train), "training_root": str(train)}
    rl = run_eval(tmp, train, {"c0": "river", "c1": "forest", "c2": "port"}, "dev_rl", test_root=str(test))
    # river, forest, port and the empty answer twice: 4 distinct answers over 5 scenes
    assert rl["metrics"]["cls"]["distinct_answer_share"] == pytest.approx(4 / 5)
    const = json.loads((tmp / "dev_run" / "baselines" / "constant" / "metrics.json").read_text())
    assert const["heldout"]["name"] == "dev"
    # the constant baseline answers "river" on every scene, the empty run on none
    assert doc["metrics"]["cls"]["same_as_constant_share"] == 0.0
    assert rl["metrics"]["cls"]["same_as_constant_share"] == pytest.approx(1 / 5)
    assert cli(["compare", str(tmp / "dev_run"), str(tmp / "dev_rl"), "--out", str(tmp / "rep")]) == 0
    cmp = json.loads((tmp / "rep" / "compare.json").read_text())
    assert cmp["heldout"]["name"] == "dev" and cmp["flags"]["dev_rl"]["cls"]["same_as_constant_share"] == 0.2
    md = (tmp / "rep" / "report.md").read_text()
    assert "## Headline metrics — held-out set: dev" in md and "Held-out set: dev (the training world's" in md
    # a run of the test set (scored here from a predictions file of the dev rows, labelled test) is refused beside it
    metrics = tmp / "dev_rl" / "metrics.json"
    moved = tmp / "as_test"
    moved.mkdir()
    d = json.loads(metrics.read_text())
    d["heldout"] = {"name": "test", "root": str(test), "training_root": str(train)}
    (moved / "metrics.json").write_text(json.dumps(d))
    assert cli(["compare", str(tmp / "dev_run"), str(moved), "--out", str(tmp / "rep2")]) == 2
