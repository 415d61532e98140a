"""Paper tables: a run's metrics laid out as a seed paper's table, the paper's numbers as reference columns.

A layout is ``configs/paper_tables/<name>.yaml`` (``title``, ``references``: the paper columns, ``rows``: each
``{benchmark, suite, dataset, metric, scale, paper: {column: value}, differs?}``). A run is one or more eval
directories given the same name (``georft compare A/ucm A/xbd B/ucm --names sft,sft,rl --layout geovlm_r1``): a
row's cell is ``metrics[dataset][metric] * scale`` from the first directory of that run that has it, else "—".
A row with ``differs`` marks every run cell with † and its note is listed under the table.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from data_engine.errors import UserError
from data_engine.registry import did_you_mean

LAYOUTS_DIR = Path(__file__).resolve().parents[2] / "configs" / "paper_tables"


@dataclass
class PaperRow:
    """One row: `benchmark` shown, our number at ``metrics[dataset][metric] * scale`` of a `suite` run, the paper's
    values by reference column, and `differs` (the note when our protocol is not the paper's)."""

    benchmark: str = "???"
    suite: str = "???"
    dataset: str = "???"
    metric: str = "???"
    scale: float = 1.0
    paper: dict[str, float] = field(default_factory=dict)
    differs: str = ""


@dataclass
class PaperTableFile:
    """A layout file of ``configs/paper_tables/`` (validated by `georft config check` too)."""

    title: str = ""
    references: list[str] = field(default_factory=list)
    rows: list[PaperRow] = field(default_factory=list)

    def validate(self) -> None:
        for k, row in enumerate(self.rows):
            unknown = sorted(set(row.paper) - set(self.references))
            if unknown:
                raise UserError(f"row {k + 1} ({row.benchmark}): paper column {unknown[0]!r} is not in references "
                                f"{list(self.references)}")


def layouts() -> list[str]:
    """The names of the shipped layouts."""
    return sorted(p.stem for p in LAYOUTS_DIR.glob("*.yaml"))


def load_layout(name: str) -> tuple[str, list[str], list[PaperRow]]:
    """(title, reference columns, rows) of a layout; unknown names, keys or reference columns fail in one line."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    path = LAYOUTS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UserError(f"unknown layout {name!r}.{did_you_mean(name, layouts())} Known: {', '.join(layouts())}")
    try:  # the typed schema (`georft config check` validates the same file through georft.config.CONFIG_KINDS)
        doc = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(PaperTableFile), OmegaConf.load(path)))
    except OmegaConfBaseException as e:
        raise UserError(f"{path}: {str(e).splitlines()[0]}") from None
    try:
        doc.validate()
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    return doc.title or name, [str(c) for c in doc.references], list(doc.rows)


def _value(docs: list[dict], row: PaperRow) -> float | None:
    for d in docs:
        v = ((d.get("metrics") or {}).get(row.dataset) or {}).get(row.metric)
        if isinstance(v, (int, float)) and math.isfinite(v):
            return float(v) * row.scale
    return None


def paper_table(runs: list[tuple[str, Path]], layout: str) -> tuple[str, dict]:
    """The markdown table and its JSON of eval directories `runs` ((name, dir); a name may repeat) in `layout`.

    Returns:
        (markdown, {"title", "columns", "rows": [{"benchmark", "suite", "dataset", "metric", "values": {column:
        value or None}, "differs"}]}).
    """
    title, refs, rows = load_layout(layout)
    names: list[str] = []
    docs: dict[str, list[dict]] = {}
    for name, d in runs:
        path = Path(d) / "metrics.json"
        if not path.is_file():
            raise UserError(f"{path}: not found (an eval output directory holds metrics.json)")
        if name not in docs:
            names.append(name)
        docs.setdefault(name, []).append(json.loads(path.read_text(encoding="utf-8")))
    columns = names + refs
    lines = [f"# {title}", "", "| benchmark | metric | " + " | ".join(columns) + " |",
             "|---|---|" + "---:|" * len(columns)]
    out_rows, notes = [], []
    for row in rows:
        values = {n: _value(docs[n], row) for n in names} | {c: row.paper.get(c) for c in refs}
        mark = ""
        if row.differs:
            if row.differs not in notes:  # one number per distinct note
                notes.append(row.differs)
            mark = f" †{notes.index(row.differs) + 1}"
        cells = [("—" if values[n] is None else f"{values[n]:.2f}") + mark for n in names]
        cells += ["—" if values[c] is None else f"{values[c]:.2f}" for c in refs]
        lines.append(f"| {row.benchmark} | {row.metric} ({row.suite}/{row.dataset}) | " + " | ".join(cells) + " |")
        out_rows.append({"benchmark": row.benchmark, "suite": row.suite, "dataset": row.dataset,
                         "metric": row.metric, "values": values, "differs": row.differs})
    if notes:
        lines += ["", *[f"†{k}: {n}" for k, n in enumerate(notes, start=1)]]
    return "\n".join(lines) + "\n", {"title": title, "columns": columns, "rows": out_rows}
