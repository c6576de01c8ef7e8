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

from transformers_baseline import Lcg  # the same generator as benches/user_sizes.rs (this folder is on sys.path)


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
    try:  # TRL 1.x patches both models so that only completion positions go through the LM head
        from trl.trainer.utils import add_fused_lm_head

        add_fused_lm_head(policy)
        add_fused_lm_head(reference)
        fused = True
    except ImportError:
        fused = False
    g = torch.Generator().manual_seed(11)

    def batch(p, c, r):
        prompt = torch.randint(0, cfg.vocab_size, (p,), generator=g)
        seqs = [torch.cat([prompt, torch.randint(0, cfg.vocab_size, (n,), generator=g)]) for n in (c, r)]
        width = max(len(s) for s in seqs)
        ids = torch.zeros(2, width, dtype=torch.long)
        attn = torch.zeros(2, width, dtype=torch.long)
        completion = torch.zeros(2, width, dtype=torch.long)
        for i, (s, n) in enumerate(zip(seqs, (c, r))):
            ids[i, : len(s)] = s
            attn[i, : len(s)] = 1
            completion[i, p : p + n] = 1
        return ids, attn, completion, c + r

    def step(ids, attn, completion):
        labels = ids.masked_fill(completion == 0, -100)
        with torch.no_grad():
            out = []
            for model in (policy, reference):
                if fused:
                    lp = model(input_ids=ids, attention_mask=attn, labels=labels, use_cache=False,
                               fused_lm_head=True).log_probs
                else:
                    logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1]
                    lp = torch.gather(logits.float().log_softmax(-1), 2, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
                    lp = lp * completion[:, 1:]
                out.append(lp.sum(-1))
        return out

    batches = [batch(*w) for w in workload()]
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
