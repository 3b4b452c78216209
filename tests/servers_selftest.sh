#!/usr/bin/env bash
# tests/servers_selftest.sh — checks tests/servers.sh against real servers: password
# logins over TCP, PostgreSQL TLS verification with and without the CA, wrong passwords,
# crash-stop / restart on the same port, no password in logs or on argv, the exporters
# installed with no service started, and that `run` and `start`/`stop` leave no server
# process and no folder behind.
# Usage (as root): bash tests/servers_selftest.sh      Prints "N passed, M failed".
set -euo pipefail

# shellcheck source=tests/selftest_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/selftest_lib.sh"
# pass, fail, check, equals, now_us, seconds_since: tests/selftest_lib.sh.

SERVERS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/servers.sh
OUT=$(mktemp)            # output of the command under test, shown when a check fails
trap 'rm -f "$OUT"' EXIT

check_fails() {   # name pattern cmd...: must fail, with `pattern` in its output
    local name=$1 pattern=$2; shift 2
    if "$@" >"$OUT" 2>&1; then fail "$name (it succeeded)"
    elif grep -qiE "$pattern" "$OUT"; then pass "$name"
    else fail "$name (no /$pattern/ in the error)"; fi
}

# DSN scheme://user:password@host:port/db into the array DSN (user pw host port db), so
# the password goes to the clients through PGPASSWORD / MYSQL_PWD, never argv.
parse_dsn() {
    [[ $1 =~ ^[a-z]+://([^:@/]+):([^@/]+)@([^:/]+):([0-9]+)/([^?]+)$ ]] || return 1
    DSN=("${BASH_REMATCH[@]:1}")
}

pg() {   # user password [conninfo...] -- sql
    local user=$1 pw=$2 conn=(); shift 2
    while [[ $1 != -- ]]; do conn+=("$1"); shift; done
    PGPASSWORD=$pw psql -X -At -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$PG_PORT user=$user dbname=dbmgmt_test connect_timeout=5 ${conn[*]}" \
        -c "$2"
}

my() {   # user password [client options...] -- sql
    local user=$1 pw=$2 opts=(); shift 2
    while [[ $1 != -- ]]; do opts+=("$1"); shift; done
    MYSQL_PWD=$pw mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MY_PORT" \
        --connect-timeout=5 -u "$user" -N -B "${opts[@]}" -e "$2" dbmgmt_test
}

timed() {   # name cmd...: like check, with the time it took in the name
    local t0 name=$1 rc=0; shift
    t0=$(now_us)
    "$@" >"$OUT" 2>&1 || rc=$?
    name="$name ($(seconds_since "$t0") s)"
    if ((rc == 0)); then pass "$name"; else fail "$name"; fi
}

# The passwords are compared in this shell or fed to grep through a pipe, never as
# arguments: the argv check below would find them there.
password_in() {   # stdin: true if one of DBMGMT_TEST_PASSWORDS occurs in it
    grep -qF -f <(tr ' ' '\n' <<<"$DBMGMT_TEST_PASSWORDS")
}
no_password_in() {   # cmd...: it must succeed and print no password
    local text
    text=$("$@") || { echo "$text"; return 1; }
    ! password_in <<<"$text" || { echo "a password is in the output of $1"; return 1; }
}
no_password_in_logs() {
    local f n=0
    while IFS= read -r -d '' f; do
        n=$((n + 1))
        ! password_in <"$f" || { echo "a password is in $f"; return 1; }
    done < <(find "$DBMGMT_TEST_SERVERS_DIR" \( -name '*.log' -o -name '*.err' \) -print0)
    ((n >= 4)) || { echo "only $n log files found"; return 1; }
}

# ---------------------------------------------------------------------------------------
# Inside `servers.sh run --`: the servers are up and the variables are set.
# ---------------------------------------------------------------------------------------
inside() {
    local v
    for v in DBMGMT_TEST_PG_DSN DBMGMT_TEST_PG_ADMIN_DSN DBMGMT_TEST_PG_CA \
        DBMGMT_TEST_MYSQL_DSN DBMGMT_TEST_MYSQL_ADMIN_DSN DBMGMT_TEST_PASSWORDS \
        DBMGMT_TEST_SERVERS_DIR; do
        check "variable $v is set" test -n "${!v:-}"
    done
    parse_dsn "$DBMGMT_TEST_PG_DSN"; local pg_user=${DSN[0]} pg_pw=${DSN[1]}; PG_PORT=${DSN[3]}
    parse_dsn "$DBMGMT_TEST_PG_ADMIN_DSN"; local pg_admin=${DSN[0]} pg_admin_pw=${DSN[1]}
    parse_dsn "$DBMGMT_TEST_MYSQL_DSN"; local my_user=${DSN[0]} my_pw=${DSN[1]}; MY_PORT=${DSN[3]}
    parse_dsn "$DBMGMT_TEST_MYSQL_ADMIN_DSN"; local my_root=${DSN[0]} my_root_pw=${DSN[1]}
    local ca=$DBMGMT_TEST_PG_CA empty_ca
    empty_ca=$(mktemp)

    # The exporters (docs/health-exporters.md): installed, and their packages' services
    # not started: nothing listens on their default ports (9187, 9104, 9090); the tests
    # start their own on free ports of 127.0.0.1 (tests/exporters.sh).
    # shellcheck disable=SC2016 # expanded by the inner shell
    check "exporters: postgres_exporter, mysqld_exporter and promtool are installed" bash -c \
        'for p; do command -v "$p" >/dev/null || exit 1; done' sh \
        prometheus-postgres-exporter prometheus-mysqld-exporter promtool
    # shellcheck disable=SC2016
    check "exporters: no packaged service listens on 9187, 9104 or 9090" bash -c \
        'for p in 9187 9104 9090; do ! (exec 4<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || exit 1; done'

    # PostgreSQL
    check "pg: dbmgmt_test logs in with its password over TCP" \
        equals "dbmgmt_test" pg "$pg_user" "$pg_pw" sslmode=disable -- 'SELECT current_user'
    check "pg: sslmode=require gets TLS" \
        equals t pg "$pg_user" "$pg_pw" sslmode=require -- \
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'
    check "pg: sslmode=verify-full with the CA works" \
        pg "$pg_user" "$pg_pw" sslmode=verify-full "sslrootcert=$ca" -- 'SELECT 1'
    check_fails "pg: verify-full with a missing CA file fails" 'certificate' \
        pg "$pg_user" "$pg_pw" sslmode=verify-full sslrootcert=/nonexistent/ca.crt -- 'SELECT 1'
    check_fails "pg: verify-full with an empty CA file fails" 'certificate' \
        pg "$pg_user" "$pg_pw" sslmode=verify-full "sslrootcert=$empty_ca" -- 'SELECT 1'
    check_fails "pg: a wrong password fails" 'password authentication failed' \
        pg "$pg_user" "not-the-password" -- 'SELECT 1'
    check "pg: the admin DSN is a superuser" \
        equals on pg "$pg_admin" "$pg_admin_pw" -- 'SHOW is_superuser'
    check "pg: dbmgmt_test creates a table" pg "$pg_user" "$pg_pw" -- 'CREATE TABLE hypo(x int)'
    check "pg: hypopg works for dbmgmt_test" \
        equals 1 pg "$pg_user" "$pg_pw" -- \
        "SELECT count(*) FROM hypopg_create_index('CREATE INDEX ON hypo(x)')"
    check "pg: pg_stat_statements is loaded" \
        pg "$pg_user" "$pg_pw" -- 'SELECT count(*) FROM pg_stat_statements'
    check "pg: dbmgmt_test may create databases" \
        pg "$pg_user" "$pg_pw" -- 'CREATE DATABASE dbmgmt_scratch_1'

    # MariaDB
    check "mysql: dbmgmt_test logs in with its password over TCP" \
        equals "dbmgmt_test@127.0.0.1" my "$my_user" "$my_pw" -- 'SELECT current_user()'
    check_fails "mysql: a wrong password fails" 'access denied' \
        my "$my_user" "not-the-password" -- 'SELECT 1'
    check "mysql: TLS with the CA and server-certificate check works" \
        my "$my_user" "$my_pw" --ssl --ssl-ca="$ca" --ssl-verify-server-cert -- \
        "SHOW STATUS WHERE Variable_name = 'Ssl_version' AND Value <> ''"
    check "mysql: dbmgmt_test may create and drop dbmgmt_* databases" \
        my "$my_user" "$my_pw" -- 'CREATE DATABASE dbmgmt_scratch_1; DROP DATABASE dbmgmt_scratch_1'
    check "mysql: dbmgmt_test reads performance_schema digests" \
        my "$my_user" "$my_pw" -- 'SELECT count(*) FROM performance_schema.events_statements_summary_by_digest'
    check "mysql: the admin DSN is root with all privileges" \
        equals Y my "$my_root" "$my_root_pw" -- \
        "SELECT Super_priv FROM mysql.user WHERE User = 'root' AND Host = '127.0.0.1'"

    # Crash-stop and restart on the same port, data kept.
    check "pg: write a row before the restart" \
        pg "$pg_user" "$pg_pw" -- 'CREATE TABLE survivor(x int); INSERT INTO survivor VALUES (42)'
    timed "pg: pg-stop" bash "$SERVERS" pg-stop
    check_fails "pg: no connection while stopped" 'refused|could not connect' \
        pg "$pg_user" "$pg_pw" -- 'SELECT 1'
    timed "pg: pg-start" bash "$SERVERS" pg-start
    check "pg: the row is back on the same port" \
        equals 42 pg "$pg_user" "$pg_pw" -- 'SELECT x FROM survivor'
    check "mysql: write a row before the restart" \
        my "$my_user" "$my_pw" -- 'CREATE TABLE survivor(x int); INSERT INTO survivor VALUES (42)'
    timed "mysql: mysql-stop" bash "$SERVERS" mysql-stop
    check_fails "mysql: no connection while stopped" "can't connect" \
        my "$my_user" "$my_pw" -- 'SELECT 1'
    timed "mysql: mysql-start" bash "$SERVERS" mysql-start
    check "mysql: the row is back on the same port" \
        equals 42 my "$my_user" "$my_pw" -- 'SELECT x FROM survivor'

    # Passwords: nowhere in the logs, the statistics views or any process's argv.
    check "the four passwords are listed" test "$(wc -w <<<"$DBMGMT_TEST_PASSWORDS")" -eq 4
    check "no password in the server logs" no_password_in_logs
    check "no password in pg_stat_statements" no_password_in \
        pg "$pg_admin" "$pg_admin_pw" -- 'SELECT query FROM pg_stat_statements'
    check "no password in MariaDB's statement history" no_password_in \
        my "$my_root" "$my_root_pw" -- 'SELECT sql_text FROM performance_schema.events_statements_history
            UNION ALL SELECT digest_text FROM performance_schema.events_statements_summary_by_digest'
    check "no password on any process's argv" no_password_in ps -eo args=
    rm -f "$empty_ca"

    # For the outside checks: the server processes that must be gone after `run`.
    local pids postmaster
    postmaster=$(head -n 1 "$DBMGMT_TEST_SERVERS_DIR/pg/data/postmaster.pid")
    pids="$(pgrep -d ' ' -f "$DBMGMT_TEST_SERVERS_DIR" || true) $(pgrep -d ' ' -P "$postmaster" || true)"
    printf '%s=%q\n' dir "$DBMGMT_TEST_SERVERS_DIR" ports "$PG_PORT $MY_PORT" pids "$pids" \
        counts "$PASSED $FAILED" >"$SELFTEST_RESULT"
}

# ---------------------------------------------------------------------------------------
# Outside: run the checks above through `run`, then check what `run` left behind.
# ---------------------------------------------------------------------------------------
alive() {   # pids...: true if one of them still runs (zombies do not count)
    local pid
    for pid; do
        [[ -e /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] && return 0
    done
    return 1
}

nothing_left() {   # dir pids...
    local dir=$1; shift
    [[ ! -e $dir ]] || { echo "$dir still exists"; return 1; }
    ! alive "$@" || { echo "still running: $*"; return 1; }
    ! pgrep -af "$dir" || { echo "processes still name $dir"; return 1; }
}

only_export_lines() {
    [[ -n $1 ]] && ! grep -vE '^export DBMGMT_TEST_[A-Z_]+=' <<<"$1"
}

start_stop_checks() {   # output of `start`; in a subshell: it evals the exports
    echo "$PASSED $((FAILED + 1))" >"$OUT.counts"    # in case this dies half-way
    local pids
    eval "$1"
    parse_dsn "$DBMGMT_TEST_PG_DSN"; PG_PORT=${DSN[3]}
    check "start leaves PostgreSQL running" pg "${DSN[0]}" "${DSN[1]}" -- 'SELECT 1'
    parse_dsn "$DBMGMT_TEST_MYSQL_DSN"; MY_PORT=${DSN[3]}
    check "start leaves MariaDB running" my "${DSN[0]}" "${DSN[1]}" -- 'SELECT 1'
    pids=$(pgrep -d ' ' -f "$DBMGMT_TEST_SERVERS_DIR" || true)
    check "stop stops them" bash "$SERVERS" stop
    # shellcheck disable=SC2086 # word splitting of the pid list is wanted
    check "stop leaves no server process and no folder" \
        nothing_left "$DBMGMT_TEST_SERVERS_DIR" $pids
    echo "$PASSED $FAILED" >"$OUT.counts"
}

outside() {
    [[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }
    export SELFTEST_RESULT
    SELFTEST_RESULT=$(mktemp)
    local t0 rc=0 dir ports pids counts out
    t0=$(now_us)
    bash "$SERVERS" run -- bash "${BASH_SOURCE[0]}" --inside || rc=$?
    echo "run with the checks inside: $(seconds_since "$t0") s"
    # shellcheck source=/dev/null
    source "$SELFTEST_RESULT" 2>/dev/null || true
    rm -f "$SELFTEST_RESULT"
    read -r PASSED FAILED <<<"${counts:-0 1}"
    : >"$OUT"
    check "run exits with the status of its command" test "$rc" -eq "$FAILED"
    # shellcheck disable=SC2086 # word splitting of the pid list is wanted
    check "run leaves no server process and no folder" nothing_left "${dir:-/nonexistent}" ${pids:-}
    # shellcheck disable=SC2086
    # shellcheck disable=SC2016 # expanded by the inner shell
    check "the ports are closed again" bash -c \
        'for p; do ! (exec 4<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || exit 1; done' sh ${ports:-0}

    out=$(bash "$SERVERS" run -- sh -c 'echo "hello from CMD"; exit 7' 2>"$OUT") && rc=0 || rc=$?
    check "run passes CMD's exit status (7) and stdout through" \
        test "$rc" -eq 7 -a "$out" = "hello from CMD"

    out=$(bash "$SERVERS" start 2>"$OUT") || true
    check "start prints only export lines" only_export_lines "$out"
    if [[ -n $out ]]; then
        (start_stop_checks "$out") || true
        read -r PASSED FAILED <"$OUT.counts" || FAILED=$((FAILED + 1))
        rm -f "$OUT.counts"
    fi

    echo "$PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

if [[ ${1-} == --inside ]]; then
    inside
    echo "inside: $PASSED passed, $FAILED failed"
    exit "$FAILED"
fi
outside
