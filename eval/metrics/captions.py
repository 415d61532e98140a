"""Caption metrics: the shared tokenizer, BLEU-1..4, ROUGE-L, and METEOR/SPICE when Java is available.

`caption_tokenize` is the one tokenizer for caption rewards and caption evaluation (CIDEr-D lives in
`eval.metrics.cider` and uses it too). It approximates the PTB tokenizer that pycocoevalcap runs through Java,
without Java:

1. lowercase;
2. split clitics like PTB: "don't" → "do n't", "it's" → "it 's" ('s, 're, 've, 'll, 'd, 'm);
3. keep words (letters/digits, inner hyphens as in "well-known" and inner apostrophes), numbers with decimal
   points or commas ("2.5", "1,000"), and the clitic tokens; every other character is punctuation and is dropped
   (PTB's list drops . , ? ! : ; - -- ... ' '' ` `` and brackets).

It is idempotent: tokenizing ``" ".join(caption_tokenize(s))`` gives the same tokens, so pre-tokenized text may
be passed again. Scores below equal pycocoevalcap's ``Bleu(4)`` (corpus BLEU, "closest" reference length, its
1e-15/1e-9 smoothing) and ``Rouge()`` (β = 1.2, max precision and max recall taken separately) on the same
tokenized text. Corpus BLEU is not the mean of sentence BLEU.

Inputs everywhere: ``candidates: {id: str}`` and ``references: {id: [str, ...]}`` with the same ids; each
reference list must be non-empty.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import shutil
from collections import Counter

_CLITIC_NT = re.compile(r"(?<=\w)n't\b")
_CLITIC = re.compile(r"(?<=\w)'(s|re|ve|ll|d|m)\b")
_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|d|m)\b|\d+(?:[.,]\d+)+|[^\W_]+(?:[-'][^\W_]+)*")


def caption_tokenize(text) -> list[str]:
    """Lowercase PTB-like tokens of a caption (see module docstring); None → []."""
    if text is None:
        return []
    s = str(text).lower()
    s = _CLITIC_NT.sub(" n't", s)
    s = _CLITIC.sub(r" '\1", s)
    return _TOKEN.findall(s)


def _check_ids(candidates: dict, references: dict) -> list:
    if set(candidates) != set(references):
        raise ValueError("candidates and references must have the same ids")
    for k, refs in references.items():
        if not refs:
            raise ValueError(f"reference list for id {k!r} is empty")
    return list(references)


def _tokens(text, tokenize: bool) -> list[str]:
    return caption_tokenize(text) if tokenize else str(text).split()


def _ngram_counts(words: list[str], n: int) -> Counter:
    c: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            c[tuple(words[i : i + k])] += 1
    return c


def bleu(candidates: dict, references: dict, n: int = 4, tokenize: bool = True) -> dict:
    """Corpus BLEU-1..n exactly as pycocoevalcap ``Bleu(n).compute_score`` (option "closest").

    Returns:
        ``{"bleu_1": …, …, "bleu_n": …}``.
    """
    tiny, small = 1e-15, 1e-9
    testlen = reflen = 0
    guess = [0] * n
    correct = [0] * n
    for k in _check_ids(candidates, references):
        hyp = _tokens(candidates[k], tokenize)
        refs = [_tokens(r, tokenize) for r in references[k]]
        counts = _ngram_counts(hyp, n)
        maxref: dict = {}
        for r in refs:
            for g, c in _ngram_counts(r, n).items():
                maxref[g] = max(maxref.get(g, 0), c)
        tl = len(hyp)
        testlen += tl
        # closest reference length, the shorter one on ties
        reflen += min((abs(len(r) - tl), len(r)) for r in refs)[1]
        for j in range(n):
            guess[j] += max(0, tl - j)
        for g, c in counts.items():
            correct[len(g) - 1] += min(maxref.get(g, 0), c)
    out = {}
    prod = 1.0
    ratio = (testlen + tiny) / (reflen + small)
    for j in range(n):
        prod *= float(correct[j] + tiny) / (guess[j] + small)
        score = prod ** (1.0 / (j + 1))
        if ratio < 1:
            score *= math.exp(1 - 1 / ratio)
        out[f"bleu_{j + 1}"] = score
    return out


def _lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidates: dict, references: dict, beta: float = 1.2, tokenize: bool = True) -> dict:
    """ROUGE-L as pycocoevalcap ``Rouge``: per image F_β of (max precision, max recall) over references, mean.

    Returns:
        ``{"rouge_l": corpus mean, "per_id": {id: score}}``.
    """
    per = {}
    for k in _check_ids(candidates, references):
        # pycocoevalcap splits on single spaces: an empty caption is one empty token
        hyp = _tokens(candidates[k], tokenize) or [""]
        p_max = r_max = 0.0
        for ref in references[k]:
            r = _tokens(ref, tokenize) or [""]
            lcs = _lcs(r, hyp)
            p_max = max(p_max, lcs / len(hyp))
            r_max = max(r_max, lcs / len(r))
        per[k] = (1 + beta**2) * p_max * r_max / (r_max + beta**2 * p_max) if p_max and r_max else 0.0
    return {"rouge_l": sum(per.values()) / len(per) if per else 0.0, "per_id": per}


def java_skip_reason() -> str | None:
    """Why METEOR/SPICE cannot run here (no ``java`` on PATH, no pycocoevalcap), or None when they can."""
    if shutil.which("java") is None:
        return "java is not on PATH"
    try:
        import pycocoevalcap  # noqa: F401
    except ImportError:
        return "pycocoevalcap is not installed (pip install -e '.[bench]')"
    return None


def java_metrics(candidates: dict, references: dict, which=("meteor",)) -> dict:
    """METEOR and/or SPICE through pycocoevalcap, which needs ``java`` on PATH (and SPICE its model download).

    Never returns a stand-in number: without Java (or pycocoevalcap) each requested metric is None and
    ``"skipped"`` says why.

    Args:
        candidates, references: as elsewhere in this module; texts are tokenized with `caption_tokenize` first.
        which: any of "meteor", "spice".

    Returns:
        ``{"meteor": float | None, "spice": float | None (if requested), "skipped": reason (only if skipped)}``.
    """
    ids = _check_ids(candidates, references)
    reason = java_skip_reason()
    if reason is not None:
        return {**{m: None for m in which}, "skipped": reason}
    res = {k: [" ".join(caption_tokenize(candidates[k]))] for k in ids}
    gts = {k: [" ".join(caption_tokenize(r)) for r in references[k]] for k in ids}
    out = {}
    for m in which:
        if m == "meteor":
            from pycocoevalcap.meteor.meteor import Meteor as scorer_cls
        elif m == "spice":
            from pycocoevalcap.spice.spice import Spice as scorer_cls
        else:
            raise ValueError(f"unknown metric {m!r}; expected 'meteor' or 'spice'")
        with contextlib.redirect_stdout(io.StringIO()):
            score, _ = scorer_cls().compute_score(gts, res)
        out[m] = float(score)
    return out


_ROUGE_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _porter():
    from nltk.stem import porter  # the stemmer rouge-score uses (NLTK_EXTENSIONS mode)

    return porter.PorterStemmer()


def rouge_tokenize(text, stemmer=None) -> list[str]:
    """The `rouge-score` package's tokenizer: lowercase, non-alphanumerics -> space, Porter-stem words longer than 3."""
    tokens = _ROUGE_NON_ALNUM.sub(" ", str(text or "").lower()).split()
    if stemmer is not None:
        tokens = [stemmer.stem(t) if len(t) > 3 else t for t in tokens]
    return [t for t in tokens if t]


