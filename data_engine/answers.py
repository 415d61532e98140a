"""Answer text serialisation: the exact strings a model is trained to write, per task and answer mode.

Two answer modes:

- ``text``: the RSCoVLM plain-text format (docs/formats.md §3): one object per line, comma-separated integer
  coordinates, one space, then the label; ``There are none.`` for an image without objects.
- ``json``: a fenced JSON list of ``{"<box key>": [...], "label": ...}`` (``bbox_2d`` for horizontal boxes,
  ``oriented bbox`` for OBBs, ``quadrant bbox`` for polygons), as in Qwen2.5-VL grounding answers. An empty
  image is ``There are none.`` in this mode too, so "no objects" has one spelling everywhere.

Coordinates are always converted with `data_engine.frames.to_model` and rounded with `frames.quantize`; they are
clipped to the model frame ``[0, model_w] x [0, model_h]`` because objects cut by patch borders may reach outside
the image and a model cannot point outside what it sees. Prompts marked *verbatim* are compatibility strings for
RSCoVLM checkpoints: do not edit them. The parser side lives in `eval/parsers/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np

from data_engine.errors import DataError
from data_engine.frames import Frame, quantize, to_model
from data_engine.options import ANSWER_MODES, BOX_TYPES, check_choice

EMPTY_ANSWER = "There are none."

# JSON-mode key per box type (RSCoVLM's JSON prompts).
JSON_BOX_KEYS: dict[str, str] = {"hbb": "bbox_2d", "obb": "oriented bbox", "poly": "quadrant bbox"}

# Verbatim RSCoVLM system prompts, one per box type.
SYSTEM_PROMPTS: dict[str, str] = {
    "hbb": (
        "As an AI assistant, you specialize in accurate image object detection, delivering coordinates in plain "
        "text format 'x1,y1,x2,y2 object'."
    ),
    "obb": (
        "As an AI assistant, you specialize in accurate oriented object detection, delivering coordinates in plain "
        "text format 'x,y,w,h,a object'."
    ),
    "poly": (
        "As an AI assistant, you specialize in accurate oriented object detection, delivering coordinates of the "
        "polygon vertices in plain text format 'x1,y1,x2,y2,x3,y3,x4,y4 object'."
    ),
}

ZOOM_TOOL_NAME = "image_zoom_in"

# Verbatim Qwen tool block used by RSCoVLM's zoom-in chain (docs/formats.md §4).
ZOOM_TOOL_SYSTEM = (
    "# Tools\n"
    "You may call one or more functions to assist with the user query.\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
    '{"type": "function", "function": {"name": "image_zoom_in", "description": "Zoom in to the region of interest '
    "on the given image. Input the bounding box of the region of interest and return the zoomed-in image to help to "
    'focus and view more clearly.", "parameters": {"name": "bbox", "type": "list[int]", "description": "The bounding '
    "box of the region of interest as an array [x1, y1, x2, y2], where (x1, y1) and (x2, y2) indicate the positions' "
    'absolute coordinates of the left top and right down corners, respectively.", "required": true}}}\n'
    "</tools>\n"
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> "
    "XML tags:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>"
)
ZOOM_USER_SUFFIX = "\nZoom in to the region of interest and answer the question."
ZOOM_CROP_TEXT = "Here's the zoomed-in image. You can complete your task now."

MCQ_PREFIX = " The choices are listed below: \n"
MCQ_SUFFIX = (
    "Select the best answer to the above multiple-choice question based on the image. Respond with only the letter "
    "(A, B, C, D, or E) of the correct option.\nThe best answer is:"
)


# ----------------------------------------------------------------------------------------------------------- labels
def label_text(label: str) -> str:
    """A class name as the model writes it: '-' -> ' ', lowercase, surrounding spaces removed."""
    return str(label).replace("-", " ").lower().strip()


def sorted_labels(classes: Sequence[str]) -> list[str]:
    """Model-side class names, de-duplicated and sorted alphabetically (the category rank order)."""
    return sorted({label_text(c) for c in classes})


def category_prompt(classes: Sequence[str]) -> str:
    """RSCoVLM category list: names with '-' -> ' ', lowercased, sorted alphabetically, joined with ', '."""
    return ", ".join(sorted_labels(classes))


# ---------------------------------------------------------------------------------------------------------- prompts
def _check(box_type: str | None = None, mode: str | None = None) -> None:
    # A configuration mistake (UserError, not DataError): the lazy renderer lets it stop the run.
    if box_type is not None:
        check_choice(box_type, BOX_TYPES, "box_type")
    if mode is not None:
        check_choice(mode, ANSWER_MODES, "answer mode")


def detection_user_prompt(classes: Sequence[str], box_type: str = "poly", mode: str = "text") -> str:
    """User text of a detection sample (the image block comes before it).

    Text mode is ``find the {categories}`` at training AND evaluation (RSCoVLM's eval adds a trailing '.', which
    we do not copy); the box type is carried by the system prompt. JSON mode uses RSCoVLM's JSON prompt; for OBB and
    polygon answers it names the key to use (our wording: RSCoVLM has no JSON prompt for those).
    """
    _check(box_type, mode)
    cats = category_prompt(classes)
    if mode == "text":
        return f"find the {cats}"
    what = "coordinates" if box_type == "hbb" else f'"{JSON_BOX_KEYS[box_type]}" coordinates'
    return (
        f"Locate every item from the category list in the image and output the {what} in JSON format. "
        f"The category set includes {cats}."
    )


def grounding_user_prompt(expression: str, mode: str = "text") -> str:
    """User text of a grounding sample: ``find the {expression}`` or RSCoVLM's JSON grounding prompt."""
    _check(mode=mode)
    expression = str(expression).strip()
    if mode == "text":
        return f"find the {expression}"
    return f"Locate the {expression}, output the bbox coordinates using JSON format"


