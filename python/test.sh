#!/usr/bin/env bash
# The Python package's tests. Builds and installs the package (`pip install ./python`: maturin compiles the pyo3
# module with cargo, into this repository's target/) in a virtual environment under target/, with pytest and
# pandas, then runs python/tests, which compare its numbers with the command line's (target/release/creditlens,
# built when missing) and with the golden values of fixtures/golden/. Needs python3 with venv
# (`apt-get install python3 python3-venv`; .ci/run installs it) and PyPI.
#
# The TRL callback's test runs a real DPOTrainer and needs torch, transformers, trl and datasets (several GB);
# it is skipped when they are missing: `VENV=/path/to/a-venv-with-trl bash python/test.sh` installs into that
# environment instead and runs it, and CREDITLENS_REQUIRE_TRL=1 makes it required.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-target/python-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check pytest pandas
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./python
[ -x target/release/creditlens ] || cargo build --release --bin creditlens
# From the repository root, so that `import creditlens` is the installed package, not python/creditlens/.
"$VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests
