#!/usr/bin/env bash
# Set up everything the test suite needs (Debian packages, .venv) and run it: lint, types, tests.
# Usage: scripts/test.sh [pytest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"
ruff check milter tests bench
ruff format --check milter tests bench
echo "== mypy (strict)"
mypy
echo "== pytest"
exec python -m pytest "$@"
