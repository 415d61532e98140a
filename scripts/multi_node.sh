#!/usr/bin/env bash
# NNODES nodes x NGPUS GPUs: run the same command on every node (SLURM: see scripts/slurm_pipeline.sbatch).
# Rendezvous uses torchrun's variables: MASTER_ADDR, MASTER_PORT, NNODES, NODE_RANK (accelerate passes them on).
# Non-distributed stages (data, compare) run on node 0 only; the other nodes wait at the first stage's rendezvous.
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash scripts/multi_node.sh configs/pipeline/qwen2_5_vl_7b.yaml [--dry-run]
source "$(dirname "$0")/_common.sh"
NGPUS=${NGPUS:-8}
NNODES=${NNODES:-2}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
ACCEL=(accelerate launch --config_file "$REPO/configs/accelerate/deepspeed_zero3.yaml"
  --num_machines "$NNODES" --machine_rank "$NODE_RANK" --num_processes "$((NNODES * NGPUS))"
  --main_process_ip "$MASTER_ADDR" --main_process_port "$MASTER_PORT" --rdzv_backend static)
if [[ "$NODE_RANK" == 0 ]]; then
  run "$GEORFT" pipeline --config "$CONFIG" --stage base_model --stage data "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
fi
run "${ACCEL[@]}" -m georft.cli pipeline --config "$CONFIG" --stage sft "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
run "${ACCEL[@]}" -m georft.cli pipeline --config "$CONFIG" --stage grpo "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
run "${ACCEL[@]}" -m georft.cli pipeline --config "$CONFIG" --stage eval "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
if [[ "$NODE_RANK" == 0 ]]; then
  run "$GEORFT" pipeline --config "$CONFIG" --stage compare "${OVERRIDES[@]+"${OVERRIDES[@]}"}"
fi
