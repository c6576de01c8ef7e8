#!/usr/bin/env bash
# Regenerates the README's app screenshots with the release binary under Xvfb (apt-get install xvfb xauth
# libgl1-mesa-dri). Run from the repository root after `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=target/release/creditlens
out=assets/screenshots
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
# A fresh settings folder, so nothing remembered from the last run shows.
XDG_DATA_HOME="$(mktemp -d)"
export XDG_DATA_HOME
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp" "$XDG_DATA_HOME"' EXIT
shot() { xvfb-run -a -s "-screen 0 1600x1000x24" "$bin" gui --screenshot "$@"; }

shot "$out/main.png" --window-size 1400x880
shot "$out/small.png" --window-size 900x560
shot "$out/credit.png" --window-size 1400x880 --plot credit
shot "$out/drift_dark.png" --window-size 1400x880 --theme dark --plot drift
"$bin" search --demo --prompt $'Q: What is twice 7?\nA:' --beams 1,2,4,8 --max-new-tokens 48 --out "$tmp/runs.jsonl" --force
shot "$out/search.png" --window-size 1400x880 --data "$tmp/runs.jsonl"
shot "$out/chat.png" --window-size 1400x880 --policy fixtures/models/llama --reference fixtures/models/llama_ref \
    --data fixtures/chat/records.jsonl
"$bin" render --demo --out "$out/render.png" --force
"$bin" features --demo --top 12 --chart "$out/features.png" --force >/dev/null
