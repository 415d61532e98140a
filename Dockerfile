# docker build -t georft-gpu . && docker run --gpus all --rm -it georft-gpu make gpu-acceptance
# The GPU environment of `make install-gpu` in an image. The base is a CUDA 13.0 *devel* image: torch 2.13.0's CUDA
# build in requirements/lock-vllm.txt runs on CUDA 13.0 wheels (cuda-toolkit 13.0.3), and the devel image's nvcc is
# what flash-attn's source build needs when no prebuilt wheel matches (scripts/install_flash_attn.sh; pass
# --build-arg FLASH_ATTN_WHEEL=<url of a matching release wheel> to skip the build). Every RUN below is a Makefile
# target or the system packages those targets need; nothing here is specific to the image.
FROM nvidia/cuda:13.0.0-devel-ubuntu24.04

ARG FLASH_ATTN_WHEEL=""
ARG MAX_JOBS=4
ENV DEBIAN_FRONTEND=noninteractive PYTHON=python3 GPU_VENV=/opt/georft/.venv-gpu \
    FLASH_ATTN_WHEEL=${FLASH_ATTN_WHEEL} MAX_JOBS=${MAX_JOBS} HF_HUB_OFFLINE=0
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-dev git make build-essential curl && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/georft
COPY . /opt/georft
RUN make install-gpu
ENV PATH=/opt/georft/.venv-gpu/bin:$PATH
CMD ["make", "gpu-acceptance"]
