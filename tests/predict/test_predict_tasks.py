"""Every task `georft predict` lists runs on one small georeferenced image with the tiny model and writes its files;
a plain PNG gets no GeoJSON; the CLI's one-line errors; the dashboard browses a predict run."""

from __future__ import annotations

import json

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from eval.predict.plan import PAIR_TASKS, PREDICT_TASKS  # noqa: E402

SIDE = 64
BUDGET = 56 * 56  # qwen2_5_vl: 56 px windows (2 x 2 tokens), so the tiled tasks see 2 x 2 windows of the 64 px image
PROMPTS = {
    "grounding": "the ship", "vqa": "How many ships are there?", "zoom_vqa": "What colour is the roof?",
    "referring_segmentation": "the ship", "semantic_segmentation": "water", "referring_detection": "all ships",
    "region_caption": "5,5,30,30",
    "damage": json.dumps({"question": "What is the damage level of the building in {box}?", "box": [5, 5, 30, 30]}),
}
CLASSES = {"detection": ["ship", "plane"], "classification": ["forest", "harbor"],
           "multilabel_classification": ["forest", "harbor", "water"], "damage": ["no-damage", "destroyed"],
           "temporal_classification": ["farm", "airport"]}


def _tif(path, seed):
    from affine import Affine

    data = np.random.default_rng(seed).integers(0, 255, (3, SIDE, SIDE), dtype=np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=SIDE, height=SIDE, count=3, dtype="uint8", crs="EPSG:3857",
                       transform=Affine(2.0, 0, 1000.0, 0, -2.0, 5000.0)) as ds:
        ds.write(data)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("imgs")
    before, after = _tif(d / "before.tif", 0), _tif(d / "after.tif", 1)
    png = d / "plain.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8)).save(png)
    return before, after, png


@pytest.fixture(scope="module")
def backend(tiny_model_dirs):
    """The tiny model loaded once through a Predictor (HF backend), shared by every task."""
    from eval.predict.predictor import Predictor

    return Predictor(tiny_model_dirs["qwen2_5_vl"], "caption", "hf", max_pixels=BUDGET, min_pixels=784,
                     max_new_tokens=4, batch_size=4).backend


@pytest.mark.parametrize("task", PREDICT_TASKS)
def test_every_task_runs_on_one_image_and_writes_its_files(task, images, backend, tiny_model_dirs, tmp_path):
    from eval.predict.predictor import Predictor
    from eval.predict.run import Item, run_predict

    before, after, _ = images
    p = Predictor(tiny_model_dirs["qwen2_5_vl"], task, backend, classes=CLASSES.get(task), max_pixels=BUDGET,
                  min_pixels=784, max_new_tokens=4, zoom_calls=1)
    files = [before, after] if task in PAIR_TASKS else [before]
    doc = run_predict(p, [Item("img", files)], [PROMPTS.get(task)], tmp_path, progress=False)
    assert doc["metrics"]["predict"]["done"] == 1
    d = tmp_path / "inputs" / "img"
    for name in ("predictions.jsonl", "merged.json", "overlay.png", "preview.jpg", "done.json",
                 "predictions.geojson"):
        assert (d / name).is_file(), name
    rows = [json.loads(x) for x in (d / "predictions.jsonl").read_text().splitlines()]
    tiled = task in ("detection", "change_detection", "grounding", "referring_detection",
                     "referring_segmentation", "semantic_segmentation")
    # 64 px at a 56 px window: 2 x 2 windows; a change pair shares the budget: 28 px windows (starts 0, 22, 36)
    assert len(rows) == (9 if task == "change_detection" else 4 if tiled else 1)
    assert all(r["task"] == task and isinstance(r["completion"], str) and isinstance(r["prediction"], dict)
               for r in rows)
    gj = json.loads((d / "predictions.geojson").read_text())
    assert gj["type"] == "FeatureCollection" and gj["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::3857"
    top = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in top] == ["img"] and top[0]["images"][0] == "inputs/img/preview.jpg"


def test_plain_png_gets_no_geojson_and_the_cli_writes_its_files(images, tiny_model_dirs, tmp_path, capsys):
    from georft.cli import main

    _, _, png = images
    rc = main(["predict", "--model", tiny_model_dirs["qwen2_5_vl"], "--task", "detection", "--input", str(png),
               "--out", str(tmp_path), "--max-pixels", str(BUDGET), "--max-new-tokens", "4", "--no-progress"])
    assert rc == 0
    d = tmp_path / "inputs" / "plain"
    assert (d / "overlay.png").is_file() and (d / "predictions.jsonl").is_file()
    assert not (d / "predictions.geojson").exists()  # no CRS, no geotransform: pixel geometry stays in the JSONL
    merged = json.loads((d / "merged.json").read_text())
    assert merged["georeferenced"] is False and merged["crs"] is None
    assert "1/1 input(s) done" in capsys.readouterr().out


