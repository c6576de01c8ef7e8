"""Whole runs at the sizes users train, from files on disk: the pair, the records, and the transformers + TRL anchor.

    python benches/user_sizes_files.py make DIR TOKENIZER_DIR   # DIR/{reference,policy}/ and DIR/pairs.jsonl
    DTYPE=bf16 python benches/user_sizes_files.py anchor DIR    # one JSON line: the anchor's timed section

`make` writes a SmolLM2-1.7B-shaped Llama pair (hidden 2048, 24 layers (`LAYERS`), 32 heads, intermediate 8192,
vocabulary 49,152, tied) with random weights as bf16 safetensors, as users keep a trained pair: the reference
random, the policy the reference plus small noise; SmolLM2's tokenizer (the same vocabulary) from TOKENIZER_DIR
(the SmolLM2-135M folder `tests/fetch` makes); and six TL;DR-shaped text records (a ~340-token prompt, 45-60-token
chosen and rejected, the lengths from the same seeded generator as benches/user_sizes.rs), made of common English
words. `anchor` loads the pair with transformers in `DTYPE` (bf16 or f32), tokenizes the records as TRL's
DPOTrainer does (prompt ids, completion ids + EOS), and scores them the way `DPOTrainer._compute_loss` does
([prompt+chosen, prompt+rejected] through the policy and through the reference, `fused_lm_head=True`), 2 threads;
it prints the seconds of the six records after a warm-up record (loading excluded) and its peak RSS.

Development-time only (never needed by CI); `bash benches/user_sizes.sh` runs everything in one sitting.
"""

import json
import os
import random
import resource
import shutil
import sys
import time

from transformers_baseline import Lcg, fused_heads, trl_logps  # this folder is on sys.path

WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so no will more can out up into do any your "
    "what some time them other than then now my only its over also new just like people after first two way well "
    "because year work back could even good these most day know how make long take come think see look want give "
    "use find tell ask seem feel try leave call last great little own old right big high different small large "
    "next early young important few public bad same able post lease apartment month rent landlord money friend "
    "car job school city house family week night story reason point problem question"
).split()


def config(layers):
    from transformers import LlamaConfig

    return LlamaConfig(
        hidden_size=2048, intermediate_size=8192, vocab_size=49152, num_hidden_layers=layers, num_attention_heads=32,
        num_key_value_heads=32, rms_norm_eps=1e-5, rope_theta=130000.0, max_position_embeddings=8192,
        tie_word_embeddings=True, torch_dtype="bfloat16",
    )


def text(tok, rnd, tokens):
    """Words until the text is `tokens` tokens long (give or take the last word)."""
    words = []
    while len(tok(" ".join(words), add_special_tokens=False)["input_ids"]) < tokens:
        words.extend(rnd.choice(WORDS) for _ in range(4))
    return " ".join(words)


def make(out, tokenizer_dir):
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    layers = int(os.environ.get("LAYERS", "24"))
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    model = LlamaForCausalLM(config(layers)).eval()
    files = ["tokenizer.json", "tokenizer_config.json"]
    for name, noise in (("reference", 0.0), ("policy", 1e-3)):
        with torch.no_grad():
            for p in model.parameters():
                if noise:
                    p.add_(torch.randn_like(p) * noise)
        model.save_pretrained(os.path.join(out, name))
        for f in files:
            shutil.copy(os.path.join(tokenizer_dir, f), os.path.join(out, name, f))
    tok = AutoTokenizer.from_pretrained(os.path.join(out, "reference"))
    rng = Lcg(7)
    rnd = random.Random(7)
    with open(os.path.join(out, "pairs.jsonl"), "w") as f:
        for _ in range(6):
            c, r = 45 + rng.next(16), 45 + rng.next(16)
            record = {"prompt": text(tok, rnd, 340), "chosen": " " + text(tok, rnd, c), "rejected": " " + text(tok, rnd, r)}
            f.write(json.dumps(record) + "\n")


def anchor(out):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    dtype = torch.bfloat16 if os.environ.get("DTYPE", "bf16") == "bf16" else torch.float32
    load = lambda name: AutoModelForCausalLM.from_pretrained(os.path.join(out, name), torch_dtype=dtype).eval()  # noqa: E731
    policy, reference = load("policy"), load("reference")
    fused = fused_heads(policy, reference)
    tok = AutoTokenizer.from_pretrained(os.path.join(out, "reference"))
    batches = []
    for line in open(os.path.join(out, "pairs.jsonl")):
        rec = json.loads(line)
        prompt = tok(rec["prompt"])["input_ids"]
        seqs = [tok(rec[k], add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for k in ("chosen", "rejected")]
        width = len(prompt) + max(len(s) for s in seqs)
        ids = torch.zeros(2, width, dtype=torch.long)
        attn = torch.zeros(2, width, dtype=torch.long)
        completion = torch.zeros(2, width, dtype=torch.long)
        for i, s in enumerate(seqs):
            full = prompt + s
            ids[i, : len(full)] = torch.tensor(full)
            attn[i, : len(full)] = 1
            completion[i, len(prompt) : len(full)] = 1
        batches.append((ids, attn, completion, sum(len(s) for s in seqs), len(prompt)))
    trl_logps((policy, reference), *batches[0][:3])  # warm-up
    start = time.perf_counter()
    for ids, attn, completion, _, _ in batches:
        trl_logps((policy, reference), ids, attn, completion)
    secs = time.perf_counter() - start
    print(json.dumps({
        "dtype": str(dtype), "seconds": round(secs, 2),
        "completion_tokens": sum(b[3] for b in batches), "prompt_tokens": [b[4] for b in batches],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
        "fused_lm_head": fused, "torch": torch.__version__, "transformers": transformers.__version__,
    }))


if __name__ == "__main__":
    if sys.argv[1:2] == ["make"]:
        make(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["anchor"]:
        anchor(sys.argv[2])
    else:
        sys.exit(__doc__)
