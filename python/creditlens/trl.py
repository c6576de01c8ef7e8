"""A transformers `TrainerCallback` that scores probe records with creditlens at every checkpoint a run saves.

    from creditlens.trl import CreditLensCallback
    trainer = DPOTrainer(..., callbacks=[CreditLensCallback("probe.jsonl")])

On each save, once `checkpoint-N/` is complete, a background thread loads it with creditlens (the GIL is released
while it computes, so training goes on) and writes, into the run folder:

    creditlens/checkpoint-N.jsonl   the probe records scored, exactly as `creditlens score` writes them
    creditlens/checkpoint-N.png     the heatmap of the first probe record

The reference is `reference`, else for a LoRA run the adapter's base, else the model the run started from (what
TRL's DPOTrainer uses when no `ref_model` is given). `beta` defaults to the run's `DPOConfig.beta`. Training waits
for the last scoring at its end (`on_train_end`), so the files are complete when `trainer.train()` returns.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from typing import Any, Optional

from transformers import TrainerCallback

from . import CreditLensError, Scorer, _records

__all__ = ["CreditLensCallback"]


class CreditLensCallback(TrainerCallback):
    """Scores `probe` (records, a DataFrame, a dataset or a data file's path) with each checkpoint saved."""

    def __init__(
        self,
        probe: Any,
        reference: Optional[str] = None,
        beta: Optional[float] = None,
        tokenization: str = "trl",
        dtype: str = "f32",
        render: bool = True,
    ):
        self.probe = _records(probe)
        if not self.probe:
            raise CreditLensError("CreditLensCallback: the probe holds no records")
        self.reference = None if reference is None else os.fspath(reference)
        self.beta = beta
        self.tokenization = tokenization
        self.dtype = dtype
        self.render = render
        self.written: list = []
        self.errors: list = []
        self._started_from: Optional[str] = None
        self._jobs: list = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        config = getattr(model, "config", None)
        self._started_from = getattr(config, "_name_or_path", None) or getattr(config, "name_or_path", None)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        step = state.global_step
        checkpoint = os.path.join(args.output_dir, f"checkpoint-{step}")
        if not os.path.isdir(checkpoint):
            return
        beta = self.beta if self.beta is not None else getattr(args, "beta", 0.1)
        job = threading.Thread(
            target=self._score,
            args=(checkpoint, beta, os.path.join(args.output_dir, "creditlens"), step),
            name=f"creditlens-checkpoint-{step}",
        )
        job.start()
        self._jobs.append(job)

    def on_train_end(self, args, state, control, **kwargs):
        self.wait()

    def wait(self) -> None:
        """Waits for the scoring of every checkpoint saved so far."""
        for job in self._jobs:
            job.join()
        self._jobs = []

    def _reference_for(self, checkpoint: str) -> Optional[str]:
        if self.reference is not None:
            return self.reference
        if os.path.isfile(os.path.join(checkpoint, "adapter_config.json")):
            return None  # creditlens takes the adapter's base
        return self._started_from

    def _score(self, checkpoint: str, beta: float, out_dir: str, step: int) -> None:
        try:
            scorer = Scorer(checkpoint, self._reference_for(checkpoint), beta=beta,
                            tokenization=self.tokenization, dtype=self.dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lines = scorer.score_lines(self.probe, skip_bad=True)
            os.makedirs(out_dir, exist_ok=True)
            out = os.path.join(out_dir, f"checkpoint-{step}.jsonl")
            partial = out + ".partial"
            with open(partial, "w", encoding="utf-8") as f:
                for line in lines:
                    f.write(line + "\n")
            os.replace(partial, out)
            self.written.append(out)
            if self.render and lines:
                png = os.path.join(out_dir, f"checkpoint-{step}.png")
                scorer.render(json.loads(lines[0]), png, force=True)
                self.written.append(png)
        except Exception as e:  # a failed scoring must not stop the training
            self.errors.append(f"checkpoint-{step}: {e}")
            warnings.warn(f"creditlens could not score checkpoint-{step}: {e}", stacklevel=1)
