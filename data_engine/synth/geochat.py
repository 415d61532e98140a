"""Synthetic GeoChat-Instruct referring conversations: expressions that pick SEVERAL objects ("all red ships").

Written in the real GeoChat-Instruct format (`data_engine.adapters.geochat`, docs/dataset-layouts.md §1): one
LLaVA-style JSON list per split, ``GeoChat_Instruct_{train,val}.json``, each record one 224-px scene with a
``[refer] give me the location of <p>all …</p>`` turn answered by ``{<x1><y1><x2><y2>|<θ>}`` boxes on the 0-100
grid (x1, y1 rounded down and x2, y2 up, so a box never shrinks below its object) for every object the expression
names, and distractors of other classes or colours in the same scene; then an ``[identify] what is this {…}`` turn
on one object answered with its colour and class ("a red ship"), a region_caption row; then a ``[grounding]`` turn
describing every object with its boxes ("There are <p>two red ships</p> {…}{…} and <p>one white plane</p> {…} in the
scene."), a grounding_description row.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.synth.draw import CLASSES, NAMES, PLURALS, VEHICLE_COLOURS, scene

NUMBERS = ("no", "one", "two", "three", "four", "five", "six")
TASK_CODE = 16  # generator stream of this writer (world.py's task codes are 1-6)
MAX_TRAIN, MAX_VAL = 300, 200  # ~10 s for the small world on a loaded 2-core machine
_FIXED = {"plane": "white", "ship": "red", "storage-tank": "yellow"}


def _grid(box: list[float], w: int, h: int) -> str:
    x1, y1, x2, y2 = box
    v = [math.floor(x1 * 100 / w), math.floor(y1 * 100 / h), math.ceil(x2 * 100 / w), math.ceil(y2 * 100 / h)]
    v = [min(100, max(0, int(t))) for t in v]
    return "{" + "".join(f"<{t}>" for t in v) + "|<0>}"


def referring_scene(rng: np.random.Generator) -> tuple[Any, list, str, list[int]]:
    """(image, objects, expression, indices of the objects it names): 1-3 named objects, 1-3 distractors."""
    target = str(rng.choice(CLASSES))
    n_hit, n_other = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if target == "vehicle":
        colour = str(rng.choice(list(VEHICLE_COLOURS)))
        any_colour = bool(rng.random() < 0.25)
        others_pool = [c for c in CLASSES if c != "vehicle"] if any_colour else list(CLASSES)
    else:
        colour, any_colour = _FIXED[target], False
        others_pool = [c for c in CLASSES if c != target]
    labels = [target] * n_hit + [str(c) for c in rng.choice(others_pool, size=n_other)]
    colours = {i: colour for i in range(n_hit)} if target == "vehicle" else {}
    if target == "vehicle" and not any_colour:  # distractor vehicles get another colour
        rest = [c for c in VEHICLE_COLOURS if c != colour]
        colours.update({i: str(rng.choice(rest)) for i in range(n_hit, len(labels)) if labels[i] == "vehicle"})
    img, objs, _ = scene(rng, labels, colours=colours)
    expression = f"all {PLURALS[target]}" if any_colour else f"all {colour} {PLURALS[target]}"
    hits = [i for i, o in enumerate(objs) if o.label == target and (any_colour or o.colour == colour)]
    return img, objs, expression, hits


def write_referring(out: Path, seed: int, size: Any) -> dict:
    """GeoChat-Instruct JSON per split plus the images; returns the recipe source."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    for split, code, n in (("train", 0, min(size.train, MAX_TRAIN)), ("val", 1, min(size.val, MAX_VAL))):
        records = []
        for i in range(n):
            rng = np.random.default_rng([seed, TASK_CODE, code, i])
            img, objs, expression, hits = referring_scene(rng)
            name = f"R{split[0]}{i:05d}.png"
            img.save(out / "images" / name, compress_level=1)
            answer = "".join(_grid(objs[k].hbb, *img.size) for k in hits)
            o = objs[int(rng.integers(len(objs)))]  # an [identify] turn on one object of the scene
            groups: dict[tuple[str, str], list] = {}
            for obj in objs:
                groups.setdefault((obj.colour, obj.label), []).append(obj)
            parts = []
            for (colour, label), members in groups.items():
                noun = PLURALS[label] if len(members) > 1 else NAMES[label]
                count = NUMBERS[len(members)] if len(members) < len(NUMBERS) else str(len(members))
                boxes = "".join(_grid(m.hbb, *img.size) for m in members)
                parts.append(f"<p>{count} {colour} {noun}</p> {boxes}")
            grounded = "There " + ("are " if len(objs) > 1 else "is ") + ", ".join(parts[:-1]) + (
                " and " if len(parts) > 1 else "") + parts[-1] + " in the scene."
            records.append({"id": f"{split}_{i}", "image": name, "conversations": [
                {"from": "human", "value": f"<image>\n[refer] give me the location of <p>{expression}</p>"},
                {"from": "gpt", "value": answer},
                {"from": "human", "value": f"[identify] what is this {_grid(o.hbb, *img.size)}"},
                {"from": "gpt", "value": f"a {o.colour} {NAMES[o.label]}"},
                {"from": "human", "value": "[grounding] describe the image briefly"},
                {"from": "gpt", "value": grounded}]})
        (out / f"GeoChat_Instruct_{split}.json").write_text(json.dumps(records))
    return {"name": "synth_geochat", "format": "geochat", "root": out.name, "annotations": "GeoChat_Instruct_*.json",
            "image_root": "images"}
