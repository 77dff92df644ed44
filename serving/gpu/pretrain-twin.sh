#!/usr/bin/env bash
# Pretrain the offline demo's base twin on the lent GPU (training/pretrain_twin.py), from the repo root:
#   RUN=NAME bash serving/gpu/pretrain-twin.sh [train options]
# It needs what the CPU side made, carried: the random-init demo twin (python -m serving.tiny_twin
# .work/pt/init --preset demo --random; config.json and model.safetensors are enough) in .work/pt/init-gpu, and
# the encoded habitless transcripts (python -m training.pretrain_twin encode) in .work/pt/habitless.npz.
# Writes $OUT/$RUN/: demo.safetensors, pretrain.json (config, loss curve, held-out loss), pretrain.log, gpu.txt.
set -euo pipefail
run="${OUT:-out}/${RUN:-run}"
mkdir -p "$run"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$run/gpu.txt" 2>&1 || true
python -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" >> "$run/gpu.txt"
python -m training.pretrain_twin train --twin .work/pt/init-gpu --data .work/pt/habitless.npz \
  --out "$run/demo.safetensors" --record "$run" --device cuda "$@" 2>&1 | tee "$run/pretrain.log"
