"""Docs the code cites exist (files and sections), the README's layout names every top-level folder, and no other
installed distribution provides one of our top-level import names."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("georft", "data_engine", "models", "sft", "rl", "rewards", "rollout", "eval", "dashboard")
# A docs citation: the docs folder, a file name ending in .md, optionally `§N` (a numbered section) or `#anchor`.
REF = re.compile(r"docs/([\w.-]+\.md)(?:\s*§\s*(\d+)|#([\w-]+))?")
BARE = re.compile(r"(?<![\w/.-])([a-z][\w-]*\.md)\s*§")


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    keep = (".py", ".md", ".yaml", ".jinja", ".sh", ".html", ".txt", ".toml")
    return [REPO / f for f in out if f.endswith(keep) or f == "Makefile"]


def _anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_docs_reference_resolves():
    problems, seen = [], 0
    for f in _tracked_text_files():
        if not f.is_file():
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in BARE.finditer(text):
            problems.append(f"{f.relative_to(REPO)}: {m.group(0)!r} cites a section without the docs/ path")
        for m in REF.finditer(text):
            seen += 1
            name, section, anchor = m.groups()
            doc = REPO / "docs" / name
            where = f"{f.relative_to(REPO)}: {m.group(0)!r}"
            if not doc.is_file():
                problems.append(f"{where}: docs/{name} does not exist")
                continue
            headings = [h for h in doc.read_text(encoding="utf-8").splitlines() if h.startswith("#")]
            if section and not any(re.match(rf"#+\s+{section}\.\s", h) for h in headings):
                problems.append(f"{where}: docs/{name} has no section '{section}.'")
            if anchor and anchor not in {_anchor(h.lstrip("#")) for h in headings}:
                problems.append(f"{where}: docs/{name} has no heading with anchor #{anchor}")
    assert seen >= 10, seen  # the scan really reads the citations
    assert not problems, "\n".join(problems)


def test_readme_layout_names_every_top_level_folder():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`\.?([\w-]+)/`", layout))
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    folders = {p.split("/", 1)[0] for p in tracked.split() if "/" in p}
    missing = {f for f in folders if f.lstrip(".") not in named}
    assert not missing, f"README layout table does not name: {sorted(missing)}"


def test_no_other_distribution_provides_our_import_names():
    clashes = []
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name == "georft":
            continue
        top = (dist.read_text("top_level.txt") or "").split()
        if not top:
            top = {str(f).split("/", 1)[0].removesuffix(".py") for f in (dist.files or []) if "/" in str(f)
                   or str(f).endswith(".py")}
        for pkg in PACKAGES:
            if pkg in top:
                clashes.append(f"{name} installs a top-level {pkg!r}")
    assert not clashes, "; ".join(clashes)


def test_every_launch_script_is_executable():
    # scripts/*.sh and *.sbatch are run as `./scripts/x.sh` in docs and by schedulers: each needs its run bit, in
    # the working tree and in git's index (a checkout elsewhere gets the index's mode).
    import stat

    scripts = sorted(p for p in (REPO / "scripts").iterdir() if p.suffix in (".sh", ".sbatch"))
    assert scripts
    assert [p.name for p in scripts if not p.stat().st_mode & stat.S_IXUSR] == []
    staged = subprocess.run(["git", "ls-files", "-s", "scripts"], cwd=REPO, capture_output=True, text=True)
    if staged.returncode == 0 and staged.stdout:
        modes = {line.split("\t")[1]: line.split()[0] for line in staged.stdout.splitlines()}
        assert [f for f, m in modes.items() if f.endswith((".sh", ".sbatch")) and m != "100755"] == []
