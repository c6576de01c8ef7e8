"""CreditLensCallback inside a real TRL DPOTrainer run of a few steps on the tiny Llama fixture.

Needs torch, transformers, trl and datasets (several GB with torch): skipped where they are not installed, unless
CREDITLENS_REQUIRE_TRL=1 makes them required. CI does not install them (see the README); the run here is reported
in the issue notes."""

import json
import os
import shutil

import pytest

import creditlens
from conftest import POLICY, RECORDS

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")


def need(module):
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CREDITLENS_REQUIRE_TRL") == "1":
            pytest.fail(f"{module} is required (CREDITLENS_REQUIRE_TRL=1)")
        pytest.skip(f"{module} is not installed (pip install torch transformers trl datasets)")


def test_the_callback_scores_each_checkpoint_of_a_dpo_run(tmp_path):
    for m in ("torch", "transformers", "trl", "datasets"):
        need(m)
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from creditlens.trl import CreditLensCallback

    torch.manual_seed(0)
    model_dir = tmp_path / "sft"
    shutil.copytree(POLICY, model_dir)
    records = creditlens.read_records(RECORDS)
    pairs = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in records if "chosen" in r]
    probe = pairs[:3]
    run = tmp_path / "run"
    args = DPOConfig(output_dir=str(run), beta=0.1, max_steps=2, save_steps=1, save_strategy="steps",
                     per_device_train_batch_size=2, learning_rate=1e-2, report_to=[], use_cpu=True,
                     disable_tqdm=True, logging_steps=1, seed=0, data_seed=0, dataloader_num_workers=0)
    callback = CreditLensCallback(probe)
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32),
                         args=args, train_dataset=Dataset.from_list(pairs),
                         processing_class=AutoTokenizer.from_pretrained(str(model_dir)), callbacks=[callback])
    trainer.train()
    assert callback.errors == []
    for step in (1, 2):
        out = run / "creditlens" / f"checkpoint-{step}.jsonl"
        png = run / "creditlens" / f"checkpoint-{step}.png"
        assert out.is_file() and png.read_bytes()[:4] == b"\x89PNG"
        # The rows are what scoring that checkpoint against the model the run started from gives.
        scorer = creditlens.Scorer(run / f"checkpoint-{step}", model_dir, beta=0.1)
        assert out.read_text(encoding="utf-8").splitlines() == scorer.score_lines(probe)
    # Training moved the policy: the last checkpoint's rewards are no longer all zero.
    last = [json.loads(line) for line in (run / "creditlens/checkpoint-2.jsonl").read_text().splitlines()]
    assert len(last) == len(probe) and any(abs(r["margin"]) > 1e-4 for r in last)
