"""The Python package against the command line (byte for byte) and the transformers/TRL golden values."""

import json
import subprocess
import threading
import time

import pytest

import creditlens

# The fixtures' records include prompts whose last token merges with the response (warned about, as the command
# line warns on stderr).
pytestmark = pytest.mark.filterwarnings("ignore:the tokenised prompt:UserWarning", "ignore:token:UserWarning")
from conftest import POLICY, RECORDS, REFERENCE, ROOT

GOLDEN = json.loads((ROOT / "fixtures/golden/llama.json").read_text())


@pytest.fixture(scope="module")
def scorer():
    return creditlens.Scorer(POLICY, REFERENCE, beta=0.1)


def test_scores_are_the_command_lines_byte_for_byte(scorer, cli, tmp_path):
    out = tmp_path / "cli.jsonl"
    subprocess.run([cli, "score", "--policy", POLICY, "--reference", REFERENCE, "--data", RECORDS, "--out", out],
                   check=True, capture_output=True)
    assert scorer.score_lines(RECORDS) == out.read_text(encoding="utf-8").splitlines()
    # Records given as dicts (and a DataFrame's rows) score the same.
    records = creditlens.read_records(RECORDS)
    assert scorer.score(records) == [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("mode", ["trl", "joint"])
def test_log_probs_equal_transformers(mode):
    scorer = creditlens.Scorer(POLICY, REFERENCE, beta=GOLDEN["beta"], tokenization=mode)
    scores = scorer.score(RECORDS)
    golden = GOLDEN["modes"][mode]
    assert len(scores) == len(golden)
    for got, want in zip(scores, golden):
        assert got["index"] == want["index"]
        for side, expected in want["responses"].items():
            tokens = got["response" if side == "completion" else side]["tokens"]
            assert [t["id"] for t in tokens] == expected["scored_ids"]
            for key in ("logp_policy", "logp_reference"):
                assert [t[key] for t in tokens] == pytest.approx(expected[key], abs=1e-4)


def test_the_token_table_goes_to_pandas(scorer):
    pandas = pytest.importorskip("pandas")
    scores = scorer.score(RECORDS)
    table = scores.to_pandas()
    assert isinstance(table, pandas.DataFrame)
    sides = [s for r in scores for s in ("chosen", "rejected", "response") if s in r]
    assert len(table) == sum(len(r[s]["tokens"]) for r in scores for s in ("chosen", "rejected", "response") if s in r)
    assert set(table["side"]) <= {"chosen", "rejected", "response"} and len(sides) > 0
    first = scores[0]["chosen"]["tokens"][0]
    row = table[(table["index"] == 0) & (table["side"] == "chosen")].iloc[0]
    assert row["reward"] == first["reward"] and row["text"] == first["text"] and row["position"] == 0
    # The rewards sum to each response's reward, as in the records.
    summed = table.groupby(["index", "side"])["reward"].sum()
    assert summed[(0, "chosen")] == pytest.approx(scores[0]["chosen"]["reward"], abs=1e-9)


def test_render_draws_the_heatmap_and_keeps_existing_files(scorer, tmp_path):
    record = creditlens.read_records(RECORDS)[0]
    png = tmp_path / "pair.png"
    assert scorer.render(record, png) == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(creditlens.CreditLensError, match="already exists"):
        scorer.render(record, png)
    scored = scorer.score([record])[0]
    scorer.render(scored, tmp_path / "scored.svg", metric="log-ratio", unit="word")
    assert (tmp_path / "scored.svg").read_text().startswith("<svg") or "<svg" in (tmp_path / "scored.svg").read_text()
    with pytest.raises(creditlens.CreditLensError, match="PNG or SVG"):
        scorer.render(record, tmp_path / "pair.jpg")
    with pytest.raises(creditlens.CreditLensError, match="unknown metric"):
        scorer.render(record, tmp_path / "x.png", metric="nope")


def test_eval_equals_the_command_lines(scorer, cli, tmp_path):
    records = [r for r in creditlens.read_records(RECORDS) if "chosen" in r][:4]
    for r in records:
        # The last word of rejected is the labelled error.
        start = r["rejected"].rstrip().rfind(" ") + 1
        r["error_spans"] = [[start, len(r["rejected"].rstrip())]]
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    done = subprocess.run([cli, "eval", "--json", "--policy", POLICY, "--reference", REFERENCE, "--data", data],
                          check=True, capture_output=True, text=True)
    assert scorer.eval(records) == json.loads(done.stdout)
    assert scorer.eval(data)["pairs"] == len(records)


def test_errors_are_exceptions_with_the_command_lines_messages(scorer, cli, tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(creditlens.CreditLensError) as raised:
        creditlens.Scorer(missing, REFERENCE)
    done = subprocess.run([cli, "score", "--policy", missing, "--reference", REFERENCE, "--prompt", "a",
                           "--response", "b"], capture_output=True, text=True)
    assert done.returncode != 0
    # The command line prints `Error: --policy: <message>`; the exception carries the same message.
    message = str(raised.value).split(": ", 1)[1]
    assert message in done.stderr, (message, done.stderr)
    with pytest.raises(creditlens.CreditLensError, match=r"record 1: .*prompt"):
        scorer.score([{"prompt": "a", "completion": "b"}, {"chosen": "x", "rejected": "y"}])
    with pytest.warns(UserWarning, match="skipped: record 1"):
        kept = scorer.score([{"prompt": "a", "completion": "b"}, {"chosen": "x", "rejected": "y"}], skip_bad=True)
    assert [r["index"] for r in kept] == [0]
    with pytest.raises(creditlens.CreditLensError, match="tokenization"):
        creditlens.Scorer(POLICY, REFERENCE, tokenization="nope")


def test_scoring_releases_the_gil(scorer):
    records = creditlens.read_records(RECORDS) * 40
    payload = [json.dumps(r) for r in records]
    took = []

    def work():
        start = time.perf_counter()
        scorer._native.score_json(payload, False, "token")
        took.append(time.perf_counter() - start)

    thread = threading.Thread(target=work)
    gaps, last = [], time.perf_counter()
    thread.start()
    while thread.is_alive():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    thread.join()
    # Held through the call, the GIL would stop this loop for the whole native call; released, it never waits
    # longer than Python's switch interval, a small part of the call.
    assert took[0] > 0.05, took
    assert max(gaps) < took[0] / 2, (max(gaps), took[0])