@pytest.mark.parametrize("case, expect", [
    ("unreadable", "not a readable image"),
    ("task", "unknown task 'detektion'. Did you mean \"detection\"?"),
    ("not_model", "is not a model or adapter folder"),
    ("chat", "task 'chat' cannot be predicted"),
    ("missing_prompt", "task grounding needs a prompt: the expression"),
    ("pair", "task change_caption compares two images"),
])
def test_cli_one_line_errors(case, expect, images, tiny_model_dirs, tmp_path, capsys):
    from georft.cli import main

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    model, img = tiny_model_dirs["qwen2_5_vl"], str(images[0])
    argv = {"unreadable": ["--task", "detection", "--input", str(bad)],
            "task": ["--task", "detektion", "--input", img],
            "not_model": ["--task", "detection", "--input", img],
            "chat": ["--task", "chat", "--input", img],
            "missing_prompt": ["--task", "grounding", "--input", img],
            "pair": ["--task", "change_caption", "--input", img]}[case]
    model_dir = str(tmp_path) if case == "not_model" else model
    rc = main(["predict", "--model", model_dir, *argv, "--out", str(tmp_path / "o"), "--no-progress",
               "--max-pixels", str(BUDGET), "--max-new-tokens", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and expect in err[-1] and err[-1].startswith("georft predict: error:")


def test_folder_run_counts_an_unreadable_input_and_goes_on(images, backend, tiny_model_dirs, tmp_path):
    import shutil

    from eval.predict.inputs import find_inputs
    from eval.predict.predictor import Predictor
    from eval.predict.run import Item, run_predict

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(images[2], src / "sub" / "a.png")
    (src / "b.png").write_bytes(b"broken")
    items = [Item(n, [f]) for n, f in find_inputs(src)]
    assert [i.name for i in items] == ["b", "sub__a"]
    p = Predictor(tiny_model_dirs["qwen2_5_vl"], "caption", backend, max_pixels=BUDGET, min_pixels=784,
                  max_new_tokens=2)
    doc = run_predict(p, items, [None], tmp_path / "out", progress=False)
    m = doc["metrics"]["predict"]
    assert (m["inputs"], m["done"], m["skipped"]) == (2, 1, 1)  # inputs = done + skipped
    assert doc["skipped"][0]["input"] == "b" and "not a readable image" in doc["skipped"][0]["reason"]


def test_dashboard_browses_a_predict_run(images, backend, tiny_model_dirs, tmp_path):
    from starlette.testclient import TestClient

    from dashboard.app import create_app
    from eval.predict.predictor import Predictor
    from eval.predict.run import Item, run_predict

    p = Predictor(tiny_model_dirs["qwen2_5_vl"], "detection", backend, classes=["ship"], max_pixels=BUDGET,
                  min_pixels=784, max_new_tokens=2)
    run_predict(p, [Item("scene", [images[0]])], [None], tmp_path, progress=False)
    # a known detection, as if the model had found it, to see it drawn
    rows = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    rows[0]["prediction"]["objects"] = [{"label": "ship", "poly": [4, 4, 20, 4, 20, 12, 4, 12]}]
    (tmp_path / "predictions.jsonl").write_text(json.dumps(rows[0]) + "\n")
    with TestClient(create_app([tmp_path]), base_url="http://127.0.0.1:8765") as c:
        home = c.get("/")
        assert home.status_code == 200 and 'href="/eval/0.0"' in home.text
        page = c.get("/eval/0.0")
        assert page.status_code == 200 and "predict (detection)" in page.text and "scene" in page.text and "/thumb/0/inputs/scene/preview.jpg" in page.text
        sample = c.get("/eval/0.0/sample", params={"id": "scene"})
        assert sample.status_code == 200
        assert 'points="4.0,4.0 20.0,4.0 20.0,12.0 4.0,12.0"' in sample.text and "pred ship" in sample.text
        assert "data-status=\"false_alarm\"" not in sample.text  # no ground truth: nothing to call a false alarm
        assert c.get("/thumb/0/inputs/scene/preview.jpg").status_code == 200


@pytest.mark.skipif(__import__("importlib").util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_backend_without_vllm_is_one_line(images, tiny_model_dirs, tmp_path, capsys):
    from georft.cli import main

    rc = main(["predict", "--model", tiny_model_dirs["qwen2_5_vl"], "--task", "caption", "--input", str(images[2]),
               "--out", str(tmp_path), "--backend", "vllm", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1] == ("georft predict: error: the vllm backend needs vLLM: pip install -e '.[gpu]' on "
                                   "a CUDA machine (vllm==0.30.0)")
    assert not (tmp_path / "inputs").exists()  # nothing written, nothing counted as skipped


def test_a_lora_adapter_folder_is_merged_into_its_base(images, tiny_model_dirs, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from eval.predict.predictor import Predictor

    base = AutoModelForImageTextToText.from_pretrained(tiny_model_dirs["qwen2_5_vl"])
    lora = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                           task_type="CAUSAL_LM"))
    lora.save_pretrained(tmp_path / "adapter")  # adapter_config.json names the base folder
    p = Predictor(tmp_path / "adapter", "caption", max_pixels=BUDGET, min_pixels=784, max_new_tokens=2)
    assert p.kind == "adapter" and p.family.name == "qwen2_5_vl"
    r = p.predict(images[2])
    assert type(p.backend.model).__name__ == "Qwen2_5_VLForConditionalGeneration"  # merged: no peft wrapper
    assert isinstance(r.merged.get("caption"), str)
