"""VQA answer normalisation and accuracy (RSVQA, LRS-VQA, multiple choice, zoom-chain comparisons).

`normalize_answer` is the single normaliser shared by the VQA reward and this metric, so a reward cannot
disagree with its evaluation. Steps, in order:

1. lowercase, strip; drop a leading "answer:" and surrounding quotes;
2. punctuation becomes a space, except a decimal point or thousands comma between digits ("2.5", "1,000" →
   "1000"), a hyphen inside a word, and "m2"-style units are left as they are;
3. drop the articles "a", "an", "the";
4. number words zero..twenty, thirty..ninety (and hyphenated "twenty-one") become digits;
5. yes/no synonyms map to "yes" / "no" (only when they are the whole answer): true, yeah, yep, correct → yes;
   false, nope, incorrect, none → no. "none" → "no" follows RSVQA presence questions ("is there a …?" → "no").
6. whitespace collapsed.

Accuracy is exact match after normalisation. RSVQA-style tables average per-type accuracies; `vqa_accuracy`
returns overall, per type, the mean over types, and the mean over types other than "count".
"""

from __future__ import annotations

import re

import numpy as np

_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | _TENS
_YES = {"yes", "true", "yeah", "yep", "correct"}
_NO = {"no", "false", "nope", "incorrect", "none"}
_ARTICLES = {"a", "an", "the"}
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_PUNCT = re.compile(r"(?!(?<=\d)\.(?=\d))(?!(?<=\w)-(?=\w))[^\w\s]|_")
_COMPOUND = re.compile(
    r"\b(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-(one|two|three|four|five|six|seven|eight|nine)\b"
)


def _compound(m: re.Match) -> str:
    return str(_NUMBER_WORDS[m.group(1)] + _NUMBER_WORDS[m.group(2)])


def normalize_answer(text) -> str:
    """Normalise a free-form answer for exact-match comparison (see module docstring for the rules).

    Args:
        text: answer string (None and non-strings are converted with str(); None → "").

    Returns:
        The normalised answer, e.g. "Yes." → "yes", "Two" → "2", "the Airport" → "airport".
    """
    if text is None:
        return ""
    s = str(text).strip().lower()
    s = re.sub(r"^answer\s*:\s*", "", s)
    s = _COMPOUND.sub(_compound, s)
    s = _THOUSANDS.sub("", s)
    s = _PUNCT.sub(" ", s)
    words = [str(_NUMBER_WORDS.get(w, w)) for w in s.split() if w not in _ARTICLES]
    s = " ".join(words)
    if s in _YES:
        return "yes"
    if s in _NO:
        return "no"
    return s


def vqa_accuracy(preds, gts, qtypes=None) -> dict:
    """Exact-match accuracy after `normalize_answer`, overall and per question type.

    Args:
        preds: N predicted answers (None = unparsable, always wrong).
        gts: N ground-truth answers (a string, or a list of acceptable strings).
        qtypes: optional N question types.

    Returns:
        ``{"accuracy", "n", "per_type": {type: acc}, "n_per_type": {type: n}, "mean_over_types",
        "mean_over_non_count_types"}`` (the last three only with qtypes; the last is NaN if all types are count).
    """
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions for {len(gts)} answers")
    correct = []
    for p, g in zip(preds, gts, strict=False):
        options = g if isinstance(g, (list, tuple)) else [g]
        correct.append(p is not None and normalize_answer(p) in {normalize_answer(o) for o in options})
    n = len(correct)
    out = {"accuracy": sum(correct) / n if n else 0.0, "n": n}
    if qtypes is not None:
        if len(qtypes) != n:
            raise ValueError(f"{len(qtypes)} question types for {n} answers")
        hits: dict = {}
        for t, c in zip(qtypes, correct, strict=False):
            hits.setdefault(t, []).append(c)
        per_type = {t: sum(v) / len(v) for t, v in hits.items()}
        out["per_type"] = per_type
        out["n_per_type"] = {t: len(v) for t, v in hits.items()}
        out["mean_over_types"] = sum(per_type.values()) / len(per_type) if per_type else 0.0
        non_count = [a for t, a in per_type.items() if str(t).lower() != "count"]
        out["mean_over_non_count_types"] = sum(non_count) / len(non_count) if non_count else float("nan")
    return out


