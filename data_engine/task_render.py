"""Per-task prompt and answer functions of the single-turn tasks: the render pair a `data_engine.tasks` entry names.

Every prompt function has the signature ``prompt(target, n_images, box_type, mode) -> messages`` (the system
message when the task has one, then the user turn with one ``{"type": "image"}`` block per image before the text)
and every answer function ``answer(target, frame, box_type, mode, rng) -> str`` (the assistant text, coordinates
converted from original pixels through ``frame``). The strings themselves come from `data_engine.answers`; this
module only picks which ones a task uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_engine import answers as A
from data_engine import change_text as C
from data_engine import seg_answers as S
from data_engine.frames import Frame

# Our wording: RSCoVLM has no caption prompt in its plain-text recipe.
CAPTION_PROMPT = "Describe the image in one sentence."


def text_block(t: str) -> dict:
    """A TRL text content block."""
    return {"type": "text", "text": t}


def user_turn(n_images: int, text: str) -> dict:
    """The user turn: one image block per image, then the text.

    With several images each block is preceded by its name, ``Image 1: ``, ``Image 2: `` ... (TEOChat's
    ``Image i: <image>``), so the text can refer to the frames by number (docs/multi-image.md §1).
    """
    if n_images <= 1:
        return {"role": "user", "content": [{"type": "image"} for _ in range(n_images)] + [text_block(text)]}
    content: list[dict] = []
    for k in range(n_images):
        content += [text_block(f"{frame_name(k)}: "), {"type": "image"}]
    return {"role": "user", "content": content + [text_block("\n" + text)]}


def frame_name(k: int) -> str:
    """The name of frame ``k`` (0-based) in a multi-image prompt: ``Image {k+1}``."""
    return f"Image {k + 1}"


def _turns(system: str | None, n_images: int, text: str) -> list[dict]:
    msgs = [{"role": "system", "content": [text_block(system)]}] if system else []
    return msgs + [user_turn(n_images, text)]


# ---------------------------------------------------------------- prompts


def detection_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """RSCoVLM box-type system prompt (text mode) + ``find the {categories}``."""
    system = A.SYSTEM_PROMPTS[box_type] if mode == "text" else None
    return _turns(system, n_images, A.detection_user_prompt(target["classes"], box_type, mode))


def grounding_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """RSCoVLM HBB system prompt (text mode) + ``find the {expression}``."""
    system = A.SYSTEM_PROMPTS["hbb"] if mode == "text" else None
    return _turns(system, n_images, A.grounding_user_prompt(target["expression"], mode))


def referring_detection_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """RSCoVLM HBB system prompt (text mode) + ``find all the {expression}``."""
    system = A.SYSTEM_PROMPTS["hbb"] if mode == "text" else None
    return _turns(system, n_images, A.referring_user_prompt(target["expression"], mode))


def vqa_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """The question verbatim (the multiple-choice rewrite when the target has ``choices``)."""
    q = str(target["question"])
    return _turns(None, n_images, A.mcq_prompt(q, target["choices"]) if target.get("choices") else q)


def caption_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """`CAPTION_PROMPT`."""
    return _turns(None, n_images, CAPTION_PROMPT)


def classification_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """``Classify the image within one of the given classes:{classes}.``"""
    return _turns(None, n_images, A.classification_user_prompt(target["classes"]))


def region_caption_prompt(target: dict, n_images: int, box_type: str, mode: str, frame: Frame) -> list[dict]:
    """`answers.region_caption_user_prompt`: the region in the model's frame (a ``region_box`` task)."""
    return _turns(None, n_images, A.region_caption_user_prompt(target["box"], frame, mode))


def grounding_description_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """`answers.GROUNDED_DESCRIPTION_PROMPT`."""
    return _turns(None, n_images, A.GROUNDED_DESCRIPTION_PROMPT)


def multilabel_classification_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """`answers.multilabel_user_prompt` of the class list."""
    return _turns(None, n_images, A.multilabel_user_prompt(target["classes"]))


def zoom_vqa_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """The zoom chain's opening: tool system block + question with the zoom instruction (one image)."""
    from data_engine.zoom import zoom_prompt  # zoom imports the schema, which imports the task declarations

    return zoom_prompt(str(target["question"]))


def referring_segmentation_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """``Locate the {expression}, output the segmentation mask`` (`seg_answers.referring_seg_user_prompt`)."""
    return _turns(None, n_images, S.referring_seg_user_prompt(target["expression"]))


def semantic_segmentation_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """``Locate the {class}, output the segmentation mask`` (`seg_answers.semantic_seg_user_prompt`)."""
    return _turns(None, n_images, S.semantic_seg_user_prompt(target["class"]))


# ---------------------------------------------------------------- answers


