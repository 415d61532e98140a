"""Reward landscapes, no model: does each localisation reward lead somewhere, and do the hacks stay below it?

A small (1+λ) evolution strategy over box parameters, driven only by a reward's ``overall`` value, starts from
random boxes on synthetic scenes and must climb to the target: IoU >= 0.9 with the ground truth for ``grounding_iou``
(every box of a three-object scene for ``rotated_iou_f1``). ``zoom_chain`` pays for a valid crop that *covers* the
evidence, not for a tight one, so its climb must reach reward 1 (evidence fully covered by a valid zoom step), and
the crop need not hug the evidence. Along every trajectory, once the honest answer is partially right (IoU >= 0.5
for every box, coverage >= 0.5), every documented hack (README "Rewards": empty answers, whole-image boxes,
duplicates, box spam, every class, always zooming) scores below it, including hacks built from that very answer
(its boxes given every class, its zoom repeated); duplicating the current boxes scores below them at every step.

The ES: λ offspring ~ N(parent, σ²) per generation in image-relative parameters; the best replaces the parent when
it is at least as good (so flat regions are crossed by a random walk, not by shrinking); σ grows ×1.3 on a strict
improvement and shrinks ×0.85 when every child is worse. With several boxes it mutates one box per generation, in
turn, each with its own σ: one shared σ, shrunk by the first box to fit, leaves the others stranded on the flat
zero-IoU plateau (measured: IoUs 0.99 / 0.28 / 0 after 1,500 generations). Angles wrap around.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_engine.answers import format_zoom_call
from rewards import score

CLASSES = ["plane", "ship", "storage-tank"]
LAM = 12


def evolve(fitness, x0: np.ndarray, rng: np.random.Generator, generations: int, done, sigma: float = 0.15,
           block: int | None = None, periodic: int | None = None):
    """(1+λ)-ES maximising `fitness` over [0, 1]^d from `x0`; returns the trajectory of parents (x, f(x)).

    With `block`, the parameters are boxes of `block` values each, mutated one box per generation in turn, each box
    with its own σ (a box that is already tight keeps a small σ while another still searches). Parameter `periodic`
    of each block (an angle) wraps around instead of being clipped: clipped, a box whose angle reached the end of
    its range could not turn past it to an object just across (measured: stuck at IoU 0.75).
    """
    x = np.clip(x0, 0, 1)
    fx = fitness(x)
    size = block or x.size
    sigmas = [sigma] * (x.size // size)
    path = [(x, fx)]
    for g in range(generations):
        k = g % len(sigmas)
        sl = slice(k * size, (k + 1) * size)
        kids = np.repeat(x[None], LAM, 0)
        step = x[sl] + sigmas[k] * rng.standard_normal((LAM, size))
        kids[:, sl] = np.clip(step, 0, 1)
        if periodic is not None:
            kids[:, sl.start + periodic] = step[:, periodic] % 1.0
        fk = np.array([fitness(c) for c in kids])
        b = int(np.argmax(fk))
        if fk[b] > fx:
            sigmas[k] = min(sigmas[k] * 1.3, 0.3)
        elif fk[b] < fx:
            sigmas[k] = max(sigmas[k] * 0.85, 2e-3)
        if fk[b] >= fx:
            x, fx = kids[b], float(fk[b])
        path.append((x, fx))
        if done(x):
            break
    return path


def hbb(p: np.ndarray, w: int, h: int) -> list[float]:
    """(cx, cy, bw, bh) in [0, 1] -> x1, y1, x2, y2 in pixels (sides at least 2 % of the image)."""
    cx, cy = p[0] * w, p[1] * h
    bw, bh = max(p[2], 0.02) * w, max(p[3], 0.02) * h
    return [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]


def hbb_iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_text(b, label: str) -> str:
    return ",".join(str(round(v)) for v in b) + f" {label}"


# ---------------------------------------------------------------- grounding_iou


def grounding_scene(rng: np.random.Generator, size: int = 512) -> dict:
    bw, bh = rng.uniform(30, 120, 2)
    x, y = rng.uniform(0, size - bw), rng.uniform(0, size - bh)
    return {"task": "grounding", "width": size, "height": size,
            "target": {"expression": "the tank", "box": [x, y, x + bw, y + bh]}}


@pytest.mark.parametrize("seed", range(4))
def test_grounding_iou_climbs_to_the_box_and_hacks_stay_below(seed):
    rng = np.random.default_rng(seed)
    s = grounding_scene(rng)
    w, h, gt = s["width"], s["height"], s["target"]["box"]

    def reward(text: str) -> float:
        return score("grounding", text, s)["overall"]

    def answer(p):
        return box_text(hbb(p, w, h), "the tank")

    path = evolve(lambda p: reward(answer(p)), rng.random(4) * [1, 1, 0.5, 0.5], rng, 600,
                  lambda p: hbb_iou(hbb(p, w, h), gt) >= 0.95)
    assert hbb_iou(hbb(path[0][0], w, h), gt) < 0.5
    final = hbb(path[-1][0], w, h)
    assert hbb_iou(final, gt) >= 0.9, f"stuck at IoU {hbb_iou(final, gt):.3f} after {len(path)} generations"
    hacks = {"empty": "", "whole image": box_text([0, 0, w, h], "the tank"),
             "box spam": "\n".join(box_text([x, y, x + 64, y + 64], "the tank") for x in range(0, w, 64)
                                   for y in range(0, h, 64))}
    partial = [(p, f) for p, f in path if hbb_iou(hbb(p, w, h), gt) >= 0.5]
    assert partial
    for p, f in partial:
        for name, text in hacks.items():
            assert reward(text) < f, name
        # the honest box followed by a whole-image box: only the first box counts, and it breaks the format
        assert reward(answer(p) + "\n" + hacks["whole image"]) <= f


# ---------------------------------------------------------------- rotated_iou_f1


def obb_poly(p: np.ndarray, w: int, h: int) -> list[float]:
    """(cx, cy, bw, bh, angle) in [0, 1] -> the rotated rectangle's 4 corners in pixels."""
    cx, cy = p[0] * w, p[1] * h
    bw, bh = max(p[2], 0.02) * w, max(p[3], 0.02) * h
    a = p[4] * math.pi  # a rectangle repeats every 180°: the parameter wraps
    c, s = math.cos(a), math.sin(a)
    pts = [(-bw / 2, -bh / 2), (bw / 2, -bh / 2), (bw / 2, bh / 2), (-bw / 2, bh / 2)]
    return [v for dx, dy in pts for v in (cx + c * dx - s * dy, cy + s * dx + c * dy)]


