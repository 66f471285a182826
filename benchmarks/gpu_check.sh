#!/usr/bin/env bash
# The optimizer's GPU figures in one go (≤ 8 minutes on one GPU; each part has its own time limit):
#   1. benchmarks/optim_step.py on CUDA: equality with the peers, full steps, bookkeeping, memory;
#   2. benchmarks/gpu_steps.py: fp32 / bf16 / fp16+GradScaler / channels_last / torch.compile steps with
#      host synchronisations and peak memory per step, and a CIFAR-size ResNet-18 SAM epoch with the
#      device-resident loader (share of time spent producing batches).
# Usage: bash benchmarks/gpu_check.sh [output folder, default ./gpu_check]; needs the `bench` extra.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu_check}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" KEDRO_DISABLE_TELEMETRY=true
PY="${PYTHON:-python}"
status=0
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; } | tee "$OUT/gpu.txt"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__)" || exit 1
timeout 240 "$PY" benchmarks/optim_step.py --device cuda --threads 1 --rounds 7 | tee "$OUT/optim_step_cuda.md" || status=1
timeout 210 "$PY" benchmarks/gpu_steps.py --device cuda --rounds 20 | tee "$OUT/gpu_steps.md" || status=1
echo "results in $OUT/ (exit $status)"
exit $status
