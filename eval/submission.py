"""Test-server submissions of an eval's predictions (a suite dataset's ``submission:``; docs/benchmarks.md).

``dota_task1`` (DOTA-v1.0 Task1, oriented boxes; the devkit's ``dota_utils.py`` / ``ResultMerge.py`` rules):

- detections of patch rows (``<id>__<size>__<x>___<y>``) are shifted back to the full image and merged per
  (image, class) with rotated NMS at the suite's ``detection.merge_iou`` (`eval.geometry.merge_patches`);
- one file per class, ``Task1_<class>.txt``, for all 15 classes (empty files included), each line
  ``<imagename> <score> x1 y1 x2 y2 x3 y3 x4 y4`` (single spaces, original full-image pixels, the model's corner
  order); ``<imagename>`` is the image id without extension (``P0006``);
- class names as the devkit spells them (``small-vehicle``) whatever case or separator the model wrote
  (``Small Vehicle``, ``small_vehicle``); a label that is none of the 15 is counted (``unknown_class_detections``)
  and not written;
- VLM answers carry no confidence: every detection's score is 1 (merged duplicates keep the first);
- ``dota_task1.zip`` holds the 15 files at its root, ready to upload.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from data_engine.adapters.dota import DOTA_V1_CLASSES
from data_engine.patches import parse_patch_id
from eval.geometry import merge_patches

_SEP = re.compile(r"[\s_\-]+")
_CANON = {_SEP.sub("", c): c for c in DOTA_V1_CLASSES}


def dota_class(label) -> str | None:
    """The devkit spelling of a DOTA-v1.0 class name as a model may write it, or None when it is none of the 15."""
    return _CANON.get(_SEP.sub("", str(label).strip().lower()))


def _image_name(row_id: str) -> str:
    """``source/P0006`` -> ``P0006`` (the built row id is ``<source>/<image id>``)."""
    return str(row_id).rsplit("/", 1)[-1]


def dota_task1_lines(rows: list[dict], merge_iou: float = 0.1) -> tuple[dict[str, list[str]], dict[str, float]]:
    """The Task1 lines per class of prediction rows (patch rows merged to full images), and counts.

    Args:
        rows: prediction rows of task detection (``id``, ``prediction.objects[{label, poly}]`` in row pixels).
        merge_iou: rotated-NMS IoU of the patch merge.

    Returns:
        ({class: [line, ...]} for the 15 classes, {"n_images", "n_detections", "unknown_class_detections",
        "merged_away"}).
    """
    dets, unknown, images = [], 0, set()
    for r in rows:
        rid = str(r["id"])
        parsed = parse_patch_id(rid)
        parent = parsed[0] if parsed else rid
        images.add(_image_name(parent))
        pid = rid if parsed else f"{rid}__0__0___0"  # an image small enough to be one patch: offset 0
        for o in (r.get("prediction") or {}).get("objects") or []:
            cls = dota_class(o.get("label") or o.get("raw_label") or "")
            poly = o.get("poly")
            if cls is None:
                unknown += 1
                continue
            if poly is None or len(poly) != 8:
                continue
            dets.append({"image_id": pid, "label": cls, "poly": [float(v) for v in poly], "score": 1.0})
    merged = merge_patches(dets, merge_iou) if dets else []
    lines: dict[str, list[str]] = {c: [] for c in DOTA_V1_CLASSES}
    for d in merged:
        coords = " ".join(f"{v:.2f}" for v in d["poly"])
        lines[d["label"]].append(f"{_image_name(d['image_id'])} {d['score']:g} {coords}")
    counts = {"n_images": float(len(images)), "n_detections": float(len(merged)),
              "unknown_class_detections": float(unknown), "merged_away": float(len(dets) - len(merged))}
    return lines, counts


def write_dota_task1(rows: list[dict], out: Path, merge_iou: float = 0.1) -> dict[str, float]:
    """Write ``out/dota_task1/Task1_<class>.txt`` (all 15) and ``out/dota_task1.zip`` (files at its root).

    Returns:
        The counts of `dota_task1_lines`.
    """
    lines, counts = dota_task1_lines(rows, merge_iou)
    folder = Path(out) / "dota_task1"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(Path(out) / "dota_task1.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for cls in DOTA_V1_CLASSES:
            text = "".join(f"{line}\n" for line in lines[cls])
            (folder / f"Task1_{cls}.txt").write_text(text, encoding="utf-8")
            z.writestr(f"Task1_{cls}.txt", text)
    return counts
