"""The anchor for `cargo bench --bench user_sizes`: transformers + TRL at the sizes users train.

A SmolLM2-1.7B-shaped Llama pair (hidden 2048, 32 heads, intermediate 8192, vocabulary 49,152, tied; `LAYERS`
layers, 24 by default) with random weights, in `DTYPE` (bf16 or f32), 2 threads, scoring the same six TL;DR-shaped
pairs as benches/user_sizes.rs (a 340-token prompt, 45-60-token chosen and rejected: same seeded generator for the
lengths) the way TRL 1.x's DPOTrainer does: [prompt+chosen, prompt+rejected] in one right-padded batch through the
policy and through the reference, `fused_lm_head=True` when TRL provides it. Prints one JSON line with the seconds
of the timed section (the six pairs after a warm-up pair; model construction excluded) and peak memory.

Development-time only (never needed by CI):
    python -m venv /tmp/venv && /tmp/venv/bin/pip install torch transformers trl
    DTYPE=bf16 LAYERS=24 /tmp/venv/bin/python benches/user_sizes.py
"""

import json
import os
import resource
import time

from transformers_baseline import Lcg, fused_heads, trl_batch, trl_logps  # the same generator as benches/user_sizes.rs (this folder is on sys.path)


def workload():
    rng = Lcg(7)
    return [(340, 45 + rng.next(16), 45 + rng.next(16)) for _ in range(6)]


def main():
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(2)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if os.environ.get("DTYPE", "bf16") == "bf16" else torch.float32
    layers = int(os.environ.get("LAYERS", "24"))
    cfg = LlamaConfig(
        hidden_size=2048, intermediate_size=8192, vocab_size=49152, num_hidden_layers=layers,
        num_attention_heads=32, num_key_value_heads=32, rms_norm_eps=1e-5, rope_theta=130000.0,
        max_position_embeddings=8192, tie_word_embeddings=True,
    )
    with torch.device("cpu"):
        policy = LlamaForCausalLM(cfg).to(dtype).eval()
        reference = LlamaForCausalLM(cfg).to(dtype).eval()
    fused = fused_heads(policy, reference)
    g = torch.Generator().manual_seed(11)
    batches = [trl_batch(cfg.vocab_size, g, *w) for w in workload()]

    def step(ids, attn, completion):
        return trl_logps((policy, reference), ids, attn, completion)

    step(*batches[0][:3])  # warm-up
    start = time.perf_counter()
    tokens = 0
    for ids, attn, completion, n in batches:
        step(ids, attn, completion)
        tokens += n
    secs = time.perf_counter() - start
    print(json.dumps({
        "layers": layers, "dtype": str(dtype), "seconds": round(secs, 2), "tokens_per_s": round(tokens / secs, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
        "fused_lm_head": fused, "torch": torch.__version__, "transformers": transformers.__version__,
    }))


if __name__ == "__main__":
    main()
