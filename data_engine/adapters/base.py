"""What every format adapter shares: the source spec it reads, the skip record it yields, and input checks.

An adapter is a function ``(spec: SourceSpec) -> Iterator[dict | Skip]``: it yields schema rows (see
`data_engine.schema`) and, for every record it cannot use, a `Skip` naming the reason, file and line. It never
raises on bad data (only on a source that cannot be read at all, e.g. a missing root), so the build can count and
report every problem, or stop at the first one with ``--strict``.
"""

from __future__ import annotations

import glob
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.errors import UserError
from data_engine.images import ImageTooLarge, image_size

SPLIT_NAMES = ("train", "val", "test", "trainval", "validation", "test_phili")


@dataclass
class SourceSpec:
    """One `sources:` entry of a recipe, with paths resolved.

    Attributes:
        name: source name (prefix of every row id, the `source` column).
        format: adapter name (see `data_engine.adapters.FORMATS`).
        root: the dataset's top folder as distributed.
        annotations: for JSON/JSONL formats, a file or glob relative to `root`.
        image_root: folder image paths are resolved against (default `root`).
        split: keep only these splits (None = every split the source declares).
        task: task given to every row (None = the format's own).
        weight: mixture weight spec, kept for the mixture ("*N", "%P" or a number).
        classes: detection/classification class list; labels outside it are skipped as "unknown class"
            (None = the labels found in the source).
        patches: DOTA-style patch splitting of detection images, ``{size, gap, iof_thr}`` (None = off).
    """

    name: str
    format: str
    root: Path
    annotations: str | None = None
    image_root: Path | None = None
    split: list[str] | None = None
    task: str | None = None
    weight: str = "*1"
    classes: list[str] | None = None
    patches: dict | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Skips for paths `annotation_files` refused (reached through a symlinked folder); the build reports them.
    refused: list = field(default_factory=list)

    @property
    def images(self) -> Path:
        return self.image_root if self.image_root is not None else self.root

    def wants(self, split: str | None) -> bool:
        """Whether rows of `split` are requested."""
        return self.split is None or split in self.split

    def annotation_files(self, default_glob: str | None = None) -> list[Path]:
        """Files matched by `annotations` (relative to root), sorted; `default_glob` when unset."""
        pattern = self.annotations or default_glob
        if not pattern:
            raise UserError(f"source {self.name!r} ({self.format}): set 'annotations:' (a file or glob under root)")
        full = pattern if Path(pattern).is_absolute() else str(self.root / pattern)
        files, refused = [], {}
        for p in sorted(glob.glob(full, recursive=True)):
            link = _symlinked_folder(Path(p), self.root)
            if link is not None:  # a symlinked folder is never followed (a loop would repeat every record)
                refused.setdefault(str(link), []).append(p)
            elif Path(p).is_file():
                files.append(Path(p))
        self.refused = [Skip("symlinked folder not followed", link, None, f"{len(ps)} matching path(s) through it")
                        for link, ps in refused.items()]
        if not files:
            raise UserError(f"source {self.name!r}: annotations {pattern!r} match no file under {self.root}")
        return files


