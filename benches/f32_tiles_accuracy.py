"""How close creditlens' exact f32 path stays to transformers' f32 on bf16 weights, per token log-probability.

The TL;DR-shaped pairs of benches/long_responses.sh on SmolLM2-135M-Instruct saved in bf16 (policy and reference,
target/long-responses/bf16), transformers loading them in float32 and scoring each side TRL's way (prompt ids,
completion ids + EOS). Compares any number of `creditlens score --dtype f32` outputs of those pairs (e.g. one with
AMX tiles and one with CREDITLENS_AMX=off) and prints, per model, the largest and mean |d log pi| of each.

Development time only:
    PYTHON=... bash benches/long_responses.sh          # makes target/long-responses
    D=target/long-responses
    for amx in on off; do CREDITLENS_AMX=$amx target/release/creditlens score --policy $D/bf16/policy \
        --reference $D/bf16/reference --data $D/tldr.jsonl --tokenization trl --dtype f32 \
        --out /tmp/f32_$amx.jsonl --force; done
    /work/pyenv/bin/python benches/f32_tiles_accuracy.py /tmp/f32_on.jsonl /tmp/f32_off.jsonl
"""

import json
import sys
from pathlib import Path

DIR = Path(__file__).resolve().parent.parent / "target/long-responses"


def main(paths):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(str(DIR / "bf16/reference"))
    records = [json.loads(line) for line in open(DIR / "tldr.jsonl", encoding="utf-8")]
    outputs = [[json.loads(line) for line in open(p, encoding="utf-8")] for p in paths]
    for name, key in (("policy", "logp_policy"), ("reference", "logp_reference")):
        model = AutoModelForCausalLM.from_pretrained(str(DIR / "bf16" / name), dtype=torch.float32).eval()
        worst, total, count = [0.0] * len(paths), [0.0] * len(paths), 0
        for i, rec in enumerate(records):
            prompt = tok(rec["prompt"])["input_ids"]
            for side in ("chosen", "rejected"):
                ids = prompt + tok(rec[side], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                with torch.no_grad():
                    logits = model(input_ids=torch.tensor([ids])).logits[0, len(prompt) - 1 : -1]
                lp = logits.double().log_softmax(-1).gather(1, torch.tensor(ids[len(prompt) :]).unsqueeze(1))
                want = lp.squeeze(1).tolist()
                for j, out in enumerate(outputs):
                    ours = [t[key] for t in out[i][side]["tokens"]]
                    assert len(ours) == len(want), (paths[j], i, side)
                    diffs = [abs(a - b) for a, b in zip(ours, want)]
                    worst[j] = max(worst[j], max(diffs))
                    total[j] += sum(diffs)
                count += len(want)
        for j, p in enumerate(paths):
            print(f"{name}\t{p}\tmax {worst[j]:.2e}\tmean {total[j] / count:.2e}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
