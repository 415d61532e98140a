"""Issue 27, data-build breaks 1-10 (11 is in test_hostile_data.py) and the mmseg mode-1 label map: each bad record
is one counted skip with its own reason (not an "adapter error"), and every other record still becomes rows. Each
of these aborted the whole build before (or, for 7 and 10, kept or lost rows wrongly)."""

from __future__ import annotations

import json
import pickle
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from data_engine import images
from data_engine.adapters.base import ADAPTER_ERROR
from tests.data_engine.conftest import write_image
from tests.data_engine.test_adapters import run
from tests.data_engine.test_adapters_geochat import _patch
from tests.data_engine.test_adapters_multi import _fmow_frame, _xbd_label
from tests.data_engine.test_segmentation_data import _colour_tif, _ref, _rrsisd, _semantic


def _reasons(skips) -> list[str]:
    assert all(s.reason != ADAPTER_ERROR for s in skips), [s.detail for s in skips]
    return [s.reason for s in skips]


@pytest.fixture
def limit():
    yield images.set_max_image_pixels
    images.set_max_image_pixels(None)


# --------------------------------------------------------------------------------- 1: GeoChat 5000-digit grid value
def test_geochat_box_value_with_5000_digits_is_one_malformed_box(tmp_path):
    write_image(tmp_path / "a.png", 200, 100)
    huge = "9" * 5000
    conv = [{"from": "human", "value": "[refer] <p>car</p>"}, {"from": "gpt", "value": f"{{<{huge}><1><2><3>|<0>}}"},
            {"from": "human", "value": f"[identify] what is this {{<1><1><{huge}><5>}}"}, {"from": "gpt", "value": "x"},
            {"from": "human", "value": "[refer] <p>ship</p>"}, {"from": "gpt", "value": "{<10><10><20><20>|<١>}"},
            {"from": "human", "value": "[refer] <p>house</p>"}, {"from": "gpt", "value": "{<10><10><20><30>|<5>}"}]
    (tmp_path / "g.json").write_text(json.dumps([{"id": "g", "image": "a.png", "conversations": conv}]))
    rows, skips = run("geochat", tmp_path, annotations="g.json")
    assert [r["id"] for r in rows] == ["s/g:6"] and rows[0]["target"]["boxes"] == [[20, 10, 40, 30]]
    assert _reasons(skips) == ["malformed box"] * 3  # 5000 digits twice, an Arabic-Indic angle digit once
    assert "more than 40 digits" in skips[0].detail and "not a number: '١'" in skips[2].detail


# ------------------------------------------------------------------------- 2 and 7: NWPU numbers and outside boxes
def test_nwpu_malformed_numbers_and_boxes_outside_the_image(tmp_path):
    for n in ("001", "002", "003", "004"):
        write_image(tmp_path / "positive image set" / f"{n}.jpg", 224, 224)
    gt = tmp_path / "ground truth"
    gt.mkdir()
    (gt / "001.txt").write_text("(10,10),(50,50),1\n(1.2.3,10),(50,50),1\n")
    (gt / "002.txt").write_text("(.,10),(50,50),1\n")
    (gt / "003.txt").write_text("(10,10),(50,50),1\n(-500,-500),(-400,-400),2\n(5000,5000),(5100,5100),3\n"
                                "(200,200),(300,300),2\n")
    (gt / "004.txt").write_text("(١٠,10),(50,50),1\n")  # Arabic-Indic digits: float() would read them
    rows, skips = run("nwpu_vhr10", tmp_path)
    assert [r["id"] for r in rows] == ["s/003"]
    objs = rows[0]["target"]["objects"]
    assert [o["label"] for o in objs] == ["airplane", "ship"]  # the one partly inside (200..300 on 224) is kept
    assert [(s.reason, s.file.rsplit("/", 1)[1], s.line) for s in skips] == [
        ("malformed line", "001.txt", 2), ("malformed line", "002.txt", 1), ("outside image", "003.txt", 2),
        ("outside image", "003.txt", 3), ("malformed line", "004.txt", 1)]


