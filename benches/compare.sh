#!/usr/bin/env bash
# Measures creditlens against HF transformers in the same sitting: the Python anchor first, then `cargo bench`,
# which prints both and the ratio. Needs a Python with torch and transformers (PYTHON=...); never run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# The real SmolLM2-135M-Instruct weights for both sides when fetched (.ci/fetch-smollm2 target/models).
if [ -z "${SMOLLM2_GGUF:-}" ] && [ -f target/models/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    export SMOLLM2_GGUF=$PWD/target/models/SmolLM2-135M-Instruct.Q4_1.gguf
fi
# ROUNDS=N repeats the whole comparison N times, anchor and creditlens alternating, so that a machine whose speed
# drifts during the sitting (shared CPUs) shows it; report the median of each column.
for round in $(seq "${ROUNDS:-1}"); do
    echo "== round $round ($(date -u +%H:%M:%S)) ==" >&2
    baseline=$(mktemp --suffix=.json)
    "$PYTHON" benches/transformers_baseline.py > "$baseline"
    cat "$baseline" >&2
    CREDITLENS_BASELINE="$baseline" cargo bench --bench score
    # Generation (issue 17): transformers' generate() against `cargo bench --bench search`, same sitting.
    generate=$(mktemp --suffix=.json)
    "$PYTHON" benches/generate_baseline.py > "$generate"
    cat "$generate" >&2
    CREDITLENS_GENERATE_BASELINE="$generate" cargo bench --bench search
done
