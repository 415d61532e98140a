"""What the semantic-segmentation adapters share: reading a label map and turning it into one row per class.

A label map is a single-channel integer image (8-bit ``L``/``P`` PNG or TIFF) of the image's size. The rows of one
image are one ``semantic_segmentation`` row per class of the source, present or absent (absent: an empty mask,
answered ``There is none.``), so together they hold the image's full label map and the mIoU metric sees every
class of every image (docs/dataset-layouts.md §5).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_engine.adapters.base import Skip, SourceSpec, make_row, read_size
from data_engine.images import ImageTooLarge, open_image
from data_engine.masks import encode_mask

# PIL modes of one channel of integer ids; "1" is a 1-bit map (a binary label PNG), ids 0 and 1
SINGLE_CHANNEL_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L")


def read_label_map(path: Path, file: Path, line: int | None = None) -> np.ndarray | Skip:
    """The label ids of a single-channel label image, or a Skip naming the file."""
    try:
        with open_image(path) as im:
            if im.mode not in SINGLE_CHANNEL_MODES:
                return Skip("label map is not single-channel", str(file), line, f"{path}: mode {im.mode}")
            return np.asarray(im).astype(np.int64)  # mode "1" (1-bit) reads as bool: ids 0 and 1
    except FileNotFoundError:
        return Skip("missing label map", str(file), line, f"{path} does not exist")
    except ImageTooLarge as e:
        return Skip("image over pixel limit", str(file), line, str(e))
    except (OSError, ValueError) as e:
        return Skip("unreadable label map", str(file), line, f"{path}: {e}")


def reduce_zero_label(label: np.ndarray) -> np.ndarray:
    """mmseg's ``reduce_zero_label`` (``LoadAnnotations``): 0 becomes 255, every other id moves down by one, and 255
    stays 255 (mmseg hard-codes 255 here, so a source using it keeps ``ignore_index`` 255)."""
    out = label - 1
    out[(label == 0) | (label == 255)] = 255
    return out


def class_rows(spec: SourceSpec, native_id: str, split: str | None, image: Path, size: tuple[int, int],
               label: np.ndarray, classes: list[str], ignore_index: int, file: Path,
               line: int | None = None, patch: dict | None = None) -> list[dict] | Skip:
    """One ``semantic_segmentation`` row per class of a label map (ids 0..C-1), or the Skip saying why it is bad.

    Skips: ``label map size differs`` (from the image) and ``unknown class id`` (an id outside 0..C-1 that is not
    ``ignore_index``). With ``patch`` (``{"parent", "x", "y", "size"}``, `data_engine.patches`) the rows are a window
    of the image: ``label`` and ``size`` are the window's and the target records the window.
    """
    if (label.shape[1], label.shape[0]) != tuple(size):
        return Skip("label map size differs", str(file), line,
                    f"{native_id}: label map {label.shape[1]}x{label.shape[0]}, image {size[0]}x{size[1]}")
    ids = np.unique(label)
    bad = [int(v) for v in ids if v != ignore_index and not 0 <= v < len(classes)]
    if bad:
        return Skip("unknown class id", str(file), line, f"{native_id}: ids {bad[:10]} (classes 0..{len(classes) - 1}"
                                                          f", ignore {ignore_index})")
    ignore = label == ignore_index
    rows = []
    for k, name in enumerate(classes):
        target = {"class": name, "mask": encode_mask(label == k), "classes": list(classes)}
        if ignore.any():
            target["ignore"] = encode_mask(ignore)
        if patch is not None:
            target["patch"] = patch
        rows.append(make_row(spec, f"{native_id}/{name}", "semantic_segmentation", split, [image], *size, target))
    return rows


def image_label_rows(spec: SourceSpec, native_id: str, split: str | None, image: Path, ann: Path,
                     classes: list[str], ignore_index: int, reduce_zero: bool = False) -> Iterator[dict | Skip]:
    """The ``semantic_segmentation`` rows of one image and its label-map PNG ``ann`` (whole image), or the Skip
    saying why the pair is bad (unreadable label map or image, then `class_rows`'s checks). ``reduce_zero``: apply
    `reduce_zero_label` first (mmseg's ``reduce_zero_label``, LoveDA's 0 = no-data)."""
    label = read_label_map(ann, ann)
    if isinstance(label, Skip):
        yield label
        return
    size = read_size(image, ann)
    if isinstance(size, Skip):
        yield size
        return
    rows = class_rows(spec, native_id, split, image, size, reduce_zero_label(label) if reduce_zero else label,
                      classes, ignore_index, ann)
    if isinstance(rows, Skip):
        yield rows
    else:
        yield from rows
