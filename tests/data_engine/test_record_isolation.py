"""Issue 27, the mechanism: a bug one record triggers in an adapter costs that record, counted ("adapter error"),
never the build; every adapter goes through the shared helpers (no direct open / float / json.load / image
decoders on record data)."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
from pathlib import Path

import pytest
import yaml

import data_engine.adapters as adapters_pkg
from data_engine.adapters import FORMATS, Skip
from data_engine.adapters.base import ADAPTER_ERROR, isolated
from data_engine.build import _read_source, build, load_recipe
from data_engine.errors import UserError

REPO = Path(__file__).resolve().parents[2]


class _Bar:
    def update(self, n):
        pass


def _adapter_modules():
    return [importlib.import_module(f"data_engine.adapters.{m.name}") for m in pkgutil.iter_modules(adapters_pkg.__path__)]


@pytest.fixture
def fail_nth_row(monkeypatch):
    """Make the n-th row any adapter makes raise ZeroDivisionError (an adapter bug met on one record)."""
    def arm(n: int):
        calls = {"n": 0}
        for mod in _adapter_modules():
            real = getattr(mod, "make_row", None)
            if real is None or mod.__name__.endswith(".base"):
                continue

            def make_row(*a, _real=real, **k):
                calls["n"] += 1
                if calls["n"] == n:
                    raise ZeroDivisionError("bug met on this record")
                return _real(*a, **k)

            monkeypatch.setattr(mod, "make_row", make_row)
        return calls
    return arm


def test_every_format_loses_one_record_to_a_bug_met_mid_file(tiny_world, fail_nth_row):
    """On every source of the synthetic world (every format it writes), the second row's record raises: that record
    is one counted 'adapter error' skip naming file, line and exception; every other record still becomes rows."""
    specs = load_recipe(tiny_world[0])
    clean = {s.name: _read_source(s, False, _Bar()) for s in specs}
    assert len({s.format for s in specs}) >= 15
    for spec in load_recipe(tiny_world[0]):
        rows0, skips0 = clean[spec.name]
        if len(rows0) < 3:
            continue
        fail_nth_row(2)
        rows, skips = _read_source(spec, False, _Bar())
        errors = [s for s in skips if s.reason == ADAPTER_ERROR]
        assert len(errors) == 1, spec.name
        assert "ZeroDivisionError: bug met on this record" in errors[0].detail and errors[0].file, spec.name
        assert sorted(s.reason for s in skips if s.reason != ADAPTER_ERROR) == sorted(s.reason for s in skips0)
        lost = {r["id"] for r in rows0} - {r["id"] for r in rows}
        assert 1 <= len(lost) <= 8 and len(rows) == len(rows0) - len(lost), spec.name  # one record's rows only
        assert rows[-1]["id"] == rows0[-1]["id"], spec.name  # the records after it were read


def test_a_build_counts_the_error_and_strict_stops_at_it(tiny_world, tmp_path, fail_nth_row):
    data = yaml.safe_load(tiny_world[0].read_text())
    data["sources"] = [{**s, "root": str(tiny_world[0].parent / s["root"])} for s in data["sources"]
                       if s["name"] == "synth_captions"]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(data))
    clean = build(recipe, tmp_path / "clean", progress=False)
    fail_nth_row(3)
    s = build(recipe, tmp_path / "built", progress=False)
    assert s["num_samples"] == clean["num_samples"] - 1 and s["num_skipped"] == clean["num_skipped"] + 1
    assert s["sources"][0]["skipped_by_reason"] == {ADAPTER_ERROR: 1}
    skip = s["skipped"][0]
    assert skip["line"] == 2 and skip["file"].endswith(".json")  # record index 2: the third record
    assert skip["detail"].startswith("ZeroDivisionError: bug met on this record")
    fail_nth_row(3)
    with pytest.raises(UserError, match=r"adapter error: ZeroDivisionError.*--strict") as e:
        build(recipe, tmp_path / "strict", strict=True, progress=False)
    assert isinstance(e.value.__cause__, ZeroDivisionError)  # the traceback stays reachable (GEORFT_DEBUG=1)


def test_memory_errors_interrupts_and_config_errors_are_not_swallowed():
    def boom(exc):
        raise exc
        yield

    for exc in (MemoryError(), KeyboardInterrupt(), UserError("bad config")):
        with pytest.raises(type(exc)):
            isolated("f", 1, boom, exc)
    from data_engine.errors import DataError

    (skip,) = isolated("f", 7, boom, DataError("bad record"))
    assert isinstance(skip, Skip) and skip.reason == ADAPTER_ERROR and skip.where() == "f:7"


def test_an_error_between_records_costs_its_source_named_not_the_build(tmp_path, monkeypatch):
    """The build boundary: an exception that escapes an adapter outside any record ends that source with one counted
    skip naming it; the recipe's other sources are built."""
    def broken(spec):
        yield Skip("missing image", str(spec.root), 1, "x")
        raise OSError("listing failed")

    monkeypatch.setattr(FORMATS, "_items", {**FORMATS._items, "broken_for_test": broken})
    from tests.data_engine.conftest import write_image

    write_image(tmp_path / "scenes" / "a" / "x.png")
    (tmp_path / "b").mkdir()
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"sources": [{"name": "b", "format": "broken_for_test", "root": "b"},
                                                  {"name": "s", "format": "folder_classification", "root": "scenes"}]}))
    s = build(recipe, tmp_path / "out", progress=False)
    assert s["num_samples"] == 1 and s["sources"][0]["skipped_by_reason"] == {ADAPTER_ERROR: 1, "missing image": 1}
    err = next(x for x in s["skipped"] if x["reason"] == ADAPTER_ERROR)
    assert "OSError: listing failed" in err["detail"] and "the rest of source 'b' was not read" in err["detail"]


