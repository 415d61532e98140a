#!/usr/bin/env bash
# GRPO with vLLM in server mode on one node: GPU 0 serves generations (`trl vllm-serve`, which adds the weight
# sync endpoints to `vllm serve`), GPUs 1..NGPUS-1 train and push weights to it after each update.
#   bash scripts/grpo_vllm_server.sh configs/pipeline/qwen2_5_vl_7b.yaml [--dry-run] [key=value ...]   (its grpo stage)
#   bash scripts/grpo_vllm_server.sh configs/grpo/qwen2_5_vl_7b_vllm_server.yaml [--dry-run] [key=value ...]
# The server gets the run's pixel budget (--mm-processor-kwargs), so it counts the trainer's image tokens.
# Zoom chains (zoom_vqa rows) are refused in server mode until huggingface/trl#6673 is fixed (rl/train.py).
source "$(dirname "$0")/_common.sh"
NGPUS=${NGPUS:-8}
PORT=${VLLM_PORT:-8000}
# Values come from the composed config (`_base_`), read by georft itself: the venv's Python when there is one.
PY=${PYTHON:-$REPO/.venv/bin/python}; [[ -x "$PY" ]] || PY=python3
if grep -q '^grpo:' "$CONFIG"; then   # a pipeline config: serve its SFT output, train its grpo stage
  mapfile -t VALUES < <("$PY" -m georft.cli config show "$CONFIG" --key grpo.model.path --key grpo.data.min_pixels \
    --key grpo.data.max_pixels)
  PREFIX=grpo.
  TRAIN=(-m georft.cli pipeline --config "$CONFIG" --stage grpo)
else                                  # a GRPO config: serve its model.path
  mapfile -t VALUES < <("$PY" -m georft.cli config show "$CONFIG" --key model.path --key data.min_pixels \
    --key data.max_pixels)
  PREFIX=
  TRAIN=(-m georft.cli grpo --config "$CONFIG")
fi
[[ ${#VALUES[@]} == 3 ]] || { echo "cannot read model.path and the pixel budget from $CONFIG" >&2; exit 2; }
SERVE_MODEL=${SFT_CKPT:-${VALUES[0]}}
MIN_PX=${VALUES[1]}
MAX_PX=${VALUES[2]}
run_bg env CUDA_VISIBLE_DEVICES=0 trl vllm-serve --model "$SERVE_MODEL" --port "$PORT" --gpu_memory_utilization 0.9 \
  --max_model_len 8192 --enable_prefix_caching true \
  --mm-processor-kwargs "{\"min_pixels\": $MIN_PX, \"max_pixels\": $MAX_PX}"
if [[ "$DRY_RUN" != 1 ]]; then
  until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do sleep 5; done
fi
TRAIN_GPUS=$(seq -s, 1 $((NGPUS - 1)))
run env CUDA_VISIBLE_DEVICES="$TRAIN_GPUS" accelerate launch --config_file "$REPO/configs/accelerate/deepspeed_zero3.yaml" \
  --num_processes "$((NGPUS - 1))" "${TRAIN[@]}" \
  "${PREFIX}trainer.use_vllm=true" "${PREFIX}trainer.vllm_mode=server" "${PREFIX}trainer.vllm_server_host=127.0.0.1" \
  "${PREFIX}trainer.vllm_server_port=$PORT" "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
if [[ "$DRY_RUN" != 1 ]]; then kill %1; fi
