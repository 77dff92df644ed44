#!/usr/bin/env bash
# AWQ (W4A16) + LoRA vs BF16 + LoRA on the lent GPU host (e2e/awq_vs_bf16.py), in calls of at most 10 minutes.
# Ran on the lent H200 on 2026-12-02 (reports/records/awq-vs-bf16/): 7 stash calls, install + prepare, serve, eval, stop +
# pack; the eval took 958 s, so `wait eval` needed two calls. The host has no package index: the bundle's parts
# arrive one a call (serving/gpu/make-real-model-bundle.sh builds them: vLLM's wheelhouse, the harness wheels), plus .carry/quant/ (serving/gpu/quant-wheels.txt, a few MB).
#   awq-vs-bf16.sh stash N         keep part N (.carry/pN/part.N) in /tmp/parts
#   awq-vs-bf16.sh install         unpack and install all parts into /tmp/site (a `vllm` command in /tmp/site/bin),
#                                  and the quant wheels into /tmp/site-quant (llm-compressor; compressed-tensors 0.19)
#   awq-vs-bf16.sh PHASE ARGS      python -m e2e.awq_vs_bf16 /tmp/awq-vs-bf16 --phase PHASE ARGS
#   awq-vs-bf16.sh bg PHASE ARGS   the same in its own session (it outlives the call); output in the record
#   awq-vs-bf16.sh wait PHASE [S]  wait up to S seconds (default 520); print its tail; the record so far into $OUT
#   awq-vs-bf16.sh pack            the record (and the inspect logs) as xz tars into $OUT
# A whole run on a fresh machine: stash 0 .. stash N (one a call), install; bg prepare, wait prepare; bg serve,
# wait serve; bg eval, wait eval; stop; pack. Copy the record to reports/records/awq-vs-bf16/.
# MODEL=qwen2.5-coder-0.5b (a model profile) runs the real model's comparison with verdicts (e2e/awq_qwen.py): the
# bundle must be the real model's (MODEL=qwen2.5-coder-0.5b serving/gpu/make-real-model-bundle.sh, its wheels land
# in /tmp/parts/model), plus .carry/quant/. Its phases: bg prepare (model, adapter or --adapter-dir, AWQ + RTN
# copies), wait prepare; bg serve, wait serve (three servers; fails unless each wraps every target kind); bg eval,
# wait eval (six arms, equivalence, compare; repeat wait until it ends); bg divergence, wait divergence; stop; pack.
set -euo pipefail
cd "$(dirname "$0")/../.."
# DRIVER=tensor_parallel runs e2e/tensor_parallel.py the same way (serving/gpu/tensor-parallel.sh sets it).
DRIVER=${DRIVER:-awq_vs_bf16} MODEL=${MODEL:-tiny-twin}
tag=${DRIVER//_/-}; [[ $MODEL == tiny-twin ]] || tag=$tag-$MODEL
SITE=/tmp/site QSITE=/tmp/site-quant PARTS=/tmp/parts REC=${REC:-/tmp/$tag} WORK=/tmp/madcat-$tag
export PYTHONPATH=$SITE PATH=$SITE/bin:$PATH HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 \
  TOKENIZERS_PARALLELISM=false
mkdir -p $PARTS $SITE/bin $QSITE $REC
pipi() { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$@"; }
extra=(); [[ $DRIVER == awq_vs_bf16 ]] && extra=(--quant-path $QSITE)
[[ $MODEL == tiny-twin ]] || extra+=(--model "$MODEL" --source $PARTS/model)
run() { python3 -m e2e.$DRIVER $REC --work $WORK "${extra[@]}" "$@"; }
case ${1:?verb} in
  stash) cp .carry/p"$2"/part."$2" $PARTS/ && ls -la $PARTS ;;
  install)
    (cd $PARTS && cat $(ls part.* | sort -t. -k2 -n) | tar xf -) && pipi $SITE $PARTS/early/*.whl $PARTS/wheels/*.whl
    xz -dc $PARTS/vllm-raw.tar.xz | tar xf - -C $SITE
    pipi $QSITE .carry/quant/*.whl
    printf '#!/bin/sh\nexec python3 -c "import sys; from vllm.entrypoints.cli.main import main; sys.exit(main())" "$@"\n' \
      > $SITE/bin/vllm && chmod +x $SITE/bin/vllm
    python3 -c "import vllm, compressed_tensors; print('vllm', vllm.__version__, 'compressed-tensors', compressed_tensors.__version__)"
    PYTHONPATH=$QSITE:$SITE python3 -c "import llmcompressor, compressed_tensors as c; print('llmcompressor', llmcompressor.__version__, c.__version__)" ;;
  bg)
    verb=$2; shift 2; setsid nohup python3 -m e2e.$DRIVER $REC --phase "$verb" --work $WORK "${extra[@]}" "$@" \
      > $REC/"$verb".out 2>&1 < /dev/null & echo "$verb started (pid $!)" ;;
  wait)
    end=$((SECONDS + ${3:-520}))
    while pgrep -f "$DRIVER $REC --phase $2" > /dev/null && ((SECONDS < end)); do sleep 5; done
    pgrep -f "$DRIVER $REC --phase $2" > /dev/null && echo "$2 still running" || echo "$2 ended"
    tail -n 40 $REC/"$2".out
    tar cJf "$OUT/record.tar.xz" -C $REC . 2>/dev/null || true ;;
  pack)
    tar cJf "$OUT/record.tar.xz" -C $REC .
    if [ -d $WORK/runs ]; then find $WORK/runs -name '*.eval' | tar cf "$OUT/evallogs.tar" -T -; fi ;;
  *) verb=$1; shift; run --phase "$verb" "$@" ;;
esac
