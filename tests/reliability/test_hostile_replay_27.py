"""The data attacks of issue 27 replayed on a fresh synthetic world (`make test-hostile`, also `make test-slow`).

Applied to one copy of the world at once, next to a clean copy; per source, the change in rows and skips is derived
by hand from what was injected, and the printed table shows records in = rows out + skipped. The attacks on
formats the synthetic world does not write (NWPU VHR-10, GeoChat-Bench, RRSIS-D, ISPRS) are in
`test_adapter_breaks.py`, on files written in their real layouts.
"""

from __future__ import annotations

import json
import shutil
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from data_engine.build import build

pytestmark = pytest.mark.slow


def _attack(raw: Path) -> dict[str, tuple[int, Counter]]:
    """Apply the attacks; returns per source (rows lost, skips added by reason)."""
    import tifffile

    want: dict[str, tuple[int, Counter]] = {}

    def expect(source: str, rows_lost: int, reasons: dict[str, int] | None = None) -> None:
        lost, c = want.get(source, (0, Counter()))
        want[source] = (lost + rows_lost, c + Counter(reasons or {}))

    # break 1: a GeoChat [refer] turn whose box has 5000 digits, added to a record (a new bad turn)
    g = raw / "geochat" / "GeoChat_Instruct_train.json"
    recs = json.loads(g.read_text())
    recs[0]["conversations"] += [{"from": "human", "value": "[refer] <p>the pool</p>"},
                                 {"from": "gpt", "value": "{<" + "9" * 5000 + "><1><2><3>|<0>}"}]
    g.write_text(json.dumps(recs))
    expect("synth_geochat", 0, {"malformed box": 1})
    # break 3: a non-UTF-8 byte in a BigEarthNet split line; break 4: a 16500^2 zlib GeoTIFF band
    csv = raw / "bigearthnet" / "train.csv"
    lines = csv.read_bytes().split(b"\n")
    lines[1] = lines[1] + b"\xe9"
    csv.write_bytes(b"\n".join(lines))
    expect("synth_bigearthnet", 1, {"non-UTF-8": 1})
    patch = lines[2].decode().split(",")[0]
    band = raw / "bigearthnet" / patch / f"{patch}_B04.tif"
    n = -(-16500 // 2048)
    tile = zlib.compress(bytes(2048 * 2048 * 2), 9)
    tifffile.imwrite(band, data=(tile for _ in range(n * n)), shape=(16500, 16500), dtype=np.uint16,
                     tile=(2048, 2048), compression="zlib")
    expect("synth_bigearthnet", 1, {"image over pixel limit": 1})
    # break 7: an xBD building wholly outside the image (uid sorts last: no question about it either way)
    label = sorted((raw / "xbd").rglob("*_post_disaster.json"))[0]
    doc = json.loads(label.read_text())
    doc["features"]["xy"].append({"properties": {"feature_type": "building", "uid": "zzz", "subtype": "destroyed"},
                                  "wkt": "POLYGON ((5000 5000, 5010 5000, 5010 5010, 5000 5010, 5000 5000))"})
    label.write_text(json.dumps(doc))
    expect("synth_xbd", 0, {"outside image": 1})
    # break 6: one fMoW frame with a naive timestamp among zoned ones: the site is still read
    frame = sorted((raw / "fmow").rglob("*_rgb.json"))[0]
    meta = json.loads(frame.read_text())
    meta["timestamp"] = meta["timestamp"][:10]
    frame.write_text(json.dumps(meta))
    expect("synth_fmow", 0)
    # break 11: one bad byte inside one record of one-document JSON files (captions, LRS-VQA zoom)
    cap = next((raw / "captions").glob("dataset*.json"))
    data = json.loads(cap.read_text())
    data["images"][3]["sentences"][0]["raw"] = "BADBYTE " + data["images"][3]["sentences"][0]["raw"]
    cap.write_bytes(json.dumps(data).encode().replace(b"BADBYTE", b"bad\xe9"))
    expect("synth_captions", 1, {"non-UTF-8": 1})
    zoom = raw / "lrs_vqa" / "annotations" / "zoom_train.json"
    recs = json.loads(zoom.read_text())
    recs[1]["question"] = "BADBYTE " + recs[1]["question"]
    zoom.write_bytes(json.dumps(recs).encode().replace(b"BADBYTE", b"bad\xff"))
    expect("synth_zoom", 1, {"non-UTF-8": 1})
    return want


def test_issue_27_data_attacks_replay(tmp_path, capsys):
    from data_engine.synth import synthesize

    clean_recipe = synthesize(tmp_path / "clean", seed=0, size="tiny")
    shutil.copytree(tmp_path / "clean", tmp_path / "raw", symlinks=True)
    raw = tmp_path / "raw"
    (raw / "recipe.yaml").write_text(clean_recipe.read_text().replace(str(tmp_path / "clean"), str(raw)))
    clean = build(clean_recipe, tmp_path / "clean_built", progress=False)
    want = _attack(raw)
    hostile = build(raw / "recipe.yaml", tmp_path / "built", progress=False)
    was = {s["name"]: s for s in clean["sources"]}
    lines = [f"{'source':<18} {'records in':>10} {'rows out':>9} {'skipped':>8}   skipped by reason"]
    for s in hostile["sources"]:
        c = was[s["name"]]
        lost, added = want.get(s["name"], (0, Counter()))
        n_in = c["samples"] + c["skipped"] + sum(added.values()) - lost  # a broken record's rows become 1 skip
        lines.append(f"{s['name']:<18} {n_in:>10} {s['samples']:>9} {s['skipped']:>8}   {s['skipped_by_reason']}")
        assert s["samples"] == c["samples"] - lost, s
        assert Counter(s["skipped_by_reason"]) == Counter(c["skipped_by_reason"]) + added, s
        assert n_in == s["samples"] + s["skipped"], s
        assert "adapter error" not in s["skipped_by_reason"], s
    with capsys.disabled():
        print("\n== issue 27 data attacks: records in = rows out + skipped, per source")
        print("\n".join(lines))