# --------------------------------------------------------------------------------- 3 and 4: BigEarthNet
def test_bigearthnet_a_bad_byte_in_a_split_csv_costs_that_line(tmp_path):
    _patch(tmp_path, "P1", ["Sea and ocean"])
    _patch(tmp_path, "P2", ["Pastures"])
    (tmp_path / "train.csv").write_bytes(b"P1\nP\xe9\nP2\n")
    rows, skips = run("bigearthnet", tmp_path)
    assert [r["id"] for r in rows] == ["s/P1", "s/P2"]
    assert [(s.reason, s.line) for s in skips] == [("non-UTF-8", 2)]
    _reasons(skips)


def test_bigearthnet_bands_over_the_pixel_limit_are_refused_from_the_header(tmp_path, limit):
    _patch(tmp_path, "P1", ["Sea and ocean"], shapes=((40, 60),) * 3)
    _patch(tmp_path, "P2", ["Pastures"])  # 4 x 6
    limit(1000)
    rows, skips = run("bigearthnet", tmp_path)
    assert [r["id"] for r in rows] == ["s/P2"] and _reasons(skips) == ["image over pixel limit"]
    assert "60x40 = 2,400 pixels exceeds the pixel limit of 1,000" in skips[0].detail
    assert not (tmp_path / "rgb" / "P1.png").exists()


