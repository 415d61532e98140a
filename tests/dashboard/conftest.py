"""Run directories for the dashboard tests, built once per session with the real writers' layouts.

`grpo_run`: PIL-drawn scenes, a rollout store of 3 steps (one group per task, G=4 completions, a parse failure,
a zero-variance group, a zoom chain with crop images on disk) and two eval dirs (`eval/sft`, `eval/rl`) over
the same samples. `empty_run`: a directory with nothing in it. `outside/secret.txt` sits next to the runs and
`grpo_run/escape.png` is a symlink to it: neither may ever be served.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from rollout.store import RolloutWriter

SECRET = "TOP-SECRET-OUTSIDE-THE-RUN"
G = 4
W, H = 320, 240
# Detection scene: two GT objects (poly in original pixels).
PLANE = [40, 40, 120, 40, 120, 100, 40, 100]
SHIP = [200, 150, 280, 150, 280, 200, 200, 200]
TANK_FA = [150, 20, 190, 20, 190, 60, 150, 60]  # a false alarm: nothing there
EVIDENCE = [60, 50, 160, 130]


def _scene(path: Path, seed: int) -> None:
    im = Image.new("RGB", (W, H), (90 + 10 * seed, 120, 80))
    d = ImageDraw.Draw(im)
    d.rectangle([40, 40, 120, 100], fill=(220, 220, 230))  # the "plane"
    d.rectangle([200, 150, 280, 200], fill=(40, 60, 160))  # the "ship"
    d.ellipse([60, 50, 160, 130], outline=(250, 200, 0), width=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def _crop(src: Path, box: list[int], dst: Path) -> None:
    with Image.open(src) as im:
        im.crop(box).resize((160, 128)).save(dst)


def _task_payloads(run: Path, img: Path) -> dict[str, list[tuple[str, dict, dict, list]]]:
    """Per task: G (completion, prediction, target, turns) tuples, in original pixels."""
    det_t = {"objects": [{"label": "plane", "poly": PLANE, "difficult": False},
                         {"label": "ship", "poly": SHIP, "difficult": False}], "classes": ["plane", "ship", "tank"]}
    det = [
        ("plane 40 40 120 40 120 100 40 100\ntank 150 20 190 20 190 60 150 60",
         {"objects": [{"label": "plane", "poly": PLANE}, {"label": "tank", "poly": TANK_FA}], "n_failed": 0,
          "format_ok": True}, det_t, []),
        ("plane 40 40 120 40 120 100 40 100\nship 200 150 280 150 280 200 200 200",
         {"objects": [{"label": "plane", "poly": PLANE}, {"label": "ship", "poly": SHIP}], "n_failed": 0,
          "format_ok": True}, det_t, []),
        ("I see some planes maybe", {"objects": [], "n_failed": 1, "format_ok": False}, det_t, []),
        ("There are none.", {"objects": [], "n_failed": 0, "format_ok": True}, det_t, []),
    ]
    gr_t = {"expression": "the white plane", "box": [40, 40, 120, 100]}
    gr = [(f"<box>{b}</box>", {"box": b, "format_ok": True}, gr_t, [])
          for b in ([42, 40, 118, 102], [0, 0, 30, 30], [40, 40, 120, 100], [100, 90, 200, 180])]
    vqa = [(a, {"answer": a, "format_ok": True}, {"question": "Is there a ship?", "answer": "yes"}, [])
           for a in ("yes", "no", "yes", "yes")]
    cap = [("A white plane near a blue ship.", {"text": "A white plane near a blue ship.", "format_ok": True},
            {"references": ["a plane and a ship", "an airport scene"]}, [])] * G
    cls = [(a, {"answer": a, "format_ok": True}, {"label": "airport", "classes": ["airport", "harbor"]}, [])
           for a in ("airport", "harbor", "airport", "forest")]
    crops = run / "crops"
    crops.mkdir(exist_ok=True)
    boxes = [[40, 30, 200, 160], [60, 50, 160, 130]]
    turns = []
    for k, b in enumerate(boxes):
        _crop(img, b, crops / f"zoom_{k}.png")
        # Relative crop path: the dashboard resolves it against the run directory.
        turns.append({"tool_call": f'<tool_call>{{"name": "image_zoom_in", "bbox_2d": {b}}}</tool_call>', "box": b,
                      "crop_image": f"crops/zoom_{k}.png"})
    zt = {"question": "What colour is the ring?", "answer": "yellow", "evidence": [EVIDENCE]}
    zoom = [("zoom, zoom, answer: yellow", {"answer": "yellow", "format_ok": True}, zt, turns)] + [
        (f"answer: {a}", {"answer": a, "format_ok": True}, zt, []) for a in ("red", "yellow", "blue")]
    return {"detection": det, "grounding": gr, "vqa": vqa, "caption": cap, "classification": cls, "zoom_vqa": zoom}


SAMPLE_SCORE = {"detection": "f1", "grounding": "iou", "vqa": "correct", "caption": "cider_d",
                "classification": "correct", "zoom_vqa": "correct"}
# The Trainer's log (trainer_state.json) of the run: two logging steps, TRL's GRPO keys; tokens/s at step 3 is
# (5000 - 1000) / ((3 - 1) x 4.0) = 500.
TRAINER_LOG = [
    {"step": 1, "loss": 0.5, "kl": 0.01, "entropy": 0.9, "grad_norm": 1.5, "learning_rate": 1e-4, "num_tokens": 1000,
     "step_time": 2.0, "clip_ratio/low_mean": 0.0, "clip_ratio/high_mean": 0.02, "clip_ratio/region_mean": 0.02},
    {"step": 3, "loss": 0.3, "kl": 0.05, "entropy": 0.7, "grad_norm": 0.5, "learning_rate": 5e-5, "num_tokens": 5000,
     "step_time": 4.0, "clip_ratio/low_mean": 0.01, "clip_ratio/high_mean": 0.03, "clip_ratio/region_mean": 0.04},
    {"step": 3, "train_runtime": 12.0},  # the end-of-training entry: no dynamics key
]
REWARDS = {  # per task: the G rewards (caption: all equal -> a zero-variance group)
    "detection": [0.5, 1.0, 0.0, 0.1], "grounding": [0.9, 0.0, 1.0, 0.2], "vqa": [1.0, 0.0, 1.0, 1.0],
    "caption": [0.4, 0.4, 0.4, 0.4], "classification": [1.0, 0.0, 1.0, 0.0], "zoom_vqa": [1.0, 0.0, 1.0, 0.0],
}


def chat_prompt(task: str) -> str:
    """A prompt as TRL logs a multimodal one: JSON chat messages with an image placeholder."""
    return json.dumps([{"role": "system", "content": [{"type": "text", "text": "You are a remote-sensing assistant."}]},
                       {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"Do the {task} task."}]}])


def _rollout_rows(step: int, payloads: dict, img: Path) -> list[dict]:
    rows = []
    for task, items in payloads.items():
        rs = REWARDS[task]
        mean = sum(rs) / G
        for gen, (completion, pred, target, turns) in enumerate(items):
            r = min(1.0, rs[gen] + 0.05 * step)
            rows.append({
                "step": step, "group": f"{task}-s{step}", "sample_id": f"{task}-0", "task": task,
                "source": "synth-rs" if task != "caption" else "synth-cap", "generation": gen,
                # Chat-shaped prompts (as TRL logs them) for the box tasks, plain text for the others.
                "prompt": chat_prompt(task) if task in ("detection", "grounding", "zoom_vqa")
                else f"<image> Do the {task} task.", "completion": completion, "turns": json.dumps(turns),
                "prediction": json.dumps(pred), "target": json.dumps(target), "reward": r,
                "advantage": rs[gen] - mean, "images": [str(img)], "length": 10 + 5 * gen, "truncated": gen == 3,
                f"reward/{task}/format": 0.0 if pred.get("format_ok") is False else 1.0,
                f"reward/{task}/main": rs[gen],
                # A long part name as the trainer writes them (<task>/<reward>/<part>): cards must wrap it.
                f"reward/{task}/rotated_iou_f1_with_a_long_name/n_unknown_label_objects": float(gen),
                # VQA rows in the think-then-answer frame: every other completion well-formed, 10 chars per gen
                **({"reasoning": "think_answer", "think_ok": gen % 2 == 0, "reasoning_chars": 10 * gen}
                   if task == "vqa" else {}),
            })
    return rows


def _eval_dir(d: Path, name: str, payloads: dict, img: Path, pick: int) -> None:
    d.mkdir(parents=True)
    rows = []
    for task, items in payloads.items():
        completion, pred, target, turns = items[pick]
        score = REWARDS[task][pick]
        rows.append({"id": f"{task}-0", "dataset": f"synth-{task}", "task": task, "images": [str(img)], "width": W,
                     "height": H, "completion": completion, "prediction": pred, "target": target,
                     # "score" for the compare view; the task's own per-sample score for the verdict's intervals
                     "scores": {"score": score, SAMPLE_SCORE[task]: score}, "rewards": {f"{task}/main": score},
                     "turns": turns})
    metrics = {r["dataset"]: {"score": r["scores"]["score"]} for r in rows}
    (d / "metrics.json").write_text(json.dumps({"model": name, "suite": "synth", "backend": "hf",
                                                "pixel_budget": {"max_pixels": W * H}, "date": "2026-01-01",
                                                "git_commit": "abc123", "metrics": metrics}))
    (d / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")


@pytest.fixture(scope="session")
def run_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dash")
    run = root / "grpo_run"
    img = run / "images" / "scene_0.png"
    _scene(img, 0)
    payloads = _task_payloads(run, img)
    writer = RolloutWriter(run)
    for step in range(3):
        writer.write_step(step, _rollout_rows(step, payloads, img))
    (run / "trainer_state.json").write_text(json.dumps({"global_step": 3, "log_history": TRAINER_LOG}))
    _eval_dir(run / "eval" / "sft", "sft", payloads, img, pick=0)
    _eval_dir(run / "eval" / "rl", "rl", payloads, img, pick=1)
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    _scene(outside / "secret.png", 3)
    (run / "escape.png").symlink_to(outside / "secret.png")
    (run / "escape_dir").symlink_to(outside, target_is_directory=True)
    empty = root / "empty_run"
    empty.mkdir()
    return {"root": root, "run": run, "empty": empty, "outside": outside, "image": img, "secret": SECRET}


@pytest.fixture(scope="session")
def app(run_dirs):
    from dashboard.app import create_app

    return create_app([run_dirs["run"], run_dirs["empty"]])


@pytest.fixture(scope="session")
def client(app):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        yield c
