"""Caption reward ``cider_d``: per-completion CIDEr-D against the sample's references, with FIXED document
frequencies from the training references.

CIDEr-D computed inside one call takes its document frequencies from the references in that call, so on one
image or one GRPO group every idf is 0 and the score is exactly 0 (rewards-and-metrics.md §6). The reward
therefore uses a df table built once from the training split's references (self-critical.pytorch practice),
cached on disk under ``cache_dir/cider_df_<fingerprint>.pkl`` where the fingerprint is the dataset's
``_fingerprint`` (Hugging Face datasets) or a hash of its references. The CIDEr-D value itself (clipped n-gram
tf-idf cosine, length penalty sigma 6, x10) comes from `eval.metrics.caption.cider_d`: one scoring path.

Scale: per-sample CIDEr-D is about 0-10; ``overall = min(cider, scale) / scale`` with ``scale = 3`` (a caption as
good as a typical reference scores about 1-4). Without a df table (standalone `rewards.score`), the table is
built from the sample's own references plus ``fallback_docs`` pseudo-documents that contain none of its n-grams,
so every n-gram gets the same idf ``log(fallback_docs + 1)``: uniform weighting, documented as a fallback only.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from data_engine.frames import Frame
from eval.parsers import completion_text, parse_caption
from rewards.common import finite01, target_of

PARTS = ("cider", "format")
_MEMO: dict[str, Any] = {}


def references_of(sample: dict) -> list[str]:
    """The reference captions of a caption row (strings only)."""
    refs = target_of(sample).get("references") or []
    return [r for r in refs if isinstance(r, str) and r.strip()]


def build_df(reference_lists: Iterable[list[str]]) -> Any:
    """A document-frequency table over images (one reference list per image)."""
    from eval.metrics.caption import build_df_table

    return build_df_table([list(r) for r in reference_lists])


def dataset_fingerprint(rows: Any) -> str:
    """``rows._fingerprint`` for a `datasets.Dataset`, else a sha1 of the caption rows' targets."""
    fp = getattr(rows, "_fingerprint", None)
    if isinstance(fp, str) and fp:
        return fp
    h = hashlib.sha1()
    for r in rows:
        if r.get("task") == "caption":
            t = r.get("target")
            h.update((t if isinstance(t, str) else json.dumps(t, sort_keys=True)).encode("utf-8"))
    return h.hexdigest()[:16]


def training_df(rows: Any, cache_dir: str | Path, fingerprint: str | None = None) -> Any:
    """The df table of the training rows' caption references, loaded from or saved to the disk cache.

    Args:
        rows: the training dataset (or any iterable of schema rows); only ``task == "caption"`` rows count.
        cache_dir: folder for ``cider_df_<fingerprint>.pkl``.
        fingerprint: cache key; default `dataset_fingerprint(rows)`.
    """
    fp = fingerprint or dataset_fingerprint(rows)
    path = Path(cache_dir) / f"cider_df_{fp}.pkl"
    if str(path) in _MEMO:
        return _MEMO[str(path)]
    if path.is_file():
        with path.open("rb") as f:
            table = pickle.load(f)  # noqa: S301 - our own cache file, written below
    else:
        table = build_df(references_of(r) for r in rows if r.get("task") == "caption")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(table, f)
        tmp.replace(path)
    _MEMO[str(path)] = table
    return table


def _load_df_path(df_path: str) -> Any:
    if df_path not in _MEMO:
        with open(df_path, "rb") as f:
            _MEMO[df_path] = pickle.load(f)  # noqa: S301 - a cache file written by training_df
    return _MEMO[df_path]


def cider_d_reward(
    completion: Any,
    sample: dict,
    frame: Frame | None = None,
    df: Any = None,
    df_path: str | None = None,
    scale: float = 3.0,
    fallback_docs: int = 1000,
    **_: Any,
) -> dict:
    """Score a caption completion (see the module docstring).

    Args:
        df: a df table from `training_df` / `build_df` (the TRL adapter passes the training one).
        df_path: alternatively, a cache file written by `training_df`.
        scale: CIDEr-D value that maps to 1.0.
        fallback_docs: pseudo-corpus size for the no-table fallback.

    Returns:
        ``{"overall", "cider" (raw CIDEr-D), "format"}``.
    """
    from eval.metrics.caption import cider_d

    refs = references_of(sample)
    out = parse_caption(completion_text(completion))
    fmt = float(out["format_ok"])
    if not refs or not out["caption"]:
        return {"overall": 0.0, "cider": 0.0, "format": fmt}
    if df is None and df_path:
        df = _load_df_path(df_path)
    if df is None:
        df = build_df([refs] + [[] for _ in range(max(1, int(fallback_docs)))])
    value = finite01(cider_d(out["caption"], refs, df), 0.0, 1e6)
    s = float(scale) if scale and scale > 0 else 3.0
    return {"overall": finite01(min(value, s) / s), "cider": value, "format": fmt}
