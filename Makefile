# GeoRFT: two commands on a fresh machine — `make demo` and `make test`.
# Every process started here gets OMP_NUM_THREADS=1 unless the user set it: on small CPUs, tiny-model
# steps are 20-30x slower with OpenMP spin-waiting threads (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
export WANDB_MODE ?= offline
export DS_BUILD_OPS ?= 0
LOCK := requirements/lock-cpu.txt
STAMP := $(VENV)/.installed

.PHONY: venv test test-slow test-hostile test-vllm install-gpu gpu-acceptance demo bench lint lock clean browser-deps eval-deps

venv: $(STAMP)

# Torch first, from the pinned lock, so no other package can pull a different torch build.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(LOCK) torch torchvision
	$(PY) -m pip install -q -c $(LOCK) -e '.[dev,bench]'
	touch $(STAMP)

test: venv lint
	@$(MAKE) -s browser-deps || echo "Chromium could not be installed: the dashboard's browser tests will be skipped"
	@$(MAKE) -s eval-deps || echo "Java / WordNet could not be installed: the METEOR and LRS-VQA tests will fail"
	$(PY) -m pytest -q

test-slow: venv
	$(PY) -m pytest -q -m slow

# Issue 19's hostile replay from scratch on the synthetic world: prints records in = rows out + skipped per source
# and every refused request, then kills real pipeline runs (SFT and GRPO) mid-checkpoint and resumes them.
test-hostile: venv
	$(PY) -m pytest -q -s -m slow -p no:warnings tests/reliability

# The vLLM contract tier: GeoRFT's GPU path against the real vLLM 0.30.0, run on CPU (no GPU needed). vLLM pins the
# CUDA build of torch 2.13.0, which cannot share .venv (torch 2.14.1), so it gets a side venv. `pip --isolated`
# skips user pip config and PIP_* variables: a find-links folder serving a `+cpu` torch would otherwise win over
# the CUDA wheel and break torchvision under vLLM.
VLLM_VENV ?= .venv-vllm
VLLM_LOCK := requirements/lock-vllm.txt
VLLM_STAMP := $(VLLM_VENV)/.installed

$(VLLM_STAMP): pyproject.toml $(VLLM_LOCK)
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip --isolated install -q -c $(VLLM_LOCK) 'vllm==0.30.0' -e '.[dev]'
	touch $(VLLM_STAMP)

test-vllm: $(VLLM_STAMP)
	VLLM_TARGET_DEVICE=cpu $(VLLM_VENV)/bin/python -m pytest -q -m vllm tests/vllm_contract

# The GPU environment in one step (a CUDA machine; the Dockerfile runs the same targets): its own venv from
# requirements/lock-gpu.txt = the vLLM lock (vLLM 0.30.0, CUDA torch 2.13.0) + bitsandbytes + flash-attn
# (scripts/install_flash_attn.sh: a prebuilt wheel when one exists, else the source build with its flags).
GPU_VENV ?= .venv-gpu
GPU_LOCK := requirements/lock-gpu.txt
GPU_STAMP := $(GPU_VENV)/.installed

install-gpu: $(GPU_STAMP)

$(GPU_STAMP): pyproject.toml $(GPU_LOCK) $(VLLM_LOCK)
	test -x $(GPU_VENV)/bin/python || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/pip --isolated install -q -c $(GPU_LOCK) 'vllm==0.30.0' bitsandbytes -e '.[dev]'
	bash scripts/install_flash_attn.sh $(GPU_VENV)/bin/python
	$(GPU_VENV)/bin/python -c "import torch, vllm, bitsandbytes, flash_attn, trl, transformers; print('georft GPU env:', 'torch', torch.__version__, 'CUDA', torch.version.cuda, 'vllm', vllm.__version__, 'bitsandbytes', bitsandbytes.__version__, 'flash_attn', flash_attn.__version__, 'trl', trl.__version__, 'transformers', transformers.__version__)"
	touch $(GPU_STAMP)

gpu-acceptance: install-gpu
	PATH=$(abspath $(GPU_VENV))/bin:$$PATH PYTHON=$(GPU_VENV)/bin/python bash scripts/gpu_acceptance.sh

demo: venv
	$(VENV)/bin/georft pipeline --config configs/pipeline/demo_cpu.yaml

bench: venv
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: venv
	$(VENV)/bin/ruff check .

# Re-resolve the lock from pyproject (run on a CPU machine, then commit requirements/lock-cpu.txt).
lock:
	rm -rf /tmp/georft-lock && $(PYTHON) -m venv /tmp/georft-lock
	/tmp/georft-lock/bin/pip install -q torch==2.14.1 torchvision==0.29.1
	printf 'torch==2.14.1\ntorchvision==0.29.1\n' > /tmp/georft-pins.txt
	/tmp/georft-lock/bin/pip install -q -c /tmp/georft-pins.txt -e '.[dev,bench]'
	/tmp/georft-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > $(LOCK)

# Debian's Chromium for the dashboard's browser tests (Playwright drives it via executable_path; its own
# browser download does not work here). Without it those tests are skipped with this hint.
browser-deps:
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The official benchmark metrics' system data (docs/benchmarks.md): Debian's headless JRE for METEOR (pycocoevalcap runs
# meteor-1.5.jar) and Debian's wordnet-base (WordNet 3.0 under /usr/share/wordnet) for LRS-VQA's WordNet rule.
# `make test` calls this, so both metrics are computed (never skipped) in CI.
eval-deps:
	command -v java >/dev/null && test -f /usr/share/wordnet/data.noun || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jre-headless wordnet-base; }

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache build *.egg-info
