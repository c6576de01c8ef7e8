"""creditlens from Python: per-token implicit rewards of a DPO-trained policy against its reference.

    import creditlens
    scorer = creditlens.Scorer("runs/dpo/checkpoint-500", "models/sft", beta=0.1)
    scores = scorer.score([{"prompt": "...", "chosen": "...", "rejected": "..."}])
    scores[0]["margin"], scores.to_pandas()          # one row per response token
    scorer.render(scores[0], "pair.png")              # the heatmap, as `creditlens render` draws it
    scorer.eval(labelled_pairs)                       # `creditlens eval --json`

The numbers are those of the command line (the same Rust library computes them): `score` returns exactly the
records `creditlens score --out x.jsonl` writes. Errors raise `creditlens.CreditLensError` with the command line's
messages. Scoring releases the GIL. `creditlens.trl.CreditLensCallback` scores probe records at every checkpoint
of a TRL run.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Iterable, Mapping, Optional, Union

from ._native import CreditLensError, NativeScorer, __version__

__all__ = ["Scorer", "Scores", "CreditLensError", "read_records", "__version__"]

PathLike = Union[str, "os.PathLike[str]"]


def read_records(path: PathLike) -> list:
    """The records of a data file: JSON lines, or one JSON array (as `creditlens score --data` reads them)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        return json.loads(stripped)
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise CreditLensError(f"{path}:{n}: not JSON: {e}") from None
    return records


def _records(records: Any) -> list:
    """Records as a list of dicts: a list or other iterable of dicts (a `datasets.Dataset`), one dict, a pandas
    DataFrame, or the path of a data file."""
    if isinstance(records, (str, os.PathLike)):
        return read_records(records)
    if isinstance(records, Mapping):
        return [dict(records)]
    to_dict = getattr(records, "to_dict", None)
    if callable(to_dict) and hasattr(records, "columns"):
        return to_dict("records")
    return [dict(r) for r in records]


def _json(record: Mapping) -> str:
    try:
        return json.dumps(record, ensure_ascii=False)
    except TypeError as e:
        raise CreditLensError(f"a record is not JSON-serialisable: {e}") from None


class Scores(list):
    """Scored records, each a dict exactly as `creditlens score` writes it (a JSON line): `index`, `prompt`,
    `chosen` and `rejected` (or `response`) with their `tokens`, `margin`, ..."""

    def tokens(self) -> list:
        """The token table: one dict per response token, with the record's `index` and the `side` it is on
        (`chosen`, `rejected` or `response`) before the token's own fields."""
        rows = []
        for record in self:
            for side in ("chosen", "rejected", "response"):
                response = record.get(side)
                if not isinstance(response, Mapping):
                    continue
                for position, token in enumerate(response.get("tokens", [])):
                    rows.append({"index": record.get("index"), "side": side, "position": position, **token})
        return rows

    def to_pandas(self):
        """The token table ([`Scores.tokens`]) as a pandas DataFrame (pandas must be installed)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_pandas needs pandas: pip install pandas") from None
        return pandas.DataFrame(self.tokens())


class Scorer:
    """A policy and its reference, loaded once. Models are given as the command line takes them: checkpoint
    folders, training folders (their latest complete checkpoint, or `checkpoint=N`), LoRA adapters (`reference`
    defaults to the base), GGUF files, or Hub ids in the local cache. `dtype` is `f32` (exact, the default), `bf16`
    or `f16`; `tokenization` `trl` (TRL's DPO tokenisation, the default) or `joint`."""

    def __init__(
        self,
        policy: PathLike,
        reference: Optional[PathLike] = None,
        beta: float = 0.1,
        tokenization: str = "trl",
        dtype: str = "f32",
        top_k: Optional[int] = None,
        max_length: Optional[int] = None,
        revision: Optional[str] = None,
        reference_revision: Optional[str] = None,
        checkpoint: Optional[int] = None,
        chat_template: Optional[PathLike] = None,
    ):
        self.beta = beta
        self._native = NativeScorer(
            os.fspath(policy),
            None if reference is None else os.fspath(reference),
            beta=beta,
            tokenization=tokenization,
            dtype=dtype,
            top_k=top_k,
            max_length=max_length,
            revision=revision,
            reference_revision=reference_revision,
            checkpoint=checkpoint,
            chat_template=None if chat_template is None else os.fspath(chat_template),
        )

    @property
    def policy(self) -> str:
        """The policy loaded (a training folder given resolves to its checkpoint)."""
        return self._native.policy

    @property
    def reference(self) -> str:
        """The reference loaded."""
        return self._native.reference

    def score(self, records: Any, skip_bad: bool = False, unit: str = "token") -> Scores:
        """Scores `records` (dicts with `prompt` and `chosen`/`rejected` or `completion`, a DataFrame, a dataset,
        or a data file's path). Each record's `index` is its position. With `skip_bad`, records that cannot be
        scored are left out with a warning; `unit="word"` sums tokens into words as `--unit word` does."""
        return Scores(json.loads(line) for line in self.score_lines(records, skip_bad, unit))

    def score_lines(self, records: Any, skip_bad: bool = False, unit: str = "token") -> list:
        """As [`Scorer.score`], each record as the JSON text `creditlens score --out x.jsonl` writes for it (byte
        for byte)."""
        out = []
        for scored, notes in self._native.score_json([_json(r) for r in _records(records)], skip_bad, unit):
            for note in notes:
                warnings.warn(note if scored is not None else f"skipped: {note}", stacklevel=3)
            if scored is not None:
                out.append(scored)
        return out

    def eval(self, records: Any, within: int = 2, unit: Optional[str] = None) -> dict:
        """`creditlens eval --json` on labelled pairs (`error_spans`: character offsets into `rejected`): how well
        the lowest-reward tokens find the errors, reward accuracy and margin."""
        return json.loads(self._native.eval_json([_json(r) for r in _records(records)], within, unit))

    def render(self, record: Mapping, path: PathLike, *, metric: str = "reward", scale: Union[str, float] = "robust",
               theme: str = "light", width: int = 900, pixel_ratio: float = 2.0, unit: str = "token",
               force: bool = False) -> str:
        """Draws one record's heatmap to `path` (PNG, or SVG for .svg) as `creditlens render` does: a data-file
        record (scored first) or a record [`Scorer.score`] returned. An existing file is kept unless `force`.
        Returns the path."""
        self._native.render(_json(record), os.fspath(path), metric=metric, scale=str(scale), theme=theme,
                            width=width, pixel_ratio=pixel_ratio, unit=unit, force=force)
        return os.fspath(path)
