#!/usr/bin/env bash
# Refit the packaged model's ranker artifact (qa/data/all_minilm_l6_v2/) from ../shared/train only,
# through the engine's own retrieval (python -m qa.fitting; see its --help). Seeds are fixed.
# Needs the fitting extra (make install installs it). Arguments are passed on, e.g.
# --vector-models to refit the question adapter and the answer-type probes as well.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export NEWSQA_SHARED=${NEWSQA_SHARED:-$REPO/../shared}
exec "$REPO/.venv/bin/python" -m qa.fitting "$@"