# ------------------------------------------------------------------------------------------ the helper-use rule
# Calls an adapter must not make on record data: each has a data_engine helper that counts bad input.
FORBIDDEN = {
    "open": "read_text / read_lines / read_json / read_xml (UTF-8, counted)",
    "float": "data_engine.numbers.parse_number (digit limit, ASCII only, finite)",
    "int": "data_engine.numbers.parse_int (digit limit, ASCII only)",
    "json.load": "read_json", "json.loads": "read_json / json_line",
    "tifffile.imread": "data_engine.images.read_tiff (header pixel check)",
    "Image.open": "data_engine.images.open_image (header pixel check)",
    ".read_text": "base.read_text (UTF-8 check, counted)", ".read_bytes": "base.read_text / read_json",
    "wkt.loads": "checked in xbd: allow-listed there",
}
# (module, call, reason) allowed, each for a value that is not annotation text
ALLOWED = {
    ("base", "*", "the helpers themselves"),
    ("fmow", "int", "int(round(v)) of numpy floats (frame indices), and the recipe's validated max_frames"),
    ("xbd", "int", "the recipe's validated max_buildings"),
    ("xbd", "wkt.loads", "shapely's WKT reader, its errors caught and the coordinates checked finite after it"),
    ("isprs", "int", "colour codes of a decoded numpy array and the recipe's validated ignore_index / patches"),
    ("label_maps", "int", "ids of a decoded numpy label map"),
    ("levir_cd", "int", "the recipe's validated min_area"),
    ("loveda", "int", "the recipe's validated ignore_index"),
    ("mmseg", "int", "the recipe's validated ignore_index"),
    ("rrsisd", ".read_bytes", "the refs pickle is binary (load_refs_pickle, builtins only, expansion bounded)"),
}


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        if f.attr in ("read_text", "read_bytes"):  # Path methods (base's read_text function is a Name)
            return "." + f.attr
        if isinstance(f.value, ast.Name):
            return f"{f.value.id}.{f.attr}"
    return None


def test_adapters_read_record_data_only_through_the_shared_helpers():
    allowed = {(m, c) for m, c, _ in ALLOWED}
    found, used = [], set()
    files = sorted((REPO / "data_engine" / "adapters").glob("*.py"))
    assert len(files) > 20
    for f in files:
        mod = f.stem
        if (mod, "*") in allowed or mod == "__init__":
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and (name := _call_name(node)) in FORBIDDEN:
                if (mod, name) in allowed:
                    used.add((mod, name))
                else:
                    found.append(f"{f.name}:{node.lineno}: {name}() - use {FORBIDDEN[name]}")
    assert found == []
    assert used == allowed - {("base", "*")}  # no stale allowance


def test_every_adapter_module_isolates_its_records():
    """Each module that defines a registered ``iter_*`` adapter calls `isolated` (directly or through the shared
    LLaVA record loop of llava.py) - a new adapter without it fails here before it can kill a build."""
    missing = []
    for f in sorted((REPO / "data_engine" / "adapters").glob("*.py")):
        text = f.read_text(encoding="utf-8")
        if "\ndef iter_" in text and "isolated(" not in text:
            missing.append(f.name)
    assert missing == []


def test_every_many_record_json_reader_skips_records_with_bad_bytes():
    """`read_json(..., records=True)` hands back records that may hold escaped bad bytes; a module using it must
    check each record with `non_utf8_skip` (or its LLaVA loop, which does)."""
    for f in sorted((REPO / "data_engine" / "adapters").glob("*.py")):
        text = f.read_text(encoding="utf-8")
        if "records=True" in text and f.stem != "base":
            assert "non_utf8_skip(" in text, f.name


def test_record_counts_still_add_up_on_the_tiny_world(tiny_world):
    summary = json.loads((tiny_world[1] / "build_summary.json").read_text())
    assert summary["num_skipped"] == len(summary["skipped"]) == sum(s["skipped"] for s in summary["sources"])
    assert ADAPTER_ERROR not in json.dumps(summary["sources"])  # no adapter bug on clean data
