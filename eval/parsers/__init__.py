"""Output parsers: model text -> structured prediction in original-image pixels, plus failure counts.

One parser per task (the ``parser`` name a task declares in `data_engine.tasks`; several tasks may share one), shared by evaluation and rewards (one scoring path). Every parser accepts any string (or any
object: non-strings read as ""), never raises, and returns a dict with the prediction and the counts
``n_parsed``, ``n_failed`` and ``format_ok``:

| `PARSERS` name | parser | prediction keys |
|---|---|---|
| detection | `parse_detection` | ``objects`` [{label, raw_label, poly, box_type}], ``empty`` |
| grounding | `parse_grounding` | ``box``, ``label``, ``n_boxes`` |
| vqa | `parse_vqa` | ``answer``, ``choice`` |
| classification | `parse_classification` | ``answer``, ``label`` |
| caption | `parse_caption` | ``caption`` |
| zoom_vqa | `parse_zoom` | ``calls`` [{name, bbox_model, box, valid_syntax}], ``answer``, ``choice`` |
| segmentation | `parse_segmentation` | ``mask`` (COCO RLE, original pixels), ``empty``, ``grid`` |
| referring_detection | `parse_referring` | ``boxes`` [[x1, y1, x2, y2], ...], ``empty`` |
| multilabel_classification | `parse_multilabel` | ``labels`` [class, ...], ``empty`` |
| grounding_description | `parse_grounded_description` | ``caption``, ``objects`` [{phrase, box}], ``boxes`` |

``frame`` (a `data_engine.frames.Frame`) is the model's coordinate frame; None means the text is in original pixels.

Think-then-answer mode (`data_engine.reasoning`) is handled once, in `parse`: with ``reasoning="think_answer"`` the
parser of a single-turn task sees only the completion's answer block (`eval.parsers.reasoning.answer_block`), so
every parser, including one added later, reads the answer the same way in both modes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from data_engine.errors import UserError
from data_engine.frames import Frame
from data_engine.tasks import TASKS
from eval.parsers.common import completion_text
from eval.parsers.detection import parse_detection
from eval.parsers.grounded_description import parse_grounded_description
from eval.parsers.grounding import parse_grounding
from eval.parsers.labels import match_label, norm_label
from eval.parsers.multilabel import parse_multilabel
from eval.parsers.reasoning import answer_block, answer_view, is_well_formed, reasoning_chars
from eval.parsers.referring import parse_referring
from eval.parsers.segmentation import parse_segmentation
from eval.parsers.text_answers import parse_caption, parse_classification, parse_vqa
from eval.parsers.zoom import is_canonical_call, parse_tool_calls, parse_zoom

# Parsers by the name a task declares as its ``parser``.
PARSERS: dict[str, Callable[..., dict]] = {
    "detection": parse_detection,
    "grounding": parse_grounding,
    "vqa": parse_vqa,
    "classification": parse_classification,
    "caption": parse_caption,
    "zoom_vqa": parse_zoom,
    "segmentation": parse_segmentation,
    "referring_detection": parse_referring,
    "multilabel_classification": parse_multilabel,
    "grounding_description": parse_grounded_description,
}


def parse(
    task: str, text: Any, frame: Frame | None = None, classes: Sequence[str] | None = None,
    reasoning: str | None = None, **kw: Any
) -> dict:
    """Parse ``text`` (a string or a TRL completion) as an answer to ``task``.

    Args:
        task: a declared task with a parser (`data_engine.tasks`; every task but "chat"), or a `PARSERS` name.
        text: model output: a string, or a message list / content blocks (see `completion_text`).
        frame: model coordinate frame; None = original pixels.
        classes: class list for detection / classification label matching.
        reasoning: the row's answer framing; "think_answer" makes a single-turn task's parser read the answer
            block only (None / "none": the whole text).
        **kw: per-parser options (``box_type`` for detection, ``choices`` for vqa / zoom_vqa).

    Raises:
        UserError: unknown task (a configuration mistake, never caused by model text).
    """
    decl = TASKS.get(task) if isinstance(task, str) else None
    name = decl.parser if decl is not None else task
    fn = PARSERS.get(name) if isinstance(name, str) else None
    if fn is None:
        known = [t.name for t in TASKS.values() if t.parser in PARSERS]
        raise UserError(f"no output parser for task {task!r}; known: {', '.join(known)}")
    body = completion_text(text)
    if reasoning == "think_answer" and (decl is None or decl.interaction == "single_turn"):
        body = answer_block(body)
    return fn(body, frame=frame, classes=classes, **kw)


__all__ = [
    "PARSERS",
    "answer_block",
    "answer_view",
    "completion_text",
    "is_well_formed",
    "is_canonical_call",
    "match_label",
    "norm_label",
    "parse",
    "parse_caption",
    "parse_classification",
    "parse_detection",
    "parse_grounded_description",
    "parse_grounding",
    "parse_segmentation",
    "parse_multilabel",
    "parse_referring",
    "parse_tool_calls",
    "parse_vqa",
    "parse_zoom",
    "reasoning_chars",
]