_LETTER_ONLY = re.compile(r"^\W*([A-E])\W*$")
_LETTER_AFTER_CUE = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*(?:option\s*)?[:\-]?\s*\(?([A-E])\)?(?![A-Za-z])", re.IGNORECASE
)
_LETTER_LEADING = re.compile(r"^\s*\(?([A-E])(?:[\).:]|\s*$)")
_LETTER_PAREN = re.compile(r"\(([A-E])\)")


def extract_choice_letter(text) -> str | None:
    """The chosen option letter A–E of a multiple-choice answer, or None.

    Tried in order: the whole answer is one letter (``"B"``, ``"(B)"``, ``"B."``); a letter after "answer is",
    "answer:", "option", "choice" (``"The best answer is: C"``); a leading letter followed by ``)``, ``.`` or
    ``:`` (``"D. airport"``); a parenthesised letter anywhere (``"it is (E)"``). A bare capital word such as
    the article in "A large airport" is not taken as a choice.
    """
    if text is None:
        return None
    s = str(text).strip()
    for pattern in (_LETTER_ONLY, _LETTER_AFTER_CUE, _LETTER_LEADING, _LETTER_PAREN):
        m = pattern.search(s)
        if m:
            return m.group(1).upper()
    return None


def zoom_accuracy(preds_direct, preds_zoom, gts, qtypes=None) -> dict:
    """Accuracy of the same questions answered without and with the zoom-in chain.

    Returns:
        ``{"accuracy_direct", "accuracy_zoom", "delta" (zoom − direct), "per_type_direct", "per_type_zoom"}``
        (per-type entries only with qtypes).
    """
    direct = vqa_accuracy(preds_direct, gts, qtypes)
    zoom = vqa_accuracy(preds_zoom, gts, qtypes)
    out = {
        "accuracy_direct": direct["accuracy"],
        "accuracy_zoom": zoom["accuracy"],
        "delta": zoom["accuracy"] - direct["accuracy"],
        "n": direct["n"],
    }
    if qtypes is not None:
        out["per_type_direct"] = direct["per_type"]
        out["per_type_zoom"] = zoom["per_type"]
    return out


_COUNT_RE = re.compile(r"^\d{1,9}(?:\.\d+)?$")


def count_value(text) -> float | None:
    """The number an answer states (after `normalize_answer`: "three" -> 3), or None when it is not one number."""
    if not isinstance(text, str):
        return None
    s = normalize_answer(text)
    return float(s) if _COUNT_RE.match(s) else None


def counting_metrics(preds, gts) -> dict[str, float]:
    """Counting scores of the questions whose true answer is a number (docs/geochat-tasks.md §5).

    Args:
        preds: N predicted answers (None or a non-number: counted as wrong, and as 0 for MAE/RMSE).
        gts: N true answers (rows whose answer is not a number are left out).

    Returns:
        ``{"count_accuracy", "count_mae", "count_rmse", "count_n"}`` (exact-count share, mean absolute and root
        mean squared error of the stated numbers); empty dict when no true answer is a number.
    """
    pairs = [(count_value(p), t) for p, g in zip(preds, gts, strict=True) if (t := count_value(g)) is not None]
    if not pairs:
        return {}
    pred = np.array([0.0 if p is None else p for p, _ in pairs])
    true = np.array([t for _, t in pairs])
    ok = np.array([p is not None for p, _ in pairs])
    err = np.abs(pred - true)
    return {"count_accuracy": float(np.mean(ok & (err == 0))), "count_mae": float(err.mean()),
            "count_rmse": float(np.sqrt(np.mean(err**2))), "count_n": float(len(pairs))}
