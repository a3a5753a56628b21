#!/usr/bin/env bash
# Set up (see setup.sh) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# pytest exits 5 when it collects no tests: that is a failure here, as any non-zero code is.
exec .venv/bin/python -m pytest "$@"
