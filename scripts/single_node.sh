#!/usr/bin/env bash
# One node, NGPUS GPUs (default 8): every pipeline stage of CONFIG, the distributed ones under `accelerate launch`
# with DeepSpeed ZeRO-3 (SFT) and ZeRO-3 + vLLM colocate (GRPO, as set in the config's grpo.trainer section).
#   bash scripts/single_node.sh configs/pipeline/qwen2_5_vl_7b.yaml [--dry-run] [key=value ...]
# ACCEL_CONFIG picks the training launcher's accelerate config (default ZeRO-3; the memory-sized recipes and
# `georft plan --fit` name theirs, e.g. configs/accelerate/ddp.yaml for one GPU), NGPUS the GPU count.
source "$(dirname "$0")/_common.sh"
NGPUS=${NGPUS:-8}
ACCEL_CONFIG=${ACCEL_CONFIG:-configs/accelerate/deepspeed_zero3.yaml}
[[ "$ACCEL_CONFIG" = /* ]] || ACCEL_CONFIG="$REPO/$ACCEL_CONFIG"
ACCEL=(accelerate launch --config_file "$ACCEL_CONFIG" --num_processes "$NGPUS")
run "$GEORFT" pipeline --config "$CONFIG" --stage base_model --stage data "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
run "${ACCEL[@]}" -m georft.cli pipeline --config "$CONFIG" --stage sft "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
run "${ACCEL[@]}" -m georft.cli pipeline --config "$CONFIG" --stage grpo "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
# Evaluation shards over the GPUs (each rank writes its predictions, rank 0 merges); plain DDP-style launch.
run accelerate launch --config_file "$REPO/configs/accelerate/ddp.yaml" --num_processes "$NGPUS" \
  -m georft.cli pipeline --config "$CONFIG" --stage eval "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
run "$GEORFT" pipeline --config "$CONFIG" --stage compare "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
