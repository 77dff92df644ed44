#!/usr/bin/env bash
# The main job, offline on the tiny twin: dataset -> twin -> train -> eval (baseline, adapter) -> compare -> gate -> HTML.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
exec .venv/bin/python -m e2e.offline_loop "$@"
