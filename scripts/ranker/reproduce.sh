#!/usr/bin/env bash
# Refit the answer ranker from ../shared/train only, then score it on ../shared/eval.
# Writes qa/data/adapter.npz, qa/data/atype.npz and qa/data/ranker.json. Seeds are fixed; the result is identical
# run to run. Cold cache: sentence encoding with the engine's encoder (kept in var/fit-cache), then ~6 min to fit.
# Needs the fitting extra: .venv/bin/pip install -e '.[fit]' (scikit-learn, LightGBM).
set -euo pipefail
cd "$(dirname "$0")"
REPO=$(cd ../.. && pwd)
PY=${PY:-$REPO/.venv/bin/python}
export PYTHONPATH=$REPO:$PWD
# FUSION_ONLY=1 keeps qa/data/adapter.npz and atype.npz and refits only the fusion and abstention
# models (how the ranker was refitted on pooled clause vectors: the adapter and the probes read
# sentence and question vectors, which the ONNX int8 backend leaves at cosine 0.99 to fp32).
if [[ "${FUSION_ONLY:-0}" != 1 ]]; then
  $PY train_adapter.py --squad squad-train-all        # rank-16 question adapter, 3 epochs, seed 0
  $PY train_atype.py                                   # answer-type probes -> qa/data/atype.npz
fi
$PY fit.py --adapter "$REPO/qa/data/adapter.npz" --atype "$REPO/qa/data/atype.npz"  # fusion + abstention
$PY harness.py baselines                               # plain dense, BM25, RRF on eval
$PY harness.py eval "$REPO/qa/data/ranker.json"        # the fitted ranker on eval
