#!/usr/bin/env bash
# Whole runs on SmolLM2-135M, creditlens against transformers in one sitting, for f32 safetensors, bf16 safetensors
# and GGUF weights, on long responses (--tokenization joint) and TL;DR-shaped pairs (benches/long_responses.py).
# creditlens: the whole `creditlens score` run, load included; transformers: its timed forward passes only.
# Development-time only. PYTHON names a Python with torch, transformers (and gguf for the GGUF anchor).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DIR=target/long-responses
HF=target/models/SmolLM2-135M-Instruct-Q4_1-hf
GGUF=target/models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$HF/model.safetensors" ] || { echo "run the tests first (cargo test makes $HF)"; exit 1; }
lscpu | grep -E "Model name"
cargo build --release --quiet
[ -f "$DIR/long.jsonl" ] || (cd benches && "$PY" long_responses.py make "../$DIR" "../$HF" "../$GGUF")
for data in long tldr; do
    mode=trl; [ "$data" = long ] && mode=joint
    for kind in f32 bf16 gguf; do
        if [ "$kind" = gguf ]; then p=$DIR/gguf/policy.gguf; r=$DIR/gguf/reference.gguf; else p=$DIR/$kind/policy; r=$DIR/$kind/reference; fi
        for dtype in f32 bf16; do
            [ "$kind" = f32 ] && [ "$dtype" = bf16 ] && continue
            s=$(date +%s.%N)
            target/release/creditlens score --policy "$p" --reference "$r" --data "$DIR/$data.jsonl" \
                --tokenization "$mode" --dtype "$dtype" --out "$DIR/out-$data-$kind-$dtype.jsonl" --force 2>/dev/null
            echo "{\"creditlens\": true, \"kind\": \"$kind\", \"dtype\": \"$dtype\", \"data\": \"$data\", \"seconds\": $(echo "$(date +%s.%N) - $s" | bc)}"
        done
        (cd benches && "$PY" long_responses.py anchor "../$DIR" "$kind" "$data" 2>/dev/null)
    done
done
