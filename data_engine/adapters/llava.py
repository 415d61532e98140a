"""LLaVA conversation JSON (instruction chat): GeoChat, VHM, RSCoVLM SFT data, LRS-VQA multi-turn.

Layout::

    <root>/<annotations>.json     [{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]}]
    <image_root>/<image>          (LLaVA's --image_folder; default root)

`annotations:` is a file or glob under root (``.json`` lists or ``.jsonl`` lines). Turns must alternate starting
from ``human``; ``human`` -> ``user``, ``gpt`` -> ``assistant``; every ``<image>`` token is removed and the ends
stripped (the image has its own field); inner text and case are kept. `image` may be a list (multi-image). Records
without an image are out of scope and reported ("text-only record"). Split = a train/val/test token of the file
name, else null.

TEOChatlas-style multi-image records (docs/multi-image.md §7): ``video`` is the list of frame paths (used instead of
``image``), ``<video>`` tokens are removed like ``<image>``, and an optional ``timestamp`` list (``%Y-%m-%d``, one
per frame) orders the frames oldest first and is kept in the target; a ``timestamp`` list of another length or
with a malformed date is a "malformed JSON" skip.

Target: ``{"messages": [{"role", "content"}]}`` (plus ``"timestamps"`` when the record has them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import (
    Skip,
    SourceSpec,
    isolated,
    json_line,
    make_row,
    non_utf8_skip,
    read_json,
    read_lines,
    read_size,
    split_from_name,
)

ROLES = {"human": "user", "gpt": "assistant"}


def _records(file: Path):
    """(index or line, record) pairs, or a single Skip."""
    if file.suffix == ".jsonl":
        for item in read_lines(file):
            if isinstance(item, Skip):
                yield item.line, item
                continue
            lineno, line = item
            try:
                yield lineno, json_line(line)
            except ValueError as e:
                yield lineno, Skip("malformed line", str(file), lineno, str(e))
        return
    data = read_json(file, records=True)
    if isinstance(data, Skip) or not isinstance(data, list):
        yield None, data if isinstance(data, Skip) else Skip("malformed JSON", str(file), None, "expected a list")
        return
    yield from enumerate(data)


def convert_turns(conversations) -> list[dict] | str:
    """LLaVA turns -> [{"role", "content"}], or the reason they are unusable."""
    if not isinstance(conversations, list) or not conversations:
        return "no conversations"
    messages = []
    for i, turn in enumerate(conversations):
        role = ROLES.get(turn.get("from")) if isinstance(turn, dict) else None
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            return f"turn {i} is from {turn.get('from') if isinstance(turn, dict) else turn!r}, expected {expected}"
        text = str(turn.get("value", "")).replace("<image>", "").replace("<video>", "")
        messages.append({"role": role, "content": text.strip()})
    if messages[-1]["role"] != "assistant":
        return "last turn is not from gpt"
    return messages


def conversation_records(spec: SourceSpec) -> Iterator[tuple[Path, str | None, int | None, dict] | Skip]:
    """``(file, split, index or line, record)`` for every object record of the wanted annotation files; a record
    that is not an object (or a file that does not read) is a counted Skip. Shared by the LLaVA-style adapters."""
    for file in spec.annotation_files():
        split = split_from_name(file.name)
        if not spec.wants(split):
            continue
        for k, rec in _records(file):
            if isinstance(rec, Skip):
                yield rec
            elif not isinstance(rec, dict):
                yield Skip("malformed JSON", str(file), k, "record is not an object")
            else:
                yield non_utf8_skip(rec, file, k) or (file, split, k, rec)


def iter_llava(spec: SourceSpec) -> Iterator[dict | Skip]:
    for item in conversation_records(spec):
        if isinstance(item, Skip):
            yield item
        else:
            yield from isolated(item[0], item[2], _record, spec, *item)


def _record(spec: SourceSpec, file: Path, split: str | None, k: int | None, rec: dict) -> Iterator[dict | Skip]:
    field = "video" if rec.get("video") else "image"
    if not rec.get(field):
        yield Skip("text-only record", str(file), k, f"id {rec.get('id')!r} has no image")
        return
    messages = convert_turns(rec.get("conversations"))
    if isinstance(messages, str):
        yield Skip("malformed conversation", str(file), k, messages)
        return
    rels = rec[field] if isinstance(rec[field], list) else [rec[field]]
    if not all(isinstance(r, str) and r for r in rels):
        yield Skip("malformed JSON", str(file), k, f"{field} must be a path or a list of paths, got {rec[field]!r}")
        return
    stamps = _timestamps(rec.get("timestamp"), len(rels))
    if isinstance(stamps, str):
        yield Skip("malformed JSON", str(file), k, stamps)
        return
    if stamps:
        order = sorted(range(len(rels)), key=lambda i: stamps[i])
        rels, stamps = [rels[i] for i in order], [stamps[i] for i in order]
    images = [spec.images / r for r in rels]
    sizes = [read_size(p, file, k) for p in images]
    bad = next((s for s in sizes if isinstance(s, Skip)), None)
    if bad:
        yield bad
        return
    native = str(rec.get("id", f"{file.stem}:{k}"))
    target = {"messages": messages, **({"timestamps": stamps} if stamps else {})}
    yield make_row(spec, native, "chat", split, images, *sizes[0], target)


def _timestamps(value, n: int) -> list[str] | str | None:
    """TEOChat's per-frame ``%Y-%m-%d`` dates, None when absent, or the reason they are unusable."""
    from datetime import datetime

    if value is None:
        return None
    if not isinstance(value, list) or len(value) != n:
        return f"timestamp must be a list of {n} dates (one per frame), got {value!r}"
    try:
        for v in value:
            datetime.strptime(str(v), "%Y-%m-%d")
    except ValueError as e:
        return f"timestamp: {e}"
    return [str(v) for v in value]
