#!/usr/bin/env bash
# Peak memory of `creditlens score` on real SmolLM2-135M-Instruct pairs (issue 16's Memory table): f32, bf16 and
# Q4_1 GGUF policy/reference pairs, a bf16 LoRA adapter scored against its base, and one ~8,000-token response.
# Needs the GGUF (.ci/fetch-smollm2 target/models), GNU time (/usr/bin/time) and, to write the checkpoints once, a
# Python with torch, transformers and peft (PYTHON=...). Never run by CI. Prints one table row per case with the
# issue's target: peak RSS <= 1.2 x the distinct weight bytes on disk + 300 MB for a pair, at most 2 GB above the
# weights for the long response.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
GGUF=${SMOLLM2_GGUF:-$PWD/target/models/SmolLM2-135M-Instruct.Q4_1.gguf}
WORK=${MEMORY_WORK:-target/memory-bench}
[ -f "$GGUF" ] || { echo "no $GGUF: run .ci/fetch-smollm2 target/models" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
if [ ! -f "$WORK/pairs.jsonl" ]; then
    "$PYTHON" benches/memory_fixtures.py "$GGUF" "$WORK"
fi
mkdir -p "$WORK/gguf"
cp -n "$GGUF" "$WORK/gguf/policy.gguf"
cp -n "$GGUF" "$WORK/gguf/reference.gguf"
cargo build --release --bin creditlens
bin=target/release/creditlens
mb() { du -cbL "$@" | tail -1 | awk '{printf "%.0f", $1 / 1048576}'; }
run() { # name, weight files, target rule (pair: 1.2x disk + 300 MB; long: 2 GB above the weights), score arguments
    local name=$1 weights=$2 rule=$3; shift 3
    local disk kb
    disk=$(mb $weights)
    /usr/bin/time -f "%M" "$bin" score "$@" --top-k 0 --out "$WORK/out.jsonl" --force > /dev/null 2> "$WORK/err.log"
    kb=$(tail -1 "$WORK/err.log")
    awk -v n="$name" -v d="$disk" -v k="$kb" -v rule="$rule" 'BEGIN { r = k / 1024;
        t = (rule == "long") ? d + 2048 : 1.2 * d + 300;
        printf "| %s | %d MB | %.0f MB (%.0f MB above the weights) | %.0f MB | %s |\n", n, d, r, r - d, t,
            (r <= t ? "met" : "NOT met") }'
}
echo "| pair | weights on disk | peak RSS | target | |"
echo "| --- | --- | --- | --- | --- |"
run "f32 safetensors" "$WORK/f32/policy/model.safetensors $WORK/f32/reference/model.safetensors" pair \
    --policy "$WORK/f32/policy" --reference "$WORK/f32/reference" --data "$WORK/pairs.jsonl"
run "bf16 safetensors" "$WORK/bf16/policy/model.safetensors $WORK/bf16/reference/model.safetensors" pair \
    --policy "$WORK/bf16/policy" --reference "$WORK/bf16/reference" --data "$WORK/pairs.jsonl"
run "Q4_1 GGUF" "$WORK/gguf/policy.gguf $WORK/gguf/reference.gguf" pair \
    --policy "$WORK/gguf/policy.gguf" --reference "$WORK/gguf/reference.gguf" --data "$WORK/pairs.jsonl"
run "bf16 LoRA adapter on its base" \
    "$WORK/bf16/reference/model.safetensors $WORK/lora/adapter/adapter_model.safetensors" pair \
    --policy "$WORK/lora/adapter" --reference "$WORK/bf16/reference" --data "$WORK/pairs.jsonl"
start=$(date +%s.%N)
run "Q4_1 GGUF, one 7,601-token response" "$WORK/gguf/policy.gguf $WORK/gguf/reference.gguf" long \
    --policy "$WORK/gguf/policy.gguf" --reference "$WORK/gguf/reference.gguf" --data "$WORK/long8k.jsonl" \
    --max-length 8192
echo "(the 8k run took $(echo "$(date +%s.%N) - $start" | bc) s)"
