"""Trivial policies: what a model that ignores the image would score, fitted on the training split only.

A checkpoint's metric means little until it is set beside what a policy that never looks at the image achieves on
the same samples. Each policy is *fitted* on the training rows of a dataset (their targets only, no images) and then
*answers* every evaluated row with a completion in original pixels; `eval.runner_baselines` parses and scores those
completions with the very parsers, scorers and rewards the checkpoints go through, so a baseline's number and a
checkpoint's number are the same function of their completions.

Policies are registered by name in `POLICIES`; a task's declaration (`data_engine.tasks`, ``baselines``) names the
ones that apply to it, and each policy's ``kind`` is the report row it fills: ``constant`` (the best constant
answer) or ``random`` (chance). A new task names existing policies or registers its own here.

| policy | kind | tasks | answer |
|---|---|---|---|
| ``no_objects`` | constant | detection | ``There are none.`` |
| ``constant_box`` | constant | grounding | the box maximising mean IoU over the training boxes (image-relative) |
| ``majority_answer`` | constant | vqa, zoom_vqa | the majority training answer of the question's type |
| ``random_answer`` | random | vqa, zoom_vqa | uniform over the choices, else over the training answers of the question's type |
| ``majority_class`` | constant | classification | the majority training class |
| ``random_class`` | random | classification | uniform over the row's class list |
| ``common_caption`` | constant | caption | the most common training reference caption |
| ``whole_image_mask`` | constant | referring_segmentation | the whole image (IoU = the target's share of it) |
| ``majority_class_mask`` | constant | semantic_segmentation | the class with the most training pixels everywhere: the whole image for its rows, ``There is none.`` for the others |

Mask answers are written at one grid cell per original pixel, which is how the segmentation parser reads a
completion in original pixels (docs/formats.md §6).

The question type is the dataset's ``qtype`` (or ``category``); without one it is the question's first two words
("what color", "how many", "is there"), the prefix-based question types of the VQA benchmark. A type not seen in
training falls back to the overall majority answer. Random answers are seeded per sample (``seed``, dataset, id), so
a rerun gives the same completions. Image-relative boxes carry over to images of another size, and IoU is unchanged
by scaling both axes, so the relative box that is best on the training boxes is best in pixels too.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_engine.answers import EMPTY_ANSWER, format_multilabel
from data_engine.masks import mask_area
from data_engine.seg_answers import NO_MASK_ANSWER, SEG_CLOSE, SEG_OPEN
from eval.metrics.vqa import extract_choice_letter, normalize_answer


@dataclass(frozen=True)
class Policy:
    """A trivial policy of one task.

    Attributes:
        name: the policy's registry name (what a task declaration names).
        kind: ``constant`` or ``random``: the report row (baseline eval directory) the policy's answers go to.
        fit: training rows (``target`` dicts) -> the fitted state.
        answer: (state, evaluated row, seeded rng) -> completion text in original pixels.
        describe: state -> one line saying what the policy answers (shown in the report).
    """

    name: str
    kind: str
    fit: Callable[[list[dict]], Any]
    answer: Callable[[Any, dict, random.Random], str]
    describe: Callable[[Any], str]


# ---------------------------------------------------------------- detection


def _fit_nothing(rows: list[dict]) -> None:
    return None


def _answer_none(state: Any, row: dict, rng: random.Random) -> str:
    return EMPTY_ANSWER


# ---------------------------------------------------------------- grounding


def box_ious(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box against many, axis-aligned.

    Args:
        box: (4,) ``x1, y1, x2, y2``.
        boxes: (N, 4) ``x1, y1, x2, y2``.

    Returns:
        (N,) IoUs (0 where the union is empty).
    """
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    union = area + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def best_constant_box(boxes: np.ndarray) -> tuple[np.ndarray, float]:
    """The box maximising mean IoU against `boxes`, and that mean IoU.

    Nelder-Mead (scipy) from the mean box, the median box and the five training boxes that are best as constant
    answers themselves; the best end point wins. Mean IoU is piecewise smooth in the corners, so a few starts
    suffice in practice (checked against a dense grid in the tests).

    Args:
        boxes: (N, 4) ``x1, y1, x2, y2``, N >= 1 (image-relative coordinates in use).

    Returns:
        ((4,) box with x1 <= x2, y1 <= y2, its mean IoU).
    """
    from scipy.optimize import minimize

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)

    def loss(b: np.ndarray) -> float:
        b = np.array([min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])])
        return -float(box_ious(b, boxes).mean())

    own = np.array([loss(b) for b in boxes])
    starts = [boxes.mean(0), np.median(boxes, 0), *boxes[np.argsort(own, kind="stable")[:5]]]
    best_b, best_v = starts[0], loss(starts[0])
    for s in starts:
        r = minimize(loss, s, method="Nelder-Mead", options={"xatol": 1e-5, "fatol": 1e-7, "maxiter": 2000})
        if r.fun < best_v:
            best_b, best_v = r.x, float(r.fun)
    b = np.array([min(best_b[0], best_b[2]), min(best_b[1], best_b[3]), max(best_b[0], best_b[2]),
                  max(best_b[1], best_b[3])])
    return b, -best_v


