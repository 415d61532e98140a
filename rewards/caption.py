"""Caption reward ``cider_d``: per-completion CIDEr-D against the sample's references, with FIXED document
frequencies from the training references.

CIDEr-D computed inside one call takes its document frequencies from the references in that call, so on one
image or one GRPO group every idf is 0 and the score is exactly 0 (docs/rewards-and-metrics.md §6). The reward
therefore uses a df table built once from the training split's references (self-critical.pytorch practice),
cached on disk (JSON, `eval.metrics.cider.DFTable.save`) under ``cache_dir/cider_df_<fingerprint>.json`` where the fingerprint is the dataset's
``_fingerprint`` (Hugging Face datasets) or a hash of its references. The CIDEr-D value itself (clipped n-gram
tf-idf cosine, length penalty sigma 6, x10) comes from `eval.metrics.cider.cider_d`: one scoring path.

Scale: per-sample CIDEr-D is about 0-10; ``overall = min(cider, scale) / scale`` with ``scale = 3`` (a caption as
good as a typical reference scores about 1-4). Without a df table (standalone `rewards.score`), an empty table
over ``fallback_docs`` images is used, so every n-gram gets the same idf ``log(fallback_docs)``: uniform
weighting, a fallback only. `cider_d_batch` scores many rows in one vectorised call (the TRL adapter uses it).

Repetition guard: CIDEr-D's clipping does not stop a policy from repeating a phrase that the references contain
("one vehicle and two ships and two ships and two ships." out-scored a plain caption in the demo's GRPO run), so
``overall`` is multiplied by ``distinct`` = distinct word bigrams / word bigrams of the caption (1.0 when no
bigram repeats; reference-like captions are unaffected). ``repetition_guard=False`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from data_engine.frames import Frame
from eval.parsers import completion_text, parse_caption
from rewards.common import finite01, target_of

PARTS = ("cider", "distinct", "format")
# Tasks whose references are a CIDEr-D corpus; each gets its own df table (a change caption's idf comes from change
# captions, not from single-image captions).
DOC_FREQ_TASKS = ("caption", "change_caption", "region_caption")
_MEMO: dict[str, Any] = {}


def references_of(sample: dict) -> list[str]:
    """The reference captions of a caption row (strings only)."""
    refs = target_of(sample).get("references") or []
    return [r for r in refs if isinstance(r, str) and r.strip()]


def build_df(reference_lists: Iterable[list[str]]) -> Any:
    """A document-frequency table (`eval.metrics.cider.DFTable`) over images, one reference list per image."""
    from eval.metrics.cider import build_df_table

    return build_df_table([list(r) for r in reference_lists])


def dataset_fingerprint(rows: Any, task: str = "caption") -> str:
    """``rows._fingerprint`` for a `datasets.Dataset`, else a sha1 of the ``task`` rows' targets."""
    fp = getattr(rows, "_fingerprint", None)
    if isinstance(fp, str) and fp:
        return fp
    h = hashlib.sha1()
    for r in rows:
        if r.get("task") == task:
            t = r.get("target")
            h.update((t if isinstance(t, str) else json.dumps(t, sort_keys=True)).encode("utf-8"))
    return h.hexdigest()[:16]


def training_df(rows: Any, cache_dir: str | Path, fingerprint: str | None = None, task: str = "caption") -> Any:
    """The df table of the training rows' references of one task, loaded from or saved to the disk cache.

    Args:
        rows: the training dataset (or any iterable of schema rows); only ``task`` rows count.
        cache_dir: folder for ``cider_df_<fingerprint>.json`` (``cider_df_<task>_<fingerprint>.json`` for a task
            other than ``caption``).
        fingerprint: cache key; default `dataset_fingerprint(rows, task)`.
        task: the captioning task whose references make the table (one of `DOC_FREQ_TASKS`).
    """
    fp = fingerprint or dataset_fingerprint(rows, task)
    from eval.metrics.cider import DFTable

    path = Path(cache_dir) / (f"cider_df_{fp}.json" if task == "caption" else f"cider_df_{task}_{fp}.json")
    if str(path) in _MEMO:
        return _MEMO[str(path)]
    if path.is_file():
        table = DFTable.load(path)
    else:
        table = build_df(references_of(r) for r in rows if r.get("task") == task)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        table.save(tmp)
        tmp.replace(path)  # atomic: concurrent ranks never read a half-written table
    _MEMO[str(path)] = table
    return table