def detection_scene(rng: np.random.Generator, size: int = 256) -> dict:
    objs = []
    for k, label in enumerate(CLASSES):
        # three objects in separate thirds of the image, rotated, 30-70 px
        p = np.array([(k + 0.5) / 3, rng.uniform(0.3, 0.7), rng.uniform(0.12, 0.27), rng.uniform(0.12, 0.27),
                      rng.random()])
        objs.append({"label": label, "poly": [round(v, 1) for v in obb_poly(p, size, size)], "difficult": False})
    return {"task": "detection", "width": size, "height": size, "target": {"classes": CLASSES, "objects": objs}}


def poly_text(polys: list[list[float]], labels: list[str]) -> str:
    return "\n".join(",".join(str(round(v)) for v in poly) + f" {lab}" for poly, lab in zip(polys, labels,
                                                                                             strict=True))


def _per_object_iou(polys, scene) -> list[float]:
    from eval.geometry import rotated_iou

    gts = np.array([o["poly"] for o in scene["target"]["objects"]], dtype=np.float64)
    return [float(rotated_iou(np.array([p]), gts[k:k + 1])[0, 0]) for k, p in enumerate(polys)]


@pytest.mark.parametrize("seed", range(3))
def test_rotated_iou_f1_climbs_to_every_object_and_hacks_stay_below(seed):
    rng = np.random.default_rng(100 + seed)
    s = detection_scene(rng)
    size = s["width"]

    def reward(text: str) -> float:
        return score("detection", text, s)["overall"]

    def polys(p):
        return [obb_poly(p[5 * k: 5 * k + 5], size, size) for k in range(3)]

    def answer(p):
        return poly_text(polys(p), CLASSES)

    x0 = rng.random(15) * np.tile([1, 1, 0.4, 0.4, 1], 3)
    path = evolve(lambda p: reward(answer(p)), x0, rng, 900, lambda p: min(_per_object_iou(polys(p), s)) >= 0.93,
                  block=5, periodic=4)
    assert np.mean(_per_object_iou(polys(path[0][0]), s)) < 0.5  # random boxes, far from the answer
    ious = _per_object_iou(polys(path[-1][0]), s)
    assert min(ious) >= 0.9, f"stuck at IoUs {np.round(ious, 3)} after {len(path)} generations"
    absolute = {
        "empty": "", "none": "There are none.",
        "whole image": poly_text([[0, 0, size, 0, size, size, 0, size]] * 3, CLASSES),
        "box spam": "\n".join(f"{x},{y},{x + 32},{y + 32} {c}" for x in range(0, size, 32) for y in range(0, size, 32)
                              for c in CLASSES),
    }
    hack_values = {name: reward(text) for name, text in absolute.items()}
    checked = 0
    for p, f in path[::5] + [path[-1]]:
        ps = polys(p)
        honest = reward(answer(p))
        assert honest == pytest.approx(f)
        # duplicating the current answer never pays, anywhere on the way
        dup = reward(poly_text(ps * 4, CLASSES * 4))
        assert dup < honest if honest > 0 else dup == 0.0, "duplicates"
        if min(_per_object_iou(ps, s)) >= 0.5:
            checked += 1
            for name, v in hack_values.items():
                assert v < honest, name
            # every class on every box (before the boxes sit on their own objects, a box on another object can
            # legitimately earn more under that object's label, so this is checked on partial answers)
            assert reward(poly_text([q for q in ps for _ in CLASSES], CLASSES * 3)) < honest, "every class"
    assert checked


