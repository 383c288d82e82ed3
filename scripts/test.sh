#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. Extra arguments go to pytest.
# Tests run in WHISPERBENCH_TEST_PROCESSES pytest-xdist processes (default 2; 0 runs them in
# this process), each test module in one of them (tests/conftest.py says why).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -n "${WHISPERBENCH_TEST_PROCESSES:-2}" --dist loadscope --no-loadscope-reorder "$@"
