"""Shared paths and the command-line binary the package's numbers are compared with."""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
POLICY = FIXTURES / "models/llama"
REFERENCE = FIXTURES / "models/llama_ref"
RECORDS = FIXTURES / "records.jsonl"


def required(what: str) -> None:
    """Skips the test outside CI; in CI (CI=true) a missing requirement fails it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `creditlens` binary (CREDITLENS_BIN, else target/release/creditlens, else on PATH)."""
    for candidate in (os.environ.get("CREDITLENS_BIN"), ROOT / "target/release/creditlens", shutil.which("creditlens")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    required("the creditlens binary (cargo build --release)")