def training_dfs(rows: list[dict], cache_dir: str | Path, fingerprint: str | None = None) -> dict[str, Any]:
    """``{task: training_df(...)}`` for every task of `DOC_FREQ_TASKS` that has rows (what GRPO passes the adapter)."""
    present = {r.get("task") for r in rows}
    return {t: training_df(rows, cache_dir, f"{fingerprint}_{t}" if fingerprint else None, task=t)
            for t in DOC_FREQ_TASKS if t in present}


def _df(df: Any, df_path: str | None, fallback_docs: int) -> Any:
    from eval.metrics.cider import DFTable

    if df is not None:
        return df
    if df_path:
        if df_path not in _MEMO:
            _MEMO[df_path] = DFTable.load(df_path)
        return _MEMO[df_path]
    n = max(2, int(fallback_docs))
    return DFTable(doc_freq={}, n_images=n, ref_len=math.log(n))


def cider_d_reward(
    completion: Any,
    sample: dict,
    frame: Frame | None = None,
    df: Any = None,
    df_path: str | None = None,
    scale: float = 3.0,
    fallback_docs: int = 1000,
    repetition_guard: bool = True,
    **_: Any,
) -> dict:
    """Score a caption completion (see the module docstring).

    Args:
        df: a df table from `training_df` / `build_df` (the TRL adapter passes the training one).
        df_path: alternatively, a cache file written by `training_df`.
        scale: CIDEr-D value that maps to 1.0.
        fallback_docs: pseudo-corpus size for the no-table fallback.
        repetition_guard: multiply by the share of distinct word bigrams (see the module docstring).

    Returns:
        ``{"overall", "cider" (raw CIDEr-D), "distinct", "format"}``.
    """
    return cider_d_batch([completion], [sample], df=df, df_path=df_path, scale=scale, fallback_docs=fallback_docs,
                         repetition_guard=repetition_guard)[0]


def distinct_bigrams(caption: str) -> float:
    """Distinct word bigrams / word bigrams of a caption, in [0, 1]; 1.0 when it has fewer than two words."""
    from eval.metrics.captions import caption_tokenize

    words = caption_tokenize(caption)
    bigrams = list(zip(words, words[1:], strict=False))
    return len(set(bigrams)) / len(bigrams) if bigrams else 1.0


def cider_d_batch(
    completions: list, samples: list[dict], df: Any = None, df_path: str | None = None, scale: float = 3.0,
    fallback_docs: int = 1000, repetition_guard: bool = True, **_: Any,
) -> list[dict]:
    """`cider_d_reward` for many rows in one vectorised CIDEr-D call (same results, much faster per caption)."""
    from eval.metrics.cider import cider_d

    table = _df(df, df_path, fallback_docs)
    s = float(scale) if isinstance(scale, (int, float)) and scale > 0 else 3.0
    results: list[dict] = []
    cands, refs = {}, {}
    for i, (comp, sample) in enumerate(zip(completions, samples, strict=True)):
        out = parse_caption(completion_text(comp))
        r = references_of(sample)
        results.append({"overall": 0.0, "cider": 0.0, "distinct": 1.0, "format": float(out["format_ok"])})
        if r and out["caption"]:
            cands[i], refs[i] = out["caption"], r
    if cands:
        _, per = cider_d(cands, refs, table)
        for i, v in per.items():
            value = finite01(v, 0.0, 1e6)
            distinct = distinct_bigrams(cands[i]) if repetition_guard else 1.0
            results[i]["cider"] = value
            results[i]["distinct"] = distinct
            results[i]["overall"] = finite01(min(value, s) / s * distinct)
    return results
