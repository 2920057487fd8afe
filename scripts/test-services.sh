#!/usr/bin/env bash
# What the test suite needs from the machine, then the test command:
#
#     scripts/test-services.sh COMMAND [ARGS...]       (`make test` runs it around pytest)
#
# - Debian's Chromium (/usr/bin/chromium) for the browser tests of the reports and the portal:
#   REQUIRED. Installed with apt-get when missing; if it cannot be installed, this script fails.
# - PostgreSQL on loopback for the optional PostgreSQL runs of the access tests: installed and
#   started when possible, with a test role and database; AVANON_TEST_POSTGRES_URL is then exported
#   to COMMAND. When apt-get, the server or root rights are unavailable, the access tests run
#   against SQLite only and this script says so (it does not fail).
#
# apt-get runs only for a package that is missing. Set AVANON_TEST_NO_POSTGRES=1 to skip PostgreSQL,
# AVANON_CHROMIUM to use another Chromium binary.
set -uo pipefail

log() { printf '[test-services] %s\n' "$*" >&2; }

have_pkg() { dpkg -s "$1" >/dev/null 2>&1; }

apt_install() {
    # Install the given Debian packages; returns non-zero when apt-get is unavailable or fails.
    command -v apt-get >/dev/null 2>&1 || { log "apt-get is not available"; return 1; }
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            log "not root and no password-less sudo: cannot install $*"; return 1; fi
    fi
    log "installing $* with apt-get"
    $sudo apt-get update -qq >/dev/null 2>&1 || { log "apt-get update failed"; return 1; }
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
        || { log "apt-get install $* failed"; return 1; }
}

ensure_chromium() {
    local chromium="${AVANON_CHROMIUM:-/usr/bin/chromium}"
    if [ ! -x "$chromium" ]; then
        [ "$chromium" = /usr/bin/chromium ] && ! have_pkg chromium && apt_install chromium
    fi
    if [ ! -x "$chromium" ]; then
        log "ERROR: $chromium is missing and could not be installed; the browser tests need Debian's chromium"
        return 1
    fi
    log "$("$chromium" --version 2>/dev/null || echo "$chromium")"
}

PG_ROLE=avanon_test PG_PASSWORD=avanon_test PG_DB=avanon_test

start_postgres() {
    # Start a PostgreSQL cluster on 127.0.0.1 with the test role and database; print its port.
    have_pkg postgresql || apt_install postgresql || return 1
    command -v pg_lsclusters >/dev/null 2>&1 || { log "pg_lsclusters not found (postgresql-common)"; return 1; }
    [ "$(id -u)" -eq 0 ] || { log "PostgreSQL is started as root (runuser postgres); not root"; return 1; }
    local line version name port
    line="$(pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1, $2, $3}')"
    if [ -z "$line" ]; then
        version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
        [ -n "$version" ] || { log "no PostgreSQL server installed"; return 1; }
        pg_createcluster "$version" main --port "${AVANON_PG_PORT:-5432}" >/dev/null 2>&1 || { log "pg_createcluster failed"; return 1; }
        line="$(pg_lsclusters --no-header | awk -v v="$version" '$1==v && $2=="main" {print $1, $2, $3}')"
    fi
    read -r version name port <<<"$line"
    if ! pg_lsclusters --no-header | awk -v v="$version" -v n="$name" '$1==v && $2==n' | grep -q online; then
        pg_ctlcluster "$version" "$name" start -o "-c listen_addresses=127.0.0.1" >/dev/null 2>&1 \
            || { log "could not start PostgreSQL $version/$name"; return 1; }
    fi
    local i
    for i in $(seq 1 30); do
        runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$port" && break
        sleep 1
    done
    runuser -u postgres -- psql -q -p "$port" -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL || { log "could not create the test role"; return 1; }
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
    if ! runuser -u postgres -- psql -tA -p "$port" -c "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" 2>/dev/null | grep -q 1; then
        runuser -u postgres -- createdb -p "$port" -O "$PG_ROLE" "$PG_DB" >/dev/null 2>&1 || { log "could not create database $PG_DB"; return 1; }
    fi
    log "PostgreSQL $version/$name ready on 127.0.0.1:$port"
    printf '%s\n' "$port"
}

[ "$#" -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
ensure_chromium || exit 1
if [ -z "${AVANON_TEST_POSTGRES_URL:-}" ] && [ "${AVANON_TEST_NO_POSTGRES:-0}" != 1 ]; then
    if port="$(start_postgres)"; then
        export AVANON_TEST_POSTGRES_URL="postgresql+psycopg://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$port/$PG_DB"
    else
        log "PostgreSQL not available: the access tests run against SQLite only"
    fi
fi
exec "$@"
