"""A demo-like run for the dashboard's screenshots (`docs/img/dashboard_*.png`), built in seconds without training.

    .venv/bin/python tests/dashboard/demo_run.py docs/img [--steps 30]

Builds the tiny synthetic world, then writes a rollout store with the real `RolloutWriter` whose rows are what a
GRPO run on that world records, except that the completions are simulated instead of sampled from a model: per
train sample of each task, G completions made from the ground truth with errors that shrink over the steps (box
jitter, missed objects, false alarms, wrong answers, unparseable text), serialised by the data engine's own answer
formatters, parsed by `eval.parsers` and scored by the real rewards (`rewards.score`; parts stored under
``reward/<task>/<reward>/<part>`` as the trainer stores them). Prompts are the data engine's chat messages as TRL
logs them; zoom chains carry real crops. `build_demo_evals` adds SFT and RL eval dirs scored by the real scorer
(RL's classification collapsed onto one label), the GRPO data sources' config and a simulated trainer log. Then it
serves the run and saves 1400x1000 Chromium screenshots of the overview, a step view and a sample view, and
element screenshots of the verdict table, a collapse warning, the training dynamics and the group inspector. Nothing here is a training result: the curves rise because the simulated
error rates fall.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

G = 4


def _sim(task: str, target: dict, skill: float, rng: np.random.Generator, frame, image: str, run: Path,
         tag: str) -> tuple[str, list[dict]]:
    """(completion text, zoom turns) of one simulated completion at `skill` in [0, 1]."""
    from data_engine import answers as A

    if rng.random() < 0.25 * (1 - skill):
        return rng.choice(["I think there are some objects here.", "The image shows an area.", "<box>12, 40"]), []
    jitter = 30.0 * (1 - skill) + 2.0
    if task == "detection":
        objs = [{"label": o["label"], "poly": list(np.asarray(o["poly"], float) + rng.normal(0, jitter, 8))}
                for o in target["objects"] if rng.random() < 0.3 + 0.7 * skill]
        if rng.random() < 0.6 * (1 - skill):
            x, y = rng.uniform(10, 180, 2)
            objs.append({"label": str(rng.choice(target["classes"])), "poly": [x, y, x + 30, y, x + 30, y + 30, x, y + 30]})
        return (A.format_detection(objs, target["classes"], frame, "poly", "text") if objs else "There are none."), []
    if task == "grounding":
        box = list(np.asarray(target["box"], float) + rng.normal(0, jitter, 4))
        return A.format_grounding(box, target["expression"], frame, "text"), []
    if task == "caption":
        refs = target["references"]
        return (refs[int(rng.integers(len(refs)))] if rng.random() < 0.3 + 0.6 * skill
                else "An aerial image of a grey area with some objects."), []
    if task == "classification":
        label = target["label"] if rng.random() < 0.3 + 0.6 * skill else str(rng.choice(target["classes"]))
        return A.format_classification(label), []
    answer = str(target["answer"])
    wrong = {"yes": "no", "no": "yes"}.get(answer, str(rng.choice(["red", "white", "2", "0", "blue"])))
    text = A.format_vqa(answer if rng.random() < 0.35 + 0.6 * skill else wrong)
    if task != "zoom_vqa":
        return text, []
    turns = []
    with Image.open(image) as im:
        for k in range(int(rng.integers(0 if skill < 0.3 else 1, 3))):
            ev = np.asarray(target["evidence"][0], float)
            box = [int(v) for v in np.clip(ev + rng.normal(0, 60 * (1 - skill) + 10, 4) + [-40, -40, 40, 40], 0,
                                           [im.width, im.height, im.width, im.height])]
            if box[2] <= box[0] + 8 or box[3] <= box[1] + 8:
                continue
            crop = run / "crops" / f"{tag}_{k}.jpg"
            crop.parent.mkdir(parents=True, exist_ok=True)
            im.crop(box).convert("RGB").save(crop, quality=85)
            turns.append({"tool_call": A.format_zoom_call(box), "box": box, "view": k, "valid": True,
                          "crop_image": f"crops/{crop.name}", "error": None})
    return text, turns


def build_demo_run(built: Path, run: Path, steps: int = 30, per_task: int = 2, seed: int = 0) -> Path:
    """Write the simulated rollout store of `steps` steps into `run` (see the module docstring)."""
    from data_engine.build import load_built
    from data_engine.frames import Frame
    from data_engine.render import task_prompt
    from eval.parsers import parse
    from rewards import PRIMARY, score
    from rollout.store import RolloutWriter

    rows = [r for r in load_built(built) if r["split"] == "train"]
    picked: list[dict] = []
    for task in ("detection", "grounding", "vqa", "caption", "classification", "zoom_vqa"):
        picked += [r for r in rows if r["task"] == task][:per_task]
    rng = np.random.default_rng(seed)
    writer = RolloutWriter(run)
    for step in range(steps):
        skill = min(0.95, 0.1 + 0.85 * step / max(1, steps - 1) + rng.normal(0, 0.05))
        out = []
        for gi, row in enumerate(picked):
            target = json.loads(row["target"])
            task = row["task"]
            prompt = json.dumps(task_prompt(task, target, len(row["images"]), "hbb", "text"))
            frame = Frame.identity(row["width"], row["height"])  # completions in original pixels
            sims = [_sim(task, target, skill, rng, frame, row["images"][0], run, f"s{step}_g{gi}_{k}")
                    for k in range(G)]
            scored = []
            for text, turns in sims:
                sample = dict(row, turns=turns) if task == "zoom_vqa" else row
                s = score(task, text, sample)
                kw = {"box_type": "poly"} if task == "detection" else {}
                pred = parse(task, text, None, classes=target.get("classes"), **kw)
                scored.append((text, turns, s, pred))
            rewards = np.array([s["overall"] for _, _, s, _ in scored])
            adv = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
            for k, (text, turns, s, pred) in enumerate(scored):
                rec = {"step": step, "group": f"{step}:{gi}", "sample_id": row["id"], "task": task,
                       "source": row["source"], "generation": k, "prompt": prompt, "completion": text,
                       "turns": json.dumps(turns), "prediction": json.dumps(pred, default=str),
                       "target": row["target"], "reward": float(rewards[k]), "advantage": float(adv[k]),
                       "images": row["images"], "width": row["width"], "height": row["height"],
                       "length": int(len(text.split()) * 1.6) + 2, "truncated": False}
                rec.update({f"reward/{task}/{PRIMARY[task]}/{p}": float(v) for p, v in s.items() if p != "overall"})
                out.append(rec)
        writer.write_step(step, out)
    (run / "trainer_state.json").write_text(json.dumps({"global_step": steps,
                                                        "log_history": simulated_trainer_log(steps, seed)}))
    return run


EVAL_TASKS = ("detection", "grounding", "vqa", "caption", "classification")
# The GRPO config's data sources (what `trained by GRPO?` reads): the demo trains classification and VQA.
TRAINED = ("classification", "vqa")


def build_demo_evals(built: Path, run: Path, limit: int = 24, seed: int = 0) -> list[Path]:
    """Write ``eval/test/{sft,rl}`` into `run` with the real scorer (`georft eval --predictions`, trivial baselines
    included) over the val split's simulated answers: SFT at skill 0.35, RL at 0.8 except classification, where SFT
    names a wrong class and RL answers the most common training label on every image (a gain carried by one
    repeated answer: the collapse the verdict table must flag). Also writes
    the GRPO run's resolved-config stand-in (``grpo/config.yaml``: the data sources' tasks) and a simulated
    ``trainer_state.json`` log for the training-dynamics panel. Simulated, like the rollouts: not a training result.
    """
    from collections import Counter

    from data_engine.build import load_built
    from data_engine.frames import Frame
    from georft.cli import main as cli

    rows = load_built(built)
    train_labels = Counter(json.loads(r["target"]).get("label") for r in rows
                           if r["split"] == "train" and r["task"] == "classification")
    majority = train_labels.most_common(1)[0][0]
    val = []
    for task in EVAL_TASKS:
        val += [r for r in rows if r["split"] == "val" and r["task"] == task][:limit]
    suite = {"name": "demo-like", "data_root": str(built), "box_type": "hbb", "java_metrics": False,
             "datasets": [{"name": f"synth_{t}", "path": ".", "split": "val", "tasks": [t]} for t in EVAL_TASKS]}
    spath = run / "demo_suite.json"
    spath.write_text(json.dumps(suite), encoding="utf-8")
    outs = []
    for name, skill in (("sft", 0.35), ("rl", 0.8)):
        rng = np.random.default_rng(seed + (name == "rl"))
        pred = run / f"demo_{name}.jsonl"
        with pred.open("w", encoding="utf-8") as fh:
            for r in val:
                target = json.loads(r["target"])
                if r["task"] == "classification":
                    from data_engine import answers as A

                    # SFT confuses every scene with another class; RL answers the majority label everywhere, so
                    # its gain is carried by switching to one repeated answer (flagged as collapse)
                    wrong = [c for c in target["classes"] if c not in (target["label"], majority)]
                    text = A.format_classification(majority if name == "rl" else wrong[0])
                else:
                    text, _ = _sim(r["task"], target, skill, rng, Frame.identity(r["width"], r["height"]),
                                   r["images"][0], run, f"eval_{name}_{r['id']}")
                fh.write(json.dumps({"id": r["id"], "dataset": f"synth_{r['task']}", "task": r["task"],
                                     "target": target, "width": r["width"], "height": r["height"],
                                     "images": r["images"], "completion": text}) + "\n")
        out = run / "eval" / "test" / name
        if cli(["eval", "--predictions", str(pred), "--suite", str(spath), "--out", str(out)]) != 0:
            raise RuntimeError(f"georft eval failed for the demo's {name} predictions")
        outs.append(out)
    (run / "grpo").mkdir(exist_ok=True)
    (run / "grpo" / "config.yaml").write_text(
        "# the demo-like run's GRPO data sources (a resolved config holds these and everything else)\n"
        f"data:\n  sources:\n  - {{path: ., split: train, tasks: [{', '.join(TRAINED)}]}}\n", encoding="utf-8")
    return outs


def simulated_trainer_log(steps: int, seed: int = 0) -> list[dict]:
    """A trainer_state.json ``log_history`` with TRL's GRPO keys, one entry per step (simulated curves)."""
    rng = np.random.default_rng(seed)
    out, tokens = [], 0
    for s in range(1, steps + 1):
        f = s / steps
        tokens += int(8 * 4 * (40 - 20 * f))
        out.append({"step": s, "loss": float(0.02 * rng.normal()), "kl": float(0.002 + 0.03 * f * (1 + 0.2 * rng.normal())),
                    "entropy": float(1.2 - 0.6 * f + 0.05 * rng.normal()), "grad_norm": float(abs(1.5 - f + 0.3 * rng.normal())),
                    "learning_rate": 1e-4 * (1 - f), "step_time": float(1.0 + 0.1 * rng.normal()), "num_tokens": tokens,
                    "clip_ratio/low_mean": float(max(0.0, 0.01 * f + 0.003 * rng.normal())),
                    "clip_ratio/high_mean": float(max(0.0, 0.02 * f + 0.003 * rng.normal())),
                    "clip_ratio/region_mean": float(max(0.0, 0.03 * f + 0.004 * rng.normal()))})
    return out


