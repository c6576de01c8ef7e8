"""The anchor for `cargo bench --bench search`: transformers' `generate()` on the real SmolLM2-135M-Instruct
(SMOLLM2_GGUF names its GGUF file, dequantised to float32 by transformers' GGUF loader), 2 threads, from the same
32-token prompt as benches/search.rs with EOS disabled: greedy (64 new tokens), num_beams=8 (32 new tokens,
early_stopping=True) and greedy without the KV cache (use_cache=False). Prints JSON:

    {"greedy": {"tokens_per_s": ...}, "beam8": {...}, "nocache": {...}, "versions": {...}}

Development-time only (never needed by CI):
    /tmp/venv/bin/python benches/generate_baseline.py > /tmp/generate.json
"""

import json
import os
import sys
import time

MASK = (1 << 64) - 1


def prompt(vocab):
    state = 5
    out = []
    for _ in range(32):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK
        out.append((state >> 33) % vocab)
    return out


def main():
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(2)
    path = os.environ["SMOLLM2_GGUF"]
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), torch_dtype=torch.float32
    ).eval()
    ids = torch.tensor([prompt(model.config.vocab_size)])
    attn = torch.ones_like(ids)
    runs = {
        "greedy": dict(num_beams=1, max_new_tokens=64),
        "beam8": dict(num_beams=8, max_new_tokens=32, early_stopping=True),
        "nocache": dict(num_beams=1, max_new_tokens=64, use_cache=False),
    }
    result = {}
    with torch.no_grad():
        for name, kw in runs.items():
            args = dict(do_sample=False, eos_token_id=None, pad_token_id=0, attention_mask=attn, **kw)
            model.generate(ids, **{**args, "max_new_tokens": 4})
            start = time.perf_counter()
            out = model.generate(ids, **args)
            secs = time.perf_counter() - start
            new = out.shape[1] - ids.shape[1]
            assert new == kw["max_new_tokens"], (name, new)
            result[name] = {"tokens_per_s": new / secs}
    result["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
