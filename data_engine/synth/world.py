"""The synthetic remote-sensing world: every task written in its REAL on-disk format, plus a build recipe.

| folder | format (adapter) | task | content |
|---|---|---|---|
| `dota/{train,val}/` | DOTA labelTxt (`dota`) | detection | 0-4 objects; header lines on some files, 0-byte files for some empty images |
| `dior_rsvg/` | DIOR-RSVG XML (`dior_rsvg`) | grounding | 2-3 objects, each with a short unique expression ("left plane") |
| `rsvqa/` | RSVQA-LR triplets (`rsvqa`) | vqa | presence / count / comp / color questions, answers balanced by construction |
| `captions/` | Karpathy JSON (`captions_karpathy`) | caption | five template references per image |
| `scenes/{train,val}/<class>/` | folder per class (`folder_classification`) | classification | airport, harbor, parking lot, tank farm, bare land |
| `lrs_vqa/` | LRS-VQA-Zoom records (`lrs_vqa`) | zoom_vqa | 2000-2600 px scenes, small objects, colour and count questions with evidence boxes |
| `levir_cc/` | LEVIR-CC (`levir_cc`) | change_caption | before/after pairs, template change captions, a third "no change" (`data_engine.synth.change`) |
| `levir_cd/` | LEVIR-CD `<split>/{A,B,label}` (`levir_cd`) | change_detection | buildings appear / vanish, 0/255 masks, a third unchanged |
| `xbd/` | xBD (`xbd`) | change_detection, damage | pre/post pairs, visible damage levels and disaster types |
| `fmow/` | fMoW-rgb (`fmow`) | temporal_classification | 3-4 frames per site, 4 classes that show over time |
| `landcover_mmseg/`, `landcover_loveda/` | mmseg / LoveDA label maps (`mmseg`, `loveda`; `data_engine.synth.landcover`) | semantic_segmentation | bare ground, vegetation, water, roads, buildings |
| `refgeo/` | refGeo JSONL + masks (`refgeo`, `data_engine.synth.refseg`) | referring_segmentation | 2 large objects, each expression's rasterised rotated rectangle |
| `geochat/` | GeoChat-Instruct JSON (`geochat`) | referring_detection | "all red ships": 1-3 named objects among 1-3 distractors (`data_engine.synth.geochat`; at most 300 train / 200 val) |
| `bigearthnet/` | BigEarthNet v1 patch folders (`bigearthnet`) | multilabel_classification | 120-px patches, 1-5 CORINE labels from what the scene shows (`data_engine.synth.bigearthnet`; at most 300 train / 200 val) |

Every task has a `train` and a `val` split. Each sample is drawn from its own generator seeded by
``(seed, task, split, index)``, so the world is identical for a given seed and size whatever the order of drawing.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_engine.errors import UserError
from data_engine.synth.bigearthnet import write_bigearthnet
from data_engine.synth.change import write_change_caption, write_change_detection, write_damage, write_temporal
from data_engine.synth.draw import CLASSES, NAMES, PLURALS, VEHICLE_COLOURS, Obj, scene
from data_engine.synth.geochat import write_referring
from data_engine.synth.landcover import write_landcover_loveda, write_landcover_mmseg
from data_engine.synth.refseg import write_referring_segmentation

NUMBERS = ("no", "one", "two", "three", "four", "five", "six")
SCENE_CLASSES = ("airport", "bare-land", "harbor", "parking-lot", "tank-farm")
ZOOM_SUFFIX = "\nAnswer the question using a single word or phrase."
TASK_CODES = {"detection": 1, "grounding": 2, "vqa": 3, "caption": 4, "classification": 5, "zoom_vqa": 6}
SPLIT_CODES = {"train": 0, "val": 1}


@dataclass(frozen=True)
class WorldSize:
    """Samples per split for the 224-px tasks, and UHR images per split (each carries `uhr_questions` questions)."""

    train: int
    val: int
    uhr_train: int
    uhr_val: int
    uhr_side: tuple[int, int]
    uhr_questions: int = 4


SIZES = {
    "tiny": WorldSize(train=6, val=4, uhr_train=1, uhr_val=1, uhr_side=(800, 1000)),
    "small": WorldSize(train=800, val=200, uhr_train=50, uhr_val=50, uhr_side=(2000, 2600)),
    "medium": WorldSize(train=4000, val=500, uhr_train=200, uhr_val=100, uhr_side=(2000, 4000)),
}


def _rng(seed: int, task: str, split: str, i: int) -> np.random.Generator:
    return np.random.default_rng([seed, TASK_CODES[task], SPLIT_CODES[split], i])


def _splits(size: WorldSize) -> list[tuple[str, int]]:
    return [("train", size.train), ("val", size.val)]


def _fmt(v: float) -> str:
    return f"{v:.1f}"


# --------------------------------------------------------------------------------------------------------- detection
def write_detection(out: Path, seed: int, size: WorldSize) -> dict:
    """DOTA-style split folders; header lines on a third of the files, 0-byte files for header-less negatives."""
    for split, n in _splits(size):
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "labelTxt").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rng = _rng(seed, "detection", split, i)
            k = int(rng.choice(5, p=[0.12, 0.22, 0.24, 0.22, 0.2]))
            labels = [str(c) for c in rng.choice(CLASSES, size=k)]
            img, objs, _ = scene(rng, labels)
            stem = f"S{split[0]}{i:05d}"
            img.save(out / split / "images" / f"{stem}.png", compress_level=1)
            lines = ["imagesource:GeoRFT-synth", "gsd:0.5"] if i % 3 == 0 else []
            lines += [" ".join(_fmt(v) for v in o.poly) + f" {o.label} 0" for o in objs]
            (out / split / "labelTxt" / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return {"name": "synth_det", "format": "dota", "root": out.name, "classes": list(CLASSES)}


# --------------------------------------------------------------------------------------------------------- grounding
def expressions(objs: list[Obj]) -> list[str]:
    """A short expression per object, unique within the image: "ship", or "left plane" for a pair.

    No leading article: the grounding prompt template already supplies it ("find the left plane").
    """
    out = []
    for o in objs:
        same = [p for p in objs if p.label == o.label]
        if len(same) == 1:
            out.append(NAMES[o.label])
            continue
        other = same[1] if same[0] is o else same[0]
        dx, dy = o.cx - other.cx, o.cy - other.cy
        word = ("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else ("lower" if dy > 0 else "upper")
        out.append(f"{word} {NAMES[o.label]}")
    return out


def _rsvg_xml(filename: str, w: int, h: int, objs: list[Obj], exprs: list[str]) -> str:
    parts = [f"<annotation>\n  <filename>{filename}</filename>\n  <size><width>{w}</width><height>{h}</height>"
             "<depth>3</depth></size>"]
    for o, e in zip(objs, exprs, strict=True):
        x1, y1, x2, y2 = (int(round(v)) for v in o.hbb)
        parts.append(
            f"  <object>\n    <name>{o.label}</name>\n    <pose>Unspecified</pose>\n"
            f"    <bndbox><xmin>{max(0, x1)}</xmin><ymin>{max(0, y1)}</ymin><xmax>{min(w, x2)}</xmax>"
            f"<ymax>{min(h, y2)}</ymax></bndbox>\n    <description>{e}</description>\n  </object>"
        )
    return "\n".join(parts) + "\n</annotation>\n"


def write_grounding(out: Path, seed: int, size: WorldSize) -> dict:
    """DIOR-RSVG layout: one XML per image, split files of GLOBAL object indices (sorted file order)."""
    (out / "Annotations").mkdir(parents=True, exist_ok=True)
    (out / "JPEGImages").mkdir(parents=True, exist_ok=True)
    index, split_lines = 0, {"train": [], "val": []}
    image_no = 0
    for split, n in _splits(size):
        for i in range(n):
            rng = _rng(seed, "grounding", split, i)
            k = int(rng.integers(2, 4))
            labels: list[str] = []
            while len(labels) < k:
                c = str(rng.choice(CLASSES))
                if labels.count(c) < 2:
                    labels.append(c)
            img, objs, _ = scene(rng, labels)
            image_no += 1
            stem = f"{image_no:05d}"  # sorted names = drawing order, so global indices are sequential
            img.save(out / "JPEGImages" / f"{stem}.jpg", quality=92)
            (out / "Annotations" / f"{stem}.xml").write_text(_rsvg_xml(f"{stem}.jpg", *img.size, objs,
                                                                        expressions(objs)))
            split_lines[split] += [str(index + j) for j in range(len(objs))]
            index += len(objs)
    for split, lines in split_lines.items():
        (out / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return {"name": "synth_rsvg", "format": "dior_rsvg", "root": out.name}


# --------------------------------------------------------------------------------------------------------------- vqa
def vqa_item(rng: np.random.Generator, k: int) -> tuple[list[str], dict, str, str, str]:
    """Scene labels, prescribed colours, question, answer and type; the type cycles with `k` and answers are
    drawn uniformly (yes/no 50/50, counts 0-3, four colours), then the scene is built to match."""
    qtype = ("presence", "count", "comp", "color")[k % 4]
    a, b = (str(c) for c in rng.choice([c for c in CLASSES if c != "vehicle"], size=2, replace=False))
    colours: dict[int, str] = {}
    if qtype == "presence":
        yes = bool(rng.random() < 0.5)
        counts = {a: int(rng.integers(1, 4)) if yes else 0, b: int(rng.integers(0, 3))}
        question, answer = f"Is there a {NAMES[a]}?", "yes" if yes else "no"
    elif qtype == "count":
        counts = {a: int(rng.integers(0, 4)), b: int(rng.integers(0, 3))}
        question, answer = f"How many {PLURALS[a]} are there?", str(counts[a])
    elif qtype == "comp":
        yes = bool(rng.random() < 0.5)
        if yes:
            nb = int(rng.integers(0, 3))
            na = int(rng.integers(nb + 1, 4))
        else:
            na = int(rng.integers(0, 4))
            nb = int(rng.integers(na, 4))
        counts = {a: na, b: nb}
        question, answer = f"Are there more {PLURALS[a]} than {PLURALS[b]}?", "yes" if yes else "no"
    else:
        colour = str(list(VEHICLE_COLOURS)[int(rng.integers(4))])
        counts = {"vehicle": 1, a: int(rng.integers(0, 3))}
        colours = {0: colour}
        question, answer = "What color is the vehicle?", colour
    labels = [c for c, n in counts.items() for _ in range(n)]
    return labels, colours, question, answer, qtype


def write_vqa(out: Path, seed: int, size: WorldSize) -> dict:
    """RSVQA-LR triplets: every split file lists every image/question id, inactive outside its split."""
    (out / "Images_LR").mkdir(parents=True, exist_ok=True)
    records = []  # (split, image id, question, answer, qtype); one question per image keeps answers balanced
    for split, n in _splits(size):
        for i in range(n):
            rng = _rng(seed, "vqa", split, i)
            labels, colours, q, a, t = vqa_item(rng, i)
            img, _, _ = scene(rng, labels, colours=colours, scale=1.0)
            img_id = len(records)
            img.save(out / "Images_LR" / f"{img_id}.tif", compression="tiff_lzw")
            records.append((split, img_id, q, a, t))
    for split, _ in _splits(size):
        images, questions, answers = [], [], []
        for s, k, q, a, t in records:
            if s != split:
                images.append({"id": k, "active": False})
                questions.append({"id": k, "active": False})
                answers.append({"id": k, "active": False})
                continue
            images.append({"id": k, "active": True, "questions_ids": [k], "original_name": f"synth_{k}.tif"})
            questions.append({"id": k, "date_added": 0, "img_id": k, "people_id": 0, "type": t, "question": q,
                              "answers_ids": [k], "active": True})
            answers.append({"id": k, "date_added": 0, "question_id": k, "people_id": 0, "answer": a, "active": True})
        for key, data in (("images", images), ("questions", questions), ("answers", answers)):
            (out / f"LR_split_{split}_{key}.json").write_text(json.dumps({key: data}))
    return {"name": "synth_rsvqa", "format": "rsvqa", "root": out.name}


# ----------------------------------------------------------------------------------------------------------- caption
def _count_phrase(counts: dict[str, int]) -> str:
    parts = [f"{NUMBERS[n]} {NAMES[c] if n == 1 else PLURALS[c]}" for c, n in counts.items() if n > 0]
    if not parts:
        return "no objects"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def captions(counts: dict[str, int], ctx: dict) -> list[str]:
    """Five short references describing the same scene with different templates."""
    what = _count_phrase(counts)
    near = "near the water" if ctx["water"] else ("beside a road" if ctx["road"] else f"on {ctx['ground']} ground")
    if what == "no objects":
        return [f"bare {ctx['ground']} ground.", f"an empty scene {near}.", "there are no objects.",
                f"nothing but {ctx['ground']} ground.", f"an aerial image of {ctx['ground']} ground."]
    return [f"{what} {near}.", f"there are {what}.", f"an aerial image with {what}.", f"{what} on {ctx['ground']} ground.",
            f"{what} seen from above."]


def write_captions(out: Path, seed: int, size: WorldSize) -> dict:
    """Karpathy JSON `dataset_synth.json` with images in `imgs/`."""
    (out / "imgs").mkdir(parents=True, exist_ok=True)
    entries, sentid = [], 0
    for split, n in _splits(size):
        for i in range(n):
            rng = _rng(seed, "caption", split, i)
            kinds = [] if rng.random() < 0.1 else [str(c) for c in rng.choice(CLASSES, int(rng.integers(1, 3)),
                                                                                 replace=False)]
            counts = {c: int(rng.integers(1, 4)) for c in kinds}
            labels = [c for c, k in counts.items() for _ in range(k)]
            img, _, ctx = scene(rng, labels, scale=1.0)
            imgid = len(entries)
            name = f"{imgid}.jpg"
            img.save(out / "imgs" / name, quality=92)
            refs = captions(counts, ctx)
            sents = [{"tokens": r.rstrip(".").split(), "raw": r, "imgid": imgid, "sentid": sentid + j}
                     for j, r in enumerate(refs)]
            entries.append({"filename": name, "imgid": imgid, "split": split,
                            "sentids": [s["sentid"] for s in sents], "sentences": sents})
            sentid += len(sents)
    (out / "dataset_synth.json").write_text(json.dumps({"images": entries, "dataset": "synth"}))
    return {"name": "synth_captions", "format": "captions_karpathy", "root": out.name}


# -------------------------------------------------------------------------------------------------- classification
def scene_objects(rng: np.random.Generator, scene_class: str) -> tuple[list[str], dict]:
    """Objects and context flags that make each scene class recognisable: every class has a ground tone of its
    own (harbor: water over a random ground), so the class shows in every part of the image, not only in its
    objects (with one shared ground, tiny models learnt only "water -> harbor")."""
    n = int(rng.integers(2, 5))
    return {
        "airport": (["plane"] * n, {"road": True, "water": False, "ground_name": "concrete"}),
        "harbor": (["ship"] * n, {"water": True, "road": False}),
        "parking-lot": (["vehicle"] * (n + 1), {"road": True, "water": False, "ground_name": "asphalt"}),
        "tank-farm": (["storage-tank"] * (n + 1), {"road": False, "water": False, "ground_name": "sandy"}),
        "bare-land": ([], {"road": False, "water": False, "ground_name": "brown"}),
    }[scene_class]


def write_classification(out: Path, seed: int, size: WorldSize) -> dict:
    """Folder per class under `train/` and `val/`; classes cycle so every class gets the same count (+-1)."""
    for split, n in _splits(size):
        for c in SCENE_CLASSES:
            (out / split / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rng = _rng(seed, "classification", split, i)
            c = SCENE_CLASSES[i % len(SCENE_CLASSES)]
            labels, flags = scene_objects(rng, c)
            img, _, _ = scene(rng, labels, scale=1.0, **flags)
            img.save(out / split / c / f"{c}_{i:05d}.jpg", quality=92)
    # The class list is named, not read from the images found: a val-only world (`heldout_only`) of a tiny size
    # may lack a class and would otherwise prompt with a shorter list than training did.
    return {"name": "synth_scenes", "format": "folder_classification", "root": out.name,
            "classes": list(SCENE_CLASSES)}


# -------------------------------------------------------------------------------------------------------- zoom (UHR)
def _crop_box(o: Obj, w: int, h: int, pad: int) -> list[int]:
    x1, y1, x2, y2 = o.hbb
    return [max(0, int(x1) - pad), max(0, int(y1) - pad), min(w, int(np.ceil(x2)) + pad), min(h, int(np.ceil(y2)) + pad)]


def write_zoom(out: Path, seed: int, size: WorldSize) -> dict:
    """LRS-VQA-Zoom records over UHR scenes: one colour question (a unique vehicle, one evidence box) and count
    questions (1-3 instances of a class, one evidence box each), boxes padded like LRS-VQA's `crop_hbox`."""
    (out / "images" / "uhr").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    lo, hi = size.uhr_side
    for split, n in (("train", size.uhr_train), ("val", size.uhr_val)):
        records = []
        for i in range(n):
            rng = _rng(seed, "zoom_vqa", split, i)
            w, h = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
            colour = list(VEHICLE_COLOURS)[(i + int(rng.integers(4))) % 4]
            others = [c for c in CLASSES if c != "vehicle"]
            counts = {c: int(rng.integers(1, 4)) for c in others}
            labels = ["vehicle"] + [c for c in others for _ in range(counts[c])]
            img, objs, _ = scene(rng, labels, w, h, colours={0: colour}, scale=0.8 * min(w, h) / 2300)
            stem = f"uhr_{split}_{i:04d}"
            img.save(out / "images" / "uhr" / f"{stem}.jpg", quality=90)
            pad = max(32, min(w, h) // 32)
            qs = [("What color is the vehicle?", colour, [objs[0]])]
            qs += [(f"How many {PLURALS[c]} are there?", str(counts[c]), [o for o in objs if o.label == c])
                   for c in others]
            for q, (text, answer, ev) in enumerate(qs[: size.uhr_questions]):
                records.append({
                    "id": f"{stem}_{q}", "image": f"uhr/{stem}.jpg", "image_ori_width": w, "image_ori_height": h,
                    "question": text + ZOOM_SUFFIX, "answer": answer,
                    "bbox_info": {"crop_hbox": [_crop_box(o, w, h, pad) for o in ev], "rbox": [o.poly for o in ev]},
                })
        (out / "annotations" / f"zoom_{split}.json").write_text(json.dumps(records))
    return {"name": "synth_zoom", "format": "lrs_vqa", "root": out.name, "annotations": "annotations/zoom_*.json",
            "image_root": "images"}


WRITERS = (
    ("dota", write_detection),
    ("dior_rsvg", write_grounding),
    ("rsvqa", write_vqa),
    ("captions", write_captions),
    ("scenes", write_classification),
    ("lrs_vqa", write_zoom),
    ("levir_cc", write_change_caption),  # bi-temporal writers: data_engine/synth/change.py
    ("levir_cd", write_change_detection),
    ("xbd", write_damage),
    ("fmow", write_temporal),
    ("refgeo", write_referring_segmentation),
    ("landcover_mmseg", write_landcover_mmseg),
    ("landcover_loveda", write_landcover_loveda),
    ("geochat", write_referring),
    ("bigearthnet", write_bigearthnet),
)


def _write(job: tuple) -> dict:
    writer, folder, seed, ws = job
    return writer(folder, seed, ws)


def synthesize(out_dir: str | Path, seed: int = 0, size: str = "small", workers: int | None = None,
               heldout_only: bool = False) -> Path:
    """Write the synthetic world into `out_dir` and return the path of its `recipe.yaml`.

    Args:
        out_dir: output folder (created; must be empty or absent, or a previous synthetic world).
        seed: world seed; the same seed and size give the same files.
        size: "tiny" (tests: a handful per task), "small" (default, demo: 800 train / 200 val per task, 50 + 50
            UHR images with 4 questions each), "medium".
        workers: processes writing datasets side by side (default: one per CPU core). Every sample draws from its
            own seeded generator, so the files are the same for any number of workers.
        heldout_only: write the ``val`` split only (no training samples): a sealed test world (docs/heldout-sets.md)
            needs nothing else, in about a quarter of the time. Its ``val`` samples are those of the full world of
            the same seed and size (same per-sample seeds), though some formats number their files differently.
    """
    import yaml

    if size not in SIZES:
        raise UserError(f"unknown world size {size!r}; choose one of {sorted(SIZES)}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / "recipe.yaml").is_file():
        raise UserError(f"{out} exists and is not empty (and holds no synthetic world); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    ws = SIZES[size]
    if heldout_only:
        ws = dataclasses.replace(ws, train=0, uhr_train=0)
    workers = max(1, min(len(WRITERS), workers or os.cpu_count() or 1))
    jobs = [(writer, out / folder, seed, ws) for folder, writer in WRITERS]
    if workers == 1:
        sources = [_write(job) for job in jobs]
    else:  # spawn: the caller may hold torch and threads that a fork would copy mid-state
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            sources = list(pool.map(_write, jobs))
    recipe = out / "recipe.yaml"
    header = (f"# Synthetic remote-sensing world (seed {seed}, size {size}{', val split only' if heldout_only else ''})"
              " written by `georft data synth`.\n"
              f"# Build it with: georft data build --recipe {recipe} --out <DIR>\n")
    recipe.write_text(header + yaml.safe_dump({"sources": sources}, sort_keys=False))
    return recipe
