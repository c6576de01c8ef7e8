"""The anchor for `cargo bench --bench score`: what a TRL user runs to get per-example DPO rewards.

TRL 1.x's DPOTrainer puts [prompt+chosen, prompt+rejected] in one right-padded batch and runs it through the policy
and the reference with `model(**inputs, labels=labels, fused_lm_head=True).log_probs` (see
`DPOTrainer._compute_loss`). This script does the same with HF transformers in PyTorch, float32, 2 threads, on the
real SmolLM2-135M-Instruct when SMOLLM2_GGUF names its GGUF file (else a SmolLM2-135M-shaped Llama with random
weights), for the same two workloads and sequence lengths as benches/score.rs (same seeded generator), and prints
JSON:

    {"long": {"tokens_per_s": ..., "peak_rss_mb": ...}, "tldr": {...}, "versions": {...}}

Development-time only (never needed by CI):
    python -m venv /tmp/venv && /tmp/venv/bin/pip install torch transformers trl
    /tmp/venv/bin/python benches/transformers_baseline.py > /tmp/baseline.json
"""

import json
import os
import resource
import subprocess
import sys
import time

MASK = (1 << 64) - 1


class Lcg:
    """The same generator as benches/score.rs."""

    def __init__(self, seed):
        self.state = seed

    def next(self, bound):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & MASK
        return (self.state >> 33) % bound


def workload(name):
    rng = Lcg(7)
    count = 3 if name == "long" else 6
    out = []
    for _ in range(count):
        if name == "long":
            out.append((16, 300 + rng.next(101), 300 + rng.next(101)))
        else:
            out.append((300, 30 + rng.next(31), 30 + rng.next(31)))
    return out


def trl_batch(vocab, g, p, c, r):
    """A TRL 1.x batch: [prompt+chosen, prompt+rejected] right-padded, with its attention and completion masks, for
    random ids (a p-token prompt, c- and r-token completions) drawn from generator `g`; and the completion tokens."""
    import torch

    prompt = torch.randint(0, vocab, (p,), generator=g)
    seqs = [torch.cat([prompt, torch.randint(0, vocab, (n,), generator=g)]) for n in (c, r)]
    width = max(len(s) for s in seqs)
    ids = torch.zeros(2, width, dtype=torch.long)
    attn = torch.zeros(2, width, dtype=torch.long)
    completion = torch.zeros(2, width, dtype=torch.long)
    for i, (s, n) in enumerate(zip(seqs, (c, r))):
        ids[i, : len(s)] = s
        attn[i, : len(s)] = 1
        completion[i, p : p + n] = 1
    return ids, attn, completion, c + r


def fused_heads(*models):
    """Patches `models` as TRL 1.x's DPOTrainer does, so that only completion positions go through the LM head;
    whether TRL provides the patch (TRL 0.x computes full logits)."""
    try:
        from trl.trainer.utils import add_fused_lm_head
    except ImportError:
        return False
    for m in models:
        add_fused_lm_head(m)
    return True


def trl_logps(models, ids, attn, completion):
    """Each model's summed completion log-probs of the batch, as DPOTrainer._compute_loss computes them (TRL 1.x's
    fused LM head when the models were patched with it, else TRL 0.x's full logits)."""
    import torch

    labels = ids.masked_fill(completion == 0, -100)
    with torch.no_grad():
        out = []
        for model in models:
            try:
                lp = model(input_ids=ids, attention_mask=attn, labels=labels, use_cache=False,
                           fused_lm_head=True).log_probs
            except TypeError:  # without TRL's fused head: TRL 0.x's path, full logits
                logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1]
                lp = torch.gather(logits.float().log_softmax(-1), 2, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
                lp = lp * completion[:, 1:]
            out.append(lp.sum(-1))
    return out


def run(name):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        hidden_size=576, intermediate_size=1536, vocab_size=49152, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, rms_norm_eps=1e-5, rope_theta=100000.0, max_position_embeddings=8192,
        tie_word_embeddings=True,
    )
    weights = os.environ.get("SMOLLM2_GGUF")
    if weights:
        # The real SmolLM2-135M-Instruct: the GGUF that .ci/fetch-smollm2 fetches, dequantised to float32 by
        # transformers, is the same weights creditlens loads from it.
        from transformers import AutoModelForCausalLM

        load = lambda: AutoModelForCausalLM.from_pretrained(  # noqa: E731
            os.path.dirname(weights), gguf_file=os.path.basename(weights), torch_dtype=torch.float32
        ).eval()
        policy, reference = load(), load()
    else:
        policy = LlamaForCausalLM(cfg).float().eval()
        reference = LlamaForCausalLM(cfg).float().eval()
    fused_heads(policy, reference)
    g = torch.Generator().manual_seed(11)
    batches = [trl_batch(cfg.vocab_size, g, *w) for w in workload(name)]
    step = lambda ids, attn, completion: trl_logps((policy, reference), ids, attn, completion)  # noqa: E731
    step(*batches[0][:3])  # warm-up
    start = time.perf_counter()
    tokens = 0
    for ids, attn, completion, n in batches:
        step(ids, attn, completion)
        tokens += n
    secs = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"tokens_per_s": tokens / secs, "peak_rss_mb": rss}


def main():
    if len(sys.argv) > 1:
        print(json.dumps(run(sys.argv[1])))
        return
    import torch
    import transformers

    result = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
    for name in ("long", "tldr"):
        out = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, check=True)
        result[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
