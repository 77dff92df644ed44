#!/usr/bin/env bash
# LoRA under tensor and pipeline parallelism (e2e/tensor_parallel.py) on a 2-GPU host, in calls of at most 10 minutes.
# NOT RUN YET: it needs the nvidia-h200-x2 kind, which has not been lent so far. The verbs are awq-vs-bf16.sh's
# (stash N, install, bg PHASE ARGS, wait PHASE [S], pack, PHASE ARGS), with e2e.tensor_parallel as the driver and
# the record in /tmp/tensor-parallel. A whole run on a fresh machine: stash 0 .. stash N (one a call), install;
# bg prepare, wait prepare; measure --layout tp1; measure --layout tp2; measure --layout pp2 (one a call: each
# starts a server, about 3 minutes, takes the logprobs and stops it); compare; pack. Copy the record to
# reports/records/tensor-parallel/.
set -euo pipefail
DRIVER=tensor_parallel exec bash "$(dirname "$0")/awq-vs-bf16.sh" "$@"
