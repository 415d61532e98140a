"""What `georft predict` runs on: input files (one file, a folder searched recursively, or a list file), before/after
pairs for change tasks, and the prompts (one ``--prompt``, or a ``--prompts`` file).

Each input gets a stable, file-system-safe name (its path relative to the input folder, `safe_filename`), the name
of its output folder, so a rerun finds what it finished before.
"""

from __future__ import annotations

import json
from pathlib import Path

from data_engine.errors import UserError
from data_engine.filenames import safe_filename
from data_engine.images import IMAGE_EXTENSIONS

LIST_EXTENSIONS = (".txt", ".lst", ".list")
RASTER_EXTENSIONS = IMAGE_EXTENSIONS + (".jp2", ".img", ".vrt")


def _name(rel: Path) -> str:
    return safe_filename(rel.with_suffix("").as_posix().replace("/", "__"))


def find_inputs(path: str | Path, extensions: tuple[str, ...] = RASTER_EXTENSIONS) -> list[tuple[str, Path]]:
    """(name, file) of every input under ``path``, sorted by path.

    ``path`` is an image file, a folder (searched recursively for files with one of ``extensions``, case-insensitive)
    or a list file (``.txt``/``.lst``/``.list``: one path per line, relative to the list file; blank lines and
    ``#`` comments skipped).

    Raises:
        FileNotFoundError: ``path`` or a listed file does not exist (the list file's line is named).
        UserError: a folder or list holds no input, or two inputs would get the same name.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"input not found: {p}")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in extensions)
        found = [(_name(f.relative_to(p)), f) for f in files]
        where = f"folder {p} (extensions {', '.join(extensions)})"
    elif p.suffix.lower() in LIST_EXTENSIONS:
        found = []
        for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            f = Path(entry) if Path(entry).is_absolute() else p.parent / entry
            if not f.is_file():
                raise FileNotFoundError(f"{p}, line {lineno}: input not found: {f}")
            found.append((_name(Path(entry)) if not Path(entry).is_absolute() else _name(Path(f.name)), f))
        where = f"list file {p}"
    else:
        found = [(_name(Path(p.name)), p)]
        where = str(p)
    if not found:
        raise UserError(f"no input images in {where}")
    seen: dict[str, Path] = {}
    for name, f in found:
        if name in seen:
            raise UserError(f"inputs {seen[name]} and {f} get the same output name {name!r}; rename one")
        seen[name] = f
    return found


def pair_inputs(before: str | Path, after: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, before file, after file) of a change task's inputs: two files, or two folders / list files whose
    inputs pair up by name.

    Raises:
        UserError: a before input has no after input of the same name, or the other way round.
    """
    b, a = find_inputs(before), find_inputs(after)
    if len(b) == 1 and len(a) == 1 and Path(before).is_file() and Path(after).is_file():
        return [(b[0][0], b[0][1], a[0][1])]
    after_by = dict(a)
    missing = [n for n, _ in b if n not in after_by]
    extra = sorted(set(after_by) - {n for n, _ in b})
    if missing or extra:
        first = missing[0] if missing else extra[0]
        raise UserError(f"before/after inputs do not pair up by name: {len(missing)} before input(s) without an "
                        f"after one, {len(extra)} the other way (first: {first!r})")
    return [(n, f, after_by[n]) for n, f in b]


def read_prompts(prompt: str | None, prompts_file: str | Path | None) -> list[str | None]:
    """The prompts every input is asked: ``[prompt]``, the lines of ``prompts_file`` (``.jsonl``: one JSON object
    of target keys or one JSON string per line; otherwise one plain prompt per line, blank and ``#`` lines
    skipped), or ``[None]`` (the task takes none).

    Raises:
        UserError: both or an empty file given, or a ``.jsonl`` line that is not JSON (its line number named).
    """
    if prompt is not None and prompts_file:
        raise UserError("give --prompt or --prompts, not both")
    if not prompts_file:
        return [prompt]
    path = Path(prompts_file)
    if not path.is_file():
        raise FileNotFoundError(f"prompts file not found: {path}")
    out: list[str | None] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if path.suffix.lower() == ".jsonl":
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise UserError(f"{path}, line {lineno}: not JSON ({e})") from None
            text = obj if isinstance(obj, str) else json.dumps(obj)
        out.append(text)
    if not out:
        raise UserError(f"{path}: no prompts")
    return out