def screenshots(run: Path, images_root: Path, out: Path, chromium: str = "/usr/bin/chromium") -> list[Path]:
    """Serve `run` and save overview, step and sample screenshots (1400x1000) under `out`."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    from dashboard.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv = uvicorn.Server(uvicorn.Config(create_app([run], [images_root]), log_level="warning"))
    threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    out.mkdir(parents=True, exist_ok=True)
    steps = sorted(int(p.stem.split("_")[1]) for p in (run / "rollouts").glob("step_*.parquet"))
    mid = steps[len(steps) // 3]
    late = steps[2 * len(steps) // 3]
    import pyarrow.compute as pc

    from rollout.store import RolloutReader

    t = RolloutReader(run).read_step(late, columns=["group", "generation", "task", "reward"])
    t = t.filter(pc.equal(t["task"], "detection")).sort_by([("reward", "descending")])
    best = t.slice(0, 1).to_pylist()[0]
    shots = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, viewport={"width": 1400, "height": 1000},
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        page = browser.new_page()
        page.goto(f"{url}/run/0")
        page.wait_for_selector("#charts[data-ready='1']")
        shots.append(out / "dashboard_overview.png")
        page.screenshot(path=str(shots[-1]))
        page.goto(f"{url}/run/0/step/{mid}?task=detection")
        page.wait_for_load_state("networkidle")
        shots.append(out / "dashboard_step.png")
        page.screenshot(path=str(shots[-1]))
        page.goto(f"{url}/run/0/rollout?step={late}&group={best['group']}&gen={best['generation']}")
        page.wait_for_load_state("networkidle")
        shots.append(out / "dashboard_sample.png")
        page.screenshot(path=str(shots[-1]))
        if (run / "eval").is_dir():
            page.goto(f"{url}/")
            page.wait_for_load_state("networkidle")
            shots.append(out / "dashboard_verdict.png")
            page.locator("section.verdict").screenshot(path=str(shots[-1]))
            shots.append(out / "dashboard_collapse_warning.png")
            page.locator("table.verdict tr.collapsed").first.screenshot(path=str(shots[-1]))
        page.goto(f"{url}/run/0")
        page.wait_for_selector("#charts[data-ready='1']")
        shots.append(out / "dashboard_dynamics.png")
        page.locator("#chart-dynamics").screenshot(path=str(shots[-1]))
        shots.append(out / "dashboard_collapse_chart.png")
        page.locator("#chart-collapse").screenshot(path=str(shots[-1]))
        page.goto(f"{url}/run/0/step/{mid}?task=classification&sort=std_desc")
        page.wait_for_load_state("networkidle")
        shots.append(out / "dashboard_inspector.png")
        page.locator("section.group").first.screenshot(path=str(shots[-1]))
        browser.close()
    srv.should_exit = True
    return shots


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder for the screenshots (docs/img)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--keep", type=Path, default=None, help="build the world and run here and keep them")
    args = ap.parse_args()
    from data_engine.build import build
    from data_engine.synth import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        recipe = synthesize(root / "world" / "raw", seed=0, size="tiny")
        build(recipe, root / "world" / "built", progress=False)
        t = time.perf_counter()
        run = build_demo_run(root / "world" / "built", root / "demo_run", steps=args.steps)
        build_demo_evals(root / "world" / "built", run)
        print(f"demo-like run: {args.steps} steps in {time.perf_counter() - t:.1f} s at {run}", file=sys.stderr)
        for p in screenshots(run, root / "world" / "raw", args.out):
            print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