def detection_answer(target: dict, frame: Frame, box_type: str, mode: str, rng: Any = None) -> str:
    """`answers.format_detection` of the objects."""
    return A.format_detection(target["objects"], target["classes"], frame, box_type, mode)


def grounding_answer(target: dict, frame: Frame, box_type: str, mode: str, rng: Any = None) -> str:
    """`answers.format_grounding` of the box."""
    return A.format_grounding(target["box"], target["expression"], frame, mode)


def referring_detection_answer(target: dict, frame: Frame, box_type: str, mode: str, rng: Any = None) -> str:
    """`answers.format_referring` of the boxes (``There are none.`` when there are none)."""
    return A.format_referring(target["boxes"], target["expression"], frame, mode)


def vqa_answer(target: dict, frame: Frame, box_type: str, mode: str, rng: Any = None) -> str:
    """The answer on one line (`answers.format_vqa`); also the zoom chain's final answer."""
    return A.format_vqa(target["answer"])


def caption_answer(target: dict, frame: Frame, box_type: str, mode: str,
                   rng: np.random.Generator | None = None) -> str:
    """One reference: drawn with ``rng``, the first one without."""
    refs = target["references"]
    return A.format_caption(refs[int(rng.integers(len(refs))) if rng is not None else 0])


def grounding_description_answer(target: dict, frame: Frame, box_type: str, mode: str,
                                  rng: np.random.Generator | None = None) -> str:
    """`answers.format_grounded_description` of the first reference (it names the objects) with the boxes."""
    return A.format_grounded_description(target["references"][0], target["objects"], frame)


def multilabel_classification_answer(target: dict, frame: Frame, box_type: str, mode: str, rng: Any = None) -> str:
    """`answers.format_multilabel` of the labels."""
    return A.format_multilabel(target["labels"], target["classes"])


def classification_answer(target: dict, frame: Frame, box_type: str, mode: str, rng: Any = None) -> str:
    """The class name (`answers.format_classification`)."""
    return A.format_classification(target["label"])


# ---------------------------------------------------------------- multi-image (change) tasks


def change_caption_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """`change_text.CHANGE_CAPTION_PROMPT` after the named frames (before, after)."""
    return _turns(None, n_images, C.CHANGE_CAPTION_PROMPT)


def change_detection_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """The detection prompt (system prompt of the box type in text mode) after `change_text.CHANGE_DETECTION_PREFIX`."""
    system = A.SYSTEM_PROMPTS[box_type] if mode == "text" else None
    text = C.CHANGE_DETECTION_PREFIX + A.detection_user_prompt(target["classes"], box_type, mode)
    return _turns(system, n_images, text)


def box_text(box, frame: Frame | None) -> str:
    """A region box ``[x1, y1, x2, y2]`` written in the model's frame (original pixels without a frame)."""
    from data_engine.frames import quantize, to_model

    vals = np.asarray(box, dtype=np.float64)
    ints = quantize(to_model(vals, frame) if frame is not None else vals)
    return "[" + ", ".join(str(int(v)) for v in ints) + "]"


def damage_prompt(target: dict, n_images: int, box_type: str, mode: str, frame: Frame | None = None) -> list[dict]:
    """`change_text.DAMAGE_PREFIX` + the question (its ``{box}`` written in ``frame``) + the class list."""
    question = str(target["question"])
    if "{box}" in question and target.get("box") is not None:
        question = question.replace("{box}", box_text(target["box"], frame))
    text = C.DAMAGE_PREFIX + question + C.ANSWER_WITH.format(classes=", ".join(target["classes"]))
    return _turns(None, n_images, text)


def damage_answer(target: dict, frame: Frame, box_type: str, mode: str, rng: Any = None) -> str:
    """The class name of the answer (`answers.format_classification`)."""
    return A.format_classification(target["answer"])


def temporal_classification_prompt(target: dict, n_images: int, box_type: str, mode: str) -> list[dict]:
    """`change_text.TEMPORAL_PREFIX` + ``Classify the image within one of the given classes:{classes}.``"""
    return _turns(None, n_images, C.TEMPORAL_PREFIX + A.classification_user_prompt(target["classes"]))


def referring_segmentation_answer(target: dict, frame: Frame, box_type: str, mode: str, rng: Any = None,
                                  mask_format: str = "seg_grid") -> str:
    """The mask on the shown image's grid (`seg_answers.format_seg_grid`) or, for ``mask_format="seg_polygon"``, as
    polygon lines in the model frame (`seg_polygons.format_seg_polygon`); ``There is none.`` when empty."""
    if mask_format == "seg_polygon":
        from data_engine.seg_polygons import format_seg_polygon  # shapely only where polygons are written

        return format_seg_polygon(target.get("mask"), frame)
    return S.format_seg_grid(target.get("mask"), frame)
