"""Development-time helper of benches/memory.sh (never run by CI or the tests): writes, from the real
SmolLM2-135M-Instruct GGUF that .ci/fetch-smollm2 fetches, the checkpoint pairs whose peak memory the README's
Memory table reports, and the data they score.

    python benches/memory_fixtures.py SmolLM2-135M-Instruct.Q4_1.gguf OUT_DIR

OUT_DIR/f32/{policy,reference}: the weights as transformers loads them from the GGUF (dequantised), saved as f32
safetensors; the policy is perturbed (1e-3 relative noise on every weight) so that the two hold different values,
as a DPO policy and its reference do. OUT_DIR/bf16/{policy,reference}: the same in bf16. OUT_DIR/lora/adapter: a
PEFT LoRA adapter (rank 16 on every projection, non-zero B) whose base is OUT_DIR/bf16/reference. OUT_DIR/pairs.jsonl:
8 TL;DR-shaped pairs (a ~300-token prompt, 30-60-token chosen and rejected); OUT_DIR/long8k.jsonl: one ~8,000-token
response.
"""

import json
import os
import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer


def sentences(n, seed):
    words = ("the model reads each token and the reward follows the policy while the reference stays fixed "
             "so the ratio of their probabilities tells which words carry the preference signal").split()
    out = []
    for i in range(n):
        out.append(words[(i * 7 + seed * 13) % len(words)])
    return " ".join(out)


def main():
    gguf, out = sys.argv[1], sys.argv[2]
    folder, name = os.path.split(os.path.abspath(gguf))
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    torch.manual_seed(0)
    for dtype, label in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        # transformers refuses to save a model loaded from GGUF; the same values in a plain model save.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        model.generation_config.do_sample = False
        ref_dir = os.path.join(out, label, "reference")
        model.to(dtype).save_pretrained(ref_dir)
        tok.save_pretrained(ref_dir)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + 1e-3 * torch.randn_like(p))
        pol_dir = os.path.join(out, label, "policy")
        model.to(dtype).save_pretrained(pol_dir)
        tok.save_pretrained(pol_dir)
    base = AutoModelForCausalLM.from_pretrained(os.path.join(out, "bf16", "reference"), dtype=torch.bfloat16)
    cfg = LoraConfig(r=16, lora_alpha=32, init_lora_weights=False,
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft_model = get_peft_model(base, cfg)
    adapter = os.path.join(out, "lora", "adapter")
    peft_model.save_pretrained(adapter)
    # The base as a path relative to the adapter, as creditlens resolves it.
    with open(os.path.join(adapter, "adapter_config.json")) as f:
        conf = json.load(f)
    conf["base_model_name_or_path"] = "../../bf16/reference"
    with open(os.path.join(adapter, "adapter_config.json"), "w") as f:
        json.dump(conf, f, indent=2)
    with open(os.path.join(out, "pairs.jsonl"), "w") as f:
        for i in range(8):
            f.write(json.dumps({
                "prompt": "SUBREDDIT: r/research\nPOST: " + sentences(260, i) + "\nTL;DR:",
                "chosen": " " + sentences(30 + 4 * i, i + 100),
                "rejected": " " + sentences(60 - 3 * i, i + 200),
            }) + "\n")
    with open(os.path.join(out, "long8k.jsonl"), "w") as f:
        f.write(json.dumps({"prompt": "Write at length.", "completion": " " + sentences(7600, 7)}) + "\n")


if __name__ == "__main__":
    main()
