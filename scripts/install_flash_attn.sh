#!/usr/bin/env bash
# Install flash-attn into a venv whose torch is already installed (`make install-gpu` calls it):
#   bash scripts/install_flash_attn.sh VENV_PYTHON
# 1. FLASH_ATTN_WHEEL (a path or URL of a prebuilt wheel, e.g. one of the release assets at
#    https://github.com/Dao-AILab/flash-attention/releases matching this torch / CUDA / Python / C++ ABI) when set;
# 2. else a binary wheel from the package index, if one exists for the platform (pip --only-binary);
# 3. else the source build, with the flags that make it work: no build isolation (it compiles against the venv's
#    torch), MAX_JOBS bounded (each nvcc job takes several GB of RAM), ninja present, CUDA's nvcc on PATH.
set -euo pipefail
PY=${1:?usage: $0 VENV_PYTHON}
REPO=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(sed -n 's/^flash-attn==\([^ ]*\).*/\1/p' "$REPO/requirements/lock-gpu.txt")
TORCH=$("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)')
echo "install_flash_attn: flash-attn $VERSION for torch/CUDA $TORCH"
if [[ -n "${FLASH_ATTN_WHEEL:-}" ]]; then
  exec "$PY" -m pip install --no-deps "$FLASH_ATTN_WHEEL"
fi
if "$PY" -m pip install --no-deps --only-binary flash-attn "flash-attn==$VERSION" 2>/dev/null; then
  exit 0
fi
echo "install_flash_attn: no binary wheel on the index: building from source (tens of minutes)" >&2
command -v nvcc >/dev/null || { echo "install_flash_attn: nvcc not on PATH (a CUDA *devel* toolkit is needed to build)" >&2; exit 1; }
"$PY" -m pip install -q ninja packaging
MAX_JOBS=${MAX_JOBS:-4} "$PY" -m pip install --no-deps --no-build-isolation "flash-attn==$VERSION"
