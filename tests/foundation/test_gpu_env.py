"""The GPU environment's inputs, checked without a GPU: the lock composes the vLLM lock with bitsandbytes and
flash-attn, `make install-gpu` installs from it, the Dockerfile parses and runs the Makefile's targets."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, ver = line.split("==", 1)
            out[name.strip().lower().replace("_", "-")] = ver.strip()
    return out


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: comments dropped, backslash continuations joined; an unknown
    instruction raises (what `docker build` would refuse)."""
    known = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR",
             "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
    out, buf = [], ""
    for raw in text.splitlines():
        if not buf and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        buf += raw.rstrip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        word, _, rest = buf.strip().partition(" ")
        if word.upper() not in known:
            raise ValueError(f"unknown Dockerfile instruction {word!r}")
        out.append((word.upper(), rest.strip()))
        buf = ""
    assert not buf, "dangling line continuation"
    return out


def _make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (REPO / "Makefile").read_text(), flags=re.M))


def test_gpu_lock_is_the_vllm_lock_plus_bitsandbytes_and_flash_attn():
    gpu = (REPO / "requirements/lock-gpu.txt").read_text()
    assert "-c lock-vllm.txt" in gpu.splitlines()
    pins = _pins(REPO / "requirements/lock-gpu.txt")
    assert set(pins) == {"bitsandbytes", "flash-attn"}
    vllm = _pins(REPO / "requirements/lock-vllm.txt")
    assert vllm["vllm"] == "0.30.0" and vllm["torch"] == "2.13.0"
    assert not set(pins) & set(vllm)  # nothing pinned twice
    extra = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^gpu = \[.*"bitsandbytes>=.*"flash-attn>=|^gpu = \[.*"flash-attn>=.*"bitsandbytes>=', extra, re.M)


def test_dockerfile_parses_and_runs_the_makefiles_targets():
    steps = dockerfile_instructions((REPO / "Dockerfile").read_text())
    assert steps[0][0] == "FROM" and re.fullmatch(r"nvidia/cuda:13\.0\.\d+-devel-ubuntu\d\d\.\d\d", steps[0][1])
    runs = [a for k, a in steps if k == "RUN"]
    makes = [r for r in runs if r.startswith("make ")]
    assert makes == ["make install-gpu"]
    for r in runs:  # the rest installs what the Makefile needs: python3 + venv, make, compilers
        assert r.startswith("make ") or r.startswith("apt-get update && apt-get install"), r
    cmd = json.loads(dict(steps)["CMD"])
    assert cmd[0] == "make" and cmd[1] in _make_targets()
    assert {"install-gpu", "gpu-acceptance"} <= _make_targets()
    first = (REPO / "Dockerfile").read_text().splitlines()[0]
    assert first.startswith("# docker build") and "make gpu-acceptance" in first


def test_dockerfile_parser_refuses_what_docker_would():
    with pytest.raises(ValueError, match="unknown Dockerfile instruction"):
        dockerfile_instructions("FROM x\nRUNN make\n")
    assert dockerfile_instructions("FROM x\nRUN a \\\n  b\n") == [("FROM", "x"), ("RUN", "a    b")]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_install_gpu_installs_from_the_gpu_lock(tmp_path):
    r = subprocess.run(["make", "-n", "-B", "install-gpu", f"GPU_VENV={tmp_path}/v", f"PYTHON={sys.executable}"],
                       cwd=REPO, capture_output=True, text=True, check=True)
    lines = r.stdout.splitlines()
    assert any("pip --isolated install" in x and "-c requirements/lock-gpu.txt" in x and "'vllm==0.30.0'" in x
               and "bitsandbytes" in x for x in lines)
    assert any(x.startswith("bash scripts/install_flash_attn.sh") for x in lines)
    assert any("import torch, vllm, bitsandbytes, flash_attn" in x for x in lines)  # prints the versions found


@pytest.mark.slow
def test_bitsandbytes_pin_resolves_for_linux_x86_64_against_the_torch_pin(tmp_path):
    """Asks the package index (skips without it): the pinned bitsandbytes has a linux x86_64 wheel, and the
    requirements it declares hold for the vLLM lock's pins. The full lock is not resolved here: vLLM's CUDA
    dependencies are ~9 GB of wheels, and flash-attn has no wheel on the index (it builds from source on the GPU
    machine)."""
    from packaging.requirements import Requirement

    platforms = [a for t in ("manylinux_2_28_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
                             "manylinux2014_x86_64", "linux_x86_64") for a in ("--platform", t)]
    pin = _pins(REPO / "requirements/lock-gpu.txt")["bitsandbytes"]
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
                        "--only-binary", ":all:", "--python-version", "3.12", *platforms, "--report",
                        str(tmp_path / "r.json"), f"bitsandbytes=={pin}"], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and ("No matching distribution" not in r.stderr or "from versions: none" in r.stderr):
        pytest.skip(f"package index unreachable: {r.stderr.strip().splitlines()[-1:]}")
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "r.json").read_text())["install"][0]["metadata"]
    lock = _pins(REPO / "requirements/lock-vllm.txt")
    for spec in meta.get("requires_dist") or []:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({"extra": "", "python_version": "3.12",
                                                                "sys_platform": "linux", "platform_system": "Linux",
                                                                "platform_machine": "x86_64"}):
            continue
        name = req.name.lower().replace("_", "-")
        assert name in lock, f"bitsandbytes needs {name}, which the vLLM lock does not pin"
        assert req.specifier.contains(lock[name], prereleases=True), (spec, lock[name])
