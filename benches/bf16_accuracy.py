"""How far bf16 compute moves log-probs and rewards from f32, in creditlens and in transformers, on real weights.

The real DPO run B of fixtures/real_runs (a PEFT LoRA adapter on SmolLM2-135M-Instruct, its held-out pairs), the base
as the f32 safetensors checkpoint the tests make from the Q4_1 GGUF (target/models/SmolLM2-135M-Instruct-Q4_1-hf).
creditlens' outputs come from `creditlens score ... --dtype f32|bf16 --out FILE` (the commands below); transformers +
PEFT score the same pairs with TRL's tokenisation (fixtures/real_runs/make_golden.py's `trl_rule`), the model loaded
in float32 and in bfloat16 (`dtype=torch.bfloat16`: everything in bf16, as a TRL run with `bf16=True` evaluates),
the reference being the base with the adapter disabled. Prints a table of the largest and mean differences.

Development time only:
    B=target/models/SmolLM2-135M-Instruct-Q4_1-hf R=fixtures/real_runs/run_b
    for d in f32 bf16; do target/release/creditlens score --policy $R/adapter --reference $B \
        --data $R/heldout.jsonl --dtype $d --out /tmp/acc_$d.jsonl --force; done
    /work/pyenv/bin/python benches/bf16_accuracy.py /tmp/acc_f32.jsonl /tmp/acc_bf16.jsonl
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fixtures" / "real_runs"))
BASE = ROOT / "target/models/SmolLM2-135M-Instruct-Q4_1-hf"
RUN = ROOT / "fixtures/real_runs/run_b"
BETA = 0.1


def creditlens(path):
    """Per record: (chosen, rejected) lists of (logp_policy, logp_reference) per token."""
    out = []
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        out.append(tuple([(t["logp_policy"], t["logp_reference"]) for t in r[k]["tokens"]] for k in ("chosen", "rejected")))
    return out


def transformers(dtype):
    import torch
    from make_golden import token_logps, trl_rule
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(str(BASE))
    base = AutoModelForCausalLM.from_pretrained(str(BASE), dtype=dtype, attn_implementation="eager")
    model = PeftModel.from_pretrained(base, str(RUN / "adapter")).eval()
    out = []
    for line in open(RUN / "heldout.jsonl", encoding="utf-8"):
        rec = json.loads(line)
        enc = trl_rule(tok, rec)
        sides = []
        for key in ("chosen", "rejected"):
            ids, plen = enc[key]["input_ids"], enc[key]["prompt_len"]
            lp = token_logps(model, ids, plen)
            with model.disable_adapter():
                lr = token_logps(model, ids, plen)
            sides.append(list(zip(lp, lr)))
        out.append(tuple(sides))
    return out


def compare(a, b):
    """Largest and mean |difference| of per-token log pi, of sequence rewards and of margins; margin sign and
    lowest-reward rejected token agreement."""
    dlogp, dreward, dmargin, sign, lowest, n = [], [], [], 0, 0, 0
    for ra, rb in zip(a, b):
        rewards = []
        for sa, sb in zip(ra, rb):
            assert len(sa) == len(sb), "tokenisation differs"
            dlogp += [abs(x[0] - y[0]) for x, y in zip(sa, sb)]
            r = [sum(BETA * (p - q) for p, q in s) for s in (sa, sb)]
            dreward.append(abs(r[0] - r[1]))
            rewards.append(r)
        ma = rewards[0][0] - rewards[1][0]
        mb = rewards[0][1] - rewards[1][1]
        dmargin.append(abs(ma - mb))
        sign += (ma > 0) == (mb > 0)
        low = [min(range(len(s)), key=lambda j: BETA * (s[j][0] - s[j][1])) for s in (ra[1], rb[1])]
        lowest += low[0] == low[1]
        n += 1
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    return (max(dlogp), mean(dlogp), max(dreward), mean(dreward), max(dmargin), sign / n, lowest / n)


def main():
    import torch

    ours = {"f32": creditlens(sys.argv[1]), "bf16": creditlens(sys.argv[2])}
    theirs = {"f32": transformers(torch.float32), "bf16": transformers(torch.bfloat16)}
    rows = [
        ("creditlens bf16 vs creditlens f32", ours["bf16"], ours["f32"]),
        ("transformers bf16 vs transformers f32", theirs["bf16"], theirs["f32"]),
        ("creditlens bf16 vs transformers bf16", ours["bf16"], theirs["bf16"]),
        ("creditlens f32 vs transformers f32", ours["f32"], theirs["f32"]),
    ]
    print(f"{len(ours['f32'])} held-out pairs of run B, beta {BETA}")
    print("| comparison | max |d log pi| | mean |d log pi| | max |d reward| | mean |d reward| | max |d margin| "
          "| margin sign agrees | lowest-r_t token agrees |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, a, b in rows:
        c = compare(a, b)
        print(f"| {name} | {c[0]:.4f} | {c[1]:.5f} | {c[2]:.4f} | {c[3]:.5f} | {c[4]:.4f} | {c[5]:.3f} | {c[6]:.3f} |")


if __name__ == "__main__":
    main()
