#!/usr/bin/env bash
# Creates .venv (once) and installs what the project needs on a CPU machine. Idempotent.
# torch goes first, pinned, so nothing pulls the multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.madcat-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] installing torch==2.13.0 (CPU) and the project's dependencies (a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e ".[evals,train,reports,dev]"
  touch "$stamp"
fi
