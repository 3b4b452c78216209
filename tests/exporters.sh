#!/usr/bin/env bash
# tests/exporters.sh — the reference Prometheus exporters (Debian 12's postgres_exporter
# 0.11 and mysqld_exporter 0.14, installed by tests/servers.sh) on free ports of 127.0.0.1,
# against the servers of tests/servers.sh, for the `exporters` suite and
# tests/bench/bench_health.c (docs/health-exporters.md).
#
# Usage:
#   bash tests/exporters.sh run KIND... -- CMD ARGS...
#       start one exporter per KIND, wait until each one's /metrics answers, run CMD with
#       DBMGMT_TEST_<KIND>_EXPORTER_URL (http://127.0.0.1:PORT/metrics) and _PID (its
#       process) in its environment, stop them, exit with CMD's status.
#       postgres_exporter's sessions have application_name dbmgmt-exporter-KIND. KIND:
#         pg         postgres_exporter, its default collectors
#         pg-health  postgres_exporter restricted to the figures of dbmgmt_health_collect
#                    (tests/exporters/pg_health_queries.yaml)
#         pg-replication  postgres_exporter, its defaults plus the replication lag query
#                    of its documentation's example (tests/exporters/pg_replication.yaml)
#         mysql      mysqld_exporter, its default collectors plus the table sizes of the
#                    DSN's database (--collect.info_schema.tables)
#       The pg kinds use DBMGMT_EXPORTER_PG_DSN, else DBMGMT_TEST_PG_ADMIN_DSN (TLS with
#       DBMGMT_TEST_PG_CA when set); mysql DBMGMT_EXPORTER_MYSQL_DSN, else
#       DBMGMT_TEST_MYSQL_ADMIN_DSN. Without the DSN or the exporter's program CMD is not
#       run and the exit status is 77 (skip), unless CI=true, which makes it a failure.
#
# Passwords never reach a command line: postgres_exporter reads its DSN from
# DATA_SOURCE_NAME, mysqld_exporter from a 0600 my.cnf in a temporary folder. The
# exporters' logs are searched for DBMGMT_TEST_PASSWORDS when they stop.
set -euo pipefail

readonly LOG_TAG=exporters USAGE_END=24 WHAT=exporters STATE_DIR_VAR=DBMGMT_TEST_EXPORTERS_DIR
readonly MARKER=.dbmgmt-test-exporters PORT_LO=15000 PORT_HI=32767 LOG_TAIL_LINES=20
readonly STATE_VARS=()
readonly WAIT_SECONDS=30
readonly PG_EXPORTER=prometheus-postgres-exporter MY_EXPORTER=prometheus-mysqld-exporter
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
# shellcheck source=tests/harness.sh
source "$HERE/harness.sh"

STATE_DIR=''
set_paths() { :; }

skip_or_fail() {   # message: exit 77, or 1 with CI=true
    if in_ci; then die "$1 (CI=true: a failure, not a skip)"; fi
    log "skipped: $1"
    exit 77
}

url_decode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }

# mysql://USER:PASSWORD@HOST:PORT/DB -> MY_USER MY_PW MY_HOST MY_PORT MY_DB
parse_mysql_dsn() {
    local re='^mysql://([^:@/]+):([^@/]*)@([^:/]+):([0-9]+)/([^?]*)'
    [[ $1 =~ $re ]] || die "DBMGMT_TEST_MYSQL_ADMIN_DSN is not mysql://USER:PW@HOST:PORT/DB"
    MY_USER=$(url_decode "${BASH_REMATCH[1]}")
    MY_PW=$(url_decode "${BASH_REMATCH[2]}")
    MY_HOST=${BASH_REMATCH[3]} MY_PORT=${BASH_REMATCH[4]} MY_DB=${BASH_REMATCH[5]}
}

# ---------------------------------------------------------------------------------------
# One exporter: KIND -> its program, flags and environment; started on a free port.
# ---------------------------------------------------------------------------------------
EXPORTER_PIDS=() URL_VARS=()

var_base() {   # kind: DBMGMT_TEST_<KIND>_EXPORTER, the prefix of its variables
    local k=${1^^}
    printf 'DBMGMT_TEST_%s_EXPORTER' "${k//-/_}"
}

# The admin DSN, with TLS verified by the servers' CA when there is one, and the
# application_name dbmgmt-exporter-KIND (bench_health.c finds the sessions by it).
pg_dsn() {   # kind
    local dsn=${DBMGMT_EXPORTER_PG_DSN:-$DBMGMT_TEST_PG_ADMIN_DSN} sep='?'
    [[ $dsn == *\?* ]] && sep='&'
    dsn+="${sep}application_name=dbmgmt-exporter-$1"
    if [[ -n ${DBMGMT_TEST_PG_CA:-} ]]; then
        printf '%s&sslmode=verify-full&sslrootcert=%s' "$dsn" "$DBMGMT_TEST_PG_CA"
    else
        printf '%s&sslmode=disable' "$dsn"
    fi
}

write_my_cnf() {   # file: the [client] section mysqld_exporter reads, mode 0600
    parse_mysql_dsn "${DBMGMT_EXPORTER_MYSQL_DSN:-$DBMGMT_TEST_MYSQL_ADMIN_DSN}"
    (
        umask 077
        printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\n' \
            "$MY_USER" "$MY_PW" "$MY_HOST" "$MY_PORT" >"$1"
    )
}

