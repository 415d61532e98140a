"""A run copied or rsynced to another folder is whole (issue 27, item 20): the rollout store records the run's own
images relative to the run, the dashboard serves them from the copy, and stores written before (absolute paths of
the original place) still show their images once the original is gone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

from rollout.store import RolloutReader, RolloutWriter, run_path, run_relative

PROMPT = "<image> What is this scene?"


def _rows(images: list[str], crop: str | None) -> list[dict]:
    turns = [{"tool_call": "zoom", "box": [0, 0, 8, 8], "valid": True, "crop_image": crop, "error": None}] if crop else []
    return [{"step": 0, "group": "g0", "sample_id": "s-0", "task": "zoom_vqa", "source": "synth", "generation": g,
             "prompt": PROMPT, "completion": "forest", "turns": json.dumps(turns), "prediction": json.dumps({}),
             "target": json.dumps({"question": "q", "answer": "forest"}), "reward": float(g), "advantage": 0.0,
             "images": images, "width": 32, "height": 24, "length": 3, "truncated": False} for g in range(2)]


def _run(root: Path, relative: bool) -> Path:
    run = root / "run"
    img = run / "rollouts" / "images" / "s-0_0_32x24.png"
    crop = run / "rollouts" / "crops" / "s-0_ab12_0.png"
    for p, colour in ((img, (0, 120, 0)), (crop, (200, 0, 0))):
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 24), colour).save(p)
    ref = (lambda p: run_relative(p, run)) if relative else str
    RolloutWriter(run).write_step(0, _rows([ref(img)], ref(crop)))
    return run


def _served(run: Path) -> tuple[str, str]:
    from starlette.testclient import TestClient

    from dashboard.app import create_app

    with TestClient(create_app([run]), base_url="http://127.0.0.1:8765") as c:
        step = c.get("/run/0/step/0").text
        sample = c.get("/run/0/rollout?step=0&group=g0&gen=1").text
        for url in ("/thumb/0/rollouts/images/s-0_0_32x24.png?w=160", "/thumb/0/rollouts/crops/s-0_ab12_0.png?w=320"):
            assert c.get(url).status_code == 200, url
    return step, sample


def test_relative_paths_are_recorded_for_the_runs_own_files_only(tmp_path):
    run = tmp_path / "run"
    (run / "rollouts" / "images").mkdir(parents=True)
    assert run_relative(run / "rollouts" / "images" / "a.png", run) == "rollouts/images/a.png"
    assert run_relative("/data/world/scene_1.png", run) == "/data/world/scene_1.png"  # the dataset's, outside
    assert run_path("rollouts/images/a.png", run) == run / "rollouts" / "images" / "a.png"


def test_the_trainers_recorder_writes_relative_image_and_crop_paths(tmp_path):
    from rl.trainer import RolloutRecorder

    rec = RolloutRecorder(tmp_path / "run", parse=None, num_generations=2)
    paths = rec._image_paths({"sample_id": "s/1", "images": [Image.new("RGB", (30, 20)), "/data/x.png"]})
    rec.flush()
    assert paths == ["rollouts/images/s_1_0_30x20.png", "/data/x.png"]
    assert (tmp_path / "run" / paths[0]).is_file()
    crop = (tmp_path / "run" / "rollouts" / "crops" / "c.png").resolve()
    assert rec._relative_turns([{"crop_image": str(crop)}, {"crop_image": None}]) == [
        {"crop_image": "rollouts/crops/c.png"}, {"crop_image": None}]


def test_a_copied_run_shows_its_images(tmp_path):
    run = _run(tmp_path / "a", relative=True)
    copy = tmp_path / "b" / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(run)
    step, sample = _served(copy)
    assert "image not served" not in step + sample
    assert 'src="/thumb/0/rollouts/images/s-0_0_32x24.png' in step
    assert "/thumb/0/rollouts/crops/s-0_ab12_0.png" in sample


def test_an_older_store_with_absolute_paths_still_shows_its_images_once_copied(tmp_path):
    run = _run(tmp_path / "a", relative=False)
    stored = RolloutReader(run).read_step(0).to_pylist()[0]["images"]
    assert Path(stored[0]).is_absolute()  # as stores recorded them before issue 27
    copy = tmp_path / "b" / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(run)
    step, sample = _served(copy)
    assert "image not served" not in step + sample
    assert 'src="/thumb/0/rollouts/images/s-0_0_32x24.png' in step
    assert "/thumb/0/rollouts/crops/s-0_ab12_0.png" in sample


def test_an_unserved_images_message_wraps_inside_its_card():
    # The message holds a long absolute path; without wrapping it ran out of the card (issue 27, item 20).
    css = (Path(__file__).resolve().parents[2] / "dashboard" / "static").glob("*.css")
    rule = next(line for f in css for line in f.read_text().splitlines() if line.startswith(".missing "))
    assert "overflow-wrap: anywhere" in rule and "max-width: 100%" in rule
