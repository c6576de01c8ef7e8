#!/usr/bin/env bash
# Fuzzes every reader of creditlens::fuzz with libFuzzer (cargo-fuzz on the stable toolchain: RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz pass its coverage flags; `-s none`, no sanitizer, as the code under test is safe Rust), RUNS executions
# per target, from the seeds of tests/fuzz/seed.py plus the committed corpus, then minimises the corpus back into
# fixtures/fuzz/<target>/ (which the test suite replays). Prints one line per target. An input that crashed or hung
# a reader goes, once fixed, into fixtures/fuzz/regressions/<target>/ under a name saying what it was: minimising
# may drop it from the corpus, never from there.
#
#   cargo install cargo-fuzz            # once
#   bash tests/fuzz/run.sh              # all targets, 1,000,000 executions each
#   RUNS=100000 bash tests/fuzz/run.sh gguf config
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-1000000}
WORK=${WORK:-/tmp/creditlens-fuzz}
export RUSTC_BOOTSTRAP=1
all="safetensors_header shard_index gguf config adapter_config data_records trainer_state chat_template"
targets=${*:-$all}
fuzz() { cargo fuzz "$1" -s none --fuzz-dir tests/fuzz "${@:2}"; }

rm -rf "$WORK/seeds"
python3 tests/fuzz/seed.py "$WORK/seeds"
fuzz build >/dev/null
printf '%-20s %12s %8s %8s %8s\n' target executions seconds exec/s crashes
for t in $targets; do
    corpus="$WORK/corpus/$t"
    rm -rf "$corpus" && mkdir -p "$corpus" "$WORK/artifacts/$t"
    cp "$WORK/seeds/$t"/* "$corpus"/
    for kept in "fixtures/fuzz/$t" "fixtures/fuzz/regressions/$t"; do
        if [ -d "$kept" ]; then cp "$kept"/* "$corpus"/; fi
    done
    log="$WORK/$t.log"
    start=$(date +%s)
    crashes=0
    fuzz run "$t" "$corpus" -- -runs="$RUNS" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$WORK/artifacts/$t/" >"$log" 2>&1 || crashes=1
    secs=$(( $(date +%s) - start ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    printf '%-20s %12s %8s %8s %8s\n' "$t" "$execs" "$secs" "$(( execs / (secs > 0 ? secs : 1) ))" "$crashes"
    if [ "$crashes" = 1 ]; then
        echo "  see $log and $WORK/artifacts/$t/" >&2
        continue
    fi
    fuzz cmin "$t" "$corpus" -- -rss_limit_mb=4096 >"$WORK/$t.cmin.log" 2>&1
    rm -rf "fixtures/fuzz/$t" && mkdir -p "fixtures/fuzz/$t"
    cp "$corpus"/* "fixtures/fuzz/$t"/
done
