# Services for the governance tests (vault, access, portal). Source this file, do not run it:
#
#     source .ci/services.sh
#
# It installs PostgreSQL and Debian's Chromium with apt-get, starts PostgreSQL on loopback,
# creates a test role and database, and exports AVANON_TEST_POSTGRES_URL for the test suite
# (tests/test_access*.py run against SQLite always and against PostgreSQL when it is set).
# It never calls `exit` and does not rely on `set -e`, so sourcing it cannot end the caller's shell.

AVANON_PG_ROLE="avanon_test"
AVANON_PG_PASSWORD="avanon_test"
AVANON_PG_DB="avanon_test"
AVANON_PG_PORT="${AVANON_PG_PORT:-5432}"

avanon_services_log() {
    printf '[services] %s\n' "$*" >&2
}

avanon_services_apt() {
    # Install the Debian packages that are missing (PostgreSQL server, Chromium and its driver).
    local missing=()
    local pkg
    for pkg in postgresql chromium chromium-driver; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        avanon_services_log "postgresql and chromium already installed"
        return 0
    fi
    avanon_services_log "installing ${missing[*]}"
    apt-get update -qq >/dev/null 2>&1 || { avanon_services_log "apt-get update failed"; return 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
        || { avanon_services_log "apt-get install ${missing[*]} failed"; return 1; }
}

avanon_services_cluster() {
    # Print "VERSION NAME" of the first PostgreSQL cluster, creating one if there is none.
    local line
    line="$(pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1, $2}')"
    if [ -z "$line" ]; then
        local version
        version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
        [ -n "$version" ] || { avanon_services_log "no PostgreSQL server installed"; return 1; }
        pg_createcluster "$version" main --port "$AVANON_PG_PORT" >/dev/null 2>&1 \
            || { avanon_services_log "pg_createcluster failed"; return 1; }
        line="$version main"
    fi
    printf '%s\n' "$line"
}

avanon_services_postgres() {
    # Start the cluster on loopback only and create the test role and database.
    local cluster version name port
    cluster="$(avanon_services_cluster)" || return 1
    version="${cluster% *}"
    name="${cluster#* }"
    port="$(pg_lsclusters --no-header | awk -v v="$version" -v n="$name" '$1==v && $2==n {print $3}')"
    AVANON_PG_PORT="${port:-$AVANON_PG_PORT}"
    if ! pg_lsclusters --no-header | awk -v v="$version" -v n="$name" '$1==v && $2==n' | grep -q online; then
        pg_ctlcluster "$version" "$name" start -o "-c listen_addresses=127.0.0.1" >/dev/null 2>&1 \
            || { avanon_services_log "could not start PostgreSQL $version/$name"; return 1; }
    fi
    local i
    for i in $(seq 1 30); do
        runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$AVANON_PG_PORT" && break
        sleep 1
    done
    runuser -u postgres -- psql -q -p "$AVANON_PG_PORT" -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL || { avanon_services_log "could not create role"; return 1; }
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$AVANON_PG_ROLE') THEN
    CREATE ROLE $AVANON_PG_ROLE LOGIN PASSWORD '$AVANON_PG_PASSWORD';
  END IF;
END \$\$;
SQL
    if ! runuser -u postgres -- psql -tA -p "$AVANON_PG_PORT" -c "SELECT 1 FROM pg_database WHERE datname='$AVANON_PG_DB'" 2>/dev/null | grep -q 1; then
        runuser -u postgres -- createdb -p "$AVANON_PG_PORT" -O "$AVANON_PG_ROLE" "$AVANON_PG_DB" >/dev/null 2>&1 \
            || { avanon_services_log "could not create database $AVANON_PG_DB"; return 1; }
    fi
    avanon_services_log "PostgreSQL $version/$name ready on 127.0.0.1:$AVANON_PG_PORT"
}

avanon_services_main() {
    avanon_services_apt || return 1
    if [ -x /usr/bin/chromium ]; then
        avanon_services_log "$(/usr/bin/chromium --version 2>/dev/null)"
    fi
    avanon_services_postgres || return 1
    export AVANON_TEST_POSTGRES_URL="postgresql+psycopg://$AVANON_PG_ROLE:$AVANON_PG_PASSWORD@127.0.0.1:$AVANON_PG_PORT/$AVANON_PG_DB"
    echo "export AVANON_TEST_POSTGRES_URL=$AVANON_TEST_POSTGRES_URL"
}

avanon_services_main || avanon_services_log "services not fully started; PostgreSQL tests will run only if AVANON_TEST_POSTGRES_URL is set"
