"""The hostile replay of issue 19 on a fresh synthetic world (`make test-hostile`, also in `make test-slow`).

Every data attack of the issue is applied to one copy of the world at once; the build must count each injected bad
record, and the printed table shows, per source, records in = rows out + skipped (in = the clean build's rows and
skips plus what was injected, counted here by hand). Then every user mistake of the issue is replayed through the
real command line and each refusal is printed: one line, exit 2. The kill -9 replays (pipeline SFT and GRPO, mid
checkpoint) are `test_kill_resume.py`; the dashboard's containment (item 8) is tested under `tests/dashboard/`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import pytest
import yaml

from data_engine.build import build
from georft.cli import main as cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _png_bomb(path: Path, side: int = 20000) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(1)
    body = b"".join(comp.compress(b"\x00" + bytes(side)) for _ in range(side)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def _attack(raw: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Apply every data attack of the issue to the world under `raw`.

    Returns:
        (broken, added): per source, good records made bad, and bad entries added (object lines, files, a refused
        symlinked folder, the lines of a new source).
    """
    broken: dict[str, int] = {}
    added: dict[str, int] = {}

    def add(source: str, n: int = 1, new: bool = False) -> None:
        d = added if new else broken
        d[source] = d.get(source, 0) + n

    # item 4: record types (RSVQA int question / int answer / unhashable id; Karpathy list split; LRS int image)
    q = raw / "rsvqa" / "LR_split_train_questions.json"
    a = raw / "rsvqa" / "LR_split_train_answers.json"
    im = raw / "rsvqa" / "LR_split_train_images.json"
    qs, ans, ims = json.loads(q.read_text()), json.loads(a.read_text()), json.loads(im.read_text())
    qs["questions"][0]["question"] = 17
    ans["answers"][1]["answer"] = 2
    ims["images"][2]["questions_ids"] = [[2]]
    q.write_text(json.dumps(qs)), a.write_text(json.dumps(ans)), im.write_text(json.dumps(ims))
    add("synth_rsvqa", 3)
    cap = raw / "captions" / "dataset_synth.json"
    caps = json.loads(cap.read_text())
    caps["images"][0]["split"] = ["train"]
    cap.write_text(json.dumps(caps))
    add("synth_captions")
    zoom = raw / "lrs_vqa" / "annotations" / "zoom_train.json"
    recs = json.loads(zoom.read_text())
    recs[0]["image"] = 5
    zoom.write_text(json.dumps(recs))
    add("synth_zoom")
    # item 6: non-finite, overflowing and outside-image geometry (DIOR-RSVG, DOTA)
    xml = raw / "dior_rsvg" / "Annotations" / "00001.xml"
    xml.write_text(xml.read_text().replace("<xmin>48</xmin>", "<xmin>nan</xmin>", 1))
    xml2 = raw / "dior_rsvg" / "Annotations" / "00002.xml"
    xml2.write_text(re.sub(r"<bndbox>.*?</bndbox>", "<bndbox><xmin>300</xmin><ymin>300</ymin><xmax>320</xmax>"
                           "<ymax>320</ymax></bndbox>", xml2.read_text(), count=1))
    add("synth_rsvg", 2)
    label = sorted((raw / "dota" / "train" / "labelTxt").glob("*.txt"))[0]
    label.write_text(label.read_text() + "1e308 0 -1e308 1e308 1e308 -1e308 0 1e308 ship 0\n"
                     "500 500 520 500 520 520 500 520 ship 0\n")
    add("synth_det", 2, new=True)
    # item 7: a symlink loop in the zoom annotations (the recipe globs them with **)
    os.symlink(raw / "lrs_vqa" / "annotations", raw / "lrs_vqa" / "annotations" / "loop")
    add("synth_zoom", new=True)  # the refused folder is reported once
    # item 13: a dangling image symlink, item 12: a decompression bomb, both in the scene folders
    scene = sorted(p for p in (raw / "scenes" / "train").iterdir() if p.is_dir())[0]
    os.symlink(raw / "gone.jpg", scene / "ghost.jpg")
    _png_bomb(scene / "bomb.png")
    add("synth_scenes", 2, new=True)
    # item 5: one bad byte in a JSONL (one line lost), and a benchmark source reading it
    lines = [json.dumps({"question_id": k, "image": f"lrs_vqa/images/{r['image']}", "text": "q?", "ground_truth": "a"})
             for k, r in enumerate(recs[1:5], start=1)]
    body = "\n".join(lines).encode()
    cut = body.index(b"q?", body.index(b"\n"))
    (raw / "lrs_vqa" / "bench_train.jsonl").write_bytes(body[:cut] + b"\xff" + body[cut:])
    add("bench", len(lines), new=True)  # its lines, one with a bad byte
    recipe = yaml.safe_load((raw / "recipe.yaml").read_text())
    for s in recipe["sources"]:
        if s["name"] == "synth_zoom":
            s["annotations"] = "annotations/**/zoom_*.json"
    recipe["sources"].append({"name": "bench", "format": "lrs_vqa", "root": "lrs_vqa",
                              "annotations": "bench_train.jsonl", "image_root": ".."})
    (raw / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return broken, added


def test_hostile_replay(tmp_path, capsys):
    from data_engine.synth import synthesize

    clean_recipe = synthesize(tmp_path / "clean", seed=0, size="tiny")
    shutil.copytree(tmp_path / "clean", tmp_path / "raw", symlinks=True)
    raw = tmp_path / "raw"
    (raw / "recipe.yaml").write_text((tmp_path / "clean" / "recipe.yaml").read_text())
    clean = build(clean_recipe, tmp_path / "clean_built", progress=False)
    broken, added = _attack(raw)
    hostile = build(raw / "recipe.yaml", tmp_path / "built", progress=False)
    was = {s["name"]: s for s in clean["sources"]}
    lines = [f"{'source':<16} {'records in':>10} {'rows out':>9} {'skipped':>8}   skipped by reason"]
    for s in hostile["sources"]:
        c = was.get(s["name"], {"samples": 0, "skipped": 0})
        n_in = c["samples"] + c["skipped"] + added.get(s["name"], 0)
        lines.append(f"{s['name']:<16} {n_in:>10} {s['samples']:>9} {s['skipped']:>8}   {s['skipped_by_reason']}")
        assert n_in == s["samples"] + s["skipped"], s
        if s["name"] != "bench":  # every good record still built, every broken one counted
            assert s["samples"] == c["samples"] - broken.get(s["name"], 0), s
    refused = _refusals(tmp_path, hostile)
    with capsys.disabled():
        print("\n== hostile replay: records in = rows out + skipped, per source")
        print("\n".join(lines))
        print("== refused requests (one line each, exit 2)")
        for args, err in refused:
            print(f"  georft {' '.join(args)[:90]}\n    -> {err}")


def _refusals(tmp: Path, hostile: dict) -> list[tuple[list[str], str]]:
    built = hostile["out"]
    sft, grpo = str(REPO / "configs/sft/demo_cpu.yaml"), str(REPO / "configs/grpo/demo_cpu.yaml")
    comp = tmp / "c.txt"
    comp.write_bytes(b"ye\xffs")
    sample = tmp / "s.json"
    sample.write_text(json.dumps({"task": "vqa", "target": {"question": "q", "answer": "yes"}}))
    (tmp / "outside.yaml").write_text((REPO / "configs/sft/demo_cpu.yaml").read_text())
    typo = tmp / "typo.yaml"
    typo.write_text(yaml.safe_dump({"sources": [{"name": "s", "format": "folder_classification",
                                                 "root": str(tmp / "clean" / "scenes"), "split": "trian"}]}))
    cases = [
        ["grpo", "--config", grpo, f"data.root={built}", "data.box_type=rbox"],
        ["grpo", "--config", grpo, f"data.root={built}", "data.answer_mode=xml"],
        ["sft", "--config", sft, f"data.root={built}", "data.random_resize.min_scale=0"],
        ["sft", "--config", sft, "trainer.max_steps=abc"],
        ["sft", "--config", sft, "trainer.learning_rate=fast"],
        ["sft", "--config", sft, "trainer.max_steps=-5"],
        ["data", "build", "--recipe", str(typo), "--out", str(tmp / "typo_built")],
        ["config", "show", str(tmp / "outside.yaml")],
        ["rewards", "score", "--task", "vqa", "--sample", str(sample), "--completion", f"@{comp}"],
        ["rewards", "score", "--task", "vqa", "--sample", str(sample), "--completion", "yes", "--kwargs", "[1]"],
    ]
    out = []
    import contextlib
    import io as _io

    for args in cases:
        err = _io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(_io.StringIO()):
            rc = cli(args)
        text = err.getvalue()
        errors = [ln for ln in text.splitlines() if ": error: " in ln]
        assert rc == 2 and len(errors) == 1 and "Traceback" not in text, (args, text)
        out.append((args, errors[0]))
    return out