def _relative_box(row: dict) -> list[float]:
    w, h = float(row["width"]), float(row["height"])
    x1, y1, x2, y2 = (float(v) for v in row["target"]["box"])
    return [x1 / w, y1 / h, x2 / w, y2 / h]


def _fit_constant_box(rows: list[dict]) -> dict:
    box, miou = best_constant_box(np.array([_relative_box(r) for r in rows]))
    return {"box": [float(v) for v in box], "train_mean_iou": miou}


def _answer_constant_box(state: dict, row: dict, rng: random.Random) -> str:
    w, h = float(row["width"]), float(row["height"])
    x1, y1, x2, y2 = state["box"]
    expr = str(row["target"].get("expression") or row["target"].get("label") or "object")
    return f"{round(x1 * w)},{round(y1 * h)},{round(x2 * w)},{round(y2 * h)} {expr}"


# ---------------------------------------------------------------- vqa / zoom_vqa


def question_type(target: dict) -> str:
    """The dataset's ``qtype`` / ``category``, else the question's first two words, lower-cased."""
    t = target.get("qtype") or target.get("category")
    if t:
        return str(t)
    words = str(target.get("question") or "").lower().replace("?", " ").split()
    return " ".join(words[:2])


def _answer_key(target: dict) -> tuple[str, str]:
    """(comparison key, text to answer) of a gold answer: the choice letter for multiple choice, else normalised."""
    gold = "" if target.get("answer") is None else str(target["answer"])
    if target.get("choices"):
        letter = extract_choice_letter(gold)
        if letter:
            return f"letter:{letter}", letter
    return normalize_answer(gold), gold.strip()


def _majority(pairs: list[tuple[str, str]]) -> str:
    """The text of the most common key (ties: the key first in sorted order, so the fit is order-free)."""
    counts = Counter(k for k, _ in pairs)
    top = max(counts.values())
    key = min(k for k, c in counts.items() if c == top)
    return Counter(t for k, t in pairs if k == key).most_common(1)[0][0]


def _fit_vqa(rows: list[dict]) -> dict:
    by_type: dict[str, list[tuple[str, str]]] = {}
    everything = []
    for r in rows:
        pair = _answer_key(r["target"])
        by_type.setdefault(question_type(r["target"]), []).append(pair)
        everything.append(pair)
    return {"majority": {t: _majority(p) for t, p in sorted(by_type.items())}, "overall": _majority(everything),
            "answers": {t: sorted({text for _, text in p}) for t, p in sorted(by_type.items())}}


def _answer_majority(state: dict, row: dict, rng: random.Random) -> str:
    return state["majority"].get(question_type(row["target"]), state["overall"])


def _answer_random(state: dict, row: dict, rng: random.Random) -> str:
    choices = row["target"].get("choices")
    if choices:
        return "ABCDE"[rng.randrange(min(len(choices), 5))]
    pool = state["answers"].get(question_type(row["target"])) or sorted({a for v in state["answers"].values()
                                                                         for a in v})
    return rng.choice(pool)


def _describe_majority(state: dict) -> str:
    per = ", ".join(f"{t}: {a!r}" for t, a in state["majority"].items())
    return f"majority training answer per question type ({per}; otherwise {state['overall']!r})"


def _describe_random(state: dict) -> str:
    return ("uniform over the choices, else over the training answers of the question's type ("
            + ", ".join(f"{t}: {len(a)}" for t, a in state["answers"].items()) + ")")


# ---------------------------------------------------------------- classification


def _fit_classes(rows: list[dict]) -> dict:
    labels = [str(r["target"]["label"]) for r in rows]
    return {"majority": _majority([(x, x) for x in labels]), "n_train": len(labels)}


def _answer_majority_class(state: dict, row: dict, rng: random.Random) -> str:
    return state["majority"]


