#!/usr/bin/env bash
# Set up (see setup.sh) and run the whole test suite. Extra arguments go to pytest.
# The suite runs in JC_TEST_WORKERS processes (pytest-xdist; default 3 on the 2-core reference
# machine): the long tests mostly wait on simulated days, brokers, gateways and browsers, so a
# third process fills the time they leave the cores idle. JC_TEST_WORKERS=0 runs everything in
# one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workers="${JC_TEST_WORKERS:-3}"
xdist=()
if [ "$workers" != "0" ]; then
    # worksteal: an idle worker takes tests queued on the busy one, so the long end-to-end
    # modules do not leave one worker alone at the end.
    xdist=(-n "$workers" --dist worksteal)
fi
# pytest exits 5 when it collects no tests: that is a failure here, as any non-zero code is.
exec .venv/bin/python -m pytest "${xdist[@]}" "$@"