_DETERMINER_RE = re.compile(r"^(all|every|each|any|the)\b", re.IGNORECASE)


def referring_user_prompt(expression: str, mode: str = "text") -> str:
    """User text of a referring-detection sample (zero or more objects): ``find all the {expression}``, or
    ``find {expression}`` when it starts with a determiner ("all red ships"), or the JSON form (our wording:
    RSCoVLM's grounding prompts ask for one box)."""
    _check(mode=mode)
    expression = str(expression).strip()
    lead = "" if _DETERMINER_RE.match(expression) else "all the "
    if mode == "text":
        return f"find {lead}{expression}"
    return f"Locate {lead or ''}{expression} in the image, output the bbox coordinates using JSON format"


def region_caption_user_prompt(box, frame: Frame, mode: str = "text") -> str:
    """User text of a region-caption sample: the region as Qwen's box span in the model frame
    (``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``, clipped integers) and the ask for a short phrase (our wording)."""
    _check(mode=mode)
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size != 4 or not np.all(np.isfinite(b)):
        raise DataError(f"region box must be 4 finite numbers [x1, y1, x2, y2], got {box!r}")
    return f"Describe the object in {box_span(b, frame)} in a short phrase."


GROUNDED_DESCRIPTION_PROMPT = (
    "Describe the image in one sentence and mark each object you mention with its bounding box."
)  # our wording


