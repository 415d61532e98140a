"""Fixed strings of the multi-image (change) tasks and the one test for a "no change" caption.

`is_no_change_caption` is shared by the LEVIR-CC adapter (``changed`` when the file has no ``changeflag``), the
change-caption reward's consistency term and the change-caption metrics, so they can never disagree about what
counts as saying "nothing changed" (docs/multi-image.md §2).
"""

from __future__ import annotations

import re

# Our wording; frame names ("Image 1", "Image 2") are the ones `task_render.user_turn` writes before each image.
CHANGE_CAPTION_PROMPT = (
    "Image 1 was taken before image 2 over the same area. Describe the changes from image 1 to image 2 in one "
    "sentence."
)
# Change detection: said before the detection prompt (``find the change``); boxes are in image 2's frame, which is
# image 1's (co-registered frames).
CHANGE_DETECTION_PREFIX = "Image 1 was taken before image 2 over the same area. Mark the regions that changed: "
# xBD (docs/multi-image.md §5): damage levels in ordinal order (the xView2 encoding 1-4), questions about a pair.
DAMAGE_LEVELS = ("no-damage", "minor-damage", "major-damage", "destroyed")
DAMAGE_PREFIX = "Image 1 was taken before image 2, after a disaster, over the same area. "
DISASTER_TYPE_QUESTION = "What type of disaster happened?"
DAMAGE_LEVEL_QUESTION = "What is the damage level of the building in the box {box}?"
ANSWER_WITH = " Answer with one of: {classes}."
# LEVIR-CC's no-change sentence (RSICC / Change-Agent preprocessing), docs/multi-image.md §3.
LEVIR_NO_CHANGE = "the scene is the same as before"

_NO_CHANGE = re.compile(
    r"\bsame as before\b"
    r"|\bno (?:obvious |apparent |significant |visible )?(?:change|changes|difference|differences)\b"
    r"|\b(?:nothing|not)(?: much)? (?:has |have |is |was )?(?:been )?changed\b"
    r"|\bunchanged\b|\bidentical\b|\bremains? the same\b|\bstays? the same\b"
)


def is_no_change_caption(text) -> bool:
    """Whether a caption says that nothing changed ("the scene is the same as before", "no change has occurred",
    "the two scenes seem identical", ...). Never raises; non-strings are False."""
    if not isinstance(text, str):
        return False
    return bool(_NO_CHANGE.search(" ".join(re.findall(r"[a-z0-9]+", text.lower()))))
