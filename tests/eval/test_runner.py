"""georft eval: metrics of a fixed prediction file against hand-computed values (through the CLI), one-line errors,
resume, rank sharding and the zoom-chain executor (with a scripted backend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from georft.cli import main as cli

SQ = [0, 0, 10, 0, 10, 10, 0, 10]  # the 10x10 square at the origin as a polygon


def _suite(tmp: Path, datasets: list[dict], data_root: str = "", **extra) -> Path:
    doc = {"name": "handmade", "data_root": data_root, "min_pixels": 12544, "max_pixels": 50176, "box_type": "hbb",
           "datasets": datasets, **extra}
    path = tmp / "suite.yaml"
    path.write_text("# georft eval --suite suite.yaml\n" + json.dumps(doc), encoding="utf-8")
    return path


def _row(ds, sid, task, target, completion, **kw):
    return {"id": sid, "dataset": ds, "task": task, "images": [], "width": 100, "height": 100, "target": target,
            "completion": completion, **kw}


def fixed_predictions() -> list[dict]:
    det_t = {"classes": ["plane", "ship"]}
    zoom_call = '<tool_call>\n{"name": "image_zoom_in", "arguments": {"bbox": [0, 0, 50, 50]}}\n</tool_call>'
    return [
        _row("det", "a", "detection", {**det_t, "objects": [{"label": "plane", "poly": SQ},
                                                            {"label": "ship", "poly": [20, 20, 30, 20, 30, 30, 20, 30]}]},
             "0,0,10,10 plane\n20,20,30,30 plane"),
        _row("det", "b", "detection", {**det_t, "objects": [{"label": "plane", "poly": SQ}]}, "There are none."),
        _row("grd", "g1", "grounding", {"expression": "tank", "box": [0, 0, 10, 10]}, "0,0,10,5 tank"),
        _row("grd", "g2", "grounding", {"expression": "tank", "box": [0, 0, 10, 10]}, "0,0,10,10 tank"),
        _row("vqa", "q1", "vqa", {"question": "is there a ship?", "answer": "yes", "qtype": "presence"}, "Yes."),
        _row("vqa", "q2", "vqa", {"question": "how many ships?", "answer": "3", "qtype": "count"}, "three"),
        _row("vqa", "q3", "vqa", {"question": "is there a road?", "answer": "no", "qtype": "presence"}, "yes"),
        _row("cls", "c1", "classification", {"label": "forest", "classes": ["forest", "river"]}, "forest"),
        _row("cls", "c2", "classification", {"label": "forest", "classes": ["forest", "river"]}, "river"),
        _row("cls", "c3", "classification", {"label": "river", "classes": ["forest", "river"]}, "river"),
        _row("zoom", "z1", "zoom_vqa", {"question": "is it a port?", "answer": "yes", "evidence": [[0, 0, 40, 40]]},
             "yes", completion_direct="yes"),
        _row("zoom", "z2", "zoom_vqa", {"question": "is it a port?", "answer": "yes", "evidence": [[0, 0, 40, 40]]},
             zoom_call + "\nno", completion_direct="yes",
             turns=[{"tool_call": zoom_call, "box": [0.0, 0.0, 50.0, 50.0], "view": [0, 0, 100, 100], "valid": True}]),
    ]


def _score_only(tmp: Path, rows: list[dict], out: str = "out", capsys=None) -> dict:
    names = sorted({r["dataset"] for r in rows})
    suite = _suite(tmp, [{"name": n, "path": n} for n in names])
    pred = tmp / f"{out}_in.jsonl"
    pred.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert cli(["eval", "--predictions", str(pred), "--suite", str(suite), "--out", str(tmp / out)]) == 0
    return json.loads((tmp / out / "metrics.json").read_text())


def test_metrics_of_fixed_predictions_equal_hand_computed(tmp_path, capsys):
    doc = _score_only(tmp_path, fixed_predictions())
    m = doc["metrics"]
    assert doc["suite"] == "handmade" and doc["pixel_budget"] == {"min_pixels": 12544, "max_pixels": 50176}
    assert list(m) == ["cls", "det", "grd", "vqa", "zoom"]
    det = m["det"]
    # plane: d1 TP (IoU 1 with the plane of a), d2 FP (its best plane GT has IoU 0); 2 plane GT (a, b).
    # precision [1, 1/2], recall [1/2, 1/2]: VOC07 11-point = 6 points (t = 0..0.5) of precision 1 -> 6/11;
    # area = 0.5 * 1 = 0.5. ship: 1 GT, no detection -> AP 0. mAP over both classes: 3/11 (VOC07), 0.25 (area).
    assert det["ap/plane"] == pytest.approx(6 / 11, abs=1e-12)
    assert det["ap/ship"] == 0.0
    assert det["mAP"] == pytest.approx(3 / 11, abs=1e-12)
    assert det["mAP_area"] == pytest.approx(0.25, abs=1e-12)
    # mAP_nc: mmrotate protocol (float32 arithmetic), same ranking -> 3/11.
    assert det["mAP_nc"] == pytest.approx(3 / 11, abs=1e-6)
    # mF1 confusion rows GT (plane, ship, bg) x cols pred: d1 -> [plane, plane]; d2 overlaps the ship GT ->
    # [ship, plane]; ship GT not found by a ship -> [ship, bg]; plane GT of b missed -> [plane, bg].
    # tp = (1, 0, 0), fp = (1, 0, 2), fn = (1, 2, 0): P = (1/2, 0, 0), R = (1/2, 0, 0); mP = mR = 1/6 -> mF1 = 1/6.
    assert det["mF1"] == pytest.approx(1 / 6, abs=1e-12)
    # micro: 1 TP, 1 FP, 3 positives -> P 1/2, R 1/3, F1 = 2 * (1/6) / (5/6) = 0.4
    assert (det["precision"], det["recall"], det["f1"]) == pytest.approx((0.5, 1 / 3, 0.4), abs=1e-12)
    assert (det["n"], det["n_images"], det["n_pred"], det["n_gt"], det["parse_fail_rate"]) == (2, 2, 2, 3, 0.0)
    # grounding IoUs 0.5 ([0,0,10,5] in [0,0,10,10]) and 1: acc@0.5 = 1, acc@0.6..0.9 = 1/2, mean 0.75,
    # cum IoU = (50 + 100) / (100 + 100) = 0.75
    g = m["grd"]
    assert g["acc@0.5"] == 1.0 and g["acc@0.6"] == 0.5 and g["acc@0.9"] == 0.5
    assert (g["mean_iou"], g["cum_iou"], g["n_missing"]) == pytest.approx((0.75, 0.75, 0), abs=1e-12)
    # VQA: "Yes." = yes (right), "three" = 3 (right), yes vs no (wrong): 2/3; presence 1/2, count 1
    v = m["vqa"]
    assert v["accuracy"] == pytest.approx(2 / 3) and v["acc/presence"] == 0.5 and v["acc/count"] == 1.0
    assert v["mean_over_types"] == 0.75 and v["mean_over_non_count_types"] == 0.5
    # classification: forest right, forest->river wrong, river right: 2/3; per class forest 1/2, river 1 -> 0.75
    assert m["cls"]["accuracy"] == pytest.approx(2 / 3) and m["cls"]["mean_class_accuracy"] == 0.75
    # zoom: chain answers yes (right) and no (wrong); direct answers both yes (right)
    z = m["zoom"]
    assert (z["accuracy_zoom"], z["accuracy_direct"], z["delta"]) == (0.5, 1.0, -0.5)
    assert (z["zoom_rate"], z["mean_steps"], z["invalid_call_rate"]) == (0.5, 0.5, 0.0)

    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "predictions.jsonl").read_text().splitlines())}
    assert [r["id"] for r in map(json.loads, (tmp_path / "out" / "predictions.jsonl").read_text().splitlines())] == [
        "c1", "c2", "c3", "a", "b", "g1", "g2", "q1", "q2", "q3", "z1", "z2"]
    # per-sample: image a has 1 TP of 2 detections and 2 GT -> P = R = F1 = 1/2; image b finds nothing
    assert rows["a"]["scores"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert rows["b"]["scores"]["f1"] == 0.0
    assert rows["g1"]["scores"] == pytest.approx({"iou": 0.5, "correct": 1.0})
    assert rows["z2"]["scores"] == {"correct": 0.0, "n_steps": 1.0, "correct_direct": 1.0}
    # reward parts of the default reward set, for the same samples
    assert rows["q1"]["rewards"]["vqa_match/overall"] == 1.0 and rows["q3"]["rewards"]["vqa_match/overall"] == 0.0
    assert rows["g2"]["rewards"]["grounding_iou/overall"] > 0
    assert "format/overall" in rows["c1"]["rewards"]
    assert "det " in capsys.readouterr().out  # the summary table


def test_patch_detections_merge_to_full_image(tmp_path):
    # One 200-px-wide image split into two 128-px windows at x = 0 and x = 72 (overlap 56 px). One plane at
    # x 80..100 lies in both windows; both patches find it: after merging (shift + NMS at 0.1) it is one TP.
    t = {"classes": ["plane"]}
    obj = lambda x0: {"label": "plane", "poly": [x0, 10, x0 + 20, 10, x0 + 20, 30, x0, 30]}  # noqa: E731
    rows = [
        _row("dota", "P1__128__0___0", "detection", {**t, "objects": [obj(80)], "patch": {"parent": "P1", "x": 0,
                                                                                           "y": 0, "size": 128}},
             "80,10,100,30 plane"),
        _row("dota", "P1__128__72___0", "detection", {**t, "objects": [obj(8)], "patch": {"parent": "P1", "x": 72,
                                                                                          "y": 0, "size": 128}},
             "8,10,28,30 plane"),
    ]
    names = ["dota"]
    suite = _suite(tmp_path, [{"name": n, "path": n, "patches": True} for n in names])
    pred = tmp_path / "p.jsonl"
    pred.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli(["eval", "--predictions", str(pred), "--suite", str(suite), "--out", str(tmp_path / "o")]) == 0
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())["metrics"]["dota"]
    # one GT (the duplicate across windows counted once), one merged detection, a TP: AP 1, P = R = 1
    assert (m["n_gt"], m["n_pred"], m["n_images"]) == (1, 1, 1)
    # (11 points of 1/11 add up to 1 + 2e-16)
    assert m["mAP"] == pytest.approx(1.0, abs=1e-12) and m["precision"] == 1.0 and m["recall"] == 1.0
    # mF1 averages the class row with the background row (TP 0): P = (1, 0), R = (1, 0) -> mP = mR = 1/2
    assert m["mF1"] == 0.5


def _one_line_error(capsys, args: list[str], needle: str) -> None:
    capsys.readouterr()
    assert cli(args) == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("georft eval: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err  # progress lines may precede it; one error line
    assert needle in errors[0], err


def test_unknown_dataset_name_is_one_line(tmp_path, capsys):
    suite = _suite(tmp_path, [{"name": "synth_det", "path": "x"}])
    _one_line_error(capsys, ["eval", "--model", "m", "--suite", str(suite), "--out", str(tmp_path / "o"),
                             "--datasets", "synth_dett"], "unknown dataset 'synth_dett' in suite 'handmade'. "
                                                          'Did you mean "synth_det"?')
    pred = tmp_path / "p.jsonl"
    pred.write_text(json.dumps(_row("nope", "1", "vqa", {"question": "q", "answer": "a"}, "a")) + "\n")
    _one_line_error(capsys, ["eval", "--predictions", str(pred), "--suite", str(suite), "--out", str(tmp_path / "o")],
                    "unknown dataset 'nope'")


def test_unknown_suite_name_is_one_line(tmp_path, capsys):
    _one_line_error(capsys, ["eval", "--model", "m", "--suite", "dem", "--out", str(tmp_path / "o")],
                    "unknown suite 'dem'. Did you mean \"demo\"?")


def test_missing_data_root_is_one_line(tmp_path, capsys):
    suite = _suite(tmp_path, [{"name": "d", "path": "built"}], data_root=str(tmp_path / "nowhere"))
    _one_line_error(capsys, ["eval", "--model", "m", "--suite", str(suite), "--out", str(tmp_path / "o")],
                    f"dataset 'd': data root not found: {tmp_path / 'nowhere' / 'built'}")


def build_dataset(root: Path, n_cls: int = 2, n_zoom: int = 1) -> Path:
    """A tiny built dataset (schema rows, real image files): classification rows and zoom_vqa rows."""
    from datasets import Dataset

    from data_engine.schema import features

    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n_cls):
        p = root / f"c{k}.png"
        Image.new("RGB", (56, 56), (40 * k, 120, 60)).save(p)
        rows.append({"id": f"cls_{k}", "source": "s", "task": "classification", "split": "val", "images": [str(p)],
                     "width": 56, "height": 56, "target": json.dumps({"label": "forest", "classes": ["forest", "river"]})})
    for k in range(n_zoom):
        p = root / f"z{k}.png"
        Image.new("RGB", (448, 448), (10, 10, 200)).save(p)
        rows.append({"id": f"zoom_{k}", "source": "s", "task": "zoom_vqa", "split": "val", "images": [str(p)],
                     "width": 448, "height": 448,
                     "target": json.dumps({"question": "is it blue?", "answer": "yes", "evidence": [[0, 0, 100, 100]]})})
    out = root / "built"
    Dataset.from_list(rows, features=features()).save_to_disk(str(out))
    return out


def test_checkpoint_that_does_not_load_is_one_line(tmp_path, capsys):
    built = build_dataset(tmp_path / "data", n_cls=1, n_zoom=0)
    suite = _suite(tmp_path, [{"name": "d", "path": str(built)}])
    base = ["eval", "--suite", str(suite), "--out", str(tmp_path / "o"), "--model"]
    _one_line_error(capsys, base + [str(tmp_path / "missing")], "checkpoint not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(capsys, base + [str(empty)], "not a model directory (no config.json)")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    _one_line_error(capsys, base + [str(broken)], f"cannot load checkpoint {broken}")


# ---------------------------------------------------------------- scripted backend: zoom chains, resume, shards


class ScriptedBackend:
    """Answers by the number of images in the request: a zoom call on the full image, "yes" after a crop."""

    def __init__(self, call: str) -> None:
        self.call = call
        self.requests = []

    def generate(self, requests, sampling):
        from rollout.generate import Generation

        self.requests.extend(requests)
        out = []
        for r in requests:
            zoom = r.messages[0]["role"] == "system" and len(r.images) == 1
            out.append(Generation(self.call if zoom else ("forest" if len(r.images) == 1 else "yes"), 3, False))
        return out


CALL = '<tool_call>\n{"name": "image_zoom_in", "arguments": {"bbox": [0, 0, 112, 112]}}\n</tool_call>'


def _episode(tmp_path):
    from data_engine.families import get_family
    from data_engine.render import render_grpo
    from data_engine.zoom import make_view
    from rollout.zoom_chain import ZoomEpisode

    p = tmp_path / "big.png"
    Image.new("RGB", (448, 448), (0, 0, 255)).save(p)
    fam = get_family("qwen2_5_vl")
    sample = {"id": "z", "source": "s", "task": "zoom_vqa", "split": "val", "images": [str(p)], "width": 448,
              "height": 448, "target": json.dumps({"question": "q?", "answer": "yes", "evidence": [[0, 0, 50, 50]]})}
    r = render_grpo(sample, fam, min_pixels=12544, max_pixels=50176)
    return fam, ZoomEpisode(r["prompt"], r["images"], str(p), make_view((0, 0, 448, 448), fam, 12544, 50176))


@pytest.mark.parametrize("max_calls", [2, 0])
def test_zoom_chain_maps_box_and_crops_from_the_original(tmp_path, max_calls):
    from eval.runner import read_call
    from rollout.generate import SamplingSpec
    from rollout.zoom_chain import run_zoom_chains

    fam, ep = _episode(tmp_path)
    assert ep.view.size == (224, 224)  # 448^2 > 64*28^2: halved
    be = ScriptedBackend(CALL)
    [res] = run_zoom_chains(be, [ep], SamplingSpec(max_new_tokens=8), family=fam, min_pixels=12544,
                            max_pixels=50176, read_call=read_call, max_calls=max_calls)
    if max_calls == 0:  # the call exceeds the budget: the chain ends without a crop
        assert (res.stop, res.steps, len(res.turns)) == ("max_calls", [], 1)
        return
    # [0, 0, 112, 112] in the 224-px view of a 448-px image is [0, 0, 224, 224] in original pixels
    assert res.stop == "answer" and res.turns == [CALL, "yes"]
    [step] = res.steps
    assert step.box == [0.0, 0.0, 224.0, 224.0] and step.view == [0, 0, 448, 448] and step.valid
    assert step.crop_region == [0, 0, 224, 224] and step.crop.size == (224, 224)
    second = be.requests[-1]
    assert len(second.images) == 2 and second.messages[-1]["content"][-1]["text"].startswith("Here's the zoomed-in")


def test_zoom_chain_unreadable_call_is_an_invalid_step(tmp_path):
    from eval.runner import read_call
    from rollout.generate import SamplingSpec
    from rollout.zoom_chain import run_zoom_chains

    fam, ep = _episode(tmp_path)
    bad = '<tool_call>{"name": "image_zoom_in", "arguments": {"bbox": [1, 2]}}</tool_call>'
    [res] = run_zoom_chains(ScriptedBackend(bad), [ep], SamplingSpec(), family=fam, min_pixels=12544,
                            max_pixels=50176, read_call=read_call, max_calls=2)
    assert res.stop == "invalid_call" and len(res.steps) == 1
    assert res.steps[0].valid is False and res.steps[0].box is None and res.steps[0].crop is None


def _run_scripted(tmp_path, out: Path, monkeypatch, rank: int, world: int, loads: list):
    import eval.runner as runner
    from data_engine.families import get_family
    from eval.suite import DatasetEntry, SuiteConfig

    def fake_open(name, model, suite, dtype="auto", work_dir=None):
        loads.append(model)
        return ScriptedBackend(CALL), get_family("qwen2_5_vl")

    monkeypatch.setattr(runner, "open_backend", fake_open)
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world))
    built = tmp_path / "data" / "built"
    if not built.is_dir():
        build_dataset(tmp_path / "data", n_cls=3, n_zoom=2)
    suite = SuiteConfig(name="s", datasets=[DatasetEntry(name="d", path=str(built), split="val")], report_rewards=False)
    req = runner.EvalRequest(suite, suite.datasets, "ckpt", out)
    selected = runner.generate_predictions(req, None, lambda m: None)
    return runner.finish(req, selected, None, lambda m: None, wait_timeout_s=5)


def test_resume_skips_done_samples_and_shards_merge_like_one_process(tmp_path, monkeypatch):
    loads: list = []
    single = _run_scripted(tmp_path, tmp_path / "one", monkeypatch, 0, 1, loads)
    assert single["metrics"]["d"]["classification/accuracy"] == 1.0  # every answer is "forest"
    assert single["metrics"]["d"]["zoom_vqa/accuracy_zoom"] == 1.0 and single["metrics"]["d"]["zoom_vqa/zoom_rate"] == 1
    lines = (tmp_path / "one" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["cls_0", "cls_1", "cls_2", "zoom_0", "zoom_1"]
    zoom_row = json.loads(lines[3])
    assert zoom_row["turns"][0]["box"] == [0.0, 0.0, 224.0, 224.0]
    assert (tmp_path / "one" / zoom_row["turns"][0]["crop_image"]).is_file()
    # resume: everything is done, the model is not even opened
    _run_scripted(tmp_path, tmp_path / "one", monkeypatch, 0, 1, loads)
    assert loads == ["ckpt"]
    assert (tmp_path / "one" / "predictions.jsonl").read_text().splitlines() == lines
    # two ranks: rank 1 first (rank 0 waits for its marker), rank 0 merges sorted by id and scores
    assert _run_scripted(tmp_path, tmp_path / "two", monkeypatch, 1, 2, loads) is None
    sharded = _run_scripted(tmp_path, tmp_path / "two", monkeypatch, 0, 2, loads)
    assert [json.loads(x)["id"] for x in (tmp_path / "two" / "predictions.rank1.jsonl").read_text().splitlines()] == [
        "cls_1", "zoom_0"]
    assert sharded["metrics"] == single["metrics"]
    assert (tmp_path / "two" / "predictions.jsonl").read_text().splitlines() == lines


def test_tiny_model_eval_end_to_end(tmp_path, capsys):
    """The real HF backend on the tiny offline Qwen2.5-VL: files written, rows complete, rerun resumes."""
    from models.tiny import build_tiny

    ckpt = build_tiny("qwen2_5_vl", tmp_path / "tiny", seed=0)
    built = build_dataset(tmp_path / "data", n_cls=1, n_zoom=1)
    suite = _suite(tmp_path, [{"name": "d", "path": str(built)}], max_new_tokens=4, batch_size=2)
    args = ["eval", "--model", str(ckpt), "--suite", str(suite), "--out", str(tmp_path / "o")]
    assert cli(args) == 0
    doc = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert doc["model"] == str(ckpt) and doc["backend"] == "hf" and set(doc["metrics"]) == {"d"}
    rows = [json.loads(x) for x in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["cls_0", "zoom_0"]
    for r in rows:
        assert {"images", "width", "height", "completion", "prediction", "target", "scores", "rewards", "turns"} <= set(r)
        assert r["num_tokens"] <= 4
    assert "completion_direct" in rows[1]
    capsys.readouterr()
    assert cli(args[:2] + [str(tmp_path / "no_model_needed")] + args[3:]) == 0
    assert "0 to generate" in capsys.readouterr().err


def test_zoom_chain_option_turns_vqa_rows_into_chains(tmp_path):
    from datasets import Dataset

    from data_engine.schema import features
    from eval.runner import load_entry_rows
    from eval.suite import DatasetEntry, SuiteConfig

    row = {"id": "q", "source": "lrs", "task": "vqa", "split": None, "images": ["x.png"], "width": 9000,
           "height": 9000, "target": json.dumps({"question": "what color?", "answer": "red", "category": "color"})}
    Dataset.from_list([row], features=features()).save_to_disk(str(tmp_path / "b"))
    entry = DatasetEntry(name="lrs", path=str(tmp_path / "b"), tasks=["vqa"], zoom_chain=True)
    [r] = load_entry_rows(SuiteConfig(datasets=[entry]), entry, None)
    assert r["task"] == "zoom_vqa"
    assert json.loads(r["target"]) == {"evidence": [], "question": "what color?", "answer": "red", "category": "color"}
