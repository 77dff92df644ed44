#!/usr/bin/env bash
# The test command: set-up, lint, then the whole test suite (tiny-twin training proof included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check .
# the layers: imports follow the data flow, no product package imports a test double (pyproject.toml)
.venv/bin/lint-imports --no-cache
# the spec's self-test: agents that ignore the task must pass no scenario (exit 1 otherwise)
.venv/bin/python -m evals selftest | tail -n 2
.venv/bin/python -m pytest -q -n 2 --dist loadgroup "$@"