def _answer_random_class(state: dict, row: dict, rng: random.Random) -> str:
    classes = row["target"].get("classes") or [state["majority"]]
    return str(rng.choice(list(classes)))


# ---------------------------------------------------------------- caption


def _fit_caption(rows: list[dict]) -> dict:
    refs = [(" ".join(str(x).lower().split()), str(x).strip()) for r in rows for x in r["target"]["references"]]
    return {"caption": _majority(refs)}


def _answer_caption(state: dict, row: dict, rng: random.Random) -> str:
    return state["caption"]


# ---------------------------------------------------------------- segmentation


def _whole_mask(row: dict) -> str:
    w, h = int(row["width"]), int(row["height"])
    return SEG_OPEN + ";".join([f"1*{w}"] * h) + SEG_CLOSE


def _answer_whole_mask(state: Any, row: dict, rng: random.Random) -> str:
    return _whole_mask(row)


def _fit_majority_mask(rows: list[dict]) -> dict:
    pixels: Counter = Counter()
    for r in rows:
        pixels[str(r["target"]["class"])] += mask_area(r["target"]["mask"])
    top = max(pixels.values(), default=0)
    return {"majority": min((c for c, n in pixels.items() if n == top), default=""),
            "share": top / max(1, sum(pixels.values()))}


def _answer_majority_mask(state: dict, row: dict, rng: random.Random) -> str:
    return _whole_mask(row) if str(row["target"]["class"]) == state["majority"] else NO_MASK_ANSWER


# ---------------------------------------------------------------- multi-label classification


def _fit_labels(rows: list[dict]) -> dict:
    """The labels present in at least half the training samples (else the most frequent one): the constant label
    set that maximises expected per-label F1 when labels are independent."""
    counts = Counter(str(x) for r in rows for x in set(r["target"].get("labels") or []))
    n = max(1, len(rows))
    frequent = sorted(lab for lab, c in counts.items() if c / n >= 0.5)
    if not frequent and counts:
        top = max(counts.values())
        frequent = [min(lab for lab, c in counts.items() if c == top)]
    return {"labels": frequent, "n_train": len(rows)}


def _answer_labels(state: dict, row: dict, rng: random.Random) -> str:
    classes = row["target"].get("classes") or state["labels"]
    return format_multilabel([x for x in state["labels"] if x in classes], classes)


# ---------------------------------------------------------------- the registry


def _describe_box(s: dict) -> str:
    return ("best constant box (image-relative x1,y1,x2,y2 = " + ",".join(f"{v:.3f}" for v in s["box"])
            + f"; training mean IoU {s['train_mean_iou']:.3f})")


POLICIES: dict[str, Policy] = {p.name: p for p in (
    Policy("no_objects", "constant", _fit_nothing, _answer_none, lambda s: f"always {EMPTY_ANSWER!r}"),
    Policy("constant_box", "constant", _fit_constant_box, _answer_constant_box, _describe_box),
    Policy("majority_answer", "constant", _fit_vqa, _answer_majority, _describe_majority),
    Policy("random_answer", "random", _fit_vqa, _answer_random, _describe_random),
    Policy("majority_class", "constant", _fit_classes, _answer_majority_class,
           lambda s: f"majority training class {s['majority']!r}"),
    Policy("random_class", "random", _fit_classes, _answer_random_class, lambda s: "uniform over the class list"),
    Policy("common_caption", "constant", _fit_caption, _answer_caption,
           lambda s: f"most common training reference caption {s['caption']!r}"),
    Policy("whole_image_mask", "constant", _fit_nothing, _answer_whole_mask, lambda s: "the whole image as the mask"),
    Policy("majority_class_mask", "constant", _fit_majority_mask, _answer_majority_mask,
           lambda s: f"{s['majority']!r} everywhere (training pixel share {s['share']:.3f})"),
    Policy("frequent_labels", "constant", _fit_labels, _answer_labels,
           lambda s: f"the labels of at least half the training samples {s['labels']!r}"),
)}
KINDS = ("constant", "random")


def policies_of(task: str) -> tuple[Policy, ...]:
    """The trivial policies a task's declaration names (none for an undeclared task or one that names none)."""
    from data_engine.tasks import TASKS

    decl = TASKS.get(task)
    return tuple(POLICIES[n] for n in decl.baselines) if decl is not None else ()


def sample_rng(seed: int, dataset: str, sample_id: str) -> random.Random:
    """The seeded generator a random policy answers one sample with (string seeds hash deterministically)."""
    return random.Random(f"{seed}:{dataset}:{sample_id}")
