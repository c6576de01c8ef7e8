"""Whole runs on SmolLM2-135M with f32 safetensors, bf16 safetensors and GGUF weights: long responses and TL;DR pairs.

    python benches/long_responses.py make DIR HF_DIR GGUF   # the pairs of models and the two data files
    python benches/long_responses.py anchor DIR KIND DATA   # KIND f32|bf16|gguf, DATA long|tldr: one JSON line

`make` writes, from the f32 safetensors of SmolLM2-135M-Instruct (HF_DIR, the folder the test suite makes from the
Q4_1 GGUF) and the GGUF file itself: DIR/f32/{reference,policy} (f32 safetensors; the policy is the reference plus
small noise, so that the two are different models as in a real run), DIR/bf16/{reference,policy} (the same in bf16),
DIR/gguf/{reference,policy}.gguf (the GGUF and a copy, read twice as two models are); and two data files of common
English words: DIR/long.jsonl, 8 responses of 236-288 words after a short question (scored with
`--tokenization joint`), and DIR/tldr.jsonl, 6 pairs after a ~300-token post with 30-60-token responses.

`anchor` is what a transformers user runs: both models loaded with transformers (the GGUF dequantised to f32 by
transformers), 2 threads, in the weights' dtype (f32, bf16), and for each record prompt+response as one sequence
(long) or TRL's batch [prompt+chosen, prompt+rejected] (tldr) through both models, log-softmax gathered at the
response tokens. It prints the seconds of all records (loading excluded) and the response tokens scored.

Development-time only; `bash benches/long_responses.sh` runs both sides in one sitting.
"""

import json
import os
import random
import shutil
import sys
import time

from user_sizes_files import WORDS, text  # this folder is on sys.path

FILES = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"]


def make(out, hf_dir, gguf):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    for kind, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=dtype).eval()
        for name in ("reference", "policy"):
            if name == "policy":
                with torch.no_grad():
                    for p in model.parameters():
                        p.add_(torch.randn_like(p) * 1e-3)
            model.save_pretrained(os.path.join(out, kind, name))
            for f in FILES:
                if os.path.exists(os.path.join(hf_dir, f)):
                    shutil.copy(os.path.join(hf_dir, f), os.path.join(out, kind, name, f))
    os.makedirs(os.path.join(out, "gguf"), exist_ok=True)
    for name in ("reference", "policy"):
        shutil.copy(gguf, os.path.join(out, "gguf", name + ".gguf"))
    tok = AutoTokenizer.from_pretrained(hf_dir)
    rnd = random.Random(13)
    with open(os.path.join(out, "long.jsonl"), "w") as f:
        for i in range(8):
            words = " ".join(rnd.choice(WORDS) for _ in range(236 + 7 * i))
            f.write(json.dumps({"prompt": f"Question {i}: tell me a long story.\n", "completion": words}) + "\n")
    with open(os.path.join(out, "tldr.jsonl"), "w") as f:
        for _ in range(6):
            record = {"prompt": text(tok, rnd, 300), "chosen": " " + text(tok, rnd, 30 + rnd.randrange(31)),
                      "rejected": " " + text(tok, rnd, 30 + rnd.randrange(31))}
            f.write(json.dumps(record) + "\n")


def anchor(out, kind, data):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    if kind == "gguf":
        d = os.path.join(out, "gguf")
        load = lambda n: AutoModelForCausalLM.from_pretrained(d, gguf_file=n + ".gguf", dtype=torch.float32)  # noqa: E731
        tok = AutoTokenizer.from_pretrained(d, gguf_file="reference.gguf")
    else:
        dtype = torch.float32 if kind == "f32" else torch.bfloat16
        load = lambda n: AutoModelForCausalLM.from_pretrained(os.path.join(out, kind, n), dtype=dtype)  # noqa: E731
        tok = AutoTokenizer.from_pretrained(os.path.join(out, kind, "reference"))
    models = [load("policy").eval(), load("reference").eval()]
    records = [json.loads(line) for line in open(os.path.join(out, data + ".jsonl"))]
    batches = []
    for r in records:
        if data == "long":  # --tokenization joint: prompt+response as one string
            full = tok(r["prompt"] + r["completion"])["input_ids"]
            start = len(tok(r["prompt"])["input_ids"])
            batches.append((torch.tensor([full]), torch.ones(1, len(full), dtype=torch.long), start))
        else:  # TRL: prompt ids, completion ids + EOS, right-padded batch of the two
            p = tok(r["prompt"])["input_ids"]
            seqs = [p + tok(r[k], add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for k in ("chosen", "rejected")]
            width = max(map(len, seqs))
            ids = torch.zeros(2, width, dtype=torch.long)
            attn = torch.zeros(2, width, dtype=torch.long)
            for i, s in enumerate(seqs):
                ids[i, : len(s)] = torch.tensor(s)
                attn[i, : len(s)] = 1
            batches.append((ids, attn, len(p)))
    tokens = 0
    start_time = time.perf_counter()
    with torch.no_grad():
        for ids, attn, start in batches:
            for m in models:
                logits = m(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, start - 1 : -1]
                lp = torch.gather(logits.float().log_softmax(-1), 2, ids[:, start:].unsqueeze(-1)).squeeze(-1)
                (lp * attn[:, start:]).sum(-1)
            tokens += int(attn[:, start:].sum())
    secs = time.perf_counter() - start_time
    print(json.dumps({"kind": kind, "data": data, "seconds": round(secs, 2), "response_tokens": tokens}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["make"]:
        make(*sys.argv[2:5])
    elif sys.argv[1:2] == ["anchor"]:
        anchor(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