def box_span(box, frame: Frame) -> str:
    """Qwen's box span of an original-pixel box in the model frame: ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size != 4 or not np.all(np.isfinite(b)):
        raise DataError(f"box must be 4 finite numbers [x1, y1, x2, y2], got {box!r}")
    x1, y1, x2, y2 = (int(v) for v in _model_ints(b, frame))
    return f"<|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"


def format_grounded_description(reference: str, objects: Sequence[dict], frame: Frame) -> str:
    """A grounded description: ``reference`` with each object's phrase (its first occurrence, in order) written as
    ``<|object_ref_start|>phrase<|object_ref_end|>`` followed by the box spans of every object with that phrase
    (Qwen's reference tokens). A phrase the text does not contain is appended, so no box is lost."""
    text = " ".join(str(reference).split())
    by_phrase: dict[str, list] = {}
    for o in objects:
        by_phrase.setdefault(" ".join(str(o["phrase"]).split()), []).append(o["box"])
    out, pos, tail = [], 0, []
    for phrase, boxes in by_phrase.items():
        spans = "".join(box_span(b, frame) for b in boxes)
        k = text.find(phrase, pos) if phrase else -1
        tagged = f"<|object_ref_start|>{phrase}<|object_ref_end|>{spans}"
        if k < 0:
            tail.append(tagged)
            continue
        out.append(text[pos:k] + tagged)
        pos = k + len(phrase)
    body = "".join(out) + text[pos:]
    return " ".join([body, *tail]) if tail else body


MULTILABEL_SEPARATOR = "; "  # class names may hold commas (BigEarthNet: "Transitional woodland, shrub")


def multilabel_user_prompt(classes: Sequence[str]) -> str:
    """User text of a multi-label sample: the class list (as labels are written, ``; ``-separated) and the ask for
    every class that applies (our wording)."""
    names = MULTILABEL_SEPARATOR.join(sorted_labels(classes))
    return (f"Which of these classes are present in the image? Classes: {names}. "
            "Answer with every class that applies, separated by semicolons.")


def format_multilabel(labels: Sequence[str], classes: Sequence[str]) -> str:
    """A multi-label answer: the labels as written (`label_text`), de-duplicated, in class-list order, joined by
    ``; ``; ``There are none.`` for an empty label set.

    Raises:
        DataError: a label is not in ``classes``.
    """
    names = sorted_labels(classes)
    got = {label_text(lab) for lab in labels}
    unknown = sorted(got - set(names))
    if unknown:
        raise DataError(f"multi-label labels {unknown} are not in the class list {list(classes)}")
    return MULTILABEL_SEPARATOR.join(n for n in names if n in got) or EMPTY_ANSWER


def classification_user_prompt(classes: Sequence[str]) -> str:
    """RSCoVLM's classification prompt with the class list as the model writes labels."""
    return f"Classify the image within one of the given classes:{category_prompt(classes)}."


def zoom_user_prompt(question: str) -> str:
    """First user turn of a zoom-in chain: the question plus the zoom instruction (verbatim suffix)."""
    return f"{question}{ZOOM_USER_SUFFIX}"


def mcq_prompt(question: str, choices: Sequence[str]) -> str:
    """RSCoVLM's multiple-choice rewrite: question, choice lines (as given, e.g. 'A. ship'), instruction."""
    lines = "".join(f"{c}\n" for c in choices)
    return f"{question}{MCQ_PREFIX}{lines}{MCQ_SUFFIX}"


# ------------------------------------------------------------------------------------------------------ coordinates
def _model_ints(coords, frame: Frame) -> np.ndarray:
    """Original-pixel x,y coordinates -> clipped integer model coordinates (same shape)."""
    m = to_model(coords, frame)
    m[..., 0::2] = np.clip(m[..., 0::2], 0.0, frame.model_w)
    m[..., 1::2] = np.clip(m[..., 1::2], 0.0, frame.model_h)
    return quantize(m)


def _poly(obj: dict) -> np.ndarray:
    try:
        p = np.asarray(obj["poly"], dtype=np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"detection object needs a numeric 'poly': {obj!r} ({e})") from None
    if p.size != 8 or not np.all(np.isfinite(p)):
        raise DataError(f"detection object 'poly' must be 8 finite numbers, got {obj.get('poly')!r}")
    return p


def _top_left(poly: np.ndarray) -> tuple[float, float]:
    """(y, x) of the top-most, then left-most vertex: the (y1, x1) of RSCoVLM's sort key for any box type."""
    pts = poly.reshape(4, 2)
    i = min(range(4), key=lambda k: (pts[k, 1], pts[k, 0]))
    return float(pts[i, 1]), float(pts[i, 0])


def box_values(poly, frame: Frame, box_type: str) -> list[int]:
    """The integers a model writes for one object given as an 8-number polygon in original pixels.

    - ``hbb``: ``[x1, y1, x2, y2]`` of the polygon's axis-aligned extent;
    - ``poly``: the 4 vertices in the one canonical order (`data_engine.boxes.order_poly_vertices`);
    - ``obb``: ``[cx, cy, w, h, angle_deg]`` of the minimum-area rectangle, computed in the MODEL frame (a
      non-uniform resize changes angles, so the rectangle must be fitted where the model reads it). On an
      anisotropic grid (norm1000 for a non-square image) a rotated rectangle becomes a parallelogram, so the OBB
      of it is lossy there: prefer ``poly`` for Qwen3-VL.
    """
    _check(box_type)
    p = np.asarray(poly, dtype=np.float64).reshape(-1)
    if box_type == "hbb":
        xs, ys = p[0::2], p[1::2]
        return [int(v) for v in _model_ints([xs.min(), ys.min(), xs.max(), ys.max()], frame)]
    from data_engine.boxes import order_poly_vertices, poly_to_obb

    if box_type == "poly":
        ordered = np.asarray(order_poly_vertices(p.reshape(1, 8)), dtype=np.float64).reshape(8)
        return [int(v) for v in _model_ints(ordered, frame)]
    m = to_model(p, frame)
    m[0::2] = np.clip(m[0::2], 0.0, frame.model_w)
    m[1::2] = np.clip(m[1::2], 0.0, frame.model_h)
    obb = np.asarray(poly_to_obb(m.reshape(1, 8)), dtype=np.float64).reshape(5)
    return [int(v) for v in quantize(obb)]


def _json_block(items: list[dict]) -> str:
    body = ",\n".join("\t" + json.dumps(it, ensure_ascii=False) for it in items)
    return f"```json\n[\n{body}\n]\n```"


# ---------------------------------------------------------------------------------------------------------- answers
def format_detection(
    objects: Sequence[dict], classes: Sequence[str], frame: Frame, box_type: str = "poly", mode: str = "text"
) -> str:
    """Serialise a detection target.

    Args:
        objects: ``[{"label": str, "poly": [x1, y1, ..., x4, y4]}]`` in original pixels (extra keys ignored).
        classes: the dataset's class names (prompt order and category rank).
        frame: the model's coordinate frame.
        box_type: "poly", "obb" or "hbb".
        mode: "text" or "json".

    Returns:
        Lines ``v1,v2,... label`` (text) or a fenced JSON list (json), instances sorted by (category rank, y1, x1)
        with (x1, y1) the top-most-then-left-most vertex in the model frame's integers (ties: the written values);
        ``There are none.`` when empty.

    Raises:
        DataError: an object's label is not in ``classes`` or its polygon is malformed.
        UserError: an unknown box type or mode (a configuration mistake).
    """
    _check(box_type, mode)
    names = sorted_labels(classes)
    rank = {n: i for i, n in enumerate(names)}
    keyed = []
    for obj in objects:
        lab = label_text(obj.get("label", ""))
        if lab not in rank:
            raise DataError(f"object label {obj.get('label')!r} is not in the class list {list(classes)}")
        poly = _poly(obj)
        vals = box_values(poly, frame, box_type)
        # Sort on what is written (model-frame integers), so rendering a parsed answer gives the same order.
        top = _top_left(np.asarray(_model_ints(poly, frame), dtype=np.float64))
        keyed.append(((rank[lab], *top, *vals), lab, vals))
    if not keyed:
        return EMPTY_ANSWER
    keyed.sort(key=lambda t: t[0])
    rows = [(vals, lab) for _, lab, vals in keyed]
    if mode == "text":
        return "\n".join(f"{','.join(str(v) for v in vals)} {lab}" for vals, lab in rows)
    key = JSON_BOX_KEYS[box_type]
    return _json_block([{key: vals, "label": lab} for vals, lab in rows])


def format_grounding(box, expression: str, frame: Frame, mode: str = "text") -> str:
    """Serialise a grounding target: ``x1,y1,x2,y2 {expression}`` or a one-item JSON list with ``bbox_2d``.

    Args:
        box: ``[x1, y1, x2, y2]`` in original pixels.
        expression: the referring expression (written after the box, as RSCoVLM does).
        frame: the model's coordinate frame.
        mode: "text" or "json".
    """
    _check(mode=mode)
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size != 4 or not np.all(np.isfinite(b)):
        raise DataError(f"grounding box must be 4 finite numbers [x1, y1, x2, y2], got {box!r}")
    vals = [int(v) for v in _model_ints(b, frame)]
    expression = str(expression).strip()
    if mode == "text":
        return f"{','.join(str(v) for v in vals)} {expression}"
    return _json_block([{"bbox_2d": vals, "label": expression}])


def format_referring(boxes: Sequence, expression: str, frame: Frame, mode: str = "text") -> str:
    """Serialise a referring-detection target: one grounding line (or JSON item) per box, sorted by the written
    ``(y1, x1, x2, y2)``, or ``There are none.`` when the expression matches nothing (docs/geochat-tasks.md §1).

    Args:
        boxes: ``[[x1, y1, x2, y2], ...]`` in original pixels (may be empty).
        expression: the referring expression (the label of every line).
        frame: the model's coordinate frame.
        mode: "text" or "json".
    """
    _check(mode=mode)
    rows = []
    for box in boxes:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
        if b.size != 4 or not np.all(np.isfinite(b)):
            raise DataError(f"referring box must be 4 finite numbers [x1, y1, x2, y2], got {box!r}")
        rows.append([int(v) for v in _model_ints(b, frame)])
    if not rows:
        return EMPTY_ANSWER
    rows.sort(key=lambda v: (v[1], v[0], v[3], v[2]))
    expression = str(expression).strip()
    if mode == "text":
        return "\n".join(f"{','.join(str(v) for v in vals)} {expression}" for vals in rows)
    return _json_block([{"bbox_2d": vals, "label": expression} for vals in rows])


def format_zoom_call(box_in_model_frame: Sequence[int]) -> str:
    """The zoom tool call, exactly ``<tool_call>\\n{"name": "image_zoom_in", "arguments": {"bbox": [...]}}\\n</tool_call>``.

    Args:
        box_in_model_frame: ``[x1, y1, x2, y2]`` already in the model frame (rounded to ints here).
    """
    vals = [int(v) for v in quantize(np.asarray(box_in_model_frame, dtype=np.float64).reshape(-1))]
    if len(vals) != 4:
        raise DataError(f"zoom box must have 4 values, got {box_in_model_frame!r}")
    call = json.dumps({"name": ZOOM_TOOL_NAME, "arguments": {"bbox": vals}})
    return f"<tool_call>\n{call}\n</tool_call>"


def _one_line(text) -> str:
    return " ".join(str(text).split())


def format_vqa(answer) -> str:
    """A VQA answer as written: the answer string with whitespace collapsed (numbers/booleans via str)."""
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    return _one_line(answer)


def format_classification(label: str) -> str:
    """A classification answer: the class name as the model writes labels (see `label_text`)."""
    return label_text(label)


def format_caption(text: str) -> str:
    """A caption as written: whitespace collapsed, first letter kept as in the reference."""
    return _one_line(text)
