#!/usr/bin/env bash
# One sitting of the user-size benchmarks (docs/performance.md), creditlens and transformers + TRL on the same
# machine, one after the other:
#   - in memory (model construction excluded on both sides): `cargo bench --bench user_sizes` (score, bf16 and f32;
#     edit, bf16) against benches/user_sizes.py (bf16);
#   - whole runs from files on disk: `creditlens score` (load included) of the pair benches/user_sizes_files.py
#     makes, against the same script's anchor (its timed section, loading excluded);
#   - this machine's cost of first touching fresh memory (what loading any model pays once per page).
# Development-time only. PYTHON names a Python with torch, transformers and trl; LAYERS (default 24).
# Usage: PYTHON=/path/to/python bash benches/user_sizes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LAYERS=${LAYERS:-24}
DIR=target/user-size-pair-$LAYERS
export LAYERS
lscpu | grep -E "Model name|^CPU\(s\)"
lscpu | grep -o 'avx512_bf16\|amx_bf16' | sort -u | tr '\n' ' '; echo
cargo build --release --quiet
cargo bench --bench user_sizes --no-run --quiet 2>/dev/null
for dtype in bf16 f32; do DTYPE=$dtype cargo bench --quiet --bench user_sizes -- score; done
DTYPE=bf16 cargo bench --quiet --bench user_sizes -- edit
(cd benches && DTYPE=bf16 "$PY" user_sizes.py)
if [ ! -f "$DIR/policy/model.safetensors" ]; then
    # SmolLM2's tokenizer (the same vocabulary): the folder the test suite makes from the Q4_1 GGUF.
    [ -f target/models/SmolLM2-135M-Instruct-Q4_1-hf/tokenizer.json ] || { echo "run the tests first (cargo test)"; exit 1; }
    mkdir -p "$DIR"
    (cd benches && "$PY" user_sizes_files.py make "../$DIR" ../target/models/SmolLM2-135M-Instruct-Q4_1-hf)
fi
du -sb "$DIR/policy/model.safetensors" "$DIR/reference/model.safetensors"
for dtype in bf16 f32; do
    /usr/bin/time -f "creditlens whole run dtype=$dtype wall_s=%e peak_rss_kb=%M sys_s=%S" \
        target/release/creditlens score --policy "$DIR/policy" --reference "$DIR/reference" \
        --data "$DIR/pairs.jsonl" --dtype "$dtype" --out "$DIR/scores-$dtype.jsonl" --force 2>&1 | grep -v scoring
done
(cd benches && DTYPE=bf16 "$PY" user_sizes_files.py anchor "../$DIR")
"$PY" -c "
import time
n = 7 << 30
t = time.perf_counter(); b = bytearray(n); b[::4096] = bytes(len(range(0, n, 4096)))
print(f'first touch of 7 GiB of fresh memory: {time.perf_counter() - t:.1f} s')"
