"""Bi-temporal synthetic scenes: before/after pairs where buildings appear or vanish and roads are built.

Written in the real formats (docs/multi-image.md §3-§6):

| folder | format (adapter) | task | content |
|---|---|---|---|
| `levir_cc/` | LEVIR-CC `LevirCCcaptions.json` + `images/<split>/{A,B}/` (`levir_cc`) | change_caption | five template change captions per pair, about a third "no change" pairs |
| `levir_cd/` | LEVIR-CD `<split>/{A,B,label}/` (`levir_cd`) | change_detection | 0/255 change masks of the buildings that appeared or vanished |
| `xbd/` | xBD `<split>/{images,labels}/` (`xbd`) | change_detection + damage | damage levels visible on the roofs (dark patches, half rubble, rubble), disaster type visible on the ground (water, burn, debris) |
| `fmow/` | fMoW `<split>/<category>/<site>/` (`fmow`) | temporal_classification | 3-4 frames per site; a construction site becomes a building, crops green over seasons |

A pair shares its ground, road and the buildings that stay; the after image gets a global illumination change and
fresh grain (as real pairs taken on two dates), so "no change" never means identical pixels. Buildings are
axis-aligned roofs (orange, white or blue) with a dark outline and a shadow, large relative to the 128-px image so a
~1M-parameter model can see them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from data_engine.synth.draw import add_road, ground

SIDE = 128
ROOFS = {"orange": (205, 110, 55), "white": (225, 225, 220), "blue": (60, 105, 190)}
NUMBERS = ("no", "one", "two", "three", "four", "five")
NO_CHANGE_REFERENCES = (  # LEVIR-CC's no-change sentence first (docs/multi-image.md §3), then variants
    "the scene is the same as before .", "there is no change .", "no change has occurred .",
    "the two scenes seem identical .", "nothing has changed in the scene .",
)
CHANGE_CODES = {"change_caption": 11, "change_detection": 12, "damage": 13, "temporal_classification": 14}
SPLIT_CODES = {"train": 0, "val": 1}


@dataclass
class Pair:
    """One before/after pair: both images, the change mask (uint8 0/255) and what happened."""

    before: Image.Image
    after: Image.Image
    mask: np.ndarray
    added: list[tuple[int, int, int, int]] = field(default_factory=list)
    removed: list[tuple[int, int, int, int]] = field(default_factory=list)
    road_built: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.road_built)


def _place(rng: np.random.Generator, n: int, taken: list[tuple[int, int, int, int]], side: int):
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(n * 20):
        if len(boxes) == n:
            break
        w, h = (int(v) for v in rng.integers(side // 8, side // 4, 2))
        x, y = int(rng.integers(2, side - w - 2)), int(rng.integers(2, side - h - 2))
        box = (x, y, x + w, y + h)
        if all(x >= b[2] + 4 or b[0] >= box[2] + 4 or y >= b[3] + 4 or b[1] >= box[3] + 4 for b in taken + boxes):
            boxes.append(box)
    return boxes


def _draw_buildings(img: Image.Image, boxes, roofs) -> None:
    d = ImageDraw.Draw(img)
    for (x1, y1, x2, y2), roof in zip(boxes, roofs, strict=True):
        d.rectangle([x1 + 2, y1 + 2, x2 + 1, y2 + 1], fill=(45, 45, 45))  # shadow
        d.rectangle([x1, y1, x2 - 1, y2 - 1], fill=ROOFS[roof], outline=(60, 50, 45))


def bitemporal_pair(rng: np.random.Generator, side: int = SIDE, no_change: float = 1 / 3,
                    allow_road: bool = True) -> Pair:
    """A before/after pair; with probability ``no_change`` nothing changes (only illumination and grain)."""
    base_img, _ = ground(rng, side, side)
    has_road = allow_road and rng.random() < 0.4
    road_seed = int(rng.integers(2**31))
    if has_road:
        add_road(np.random.default_rng(road_seed), base_img)
    stay = _place(rng, int(rng.integers(0, 4)), [], side)
    added: list = []
    removed: list = []
    road_built = False
    if rng.random() >= no_change:
        kind = rng.choice(["add", "add", "remove", "road"] if allow_road and not has_road else ["add", "add", "remove"])
        if kind == "remove" and not stay:
            kind = "add"
        if kind == "add":
            added = _place(rng, int(rng.integers(1, 4)), stay, side)
        elif kind == "remove":
            k = int(rng.integers(1, len(stay) + 1))
            removed, stay = stay[:k], stay[k:]
        else:
            road_built = True
    roofs = {b: str(rng.choice(list(ROOFS))) for b in stay + added + removed}
    before, after = base_img.copy(), base_img.copy()
    if road_built:
        add_road(np.random.default_rng(road_seed), after)
    _draw_buildings(before, stay + removed, [roofs[b] for b in stay + removed])
    _draw_buildings(after, stay + added, [roofs[b] for b in stay + added])
    arr = np.asarray(after, dtype=np.float32) * rng.uniform(0.85, 1.12) + rng.normal(0, 4.0, (side, side, 1))
    after = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    mask = np.zeros((side, side), np.uint8)
    for x1, y1, x2, y2 in added + removed:
        mask[y1:y2, x1:x2] = 255
    return Pair(before, after, mask, added, removed, road_built)


def change_captions(p: Pair) -> list[str]:
    """Five template references for a pair (LEVIR-CC style: lower case, a space before the final full stop)."""
    if not p.changed:
        return list(NO_CHANGE_REFERENCES)
    if p.road_built:
        return ["a road is built .", "a new road appears .", "a road is constructed across the area .",
                "a road has been built on the land .", "a straight road appears in the scene ."]
    n = len(p.added) or len(p.removed)
    word = NUMBERS[min(n, len(NUMBERS) - 1)]
    noun = "building" if n == 1 else "buildings"
    verb = "is" if n == 1 else "are"
    if p.added:
        return [f"{word} {noun} {verb} built .", f"{word} new {noun} appear{'s' if n == 1 else ''} .",
                f"{word} {noun} {verb} constructed on the bare land .", f"there {verb} {word} new {noun} .",
                f"some houses are built and {word} {noun} appear{'s' if n == 1 else ''} ."]
    return [f"{word} {noun} {verb} demolished .", f"{word} {noun} disappear{'s' if n == 1 else ''} .",
            f"{word} {noun} {verb} removed from the scene .", f"{word} {noun} {verb} torn down .",
            f"the scene loses {word} {noun} ."]


def _rng(seed: int, task: str, split: str, i: int) -> np.random.Generator:
    return np.random.default_rng([seed, CHANGE_CODES[task], SPLIT_CODES[split], i])


def _counts(size) -> list[tuple[str, int]]:
    # Fewer pairs than the single-image tasks: each new writer stays within a few seconds at size "small".
    return [("train", min(size.train, 300)), ("val", min(size.val, 200))]


def write_change_caption(out: Path, seed: int, size) -> dict:
    """LEVIR-CC layout: `LevirCCcaptions.json` and `images/<split>/{A,B}/<split>_<6 digits>.png`."""
    entries, sentid = [], 0
    for split, n in _counts(size):
        for sub in ("A", "B"):
            (out / "images" / split / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            p = bitemporal_pair(_rng(seed, "change_caption", split, i))
            name = f"{split}_{i:06d}.png"
            p.before.save(out / "images" / split / "A" / name, compress_level=1)  # fast: noisy pixels barely compress
            p.after.save(out / "images" / split / "B" / name, compress_level=1)
            refs = change_captions(p)
            imgid = len(entries)
            sents = [{"tokens": r.split()[:-1], "raw": r, "imgid": imgid, "sentid": sentid + j}
                     for j, r in enumerate(refs)]
            sentid += len(sents)
            entries.append({"filepath": split, "filename": name, "imgid": imgid, "split": split,
                            "changeflag": int(p.changed), "sentids": [s["sentid"] for s in sents],
                            "sentences": sents})
    (out / "LevirCCcaptions.json").write_text(json.dumps({"images": entries}))
    return {"name": "synth_levir_cc", "format": "levir_cc", "root": out.name}


def write_change_detection(out: Path, seed: int, size) -> dict:
    """LEVIR-CD re-arranged layout: `<split>/{A,B,label}/<split>_<n>.png`, label 0/255 (buildings only)."""
    for split, n in _counts(size):
        for sub in ("A", "B", "label"):
            (out / split / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            p = bitemporal_pair(_rng(seed, "change_detection", split, i), allow_road=False)
            name = f"{split}_{i}.png"
            p.before.save(out / split / "A" / name, compress_level=1)
            p.after.save(out / split / "B" / name, compress_level=1)
            Image.fromarray(p.mask, "L").save(out / split / "label" / name)
    return {"name": "synth_levir_cd", "format": "levir_cd", "root": out.name}


# ------------------------------------------------------------------------------------------ xBD-style damage pairs
DISASTERS = ("wind", "flooding", "fire")
DAMAGE = ("no-damage", "minor-damage", "major-damage", "destroyed")


def _damage_building(img: Image.Image, box, roof: str, level: str, rng: np.random.Generator) -> None:
    """Draw a building after the disaster: intact roof, dark patches (minor), half rubble (major) or rubble."""
    x1, y1, x2, y2 = box
    d = ImageDraw.Draw(img)
    if level != "destroyed":
        _draw_buildings(img, [box], [roof])
    if level == "minor-damage":
        for _ in range(2):
            px, py = int(rng.integers(x1, max(x1 + 1, x2 - 4))), int(rng.integers(y1, max(y1 + 1, y2 - 4)))
            d.rectangle([px, py, px + 3, py + 3], fill=(60, 40, 30))
    elif level in ("major-damage", "destroyed"):
        h = (y2 - y1) // 2 if level == "major-damage" else y2 - y1
        arr = np.asarray(img).copy()
        noise = rng.integers(70, 150, (h, x2 - x1, 1)) * np.array([[[1.0, 0.85, 0.7]]])
        arr[y2 - h : y2, x1:x2] = noise.astype(np.uint8)
        img.paste(Image.fromarray(arr))


def damage_pair(rng: np.random.Generator, side: int = SIDE):
    """A pre/post pair of 1-4 buildings, each with a damage level, and a disaster type with a visible cue."""
    base, _ = ground(rng, side, side)
    boxes = _place(rng, int(rng.integers(1, 5)), [], side)
    roofs = [str(rng.choice(list(ROOFS))) for _ in boxes]
    levels = [str(rng.choice(DAMAGE)) for _ in boxes]
    disaster = str(rng.choice(DISASTERS))
    pre, post = base.copy(), base.copy()
    _draw_buildings(pre, boxes, roofs)
    if disaster == "flooding":  # brown-blue water over the ground
        arr = np.asarray(post, np.float32) * 0.5 + np.array([40, 70, 110], np.float32)
        post = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    elif disaster == "fire":  # burnt dark ground
        arr = np.asarray(post, np.float32) * 0.45
        post = Image.fromarray(arr.astype(np.uint8))
    else:  # wind: scattered debris
        d = ImageDraw.Draw(post)
        for _ in range(25):
            x, y = (int(v) for v in rng.integers(0, side - 3, 2))
            d.line([x, y, x + 3, y + int(rng.integers(-2, 3))], fill=(110, 90, 70), width=1)
    for box, roof, level in zip(boxes, roofs, levels, strict=True):
        _damage_building(post, box, roof, level, rng)
    return pre, post, boxes, levels, disaster


def _wkt(box) -> str:
    x1, y1, x2, y2 = box
    return f"POLYGON (({x1} {y1}, {x2} {y1}, {x2} {y2}, {x1} {y2}, {x1} {y1}))"


def write_damage(out: Path, seed: int, size) -> dict:
    """xBD layout: `<split>/{images,labels}/synth_<8 digits>_{pre,post}_disaster.{png,json}` (train and val)."""
    for split, n in _counts(size):
        n = min(n, 150 if split == "train" else 200)  # each pair gives 2-5 rows; 200 held-out pairs for eval
        for sub in ("images", "labels"):
            (out / split / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pre, post, boxes, levels, disaster = damage_pair(_rng(seed, "damage", split, i))
            stem = f"synth-{disaster}_{i:08d}"
            pre.save(out / split / "images" / f"{stem}_pre_disaster.png", compress_level=1)
            post.save(out / split / "images" / f"{stem}_post_disaster.png", compress_level=1)
            for t in ("pre", "post"):
                xy = [{"properties": {"feature_type": "building", "uid": f"{i}-{k}",
                                      **({"subtype": lv} if t == "post" else {})}, "wkt": _wkt(b)}
                      for k, (b, lv) in enumerate(zip(boxes, levels, strict=True))]
                meta = {"disaster": f"synth-{disaster}", "disaster_type": disaster, "width": SIDE, "height": SIDE,
                        "img_name": f"{stem}_{t}_disaster.png"}
                (out / split / "labels" / f"{stem}_{t}_disaster.json").write_text(
                    json.dumps({"features": {"xy": xy, "lng_lat": []}, "metadata": meta}))
    return {"name": "synth_xbd", "format": "xbd", "root": out.name, "max_buildings": 2}


# --------------------------------------------------------------------------------- fMoW-style multi-temporal sites
SITE_CLASSES = ("construction_site", "office_building", "crop_field", "parking_lot_or_garage")


def site_frames(rng: np.random.Generator, label: str, n: int, side: int = SIDE) -> list[Image.Image]:
    """``n`` frames of one site, oldest first; the class shows over time (a construction site becomes a building)."""
    base, _ = ground(rng, side, side)
    box = _place(rng, 1, [], side)[0]
    frames = []
    for k in range(n):
        img = base.copy()
        d = ImageDraw.Draw(img)
        x1, y1, x2, y2 = (box[0] // 2, box[1] // 2, box[0] // 2 + side // 2, box[1] // 2 + side // 2)
        if label == "construction_site":  # bare pit, then a growing frame, then a roof
            d.rectangle([x1, y1, x2, y2], fill=(150, 120, 85))
            grown = int((x2 - x1) * (k + 1) / n)
            d.rectangle([x1, y1, x1 + grown, y2], outline=(90, 90, 90), width=2)
            if k == n - 1:
                _draw_buildings(img, [(x1 + 4, y1 + 4, x2 - 4, y2 - 4)], ["white"])
        elif label == "office_building":
            _draw_buildings(img, [(x1, y1, x2, y2)], ["white"])
        elif label == "crop_field":
            colour = (60 + 30 * (k % 2), 140 + 20 * k, 50)  # greener every season
            for r in range(0, side, 8):
                d.rectangle([0, r, side, r + 4], fill=colour)
        else:
            d.rectangle([x1, y1, x2, y2], fill=(95, 95, 98))
            for c in range(int(rng.integers(2, 6))):
                cx = x1 + 4 + 10 * c
                d.rectangle([cx, y1 + 6, cx + 6, y1 + 14], fill=tuple(int(v) for v in rng.integers(30, 230, 3)))
        arr = np.asarray(img, np.float32) * rng.uniform(0.85, 1.12) + rng.normal(0, 4.0, (side, side, 1))
        frames.append(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    return frames


def write_temporal(out: Path, seed: int, size) -> dict:
    """fMoW layout: `<split>/<category>/<category>_<i>/<category>_<i>_<n>_rgb.{jpg,json}`, 3-4 frames per site,
    written in shuffled `<n>` order (fMoW's `<n>` is not in time order; the timestamps are)."""
    for split, n in _counts(size):
        n = min(n, 200)  # 200 held-out sites: the demo's 200 samples per eval set
        for i in range(n):
            rng = _rng(seed, "temporal_classification", split, i)
            label = SITE_CLASSES[i % len(SITE_CLASSES)]
            k = int(rng.integers(3, 5))
            frames = site_frames(rng, label, k)
            order = rng.permutation(k)
            site = out / split / label / f"{label}_{i}"
            site.mkdir(parents=True, exist_ok=True)
            for t, idx in enumerate(order):
                stem = f"{label}_{i}_{t}_rgb"
                frames[idx].save(site / f"{stem}.jpg", quality=90)
                (site / f"{stem}.json").write_text(json.dumps({
                    "timestamp": f"{2014 + int(idx)}-0{1 + int(rng.integers(0, 9))}-15T10:00:00Z", "gsd": 0.5,
                    "img_width": SIDE, "img_height": SIDE, "cloud_cover": 0,
                    "bounding_boxes": [{"category": label, "box": [0, 0, SIDE, SIDE], "ID": 1, "visible": "True"}]}))
    return {"name": "synth_fmow", "format": "fmow", "root": out.name, "classes": list(SITE_CLASSES), "max_frames": 4}
