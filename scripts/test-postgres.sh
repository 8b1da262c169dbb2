#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests and prints its connection URL on stdout; installs nothing.
#
#   export SELFHEAL_TEST_POSTGRES_URL=$(scripts/test-postgres.sh)
#   swift test --filter SelfHealingPostgresTests
#   scripts/test-postgres.sh stop        # stops the servers this script started
#
# Needs Debian's postgresql package (apt-get install -y postgresql). The server runs as the postgres user
# (PostgreSQL refuses root) from a temporary directory, on a free loopback port, with its unix socket in that
# directory, trust authentication and max_connections=20 (so a test can fill it with real connections).
set -euo pipefail

registry=/tmp/selfheal-test-postgres.dirs

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" ]]; then
    echo "test-postgres.sh: PostgreSQL is not installed: apt-get install -y postgresql" >&2
    exit 1
fi

as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [[ "${1:-}" == "stop" ]]; then
    [[ -f "$registry" ]] || exit 0
    while read -r dir; do
        [[ -d "$dir/data" ]] && as_postgres "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$dir"
    done <"$registry"
    rm -f "$registry"
    exit 0
fi

dir=$(mktemp -d /tmp/selfheal-pg.XXXXXX)
chmod 0755 "$dir"
if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
as_postgres "$pg_bin/initdb" -D "$dir/data" --auth=trust --username=postgres --encoding=UTF8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_postgres "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=20 -c fsync=off" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
echo "$dir" >>"$registry"
echo "postgresql://postgres@127.0.0.1:$port/postgres"
