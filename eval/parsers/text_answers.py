"""Free-text answers: VQA, classification, caption.

Extraction chain (same for all three): drop ``<think>...</think>``, keep the inside of ``<answer>...</answer>`` when
present, take the inside of a code fence, drop a leading ``Answer:`` / ``The answer is`` / ``The best answer is:``,
collapse whitespace. The WHOLE remaining text is the answer (not its first line), so "yes\\nno" or "A or B" stays
one answer that matches nothing instead of being read generously. Matching (normalisation, synonyms, letters)
belongs to `eval.metrics.vqa`; these parsers only extract.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from eval.parsers.common import one_line, strip_wrappers, unfence
from eval.parsers.labels import match_label, norm_label

MAX_ANSWER_CHARS = 200  # longer "answers" are not the trained single word/phrase format
MAX_CAPTION_CHARS = 1000
_PREFIX_RE = re.compile(r"^\s*(?:(?:the\s+)?(?:best\s+|final\s+)?answer\s*(?:is)?\s*[:\-]?\s*)", re.IGNORECASE)
_MARKUP_RE = re.compile(r"</?(?:tool_call|answer|think|tool_response)>|```", re.IGNORECASE)


def _clean(text: Any) -> tuple[str, str]:
    """(raw stripped text, extracted one-line answer)."""
    text = text if isinstance(text, str) else ""
    inner = unfence(strip_wrappers(text))
    return text.strip(), one_line(_PREFIX_RE.sub("", inner, count=1))


def parse_vqa(text: str, choices: Sequence[str] | None = None, **_: Any) -> dict:
    """Extract a VQA answer.

    Args:
        text: the model's answer.
        choices: multiple-choice options; when given, ``choice`` is the letter the answer names
            (via `eval.metrics.vqa.extract_choice_letter`).

    Returns:
        ``{"answer": str, "choice": str | None, "n_parsed": 0 | 1, "n_failed": 0 | 1, "format_ok": bool}``;
        ``format_ok``: one non-empty line of at most 200 characters without tool or tag markup.
    """
    raw, answer = _clean(text)
    choice = None
    if choices:
        from eval.metrics.vqa import extract_choice_letter

        choice = extract_choice_letter(answer)
    ok = bool(answer) and "\n" not in raw and len(answer) <= MAX_ANSWER_CHARS and not _MARKUP_RE.search(raw)
    return {"answer": answer, "choice": choice, "n_parsed": int(bool(answer)), "n_failed": int(not answer),
            "format_ok": ok}


def parse_classification(text: str, classes: Sequence[str] | None = None, **_: Any) -> dict:
    """Extract a class label.

    Returns:
        ``{"answer": str, "label": str | None, "n_parsed", "n_failed", "format_ok"}``: ``label`` is the class of
        ``classes`` the answer names (`eval.parsers.labels.match_label`), None when none; ``format_ok`` when the
        answer is exactly one class name (after label normalisation).
    """
    raw, answer = _clean(text)
    label = match_label(answer, classes) if answer else None
    exact = label is not None and norm_label(answer) == norm_label(label)
    ok = exact and "\n" not in raw and not _MARKUP_RE.search(raw)
    return {"answer": answer, "label": label, "n_parsed": int(label is not None), "n_failed": int(label is None),
            "format_ok": ok}


def parse_caption(text: str, **_: Any) -> dict:
    """Extract a caption: ``{"caption": str, "n_parsed", "n_failed", "format_ok"}`` (non-empty, <= 1000 chars,
    no markup)."""
    raw, caption = _clean(text)
    ok = bool(caption) and len(caption) <= MAX_CAPTION_CHARS and not _MARKUP_RE.search(raw)
    return {"caption": caption, "n_parsed": int(bool(caption)), "n_failed": int(not caption), "format_ok": ok}
