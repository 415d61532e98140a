#!/usr/bin/env bash
# GPU acceptance run: what anyone with a GPU runs first (<= 8 minutes on one 80-140 GB GPU; more checks with 2+).
#   bash scripts/gpu_acceptance.sh [OUT_DIR]            (default runs/gpu_acceptance; needs `pip install -e '.[gpu]'`)
# Builds tiny real-architecture models (both families) and the tiny synthetic world on the spot, then checks:
#   sft_bf16_flash_<arch>   SFT steps in bf16 with flash-attn 2
#   grpo_vllm_<arch>        GRPO with vLLM colocate (zoom chains included) for a few steps, with
#                           GEORFT_CHECK_VLLM_PROMPTS=1: every vLLM prompt's expanded ids must equal the trainer's
#                           (the huggingface/trl#6294 double expansion, fixed in rl/trl_seams.py)
#   eval_vllm_vs_hf_<arch>  the vLLM and HF eval backends on the same samples at temperature 0: the share of equal
#                           parsed predictions must reach AGREE_MIN (default 0.8; bf16 kernels differ slightly)
#   lora_sft / lora_grpo_vllm / lora_merge / lora_eval_vllm   (Qwen2.5-VL) LoRA SFT -> GRPO continuing the adapter
#                           with vLLM colocate (TRL merges it into vLLM's weights each sync) -> georft export --merge
#                           -> eval of the merged folder with the vLLM backend
#   qlora_sft               (Qwen2.5-VL) SFT with 4-bit NF4 base weights (bitsandbytes) and LoRA
#   sft_zero3_2gpu          (2+ GPUs) SFT under DeepSpeed ZeRO-3 on 2 processes
#   grpo_server_2gpu        (2+ GPUs) GRPO with `trl vllm-serve` on GPU 0 and the trainer on GPU 1
# Prints a pass/fail table and writes it to OUT_DIR/acceptance.md; exits 1 if any check failed.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-runs/gpu_acceptance}
AGREE_MIN=${AGREE_MIN:-0.8}
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 WANDB_MODE=offline
mkdir -p "$OUT/logs"
TABLE="$OUT/acceptance.md"
NGPUS=0
if command -v nvidia-smi >/dev/null; then  # (no driver tool: no GPU, and no torch start-up to find that out)
  NGPUS=$($PY -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
fi
ROWS=()
FAILED=0

check() {  # check NAME DETAIL CMD...: runs CMD, logs to OUT/logs/NAME.log, records pass/fail and seconds
  local name=$1 detail=$2; shift 2
  local start=$SECONDS
  if "$@" >"$OUT/logs/$name.log" 2>&1; then
    ROWS+=("| $name | PASS | $((SECONDS - start)) | $detail |")
  else
    ROWS+=("| $name | FAIL | $((SECONDS - start)) | $detail (log: $OUT/logs/$name.log) |"); FAILED=1
  fi
  printf '%s\n' "${ROWS[-1]}"
}

if [[ "$NGPUS" -lt 1 ]]; then
  echo "gpu_acceptance: no CUDA GPU visible (no nvidia-smi, or torch.cuda.device_count() = 0): nothing to check" >&2
  exit 2
fi
echo "versions: $($PY -c "import importlib.metadata as m
print(', '.join(f'{p} {m.version(p)}' for p in ('torch', 'vllm', 'transformers', 'trl', 'peft', 'bitsandbytes', 'flash-attn', 'deepspeed') if __import__('importlib.util').util.find_spec(p.replace('-', '_'))))" 2>&1)" | tee "$OUT/versions.txt"
GEORFT=("$PY" -m georft.cli)
"${GEORFT[@]}" data synth --out "$OUT/raw" --size tiny >"$OUT/logs/data.log" 2>&1 &&
  "${GEORFT[@]}" data build --recipe "$OUT/raw/recipe.yaml" --out "$OUT/built" >>"$OUT/logs/data.log" 2>&1 ||
  { echo "gpu_acceptance: building the tiny world failed (see $OUT/logs/data.log)" >&2; exit 2; }

for ARCH in qwen2_5_vl qwen3_vl; do
  M="$OUT/$ARCH"
  check "tiny_model_$ARCH" "tiny $ARCH, real tokenizer" "${GEORFT[@]}" model tiny --arch "$ARCH" --tokenizer qwen \
    --out "$M/base" hidden_size=256 num_heads=4 num_kv_heads=2 intermediate_size=512
  check "sft_bf16_flash_$ARCH" "20 SFT steps, bf16, flash_attention_2" "${GEORFT[@]}" sft \
    --config "$REPO/configs/sft/demo_cpu.yaml" model.path="$M/base" model.dtype=bfloat16 \
    model.attn_implementation=flash_attention_2 data.root="$OUT/built" output_dir="$M/sft" \
    trainer.max_steps=20 trainer.bf16=true trainer.save_strategy=no trainer.report_to=[]
  check "grpo_vllm_$ARCH" "3 GRPO steps, vLLM colocate, zoom chains, vLLM ids == trainer ids" \
    env GEORFT_CHECK_VLLM_PROMPTS=1 "${GEORFT[@]}" grpo --config "$REPO/configs/grpo/demo_cpu.yaml" \
    model.path="$M/sft" model.dtype=bfloat16 data.root="$OUT/built" output_dir="$M/grpo" \
    trainer.max_steps=3 trainer.bf16=true trainer.use_vllm=true trainer.vllm_mode=colocate \
    trainer.vllm_gpu_memory_utilization=0.3 trainer.vllm_max_model_length=4096 trainer.save_strategy=no \
    trainer.report_to=[] trainer.dataloader_num_workers=0
  check "eval_vllm_vs_hf_$ARCH" "20 samples per task at temperature 0, agreement >= $AGREE_MIN" bash -c "
    ${GEORFT[*]} eval --model '$M/sft' --suite '$REPO/configs/eval/demo.yaml' --out '$M/eval_hf' --backend hf \
      --limit 20 data_root='$OUT/built' &&
    ${GEORFT[*]} eval --model '$M/sft' --suite '$REPO/configs/eval/demo.yaml' --out '$M/eval_vllm' --backend vllm \
      --limit 20 data_root='$OUT/built' &&
    $PY '$REPO/scripts/acceptance_agreement.py' '$M/eval_hf/predictions.jsonl' '$M/eval_vllm/predictions.jsonl' \
      --min $AGREE_MIN"
done

M="$OUT/qwen2_5_vl"
LORA=(model.lora.enabled=true model.lora.r=16)
check "lora_sft" "20 LoRA SFT steps (r=16), bf16: an adapter folder" "${GEORFT[@]}" sft \
  --config "$REPO/configs/sft/demo_cpu.yaml" model.path="$M/base" model.dtype=bfloat16 "${LORA[@]}" \
  data.root="$OUT/built" output_dir="$M/lora_sft" trainer.max_steps=20 trainer.bf16=true trainer.save_strategy=no \
  trainer.report_to=[]
check "lora_grpo_vllm" "3 GRPO steps continuing the LoRA adapter, vLLM colocate" \
  env GEORFT_CHECK_VLLM_PROMPTS=1 "${GEORFT[@]}" grpo --config "$REPO/configs/grpo/demo_cpu.yaml" \
  model.path="$M/lora_sft" model.dtype=bfloat16 data.root="$OUT/built" output_dir="$M/lora_grpo" \
  trainer.max_steps=3 trainer.bf16=true trainer.use_vllm=true trainer.vllm_mode=colocate \
  trainer.vllm_gpu_memory_utilization=0.3 trainer.vllm_max_model_length=4096 trainer.save_strategy=no \
  trainer.report_to=[] trainer.dataloader_num_workers=0
check "lora_merge" "georft export --merge --dtype bf16 of the GRPO adapter" "${GEORFT[@]}" export \
  --model "$M/lora_grpo" --out "$M/lora_merged" --merge --dtype bf16
check "lora_eval_vllm" "eval of the merged folder with the vLLM backend (20 samples per task)" "${GEORFT[@]}" eval \
  --model "$M/lora_merged" --suite "$REPO/configs/eval/demo.yaml" --out "$M/lora_eval_vllm" --backend vllm \
  --limit 20 data_root="$OUT/built"
check "qlora_sft" "20 QLoRA SFT steps (4-bit NF4 base, LoRA r=16)" "${GEORFT[@]}" sft \
  --config "$REPO/configs/sft/demo_cpu.yaml" model.path="$M/base" model.quantization=4bit "${LORA[@]}" \
  data.root="$OUT/built" output_dir="$M/qlora_sft" trainer.max_steps=20 trainer.bf16=true trainer.save_strategy=no \
  trainer.report_to=[]

if [[ "$NGPUS" -ge 2 ]]; then
  M="$OUT/qwen2_5_vl"
  check "sft_zero3_2gpu" "10 SFT steps, DeepSpeed ZeRO-3, 2 processes" env CUDA_VISIBLE_DEVICES=0,1 accelerate launch \
    --config_file "$REPO/configs/accelerate/deepspeed_zero3.yaml" --num_processes 2 -m georft.cli sft \
    --config "$REPO/configs/sft/demo_cpu.yaml" model.path="$M/base" model.dtype=bfloat16 \
    data.root="$OUT/built" output_dir="$M/sft_zero3" trainer.max_steps=10 trainer.bf16=true \
    trainer.save_strategy=no trainer.report_to=[]
  check "grpo_server_2gpu" "3 GRPO steps, trl vllm-serve on GPU 0, trainer on GPU 1 (no zoom rows: trl#6673)" bash -c "
    CUDA_VISIBLE_DEVICES=0 trl vllm-serve --model '$M/sft' --port 8011 --gpu_memory_utilization 0.5 \
      --max_model_len 4096 --mm-processor-kwargs '{\"min_pixels\": 12544, \"max_pixels\": 50176}' \
      >'$OUT/logs/vllm_server.log' 2>&1 & SERVER=\$!
    trap 'kill \$SERVER 2>/dev/null' EXIT
    for i in \$(seq 120); do curl -sf http://127.0.0.1:8011/health >/dev/null && break; sleep 2; done
    CUDA_VISIBLE_DEVICES=1 ${GEORFT[*]} grpo --config '$REPO/configs/grpo/demo_cpu.yaml' model.path='$M/sft' \
      model.dtype=bfloat16 data.root='$OUT/built' 'data.sources=[{path: ., split: train, tasks: [detection, grounding, vqa, caption]}]' \
      output_dir='$M/grpo_server' trainer.max_steps=3 trainer.bf16=true trainer.use_vllm=true \
      trainer.vllm_mode=server trainer.vllm_server_port=8011 trainer.save_strategy=no trainer.report_to=[] \
      trainer.dataloader_num_workers=0"
else
  ROWS+=("| sft_zero3_2gpu, grpo_server_2gpu | SKIP | 0 | need 2+ GPUs ($NGPUS visible) |")
fi

{
  echo "# GeoRFT GPU acceptance ($(date -u '+%Y-%m-%d %H:%M UTC'), $NGPUS GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1))"
  echo
  echo "| check | result | seconds | what |"
  echo "|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} >"$TABLE"
echo; cat "$TABLE"; echo; echo "written to $TABLE"
exit $FAILED
