"""XLRS-Bench VQA (multiple choice, one or several answers; docs/benchmarks.md).

Layout: Hugging Face datasets only (``XLRS-Bench-lite``, split ``train``), downloaded as parquet (or arrow)
files, read here with `datasets` (``Dataset.from_parquet`` / ``Dataset.from_file``)::

    <root>/**/*.parquet | *.arrow      (`annotations:` picks files; default every parquet, else every arrow file)

Row: ``index``, ``image`` (a LIST of images, each ``{bytes, path}``; change-detection counting has two),
``question``, ``multi-choice options`` (a list of "(A) ..." strings), ``answer`` (letters), ``category``
("<L1>/<L2>") and ``l2-category``. The embedded images are written once to ``<image_root or root/images>/
<index>_<k>.<ext>`` (an existing file is reused) so rows point at files like every other source; the UHR images
(~8,500 px a side) need the build's pixel limit raised, else each is a counted "image over pixel limit" skip. A row
without images, options or answer is a "malformed record" skip. Split: none.

Target (task vqa): ``{"question", "choices", "answer" (the letters as given), "qtype" (category), "l2_category"}``;
scored with the suite's ``answer_rule: xlrs`` (set equality, `eval.metrics.xlrs`).
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from data_engine.adapters.base import Skip, SourceSpec, isolated, make_row, read_frames
from data_engine.errors import UserError

_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


def _files(spec: SourceSpec) -> list[Path]:
    if spec.annotations:
        return spec.annotation_files()
    for ext in ("parquet", "arrow"):
        found = sorted(Path(p) for p in glob.glob(str(spec.root / "**" / f"*.{ext}"), recursive=True))
        if found:
            return found
    raise UserError(f"{spec.root}: no *.parquet or *.arrow file (XLRS-Bench as downloaded); set 'annotations:'")


def _table(file: Path):
    import datasets

    ds = datasets.Dataset.from_parquet(str(file)) if file.suffix == ".parquet" else datasets.Dataset.from_file(
        str(file))
    return ds.with_format("arrow")  # raw columns: images stay {bytes, path}, never decoded here


def iter_xlrs_bench(spec: SourceSpec) -> Iterator[dict | Skip]:
    out_dir = spec.image_root or spec.root / "images"
    for file in _files(spec):
        k = 0
        for batch in _table(file).iter(batch_size=64):
            for rec in batch.to_pylist():
                yield from isolated(file, k, _record, spec, file, k, rec, out_dir)
                k += 1


def _image_file(img, out_dir: Path, stem: str) -> Path | None:
    if not isinstance(img, dict):
        return None
    data = img.get("bytes")
    if not data and img.get("path"):
        p = Path(img["path"])
        return p if p.is_absolute() else out_dir.parent / p
    if not data:
        return None
    ext = next((e for magic, e in _MAGIC if data.startswith(magic)), ".img")
    path = out_dir / f"{stem}{ext}"
    if not path.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


def _record(spec: SourceSpec, file: Path, k: int, rec: dict, out_dir: Path) -> Iterator[dict | Skip]:
    images, choices = rec.get("image"), rec.get("multi-choice options")
    question, answer, category = rec.get("question"), rec.get("answer"), rec.get("category")
    problem = next((f"no {n}" for n, ok in (
        ("images", isinstance(images, list) and images),
        ("options", isinstance(choices, list) and choices and all(isinstance(c, str) for c in choices)),
        ("question", isinstance(question, str) and question.strip()),
        ("answer", isinstance(answer, str) and answer.strip()),
        ("category", isinstance(category, str) and category.strip())) if not ok), None)
    if problem:
        yield Skip("malformed record", str(file), k, problem)
        return
    native = str(rec.get("index", k))
    paths = [_image_file(img, out_dir, f"{native}_{j}") for j, img in enumerate(images)]
    if any(p is None for p in paths):
        yield Skip("malformed record", str(file), k, "an image entry without bytes or path")
        return
    sizes = read_frames(paths, file, k)
    if isinstance(sizes, Skip):
        yield sizes
        return
    target = {"question": question, "choices": choices, "answer": answer, "qtype": category,
              "l2_category": rec.get("l2-category")}
    yield make_row(spec, native, "vqa", None, paths, *sizes[0], target)