def _symlinked_folder(path: Path, root: Path) -> Path | None:
    """The first symlinked folder on the way from `root` to `path` (exclusive of both), or None."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    cur = root
    for part in rel.parts[:-1]:
        cur = cur / part
        if cur.is_symlink():
            return cur
    return None


@dataclass
class Skip:
    """A record the adapter could not use.

    Attributes:
        reason: short category, e.g. "missing image", "malformed line", "unknown class".
        file: the file holding the record.
        line: 1-based line (text formats) or record index (JSON lists), when known.
        detail: what exactly was wrong.
    """

    reason: str
    file: str
    line: int | None = None
    detail: str = ""
    # How many records this skip stands for: a file that is one JSON document and cannot be decoded loses every
    # record it held, and each one is counted (records in = rows out + skipped).
    records: int = 1

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else str(self.file)

    def to_dict(self) -> dict:
        return {"reason": self.reason, "file": str(self.file), "line": self.line, "detail": self.detail}


def make_row(spec: SourceSpec, native_id: str, task: str, split: str | None, images: list[Path], width: int,
             height: int, target: dict) -> dict:
    """A schema row (target JSON-encoded; non-ASCII text kept as is)."""
    return {
        "id": f"{spec.name}/{native_id}",
        "source": spec.name,
        "task": spec.task or task,
        "split": split,
        "images": [str(Path(p).resolve()) for p in images],
        "width": int(width),
        "height": int(height),
        "target": json.dumps(target, ensure_ascii=False),
    }


def read_size(path: Path, file: Path, line: int | None = None) -> tuple[int, int] | Skip:
    """(w, h) of an image, or a Skip ("missing image" / "unreadable image") attributed to the annotation file."""
    try:
        return image_size(path)
    except FileNotFoundError:
        return Skip("missing image", str(file), line, f"{path} does not exist")
    except ImageTooLarge as e:
        return Skip("image over pixel limit", str(file), line, str(e))
    except UserError as e:
        return Skip("unreadable image", str(file), line, str(e))


def read_text(path: Path) -> str | Skip:
    """A file's text decoded as strict UTF-8 (a BOM is dropped), or a Skip naming the first bad byte's line."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return Skip("non-UTF-8", str(path), line, f"byte 0x{raw[e.start]:02x} at offset {e.start}")


def read_lines(path: Path) -> Iterator[tuple[int, str] | Skip]:
    """(1-based line number, text) of every non-blank line, each decoded on its own as strict UTF-8 (a BOM is
    dropped), so one bad byte costs one line: a Skip ("non-UTF-8") for that line, the others are read."""
    for lineno, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as e:
            yield Skip("non-UTF-8", str(path), lineno, f"byte 0x{raw[e.start]:02x} at column {e.start + 1}")
            continue
        if line.strip():
            yield lineno, line


def json_line(line: str) -> Any:
    """`json.loads` of one record; nesting too deep for the parser is a ValueError like any malformed line."""
    try:
        return json.loads(line)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def read_json(path: Path, records: Callable[[Any], int] | None = None) -> Any | Skip:
    """Parsed JSON of a file, or a Skip ("non-UTF-8" / "malformed JSON" with the line).

    Args:
        records: counts the records a parsed document holds. A file that is one JSON document with a non-UTF-8
            byte is lost as a whole; with `records`, the Skip stands for every record it held (read with the bad
            bytes replaced, only to count them), so none is dropped uncounted.
    """
    text = read_text(path)
    if isinstance(text, Skip):
        if records is not None:
            try:
                text.records = max(1, int(records(json.loads(path.read_bytes().decode("utf-8", "replace")))))
                text.detail += f"; the file's {text.records} record(s) are all skipped"
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                pass
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        return Skip("malformed JSON", str(path), e.lineno, e.msg)
    except RecursionError:
        return Skip("malformed JSON", str(path), None, "JSON nested too deeply")


def read_xml(path: Path) -> ET.Element | Skip:
    """Root element of an XML file, or a Skip ("non-UTF-8" / "malformed XML" with the line)."""
    raw = path.read_bytes()
    try:
        return ET.fromstring(raw)
    except ET.ParseError as e:
        reason = "non-UTF-8" if "not well-formed (invalid token)" in str(e) and _bad_utf8(raw) else "malformed XML"
        return Skip(reason, str(path), e.position[0] if e.position else None, str(e))


def _bad_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


def child_text(el: ET.Element, tag: str) -> str | None:
    """Text of the first child with `tag` (found by name, not position), stripped; None when absent."""
    c = el.find(tag)
    return None if c is None or c.text is None else c.text.strip()


def check_poly(values, min_area: float = 1e-6) -> np.ndarray | str:
    """An 8-number polygon as float64, or the reason it is unusable ("degenerate polygon: ...")."""
    try:
        p = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return f"non-numeric coordinates {list(values)!r}"
    if p.size != 8:
        return f"expected 8 coordinates, got {p.size}"
    if not np.all(np.isfinite(p)):
        return f"non-finite coordinates {p.tolist()}"
    x, y = p[0::2], p[1::2]
    with np.errstate(over="ignore", invalid="ignore"):
        area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    if not np.isfinite(area):  # coordinates near the float limit (1e308): the area overflows
        return f"non-finite coordinates (area overflows) {p.tolist()}"
    if area <= min_area:
        return f"degenerate polygon (area {area:g}): {p.tolist()}"
    return p


