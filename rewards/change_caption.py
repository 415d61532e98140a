"""Change-caption reward ``change_cider_d``: the caption reward's CIDEr-D plus a no-change consistency term.

``overall = consistent * cider_d_batch(...)["overall"]`` where ``consistent`` is 1 when the caption's verdict
(`data_engine.change_text.is_no_change_caption`) agrees with the pair's ``changed`` flag and 0 otherwise: a "no
change" caption on a changed pair scores 0, and so does a caption describing a change on a pair where nothing
changed, however many n-grams it shares with the references (docs/multi-image.md §2). CIDEr-D uses document
frequencies from the training change captions (the adapter passes the ``change_caption`` table built by
`rewards.caption.training_df`), the same scale and repetition guard as ``cider_d``.
"""

from __future__ import annotations

from typing import Any

from data_engine.change_text import is_no_change_caption
from data_engine.frames import Frame
from eval.parsers import completion_text, parse_caption
from rewards.caption import cider_d_batch
from rewards.common import target_of

PARTS = ("cider", "distinct", "consistent", "format")


def _changed(sample: dict) -> bool | None:
    v = target_of(sample).get("changed")
    return v if isinstance(v, bool) else None


def change_cider_d_batch(completions: list, samples: list[dict], df: Any = None, df_path: str | None = None,
                         scale: float = 3.0, fallback_docs: int = 1000, repetition_guard: bool = True,
                         **_: Any) -> list[dict]:
    """`change_cider_d` for many rows in one CIDEr-D call."""
    results = cider_d_batch(completions, samples, df=df, df_path=df_path, scale=scale, fallback_docs=fallback_docs,
                            repetition_guard=repetition_guard)
    for out, comp, sample in zip(results, completions, samples, strict=True):
        changed = _changed(sample)
        said_none = is_no_change_caption(parse_caption(completion_text(comp))["caption"])
        consistent = 1.0 if changed is None or said_none != changed else 0.0
        out["consistent"] = consistent
        out["overall"] = out["overall"] * consistent
    return results


def change_cider_d(completion: Any, sample: dict, frame: Frame | None = None, **kwargs: Any) -> dict:
    """Score one change caption (see the module docstring; kwargs as `rewards.caption.cider_d_reward`).

    Returns:
        ``{"overall", "cider", "distinct", "consistent", "format"}``.
    """
    return change_cider_d_batch([completion], [sample], **kwargs)[0]