# ---------------------------------------------------------------- zoom_chain


@pytest.mark.parametrize("seed", range(3))
def test_zoom_chain_climbs_to_a_valid_crop_covering_the_evidence(seed):
    rng = np.random.default_rng(200 + seed)
    size = 1000
    ew, eh = rng.uniform(40, 120, 2)
    ex, ey = rng.uniform(0, size - ew), rng.uniform(0, size - eh)
    ev = [ex, ey, ex + ew, ey + eh]
    s = {"task": "zoom_vqa", "width": size, "height": size,
         "target": {"question": "What color is the car?", "answer": "red", "evidence": [ev]}}

    def parts(text: str) -> dict:
        return score("zoom_vqa", text, s)

    def answer(p, said: str = "red") -> str:
        return format_zoom_call(hbb(p, size, size)) + f"\n{said}"

    def coverage(p) -> float:
        return parts(answer(p))["coverage"]

    path = evolve(lambda p: parts(answer(p))["overall"], rng.random(4) * [1, 1, 0.3, 0.3], rng, 600,
                  lambda p: parts(answer(p))["overall"] >= 1.0)
    assert path[0][1] < 0.85 and len(path) > 3  # it started from a crop that covered little of the evidence
    top = parts(answer(path[-1][0]))
    assert top["overall"] == 1.0 and top["coverage"] == 1.0 and top["steps_valid"] == 1.0
    no_zoom = parts("red")["overall"]
    whole = parts(format_zoom_call([0, 0, size, size]) + "\nred")["overall"]
    partial = [(p, f) for p, f in path if coverage(p) >= 0.5 and parts(answer(p))["steps_valid"] == 1.0]
    assert partial
    for p, f in partial:
        assert no_zoom < f and whole < f
        assert parts(format_zoom_call(hbb(p, size, size)) * 4 + "\nred")["overall"] < f, "always zooming"
        assert parts(answer(p, "blue"))["overall"] == 0.0  # a wrong answer earns nothing however well it zooms
