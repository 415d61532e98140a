"""What every format adapter shares: the source spec it reads, the skip record it yields, and input checks.

An adapter is a function ``(spec: SourceSpec) -> Iterator[dict | Skip]``: it yields schema rows (see
`data_engine.schema`) and, for every record it cannot use, a `Skip` naming the reason, file and line. It never
raises on bad data (only on a source that cannot be read at all, e.g. a missing root), so the build can count and
report every problem, or stop at the first one with ``--strict``.
"""

from __future__ import annotations

import glob
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.errors import DataError, UserError
from data_engine.images import ImageTooLarge, image_size
from data_engine.numbers import BadNumber, parse_numbers

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
    # How many records this skip stands for (e.g. an RSVQA image entry with a bad byte loses all its questions), each
    # counted (records in = rows out + skipped).
    records: int = 1
    # the exception behind an "adapter error" skip (chained by --strict; never written to the summary)
    error: BaseException | None = field(default=None, repr=False, compare=False)

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else str(self.file)

    def to_dict(self) -> dict:
        return {"reason": self.reason, "file": str(self.file), "line": self.line, "detail": self.detail}


ADAPTER_ERROR = "adapter error"


def isolated(file, line: int | None, convert: Callable[..., Iterable[dict | Skip]], *args) -> list[dict | Skip]:
    """The rows and skips of ONE record, ``list(convert(*args))``; an unexpected exception raised while converting it
    becomes one counted Skip ("adapter error", detail ``<ExceptionType>: <message>`` and the adapter line that
    raised), so a bug that one record triggers costs that record only and shows up, named, in the summary.

    Every adapter runs its per-record work through this (tests/data_engine/test_record_isolation.py checks it on
    every format). The rows are collected first, so a record that fails half-way yields no partial rows.
    Not caught: MemoryError, KeyboardInterrupt / SystemExit (not `Exception`), and a `UserError` that is not a
    `DataError` (a configuration mistake must stop the build, data_engine.errors).
    """
    try:
        return list(convert(*args))
    except MemoryError:
        raise
    except ImageTooLarge as e:  # a pixel-limit refusal that escaped its reader keeps its own reason
        return [Skip("image over pixel limit", str(file), line, str(e))]
    except UserError as e:
        if not isinstance(e, DataError):
            raise
        return [adapter_error(e, file, line)]
    except Exception as e:  # noqa: BLE001 - the point: any bug on one record is a counted skip of that record
        return [adapter_error(e, file, line)]


def adapter_error(e: BaseException, file, line: int | None, suffix: str = "") -> Skip:
    """The "adapter error" Skip of exception `e` (its type, message and the innermost data_engine line)."""
    import traceback

    frames = [f for f in traceback.extract_tb(e.__traceback__) if "data_engine" in f.filename]
    at = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    msg = str(e)
    msg = msg if len(msg) <= 300 else msg[:300] + "..."
    return Skip(ADAPTER_ERROR, str(file), line, f"{type(e).__name__}: {msg}{at}{suffix}", error=e)


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
    return _decode_strict(path.read_bytes(), path)


def _decode_strict(raw: bytes, path: Path) -> str | Skip:
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


def read_json(path: Path, records: bool = False) -> Any | Skip:
    """Parsed JSON of a file, or a Skip ("non-UTF-8" / "malformed JSON" with the line).

    Args:
        records: True for a file that is one JSON document holding many records. Then a
            non-UTF-8 byte costs only the record holding it: the file is decoded with ``surrogateescape`` (each bad
            byte becomes one lone surrogate character) and parsed, and the caller skips each record for which
            `bad_bytes` finds one ("non-UTF-8"), as JSONL loses only its bad line. A document that does not parse
            even so (the byte broke its syntax) is one Skip. Without `records` (a file that is one record), a bad
            byte is a Skip of the file.
    """
    raw = path.read_bytes()
    text = _decode_escaped(raw) if records else _decode_strict(raw, path)
    if isinstance(text, Skip):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        return _whole_file_lost(Skip("malformed JSON", str(path), e.lineno, e.msg), raw, records)
    except RecursionError:
        return Skip("malformed JSON", str(path), None, "JSON nested too deeply")
    except ValueError as e:  # an integer past Python's digit limit
        return _whole_file_lost(Skip("malformed JSON", str(path), None, str(e)), raw, records)