# Sets PROG, ARGS (without the listen address) and ENV_DSN for kind; skips or fails
# when its DSN or program is missing.
exporter_config() {
    local kind=$1
    ENV_DSN=''
    case $kind in
    pg | pg-health | pg-replication)
        [[ -n ${DBMGMT_EXPORTER_PG_DSN:-${DBMGMT_TEST_PG_ADMIN_DSN:-}} ]] ||
            skip_or_fail "DBMGMT_TEST_PG_ADMIN_DSN is not set"
        PROG=$PG_EXPORTER
        ARGS=(--log.level=warn)
        if [[ $kind == pg-health ]]; then
            # Only what dbmgmt_health_collect reads: no pg_settings, no bgwriter, none of
            # the built-in maps; pg_database_size_bytes (collector `database`) and the
            # queries of the YAML file (docs/health-exporters.md, "The benchmark").
            ARGS+=(--disable-default-metrics --disable-settings-metrics
                --no-collector.bgwriter
                "--extend.query-path=$HERE/exporters/pg_health_queries.yaml")
        elif [[ $kind == pg-replication ]]; then
            ARGS+=("--extend.query-path=$HERE/exporters/pg_replication.yaml")
        fi
        ENV_DSN=$(pg_dsn "$kind")
        ;;
    mysql)
        [[ -n ${DBMGMT_EXPORTER_MYSQL_DSN:-${DBMGMT_TEST_MYSQL_ADMIN_DSN:-}} ]] ||
            skip_or_fail "DBMGMT_TEST_MYSQL_ADMIN_DSN is not set"
        PROG=$MY_EXPORTER
        write_my_cnf "$STATE_DIR/my.cnf"
        ARGS=(--log.level=warn "--config.my-cnf=$STATE_DIR/my.cnf"
            --collect.info_schema.tables "--collect.info_schema.tables.databases=$MY_DB")
        ;;
    *) usage ;;
    esac
    command -v "$PROG" >/dev/null ||
        skip_or_fail "$PROG is not installed (tests/servers.sh installs it)"
}

metrics_answer() {   # port: /metrics answers with the exporter's own `up` gauge
    local body
    body=$({
        exec 5<>"/dev/tcp/127.0.0.1/$1" &&
            printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&5 && cat <&5
    } 2>/dev/null) || return 1
    grep -qE '^(pg|mysql)_up 1' <<<"$body"
}

start_exporter() {   # kind
    local kind=$1 tries pid log deadline base
    exporter_config "$kind"
    log="$STATE_DIR/$kind.log"
    for ((tries = 0; tries < 5; tries++)); do
        pick_free_port
        # setsid: a Ctrl-C at the terminal reaches this script, which stops it.
        if [[ -n $ENV_DSN ]]; then
            DATA_SOURCE_NAME=$ENV_DSN setsid "$PROG" "${ARGS[@]}" \
                "--web.listen-address=127.0.0.1:$PORT" </dev/null >>"$log" 2>&1 3>&- &
        else
            setsid "$PROG" "${ARGS[@]}" "--web.listen-address=127.0.0.1:$PORT" \
                </dev/null >>"$log" 2>&1 3>&- &
        fi
        pid=$!
        EXPORTER_PIDS+=("$pid")
        deadline=$((SECONDS + WAIT_SECONDS))
        while alive "$pid" && ! metrics_answer "$PORT"; do
            ((SECONDS < deadline)) || break
            sleep 0.1
        done
        if alive "$pid" && metrics_answer "$PORT"; then
            base=$(var_base "$kind")
            printf -v "${base}_URL" 'http://127.0.0.1:%s/metrics' "$PORT"
            printf -v "${base}_PID" '%s' "$pid"
            URL_VARS+=("${base}_URL" "${base}_PID")
            log "$kind: $PROG on 127.0.0.1:$PORT"
            return 0
        fi
        kill_and_wait TERM "$pid"
        grep -q 'address already in use' "$log" 2>/dev/null || break   # else: another port
    done
    show_log_tails "$log"
    die "$kind: $PROG did not answer on /metrics within $WAIT_SECONDS s"
}

stop_all() {   # teardown's (tests/harness.sh)
    local f pw leaked=0
    ((${#EXPORTER_PIDS[@]})) && kill_and_wait TERM "${EXPORTER_PIDS[@]}"
    EXPORTER_PIDS=()
    for f in "$STATE_DIR"/*.log; do
        [[ -e $f ]] || continue
        for pw in ${DBMGMT_TEST_PASSWORDS:-}; do
            grep -qF -- "$pw" "$f" && { log "a test password appears in ${f##*/}"; leaked=1; }
        done
    done
    ((leaked == 0)) || LEAKED=1
}

LEAKED=0

cmd_run_exporters() {   # KIND... -- CMD ARGS...
    local kinds=() rc=0 v
    while (($#)) && [[ $1 != -- ]]; do kinds+=("$1"); shift; done
    [[ ${1-} == -- ]] && shift
    ((${#kinds[@]} && $#)) || usage
    new_state_dir dbmgmt-exporters
    chmod 0700 "$STATE_DIR"
    trap 'teardown' EXIT
    trap 'on_signal 2' INT
    trap 'on_signal 15' TERM
    for v in "${kinds[@]}"; do start_exporter "$v"; done
    for v in "${URL_VARS[@]}"; do export "${v?}"; done
    # `<&0` keeps the caller's stdin for CMD (a background job would get /dev/null): a
    # caller may hold the exporters up until it closes CMD's stdin.
    if { true <&0; } 2>/dev/null; then "$@" <&0 & else "$@" </dev/null & fi
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=''
    teardown
    ((LEAKED == 0)) || exit 1
    exit "$rc"
}

case ${1-} in
run) shift; cmd_run_exporters "$@" ;;
*) usage ;;
esac