def _f(overlap: int, n_pred: int, n_ref: int) -> float:
    p = overlap / max(n_pred, 1)
    r = overlap / max(n_ref, 1)
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def rouge_f(candidates: dict, references: dict, stem: bool = True) -> dict:
    """ROUGE-1 F and ROUGE-L F as Google's `rouge-score` (``RougeScorer(["rouge1", "rougeL"], use_stemmer=True)``).

    Per id the reference with the highest F is taken (``score_multi``), separately for each measure; the corpus value
    is the mean over ids. ROUGE-1 F: clipped unigram overlap; ROUGE-L F: longest common subsequence; both the
    balanced F (β = 1), unlike pycocoevalcap's ROUGE-L (`rouge_l`, β = 1.2, no stemming).

    Returns:
        ``{"rouge_1_f", "rouge_l_f", "per_id": {id: {"rouge_1_f", "rouge_l_f"}}}``.
    """
    stemmer = _porter() if stem else None
    per = {}
    for k in _check_ids(candidates, references):
        hyp = rouge_tokenize(candidates[k], stemmer)
        best1 = best_l = 0.0
        for ref in references[k]:
            r = rouge_tokenize(ref, stemmer)
            if r and hyp:
                ch, cr = Counter(hyp), Counter(r)
                best1 = max(best1, _f(sum(min(c, cr[g]) for g, c in ch.items()), len(hyp), len(r)))
                best_l = max(best_l, _f(_lcs(r, hyp), len(hyp), len(r)))
        per[k] = {"rouge_1_f": best1, "rouge_l_f": best_l}
    n = len(per)
    return {"rouge_1_f": sum(v["rouge_1_f"] for v in per.values()) / n if n else 0.0,
            "rouge_l_f": sum(v["rouge_l_f"] for v in per.values()) / n if n else 0.0, "per_id": per}
