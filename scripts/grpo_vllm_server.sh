#!/usr/bin/env bash
# GRPO with vLLM in server mode on one node: GPU 0 serves generations (`trl vllm-serve`, which adds the weight
# sync endpoints to `vllm serve`), GPUs 1..NGPUS-1 train and push weights to it after each update.
#   bash scripts/grpo_vllm_server.sh configs/pipeline/qwen2_5_vl_7b.yaml [--dry-run] [key=value ...]
source "$(dirname "$0")/_common.sh"
NGPUS=${NGPUS:-8}
PORT=${VLLM_PORT:-8000}
RUN_DIR=$(sed -n 's/^output_dir: *//p' "$CONFIG" | head -n 1)   # the pipeline's run directory
SFT_CKPT=${SFT_CKPT:-$RUN_DIR/sft}
run env CUDA_VISIBLE_DEVICES=0 trl vllm-serve --model "$SFT_CKPT" --port "$PORT" --gpu_memory_utilization 0.9 \
  --max_model_len 8192 --enable_prefix_caching true &
if [[ "$DRY_RUN" != 1 ]]; then
  until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do sleep 5; done
fi
TRAIN_GPUS=$(seq -s, 1 $((NGPUS - 1)))
run env CUDA_VISIBLE_DEVICES="$TRAIN_GPUS" accelerate launch --config_file "$REPO/configs/accelerate/deepspeed_zero3.yaml" \
  --num_processes "$((NGPUS - 1))" -m georft.cli pipeline --config "$CONFIG" --stage grpo \
  grpo.trainer.use_vllm=true grpo.trainer.vllm_mode=server grpo.trainer.vllm_server_host=127.0.0.1 \
  grpo.trainer.vllm_server_port="$PORT" "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
if [[ "$DRY_RUN" != 1 ]]; then kill %1; fi