def test_a_16500_square_zlib_geotiff_is_refused_without_decoding(tmp_path, limit):
    """Issue 27's BigEarthNet bomb: 16500 x 16500 uint16 (544 MB decoded, 3 GB as float stacks) in under 2 MB of
    zlib TIFF; the default limit (268 M pixels) refuses it from the header, in well under a second and 50 MB."""
    import tifffile

    tile = zlib.compress(bytes(2048 * 2048 * 2), 9)  # one zero tile, encoded once and written 81 times
    path = tmp_path / "B04.tif"
    n = -(-16500 // 2048)
    tifffile.imwrite(path, data=(tile for _ in range(n * n)), shape=(16500, 16500), dtype=np.uint16,
                     tile=(2048, 2048), compression="zlib")
    assert path.stat().st_size < 2_000_000
    with tifffile.TiffFile(path) as tif:  # a valid zlib GeoTIFF: tifffile would decode all 272 M pixels
        assert tif.series[0].shape == (16500, 16500) and tif.pages[0].compression == 8
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(images.ImageTooLarge, match="16500x16500 = 272,250,000 pixels exceeds"):
        images.read_tiff(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t < 1.0 and peak < 50_000_000


# ------------------------------------------------------------------------------------------- 5 and 7: xBD
def test_xbd_non_finite_wkt_and_buildings_outside_the_image(tmp_path):
    root = tmp_path / "hold"
    for stem in ("fire_00000001", "fire_00000002"):
        for t in ("pre", "post"):
            write_image(root / "images" / f"{stem}_{t}_disaster.png", 64, 64)
    inside = "POLYGON ((10 10, 30 10, 30 30, 10 30, 10 10))"
    far = "POLYGON ((5000 5000, 5010 5000, 5010 5010, 5000 5010, 5000 5000))"
    _xbd_label(root / "labels" / "fire_00000001_post_disaster.json",
               [("a", "destroyed", inside), ("b", "no-damage", "POLYGON ((0 0, inf 0, 10 10, 0 0))")], "fire")
    _xbd_label(root / "labels" / "fire_00000002_post_disaster.json",
               [("a", "destroyed", inside), ("z", "minor-damage", far)], "fire")
    rows, skips = run("xbd", root)
    assert [(s.reason, s.line) for s in skips] == [("malformed WKT", 1), ("outside image", 1)]
    _reasons(skips)
    assert "non-finite" in skips[0].detail
    assert [r["id"] for r in rows] == ["s/hold/fire_00000002", "s/hold/fire_00000002/type",
                                       "s/hold/fire_00000002/a"]  # no damage question about the building at 5000
    assert [o["label"] for o in rows[0]["target"]["objects"]] == ["destroyed"]


# -------------------------------------------------------------------------------------------------- 6: fMoW
def test_fmow_site_mixing_naive_and_zoned_timestamps_is_ordered(tmp_path):
    site = tmp_path / "train" / "airport" / "airport_1"
    _fmow_frame(site, 0, "2016-01-01T00:00:00Z")
    _fmow_frame(site, 1, "2014-01-15")  # naive: read as UTC
    _fmow_frame(site, 2, "2015-06-01T12:00:00+02:00")
    rows, skips = run("fmow", tmp_path)
    assert skips == [] and rows[0]["target"]["timestamps"] == ["2014-01-15", "2015-06-01T12:00:00+02:00",
                                                               "2016-01-01T00:00:00Z"]


# ------------------------------------------------------------------------------------ 7: GeoChat-Bench referring
def test_geochat_bench_outside_empty_and_flat_ground_truth(tmp_path):
    write_image(tmp_path / "images" / "0001.png", 224, 224)
    quad = [[10, 10], [30, 10], [30, 20], [10, 20]]
    recs = [{"question_id": 1, "image_id": "0001", "question": "<p>a</p>", "ground_truth": [quad]},
            {"question_id": 2, "image_id": "0001", "question": "<p>b</p>",
             "ground_truth": [[[-500, -500], [-400, -500], [-400, -400], [-500, -400]]]},
            {"question_id": 3, "image_id": "0001", "question": "<p>c</p>",
             "ground_truth": [quad, [[5000, 5000], [5010, 5000], [5010, 5010], [5000, 5010]]]},
            {"question_id": 4, "image_id": "0001", "question": "<p>d</p>", "ground_truth": []},
            {"question_id": 5, "image_id": "0001", "question": "<p>e</p>", "ground_truth": [list(range(10, 26))]},
            {"question_id": 6, "image_id": "0001", "question": "<p>f</p>",  # bounding box overlaps, the area not
             "ground_truth": [[[470, -10], [480, -10], [-10, 480], [-10, 470]]]}]
    (tmp_path / "referring.jsonl").write_text("\n".join(json.dumps(r) for r in recs))
    rows, skips = run("geochat_referring", tmp_path, annotations="referring.jsonl", image_root=tmp_path / "images")
    assert [r["id"] for r in rows] == ["s/1"]
    assert [(s.reason, s.line) for s in skips] == [("outside image", 2), ("outside image", 3), ("malformed box", 4),
                                                   ("malformed box", 5), ("outside image", 6)]
    _reasons(skips)


# ------------------------------------------------------------------------------------------ 8 and 9: RRSIS-D
def test_rrsisd_pickle_reusing_memo_references_is_refused_before_any_row(tmp_path):
    sentence = {"raw": "the bridge", "sent": "the bridge", "sent_id": 1, "tokens": ["the", "bridge"]}
    ref = {"ref_id": 1, "ann_id": 1, "image_id": 1, "category_id": 1, "split": "test",
           "sentences": [sentence] * 4000, "sent_ids": []}
    data = pickle.dumps([ref] * 10_000, protocol=2)  # 40 M sentences declared
    assert len(data) < 100_000
    anns = [{"id": 1, "image_id": 1, "bbox": [5, 10, 20, 10], "segmentation": [[5, 10, 25, 10, 25, 20, 5, 20]]}]
    t = time.perf_counter()
    rows, skips = _rrsisd(tmp_path, None, anns, pickle_bytes=data)
    assert rows == [] and _reasons(skips) == ["refs expand past the limit"] and time.perf_counter() - t < 10
    assert "40,000,000" not in skips[0].detail and "sentences in a" in skips[0].detail
    # the same refs written out (no sharing) are read: one real sentence costs far more than 16 bytes
    from data_engine.adapters.rrsisd import expansion_problem

    honest = [_ref(k, 1, sents=("the long bridge", "bridge on the left")) for k in range(50)]
    assert expansion_problem(honest, len(pickle.dumps(honest, protocol=2))) is None


def test_rrsisd_list_of_one_compressed_rle_on_a_non_square_image(tmp_path):
    from pycocotools import mask as mu

    full = np.zeros((40, 50), np.uint8)
    full[3:9, 30:47] = 1  # rows 3..8, columns 30..46: a transposed decode would differ
    coded = mu.encode(np.asfortranarray(full))
    seg = [{"size": [40, 50], "counts": coded["counts"].decode()}]
    anns = [{"id": 1, "image_id": 1, "bbox": [30, 3, 17, 6], "segmentation": seg},
            {"id": 2, "image_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [{"size": [50, 40],
                                                                               "counts": coded["counts"].decode()}]},
            {"id": 3, "image_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [{"size": [40, 50], "counts": "zz"}]}]
    rows, skips = _rrsisd(tmp_path, [_ref(1, 1), _ref(2, 2), _ref(3, 3)], anns)
    from data_engine.masks import decode_mask

    assert [r["id"] for r in rows] == ["s/1/10"]
    m = decode_mask(rows[0]["target"]["mask"])
    assert m.shape == (40, 50) and (m == full.astype(bool)).all()
    assert _reasons(skips) == ["mask size differs", "bad segmentation"]


# ---------------------------------------------------------------------------- 10: ISPRS Potsdam official archives
def test_isprs_potsdam_as_unzipped_from_the_official_archives(tmp_path):
    from data_engine.adapters.isprs import COLOURS

    table = {v: k for k, v in COLOURS.items()} | {9: (0, 0, 0)}
    ids = [[0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5], [0, 1, 2, 3, 4, 5], [1, 1, 1, 1, 1, 1], [9, 9, 9, 0, 0, 0]]
    write_image(tmp_path / "2_Ortho_RGB" / "top_potsdam_2_13_RGB.tif", 6, 5)
    write_image(tmp_path / "2_Ortho_RGB" / "top_potsdam_2_10_RGB.tif", 6, 5)
    _colour_tif(tmp_path / "5_Labels_all" / "top_potsdam_2_13_label.tif", ids, table)
    _colour_tif(tmp_path / "5_Labels_all" / "top_potsdam_2_10_label.tif", ids, table)
    _colour_tif(tmp_path / "5_Labels_all_noBoundary" / "top_potsdam_2_10_label_noBoundary.tif", ids, table)
    rows, skips = _semantic(tmp_path, "isprs")  # the default recipe keys: no annotations, no image_root
    assert sorted({r["id"].split("/")[1] for r in rows}) == ["top_potsdam_2_10_RGB", "top_potsdam_2_13_RGB"]
    assert len(rows) == 2 * 6 and {r["split"] for r in rows} == {"train", "val"}
    assert all(r["images"][0].endswith(f"2_Ortho_RGB/{r['id'].split('/')[1]}.tif") for r in rows)
    # the tile labelled by both archives is read once, from its noBoundary label; the other is counted
    assert [(s.reason, s.file.rsplit("/", 2)[1]) for s in skips] == [("duplicate label", "5_Labels_all")]
    _reasons(skips)


# ------------------------------------------------------------------------------- extra: mmseg 1-bit label maps
def test_mmseg_mode_1_label_map_is_read_as_ids_0_and_1(tmp_path):
    write_image(tmp_path / "img_dir" / "train" / "a.png", 4, 3)
    bits = np.array([[0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=bool)
    (tmp_path / "ann_dir" / "train").mkdir(parents=True)
    Image.fromarray(bits).convert("1").save(tmp_path / "ann_dir" / "train" / "a.png")
    assert Image.open(tmp_path / "ann_dir" / "train" / "a.png").mode == "1"
    rows, skips = _semantic(tmp_path, "mmseg", classes=["background", "building"])
    from data_engine.masks import decode_mask

    assert skips == [] and [r["target"]["class"] for r in rows] == ["background", "building"]
    assert (decode_mask(rows[1]["target"]["mask"]) == bits).all()
