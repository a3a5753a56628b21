#!/usr/bin/env bash
# Set up (see setup.sh) and run the demo: simulated station, gateway, broker, cloud with its jobs,
# fake WeChat and the drivers' H5 app on this machine. Extra arguments go to jc-demo (e.g.
# --speed 120). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/jc-demo "$@"