def poly_skip(problem: str, malformed: str, file: Path, line: int | None, where: str = "") -> Skip:
    """The Skip for a polygon `check_poly` rejected: "degenerate polygon" for zero area, else `malformed` (the
    format's own reason, e.g. "malformed line"). `where` prefixes the detail (e.g. "object 3")."""
    reason = "degenerate polygon" if problem.startswith("degenerate") else malformed
    return Skip(reason, str(file), line, f"{where}: {problem}" if where else problem)


def check_box(values) -> list[float] | str:
    """A finite ``[x1, y1, x2, y2]`` with x1 < x2 and y1 < y2, or the reason it is unusable."""
    try:
        b = [float(v) for v in values]
    except (TypeError, ValueError):
        return f"non-numeric box {values!r}"
    if len(b) != 4:
        return f"expected 4 box values, got {len(b)}"
    if not all(math.isfinite(v) for v in b):
        return f"non-finite box {b}"
    if b[2] <= b[0] or b[3] <= b[1]:
        return f"degenerate polygon (empty box {b})"
    return b


def outside_image(coords, width: int, height: int) -> str | None:
    """Why an object (box or polygon, original pixels) cannot be trained on because it does not overlap the image
    by a positive area, or None. The rule: an object entirely outside ``[0, width] x [0, height]`` (or only touching
    its border) is skipped as "outside image"; one partly outside is kept (answers clip it to the shown frame)."""
    a = np.asarray(coords, dtype=np.float64).reshape(-1)
    xs, ys = a[0::2], a[1::2]
    if xs.max() <= 0 or ys.max() <= 0 or xs.min() >= width or ys.min() >= height:
        return f"object {a.tolist()} lies outside the {width}x{height} image"
    return None


def box_to_poly(x1: float, y1: float, x2: float, y2: float) -> list[float]:
    """Axis-aligned box -> 4-point polygon, clockwise on screen from the top-left corner."""
    return [x1, y1, x2, y1, x2, y2, x1, y2]


_SPLIT_TOKEN = re.compile(r"(?:^|[_\-.])(trainval|train|val|validation|test)(?=[_\-.0-9]|$)")


def split_from_name(name: str) -> str | None:
    """Split named by a file name token (``refgeo_train_v2.jsonl`` -> train), else None; validation -> val."""
    m = _SPLIT_TOKEN.search(Path(name).name.lower())
    if not m:
        return None
    return "val" if m.group(1) == "validation" else m.group(1)


def unknown_class(spec: SourceSpec, label: str, file: Path, line: int | None) -> Skip | None:
    """A Skip when the recipe fixes `classes` and `label` is not among them (compared verbatim)."""
    if spec.classes is not None and label not in spec.classes:
        return Skip("unknown class", str(file), line, f"{label!r} not in {spec.classes}")
    return None


def read_frames(paths: list[Path], file: Path, line: int | None = None,
                coregistered: bool = False) -> list[tuple[int, int]] | Skip:
    """(w, h) of every frame of a multi-image record, or a Skip.

    A missing or unreadable frame (a pre image without its post partner) is a "missing image" / "unreadable image"
    skip. With ``coregistered`` (tasks with geometry: coordinates of the first frame must hold on every frame) frames
    of different sizes are a "frames differ in size" skip (docs/multi-image.md §1).
    """
    sizes = []
    for p in paths:
        size = read_size(p, file, line)
        if isinstance(size, Skip):
            return size
        sizes.append(size)
    if coregistered and len(set(sizes)) > 1:
        listed = ", ".join(f"{Path(p).name} {w}x{h}" for p, (w, h) in zip(paths, sizes, strict=True))
        return Skip("frames differ in size", str(file), line, f"co-registered frames needed: {listed}")
    return sizes
