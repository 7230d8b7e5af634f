#!/usr/bin/env bash
# Services the tests use: a PostgreSQL server (Debian's `postgresql` package).
#   bash .ci/services.sh          installs the server binaries if missing (apt). The tests then start a
#                                 throwaway server themselves (initdb + pg_ctl in a temp dir, free port).
#   bash .ci/services.sh start    also starts a server as user postgres on 127.0.0.1 with a database and
#                                 a user with a password, and prints the variable to set, e.g.
#                                 LUTSEARCH_TEST_POSTGRES=postgresql://lutsearch:...@127.0.0.1:5433/lutsearch
#                                 (exports nothing; the tests use that server instead of their own).
#   bash .ci/services.sh stop     stops the server `start` started.
set -euo pipefail
PGROOT="${LUTSEARCH_PG_ROOT:-/tmp/lutsearch-ci-pg}"
PGPORT="${LUTSEARCH_PG_PORT:-5433}"
PGUSER_NAME=lutsearch
PGDB=lutsearch

bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return 0
  return 1
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_server() {
  if bindir >/dev/null; then return 0; fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # Debian's package starts its own cluster on 5432; the tests do not need it running.
  $sudo service postgresql stop >/dev/null 2>&1 || true
}

start_server() {
  local bin password
  bin="$(bindir)"
  password="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  rm -rf "$PGROOT" && mkdir -p "$PGROOT"
  [ "$(id -u)" = 0 ] && chown postgres "$PGROOT"
  printf '%s\n' "$password" > "$PGROOT/pw" && chmod 600 "$PGROOT/pw"
  [ "$(id -u)" = 0 ] && chown postgres "$PGROOT/pw"
  as_postgres "$bin/initdb" -D "$PGROOT/data" -U "$PGUSER_NAME" --pwfile="$PGROOT/pw" -A scram-sha-256 -E UTF8 >/dev/null
  rm -f "$PGROOT/pw"
  as_postgres "$bin/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/log" -w \
    -o "-p $PGPORT -k $PGROOT -c listen_addresses=127.0.0.1" start >/dev/null
  PGPASSWORD="$password" python3 - "$PGPORT" "$PGUSER_NAME" "$PGDB" <<'PY'
import os, sys
import psycopg2
con = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user=sys.argv[2], password=os.environ["PGPASSWORD"], dbname="postgres")
con.autocommit = True
con.cursor().execute(f"CREATE DATABASE {sys.argv[3]}")
PY
  echo "LUTSEARCH_TEST_POSTGRES=postgresql://$PGUSER_NAME:$password@127.0.0.1:$PGPORT/$PGDB"
}

case "${1:-install}" in
  install) install_server ;;
  start) install_server && start_server ;;
  stop) as_postgres "$(bindir)/pg_ctl" -D "$PGROOT/data" -m fast -w stop >/dev/null ;;
  *) echo "usage: bash .ci/services.sh [install|start|stop]" >&2; exit 2 ;;
esac
