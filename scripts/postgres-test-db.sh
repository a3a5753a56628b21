#!/usr/bin/env bash
# PostgreSQL for the cloud's tests (marker `postgres`): database `test` at 127.0.0.1:PORT
# (default 5432) that accepts local TCP connections without a password (trust), as
# tests/cloud/support.py connects. A server that already serves it is used as it is;
# otherwise Debian's server is installed, its cluster on PORT started, `test` created.
# Called by setup.sh; idempotent. Exit 1 with the reason when it cannot provide it.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-5432}"
PY="${PYTHON:-.venv/bin/python}"

say() { printf '[setup] %s\n' "$*" >&2; }
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# The same connection the tests make: user postgres (or the login user), database test.
usable() {
  "$PY" - "$PORT" <<'EOF' 2>/dev/null
import getpass, sys
import psycopg
for user in ("postgres", getpass.getuser()):
    try:
        psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} dbname=test user={user}",
                        connect_timeout=3).close()
        sys.exit(0)
    except psycopg.OperationalError:
        pass
sys.exit(1)
EOF
}

usable && exit 0

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || ! command -v pg_lsclusters >/dev/null 2>&1; then
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    say "something listens on 127.0.0.1:$PORT but is no usable PostgreSQL database 'test' (trust); and no Debian cluster to configure"
    exit 1
  fi
  say "installing PostgreSQL (Debian's server) for the tests"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

# Debian's cluster on PORT; the package makes `main` on 5432, a slimmed image may lack it.
read -r ver name status < <(pg_lsclusters -h | awk -v p="$PORT" '$3 == p {print $1, $2, $4; exit}') || true
if [ -z "${ver:-}" ]; then
  ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
  name=main
  pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$ver main" && name="jc-test-$PORT"
  say "creating PostgreSQL cluster $ver/$name on port $PORT"
  $sudo pg_createcluster "$ver" "$name" -p "$PORT" >/dev/null
  status=down
fi

hba="/etc/postgresql/$ver/$name/pg_hba.conf"
if ! $sudo grep -q "juchong tests" "$hba"; then
  say "$hba: trust for database test from 127.0.0.1 and ::1 (juchong tests)"
  # First match wins in pg_hba.conf: these go on top, for database `test` only.
  $sudo sed -i '1i host test all 127.0.0.1/32 trust  # juchong tests\nhost test all ::1/128 trust  # juchong tests' "$hba"
fi
if [ "$status" = online ]; then
  $sudo pg_ctlcluster "$ver" "$name" reload
else
  say "starting PostgreSQL cluster $ver/$name"
  $sudo pg_ctlcluster "$ver" "$name" start
fi

for _ in $(seq 1 30); do
  as_postgres psql -p "$PORT" -qtAc "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.5
done
if [ -z "$(as_postgres psql -p "$PORT" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" ]; then
  say "creating database test"
  as_postgres createdb -p "$PORT" test
fi

usable || { say "PostgreSQL at 127.0.0.1:$PORT still refuses database test as user postgres; see $hba"; exit 1; }
say "PostgreSQL ready: database test at 127.0.0.1:$PORT"
