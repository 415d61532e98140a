"""LRS-VQA's official "WUPS-like" answer rule and its report (docs/benchmarks.md, LRS-VQA).

The rule (``Script/evaluation_LRSVQA.py`` of the LRS-VQA release): normalise the ground truth and the prediction,
credit an exact match, else credit when ANY synset pair of ``wn.synsets(gt) x wn.synsets(pred)`` (every part of
speech, WordNet 3.0) has ``path_similarity > 0.8`` (strictly; None never credits). Binary credit, no Wu-Palmer
down-weighting. Whole strings are looked up, so a multi-word answer has no synsets and only matches exactly;
digits are WordNet lemmas ("2" ~ "two").

Two normalisations are reported:

- ``official``: ``.lower()`` only (no strip, no punctuation removal: "Yes." is not "yes");
- ``rscovlm``: ``.lower().strip().strip(".")`` (RSCoVLM's ``large_image_bench.py``).

Report (`lrs_vqa_report`): OA (share credited), accuracy per category, AA (mean of the category accuracies), each
overall and per source dataset (the question id's prefix before the first "_": STAR / FAIR / GLH).
"""

from __future__ import annotations

import functools
from collections import defaultdict

NORMALISATIONS = ("official", "rscovlm")
THRESHOLD = 0.8


def normalise(text, mode: str) -> str:
    """An answer as the `mode` normalisation compares it (None -> "")."""
    s = "" if text is None else str(text).lower()
    if mode == "official":
        return s
    if mode == "rscovlm":
        return s.strip().strip(".")
    raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {mode!r}")


@functools.lru_cache(maxsize=65536)
def _synsets(word: str) -> tuple:
    from eval.metrics.wordnet import wordnet

    reader = wordnet()  # not installed: its one-line UserError propagates (never a silent zero)
    try:
        return tuple(reader.synsets(word))
    except Exception:  # noqa: BLE001 - a model answer NLTK's morphology cannot handle has no synsets
        return ()


@functools.lru_cache(maxsize=65536)
def _similar(a: str, b: str) -> bool:
    for s1 in _synsets(a):
        for s2 in _synsets(b):
            sim = s1.path_similarity(s2)
            if sim is not None and sim > THRESHOLD:
                return True
    return False


def wups_credit(gt, pred, mode: str = "official") -> bool:
    """Whether `pred` is credited against `gt` under the LRS-VQA rule with the `mode` normalisation.

    Never raises on a model output; None (no answer) is never credited.
    """
    if pred is None:
        return False
    g, p = normalise(gt, mode), normalise(pred, mode)
    if g == p:
        return True
    if not g or not p or len(p) > 200:  # nothing to look up (a long free-text answer has no synset either)
        return False
    return _similar(g, p)


def source_of(question_id) -> str:
    """The source dataset of an LRS-VQA question id: its part before the first "_" (``STAR_0012`` -> STAR)."""
    return str(question_id).split("_", 1)[0]


def _block(credits: list[bool], categories: list[str]) -> dict[str, float]:
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for c, k in zip(credits, categories, strict=True):
        by_cat[k].append(c)
    per = {k: sum(v) / len(v) for k, v in sorted(by_cat.items())}
    return {"OA": sum(credits) / len(credits) if credits else 0.0, "AA": sum(per.values()) / len(per) if per else 0.0,
            **{f"acc/{k}": v for k, v in per.items()}, "n": float(len(credits))}


def lrs_vqa_report(preds, gts, categories, question_ids, mode: str = "official") -> dict[str, float]:
    """OA, AA and per-category accuracy, overall and per source, of N answers under the LRS-VQA rule.

    Args:
        preds: N predicted answers (None: no answer, wrong).
        gts: N ground truths.
        categories: N categories (rows without one are left out of every denominator, as the official script).
        question_ids: N question ids (their prefix names the source).
        mode: one of `NORMALISATIONS`.

    Returns:
        ``{"OA", "AA", "acc/<category>", "n", "<SOURCE>/OA", "<SOURCE>/AA", "<SOURCE>/acc/<category>", ...}``.
    """
    keep = [k for k, (g, c) in enumerate(zip(gts, categories, strict=True)) if g is not None and c]
    credits = [wups_credit(gts[k], preds[k], mode) for k in keep]
    cats = [str(categories[k]) for k in keep]
    out = _block(credits, cats)
    sources = [source_of(question_ids[k]) for k in keep]
    for s in sorted(set(sources)):
        idx = [i for i, x in enumerate(sources) if x == s]
        out.update({f"{s}/{k}": v for k, v in _block([credits[i] for i in idx], [cats[i] for i in idx]).items()})
    return out
