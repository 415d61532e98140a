"""Dashboard: how fast a run with 100k rollouts opens.

    python benchmarks/bench_dashboard.py [--rows 100000] [--steps 100] [--group-size 8]

Builds a synthetic run with `RolloutWriter` (rows spread over `--steps` steps, all six tasks, realistic prompt,
completion, prediction and target JSON, one PIL image) plus a second run holding the same rows in ONE step (the
worst case for the step view), then times requests in-process through Starlette's test client on a fresh app:
app start, the overview page, its charts (`charts.json`: first build, then cached), the first group page of a
step, filtered group pages and one sample page. "First page" = overview HTML and first group page; target < 1 s
each (the charts arrive after the page, in one request).
Exit status 1 when a first page misses the target.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from PIL import Image

from data_engine.tasks import rewardable_tasks

TASKS = rewardable_tasks()
TARGET_S = 1.0


def _row(rng: random.Random, step: int, group: int, gen: int, task: str, image: str) -> dict:
    poly = [rng.uniform(0, 800) for _ in range(8)]
    pred = {"detection": {"objects": [{"label": "plane", "poly": poly}] * rng.randint(0, 6), "n_failed": 0,
                          "format_ok": rng.random() > 0.1},
            "grounding": {"box": [10, 10, 90, 90], "format_ok": True}}.get(task, {"answer": "yes", "format_ok": True})
    target = {"objects": [{"label": "plane", "poly": poly, "difficult": False}] * 4, "classes": ["plane", "ship"]} \
        if task == "detection" else {"question": "Is there a ship?", "answer": "yes"}
    turns = [{"tool_call": "zoom", "box": [0, 0, 100, 100], "crop_image": image}] if task == "zoom_vqa" else []
    reward = rng.random()
    return {"step": step, "group": f"s{step}-g{group}", "sample_id": f"{task}-{group}", "task": task,
            "source": f"src{group % 3}", "generation": gen, "prompt": "<image> " + "Describe the scene. " * 15,
            "completion": "plane 1 2 3 4 5 6 7 8\n" * rng.randint(1, 10), "turns": json.dumps(turns),
            "prediction": json.dumps(pred), "target": json.dumps(target), "reward": reward,
            "advantage": reward - 0.5, "images": [image], "length": rng.randint(5, 400), "truncated": False,
            f"reward/{task}/format": float(pred.get("format_ok", True)), f"reward/{task}/main": reward}


def build_run(root: Path, rows: int, steps: int, group_size: int) -> Path:
    from rollout.store import RolloutWriter

    rng = random.Random(0)
    image = root / "images" / "scene.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (1024, 768), (80, 120, 90)).save(image)
    writer = RolloutWriter(root)
    per_step = rows // steps
    for s in range(steps):
        batch = []
        for k in range(per_step):
            g = k // group_size
            batch.append(_row(rng, s, g, k % group_size, TASKS[g % len(TASKS)], str(image)))
        writer.write_step(s, batch)
    return root


def time_get(client, url: str) -> tuple[float, int]:
    t = time.perf_counter()
    r = client.get(url)
    return time.perf_counter() - t, r.status_code


def bench(run: Path, label: str) -> list[tuple[str, str, float, int]]:
    t = time.perf_counter()
    from starlette.testclient import TestClient

    from dashboard.app import create_app

    app = create_app([run])
    out = [(label, "app start (imports on first run + create_app)", time.perf_counter() - t, 0)]
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        first_step = app.state.dash.runs[0].reader.steps()[0]
        for name, url in [
            ("overview page (first page)", "/run/0"),
            ("first group page (first page)", f"/run/0/step/{first_step}"),
            ("overview charts.json (first build)", "/run/0/charts.json"),
            ("overview charts.json (cached)", "/run/0/charts.json"),
            ("group page, task=detection", f"/run/0/step/{first_step}?task=detection"),
            ("group page, parse failed", f"/run/0/step/{first_step}?failed=1"),
            ("group page, reward >= 0.9, page 3", f"/run/0/step/{first_step}?rmin=0.9&page=3"),
            ("sample page", f"/run/0/rollout?step={first_step}&group=s{first_step}-g0&gen=0"),
        ]:
            dt, status = time_get(c, url)
            out.append((label, name, dt, status))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--group-size", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        many = build_run(Path(tmp) / "many_steps", args.rows, args.steps, args.group_size)
        one = build_run(Path(tmp) / "one_step", args.rows, 1, args.group_size)
        print(f"built 2 runs of {args.rows} rows ({args.steps} steps / 1 step) in {time.perf_counter() - t:.1f} s")
        results = bench(many, f"{args.steps} steps") + bench(one, "1 step")
    print("\n| run | request | seconds | status |\n|---|---|---|---|")
    for label, name, dt, status in results:
        print(f"| {label} | {name} | {dt:.3f} | {status or ''} |")
    first = [(label, name, dt) for label, name, dt, _ in results if "first page" in name]
    slow = [f for f in first if f[2] >= TARGET_S]
    bad = [r for r in results if r[3] not in (0, 200)]
    print(f"\nfirst pages under {TARGET_S:.0f} s: {'yes' if not slow else 'NO: ' + str(slow)}"
          f"{'' if not bad else '; non-200 answers: ' + str(bad)}")
    return 1 if slow or bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