def _decode_escaped(raw: bytes) -> str:
    text = raw.decode("utf-8", "surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def _whole_file_lost(skip: Skip, raw: bytes, records: bool) -> Skip:
    """The Skip of a document that does not parse; named "non-UTF-8" when a bad byte is what broke it (its records
    cannot be counted: the same bytes do not parse however they are decoded)."""
    if records and _bad_utf8(raw):
        e = _first_bad_byte(raw)
        skip.reason = "non-UTF-8"
        skip.detail = f"byte 0x{raw[e]:02x} at offset {e}; {skip.detail}"
    return skip


def _first_bad_byte(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start
    return 0


def bad_bytes(record: Any, max_items: int = 100_000) -> str | None:
    """Where a record read by `read_json(..., records=True)` holds a non-UTF-8 byte (a lone surrogate of
    ``surrogateescape`` in any key or string), e.g. ``"byte 0xe9 in 'raw'"``, or None. Walks at most `max_items`
    values (a record that large is read as clean)."""
    stack, seen = [(record, "")], 0
    while stack and seen < max_items:
        v, key = stack.pop()
        seen += 1
        if isinstance(v, str) and not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as e:  # a lone surrogate: an escaped byte (or a \\udXXX escape in the JSON)
                c = ord(v[e.start])
                what = f"byte 0x{c - 0xDC00:02x}" if 0xDC80 <= c <= 0xDCFF else f"lone surrogate U+{c:04X}"
                return f"{what} in {key or 'the record'}"
        elif isinstance(v, dict):
            for k, x in v.items():
                stack.append((k, f"a key of {key or 'the record'}"))
                stack.append((x, repr(k)[:40] if isinstance(k, str) else key))
        elif isinstance(v, list):
            stack.extend((x, key) for x in v)
    return None


def non_utf8_skip(record: Any, file: Path, line: int | None) -> Skip | None:
    """The "non-UTF-8" Skip of a record of a `read_json(..., records=True)` document that holds a bad byte, else None."""
    where = bad_bytes(record)
    return None if where is None else Skip("non-UTF-8", str(file), line, where)


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
        p = np.asarray(parse_numbers(values), dtype=np.float64)
    except BadNumber as e:
        return f"non-numeric coordinates {str(list(values) if not isinstance(values, str) else values)[:120]} ({e})"
    if p.size != 8:
        return f"expected 8 coordinates, got {p.size}"
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
        b = parse_numbers(values)
    except BadNumber as e:
        return f"non-numeric box {str(values)[:120]} ({e})"
    if len(b) != 4:
        return f"expected 4 box values, got {len(b)}"
    if b[2] <= b[0] or b[3] <= b[1]:
        return f"degenerate polygon (empty box {b})"
    return b


def outside_image(coords, width: int, height: int) -> str | None:
    """Why an object cannot be trained on because it does not overlap the image by a positive area, or None.

    The one geometry rule of every adapter that emits coordinates (original pixels): 4 numbers are a box
    ``[x1, y1, x2, y2]``, more are a polygon ring ``[x1, y1, x2, y2, ...]``. A non-finite coordinate is unusable;
    an object whose intersection with ``[0, width] x [0, height]`` has no positive area (entirely outside, only
    touching the border, or a polygon whose bounding box overlaps the image but whose area does not) is skipped
    as "outside image"; one partly inside is kept (answers clip it to the shown frame). Masks are on the image
    grid, so the rule there is "empty mask".
    """
    a = np.asarray(coords, dtype=np.float64).reshape(-1)
    if a.size < 4 or a.size % 2 or not np.all(np.isfinite(a)):
        return f"object {a.tolist()[:16]} has non-finite or too few coordinates"
    xs, ys = a[0::2], a[1::2]
    if xs.max() <= 0 or ys.max() <= 0 or xs.min() >= width or ys.min() >= height:
        return f"object {a.tolist()[:16]} lies outside the {width}x{height} image"
    if a.size == 4:  # a box reaching into the image overlaps it by a positive area (its extent is checked apart)
        return None
    if xs.min() >= 0 and ys.min() >= 0 and xs.max() <= width and ys.max() <= height:
        return None  # wholly inside: its own area (checked by the format) is the overlap
    return _polygon_outside(a, width, height)


def _polygon_outside(a: np.ndarray, width: int, height: int) -> str | None:
    from shapely import make_valid
    from shapely.errors import ShapelyError
    from shapely.geometry import Polygon, box

    try:
        poly = Polygon(a.reshape(-1, 2))
        if not poly.is_valid:
            poly = make_valid(poly)
        area = poly.intersection(box(0, 0, width, height)).area
    except (ShapelyError, ValueError):  # a ring shapely cannot read: the bounding-box test above decides
        return None
    return None if area > 0 else f"object {a.tolist()[:16]} does not overlap the {width}x{height} image by any area"


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
