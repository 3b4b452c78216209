#!/usr/bin/env bash
# tests/servers.sh — a real, throwaway PostgreSQL 15 and MariaDB on 127.0.0.1 for the
# test suite (DESIGN.md §9). Both servers live in one temporary folder, listen on free
# ports on 127.0.0.1 only, and are deleted afterwards.
#
# Usage (as root: it installs Debian packages and runs the servers as postgres / mysql):
#   bash tests/servers.sh run -- CMD ARGS...   start both, run CMD with the variables below
#                                              in its environment, stop both, delete the
#                                              folder, exit with CMD's status
#   eval "$(bash tests/servers.sh start)"      start both, print `export VAR=...` lines
#   bash tests/servers.sh stop                 stop both, delete the folder
#   bash tests/servers.sh pg-stop|pg-start|mysql-stop|mysql-start
#                                              crash-stop / restart one server on the same
#                                              port and data (for fault tests)
# stop and the pg-/mysql- commands find the servers through DBMGMT_TEST_SERVERS_DIR.
#
# Variables (an engine that could not be started is left out, unless CI=true, which
# turns that into a failure):
#   DBMGMT_TEST_PG_DSN          postgres://dbmgmt_test:PW@127.0.0.1:PORT/dbmgmt_test
#   DBMGMT_TEST_PG_ADMIN_DSN    the superuser postgres over TCP, database dbmgmt_test
#   DBMGMT_TEST_PG_CA           CA certificate (sslmode=verify-full sslrootcert=...);
#                               MariaDB's TLS certificate is signed by the same CA
#   DBMGMT_TEST_MYSQL_DSN       mysql://dbmgmt_test:PW@127.0.0.1:PORT/dbmgmt_test
#   DBMGMT_TEST_MYSQL_ADMIN_DSN root over TCP
#   DBMGMT_TEST_PASSWORDS       every password above, space-separated (grep logs for them)
#   DBMGMT_TEST_SERVERS_DIR     the temporary state folder
#
# Progress goes to stderr; in `start` mode stdout carries only the export lines.
# Passwords never appear on a command line: SQL that sets them goes to psql / mariadb on
# stdin, and the server logs never see them (see pg_create_roles / my_create_users).
set -euo pipefail

# fd 3 is the caller's stdout; everything this script prints otherwise goes to stderr,
# so nothing but the export lines can reach `eval "$(... start)"`.
exec 3>&1 1>&2

readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly MARKER=.dbmgmt-test-servers      # marks a folder as ours before any rm -rf
readonly WAIT_SECONDS=60
# pgbackrest: the pgBackRest backup engine and its tests (tests/pitr, docs/backup-pgbackrest.md)
readonly PG_PKGS=(postgresql-15 postgresql-client-15 postgresql-15-hypopg pgbackrest openssl)
readonly MY_PKGS=(mariadb-server mariadb-client mariadb-backup openssl)   # mariadb-binlog: client
readonly BUILD_PKGS=(libpq-dev libmariadb-dev)   # the library build needs these
# The reference exporters the `exporters` suite and tests/bench/bench_health.c compare
# health against (tests/exporters.sh starts them), and Prometheus with promtool for the
# exposition's tests (docs/health-exporters.md). Their services never start (policy-rc.d).
readonly EXPORTER_PKGS=(prometheus-postgres-exporter prometheus-mysqld-exporter prometheus)
# pt-archiver (percona-toolkit), the reference of tests/bench/bench_archive.c (issue 22):
# the bench's only, so a failed install is a warning.
readonly BENCH_PKGS=(percona-toolkit)
# A clean environment for the admin tools: no PG*/MYSQL_* variables of the caller's can
# redirect them to another server or user.
readonly CLEAN_ENV=(env -i "PATH=$PG_BIN:/usr/sbin:/usr/bin:/sbin:/bin" LC_ALL=C.UTF-8)

# For tests/harness.sh: log prefix, end of the usage text (lines 2-16 above), ports,
# how much of a log to show.
readonly LOG_TAG=servers USAGE_END=17 WHAT=servers STATE_DIR_VAR=DBMGMT_TEST_SERVERS_DIR
readonly PORT_LO=15000 PORT_HI=32767 LOG_TAIL_LINES=20
# shellcheck source=tests/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# ---------------------------------------------------------------------------------------
# State: one folder per start, holding both servers and state.env (ports, passwords, which
# engines are up). Layout: ca.crt, state.env, pg/ (postgres, 0700), mysql/ (mysql, 0700).
# ---------------------------------------------------------------------------------------
STATE_DIR=''
PG_OK=0 MY_OK=0
PG_PORT='' MY_PORT='' PG_PW='' PG_ADMIN_PW='' MY_PW='' MY_ROOT_PW=''
readonly STATE_VARS=(PG_OK MY_OK PG_PORT MY_PORT PG_PW PG_ADMIN_PW MY_PW MY_ROOT_PW)

set_paths() {
    PG_DIR=$STATE_DIR/pg
    MY_DIR=$STATE_DIR/mysql
    CA_CRT=$STATE_DIR/ca.crt
    APT_LOG=$STATE_DIR/apt.log
}

make_state_dir() { new_state_dir dbmgmt-servers; }

# ---------------------------------------------------------------------------------------
# Engine failures: fatal with CI=true, otherwise a warning and the engine is left out.
# ---------------------------------------------------------------------------------------
newest_logs() {   # dir: its two most recently written logs, newest last
    find "$1" -maxdepth 1 -type f \( -name '*.log' -o -name '*.err' \) -printf '%T@ %p\n' \
        2>/dev/null | sort -n | tail -n 2 | cut -d' ' -f2-
}

engine_failed() {   # engine (pg|mysql), message, [logs...]: default, its newest logs
    local engine=$1 msg=$2 name dir logs
    shift 2
    if [[ $engine == pg ]]; then name='PostgreSQL 15' dir=$PG_DIR; else name=MariaDB dir=$MY_DIR; fi
    logs=("$@")
    (($#)) || mapfile -t logs < <(newest_logs "$dir")
    log "$name: $msg"
    show_log_tails "${logs[@]}"
    if in_ci; then
        die "$name is required with CI=true"
    fi
    log "warning: continuing without $name (its DSN is not exported)"
    if [[ $engine == pg ]]; then
        PG_OK=0; pg_teardown
    else
        MY_OK=0; my_teardown
    fi
}

# ---------------------------------------------------------------------------------------
# Packages, under tests/harness.sh's policy-rc.d and install lock (see there), group by
# group: an engine whose packages fail is left out, the other one still starts.
# ---------------------------------------------------------------------------------------
APT_UPDATED=0

apt_install_missing() {   # packages...; returns non-zero when the install fails
    local missing=() p
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    if ((!APT_UPDATED)); then
        log "apt-get update"
        apt_update >>"$APT_LOG" 2>&1 || return 1
        APT_UPDATED=1
    fi
    log "installing ${missing[*]} (log: $APT_LOG)"
    apt_install "${missing[@]}" >>"$APT_LOG" 2>&1
}

# pg_stat_statements ships inside postgresql-15 on Debian 12, where
# postgresql-contrib-15 is only a virtual package; install it only where it is real.
pg_contrib_needed() {
    [[ ! -e /usr/share/postgresql/15/extension/pg_stat_statements.control ]]
}

pg_contrib_package_is_real() {
    apt-cache policy postgresql-contrib-15 2>/dev/null | grep -q 'Candidate: [^(]'
}

install_engine_packages() {
    local pg_pkgs=("${PG_PKGS[@]}")
    local all=("${PG_PKGS[@]}" "${MY_PKGS[@]}" "${BUILD_PKGS[@]}" "${EXPORTER_PKGS[@]}"
               "${BENCH_PKGS[@]}")
    local p need=0
    for p in "${all[@]}"; do pkg_installed "$p" || need=1; done
    pg_contrib_needed && need=1
    ((need)) || return 0

    install_lock
    policy_rc_d_install
    if pg_contrib_needed; then
        apt_install_missing "${pg_pkgs[@]}" || true
        if pg_contrib_needed && pg_contrib_package_is_real; then
            pg_pkgs+=(postgresql-contrib-15)
        fi
    fi
    apt_install_missing "${pg_pkgs[@]}" || PG_OK=0
    pg_contrib_needed && PG_OK=0
    apt_install_missing "${MY_PKGS[@]}" || MY_OK=0
    if ! apt_install_missing "${BUILD_PKGS[@]}"; then
        show_log_tails "$APT_LOG"
        in_ci && die "could not install ${BUILD_PKGS[*]} (needed to build the library)"
        log "warning: could not install ${BUILD_PKGS[*]}"
    fi
    if ! apt_install_missing "${EXPORTER_PKGS[@]}"; then
        show_log_tails "$APT_LOG"
        in_ci && die "could not install ${EXPORTER_PKGS[*]} (the exporters suite needs them)"
        log "warning: could not install ${EXPORTER_PKGS[*]} (the exporters suite will skip)"
    fi
    apt_install_missing "${BENCH_PKGS[@]}" ||
        log "warning: could not install ${BENCH_PKGS[*]} (bench-archive cannot run pt-archiver)"
    policy_rc_d_restore
    install_unlock
    ((PG_OK)) || engine_failed pg "could not install ${pg_pkgs[*]}" "$APT_LOG"
    ((MY_OK)) || engine_failed mysql "could not install ${MY_PKGS[*]}" "$APT_LOG"
}

# ---------------------------------------------------------------------------------------
# TLS: a self-signed CA and a server certificate it signs, for 127.0.0.1 and localhost,
# so sslmode=verify-full works with the CA and fails without it. EC keys: fast to make.
# ---------------------------------------------------------------------------------------
make_certs() {
    local d=$STATE_DIR/certs
    mkdir -m 0700 "$d"
    (
        cd "$d"
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout ca.key -out ca.crt -days 3 -subj '/CN=libdbmgmt test CA' \
            -addext 'basicConstraints=critical,CA:TRUE' \
            -addext 'keyUsage=critical,keyCertSign,cRLSign'
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout server.key -out server.csr -subj '/CN=localhost'
        printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=CA:FALSE' \
            'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
            >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(random_hex24)" \
            -days 3 -extfile server.ext -out server.crt
    ) >"$STATE_DIR/openssl.log" 2>&1 || return 1
    install -m 0644 "$d/ca.crt" "$CA_CRT"
}

install_cert_pair() {   # owner dir: the server's certificate and key, readable by it only
    install -o "$1" -g "$1" -m 0600 "$STATE_DIR/certs/server.crt" "$STATE_DIR/certs/server.key" "$2/"
}

# ---------------------------------------------------------------------------------------
# PostgreSQL 15, run as postgres from $PG_DIR (postgres cannot enter root's cwd).
# ---------------------------------------------------------------------------------------
pg_as() { (cd "$PG_DIR" && "${CLEAN_ENV[@]}" runuser -u postgres -- "$@"); }

pg_admin_psql() {   # database: SQL from stdin, as superuser over the unix socket
    pg_as psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d "$1"
}

pg_running() { [[ -f $PG_DIR/data/postmaster.pid ]]; }

pg_start() {
    # pg_ctl -w returns once the server accepts connections, and fails fast if it dies.
    pg_as pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t "$WAIT_SECONDS" start \
        </dev/null >>"$PG_DIR/pg_ctl.log" 2>&1 3>&- || return 1
    local deadline=$((SECONDS + WAIT_SECONDS))
    until pg_as pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# Decision: pg-stop uses `pg_ctl stop -m immediate`: the server dies like a crash (no
# shutdown checkpoint, clients cut off) and pg-start goes through crash recovery, which
# is what the fault tests want to exercise. Teardown uses it too: the data is discarded.
pg_stop() {
    pg_running || return 0
    pg_as pg_ctl -D "$PG_DIR/data" -m immediate -w -t 30 stop </dev/null \
        >>"$PG_DIR/pg_ctl.log" 2>&1 3>&- && return 0
    local pid
    pid=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] || return 0
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid"
}

pg_write_config() {
    # fsync/full_page_writes off: a throwaway server only has to survive its process
    # dying (pg-stop), not the machine; it makes the suite much faster on CI.
    # synchronous_commit stays on: with it off, a commit acknowledged just before
    # pg-stop would be lost (still in shared memory), which fault tests would see.
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF

# --- libdbmgmt tests/servers.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
shared_preload_libraries = 'pg_stat_statements'
ssl = on
ssl_cert_file = '$PG_DIR/server.crt'
ssl_key_file = '$PG_DIR/server.key'
fsync = off
full_page_writes = off
EOF
}

# The passwords reach the server only as SQL on psql's stdin. In this session nothing
# may copy that SQL anywhere: no statement logging, no statement text in error reports,
# and pg_stat_statements does not record utility statements (it would keep the text).
pg_create_roles() {
    pg_admin_psql postgres <<EOF
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
SET pg_stat_statements.track_utility = off;
ALTER ROLE postgres PASSWORD '$PG_ADMIN_PW';
CREATE ROLE dbmgmt_test LOGIN CREATEDB PASSWORD '$PG_PW';
EOF
    pg_admin_psql postgres <<'EOF'
CREATE DATABASE dbmgmt_test OWNER dbmgmt_test;
-- the advisor reads every backend's statistics, like PROCESS on MariaDB; health
-- (docs/health.md) also reads data_directory: pg_monitor has both
GRANT pg_read_all_stats TO dbmgmt_test;
GRANT pg_monitor TO dbmgmt_test;
\connect dbmgmt_test
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SELECT pg_stat_statements_reset();
EOF
}

pg_setup() {   # runs in a background subshell
    exec 3>&-
    install -d -o postgres -g postgres -m 0700 "$PG_DIR"
    install_cert_pair postgres "$PG_DIR"
    pg_as initdb -D "$PG_DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1
    pg_write_config
    pg_start
    pg_create_roles >>"$PG_DIR/setup.log" 2>&1
}

pg_teardown() {
    [[ -n $STATE_DIR && -d $PG_DIR ]] || return 0
    pg_stop || log "warning: could not stop PostgreSQL"
}

# ---------------------------------------------------------------------------------------
# MariaDB. --no-defaults (must come first) keeps /etc/mysql out: the Debian config would
# move the socket, pid file and data folder and turn on logs we do not want.
# ---------------------------------------------------------------------------------------
# shellcheck disable=SC2120 # callers feed SQL on stdin; arguments are optional
my_client() {   # mariadb client args...: as root over the socket (unix_socket auth)
    "${CLEAN_ENV[@]}" mariadb --no-defaults --protocol=socket --socket="$MY_DIR/mysqld.sock" \
        --user=root "$@"
}

my_pid() {   # the running mariadbd's pid, if any: from its pid file, else its command line
    local pid
    pid=$(cat "$MY_DIR/mariadbd.pid" 2>/dev/null) || pid=''
    if [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == mariadbd ]] &&
        ! is_zombie "$pid"; then
        echo "$pid"
        return 0
    fi
    # Before the pid file is written (start-up), or if it is gone. A zombie has no
    # command line, so it never matches.
    pgrep -o -f -- "^mariadbd --no-defaults --user=mysql --datadir=$MY_DIR/data "
}

my_start() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    # setsid: its own session, so neither a Ctrl-C at the caller's terminal nor a test
    # runner killing a test's process group (after mysql-start) reaches the server.
    setsid mariadbd --no-defaults --user=mysql --datadir="$MY_DIR/data" \
        --bind-address=127.0.0.1 --port="$MY_PORT" --socket="$MY_DIR/mysqld.sock" \
        --pid-file="$MY_DIR/mariadbd.pid" --log-error="$MY_DIR/mariadbd.err" \
        --skip-name-resolve --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_general_ci --performance-schema=ON \
        --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 \
        --ssl-ca="$CA_CRT" --ssl-cert="$MY_DIR/server.crt" --ssl-key="$MY_DIR/server.key" \
        </dev/null >>"$MY_DIR/mariadbd.out.log" 2>&1 3>&- &
    # `ping` succeeds as soon as the server answers, whatever the credentials.
    until "${CLEAN_ENV[@]}" mariadb-admin --no-defaults --protocol=socket \
        --socket="$MY_DIR/mysqld.sock" --user=root --connect-timeout=2 ping >/dev/null 2>&1; do
        my_pid >/dev/null || { sleep 0.2; my_pid >/dev/null; } || return 1   # it died
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# Decision: mysql-stop is SIGKILL, a crash like pg-stop's immediate mode; mysql-start
# then goes through InnoDB crash recovery. Teardown uses it too. Committed data survives:
# innodb_flush_log_at_trx_commit=2 writes the log to the OS at each commit and only
# skips the fsync (0 would lose commits here).
my_stop() {
    local pid
    pid=$(my_pid) || return 0
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid"
    rm -f "$MY_DIR/mariadbd.pid" "$MY_DIR/mysqld.sock" "$MY_DIR/mysqld.sock.lock"
}

# Users are created from password hashes (harness.sh's my_users_sql), so the password
# is not even in the SQL that the server sees (performance_schema keeps recent statement
# texts).
my_create_users() {
    local root_hash user_hash
    root_hash=$(my_hash "$MY_ROOT_PW")
    user_hash=$(my_hash "$MY_PW")
    # shellcheck disable=SC2119
    my_users_sql "$root_hash" "$user_hash" | my_client
    # Statistics for the index advisor and health (docs/health.md: SHOW SLAVE STATUS
    # needs SLAVE MONITOR); not fatal where the server refuses them.
    # shellcheck disable=SC2119
    my_client <<'EOF' || log "warning: MariaDB: PROCESS / performance_schema not granted"
GRANT PROCESS ON *.* TO dbmgmt_test@'127.0.0.1', dbmgmt_test@localhost;
GRANT SELECT ON performance_schema.* TO dbmgmt_test@'127.0.0.1', dbmgmt_test@localhost;
GRANT SLAVE MONITOR ON *.* TO dbmgmt_test@'127.0.0.1', dbmgmt_test@localhost;
EOF
}

my_setup() {   # runs in a background subshell
    exec 3>&-
    install -d -o mysql -g mysql -m 0700 "$MY_DIR"
    install_cert_pair mysql "$MY_DIR"
    "${CLEAN_ENV[@]}" mariadb-install-db --no-defaults --user=mysql --datadir="$MY_DIR/data" \
        --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
        </dev/null >"$MY_DIR/install-db.log" 2>&1
    my_start
    my_create_users >>"$MY_DIR/setup.log" 2>&1
}

my_teardown() {
    [[ -n $STATE_DIR && -d $MY_DIR ]] || return 0
    my_stop || log "warning: could not stop MariaDB"
}

# ---------------------------------------------------------------------------------------
# Both servers
# ---------------------------------------------------------------------------------------
SETUP_PIDS=()

bring_up() {
    [[ $EUID -eq 0 ]] || die "run as root (installs packages, runs servers as postgres/mysql)"
    local t0 pg_job my_job
    t0=$(now_us)
    make_state_dir
    PG_OK=1 MY_OK=1
    install_engine_packages
    pick_free_port; PG_PORT=$PORT
    pick_free_port; MY_PORT=$PORT
    PG_PW=$(random_hex24) PG_ADMIN_PW=$(random_hex24)
    MY_PW=$(random_hex24) MY_ROOT_PW=$(random_hex24)
    save_state
    if ((PG_OK || MY_OK)) && ! make_certs; then
        ((PG_OK)) && engine_failed pg "could not make TLS certificates" "$STATE_DIR/openssl.log"
        ((MY_OK)) && engine_failed mysql "could not make TLS certificates" "$STATE_DIR/openssl.log"
    fi
    # The two servers start in parallel: initdb and mariadb-install-db dominate start-up.
    log "starting PostgreSQL 15 on 127.0.0.1:$PG_PORT and MariaDB on 127.0.0.1:$MY_PORT in $STATE_DIR"
    if ((PG_OK)); then (pg_setup) & pg_job=$!; SETUP_PIDS+=("$pg_job"); fi
    if ((MY_OK)); then (my_setup) & my_job=$!; SETUP_PIDS+=("$my_job"); fi
    if ((PG_OK)) && ! wait "$pg_job"; then engine_failed pg "could not start"; fi
    if ((MY_OK)) && ! wait "$my_job"; then engine_failed mysql "could not start"; fi
    SETUP_PIDS=()
    rm -rf "$STATE_DIR/certs"      # the CA key is not needed any more
    save_state
    log "servers up in $(seconds_since "$t0") s"
}

stop_all() {   # teardown's (tests/harness.sh): the servers
    local pid
    # A start-up still under way (failure of the other engine, or a signal) is let finish,
    # each step being bounded, so that no server it launches is missed below.
    for pid in "${SETUP_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    SETUP_PIDS=()
    pg_teardown
    my_teardown
}

# Assigns (does not export) the variables of the engines that are up; clears the others
# so a caller's stale values cannot point the suite at a server that is gone.
VARS=(DBMGMT_TEST_PG_DSN DBMGMT_TEST_PG_ADMIN_DSN DBMGMT_TEST_PG_CA DBMGMT_TEST_MYSQL_DSN
    DBMGMT_TEST_MYSQL_ADMIN_DSN DBMGMT_TEST_PASSWORDS DBMGMT_TEST_SERVERS_DIR)

# shellcheck disable=SC2034 # the variables are read through ${!v} by the callers
set_vars() {
    local pws=()
    unset "${VARS[@]}"
    if ((PG_OK)); then
        DBMGMT_TEST_PG_DSN=postgres://dbmgmt_test:$PG_PW@127.0.0.1:$PG_PORT/dbmgmt_test
        DBMGMT_TEST_PG_ADMIN_DSN=postgres://postgres:$PG_ADMIN_PW@127.0.0.1:$PG_PORT/dbmgmt_test
        DBMGMT_TEST_PG_CA=$CA_CRT
        pws+=("$PG_PW" "$PG_ADMIN_PW")
    fi
    if ((MY_OK)); then
        DBMGMT_TEST_MYSQL_DSN=mysql://dbmgmt_test:$MY_PW@127.0.0.1:$MY_PORT/dbmgmt_test
        DBMGMT_TEST_MYSQL_ADMIN_DSN=mysql://root:$MY_ROOT_PW@127.0.0.1:$MY_PORT/dbmgmt_test
        pws+=("$MY_PW" "$MY_ROOT_PW")
    fi
    DBMGMT_TEST_PASSWORDS=${pws[*]-}
    DBMGMT_TEST_SERVERS_DIR=$STATE_DIR
}

# ---------------------------------------------------------------------------------------
# Sub-commands
# ---------------------------------------------------------------------------------------
# run, start and stop are in tests/harness.sh.
cmd_engine() {   # pg|mysql start|stop
    load_state
    local engine=$1 action=$2 ok=$PG_OK name='PostgreSQL'
    [[ $engine == mysql ]] && ok=$MY_OK name=MariaDB
    ((ok)) || die "$name is not part of $STATE_DIR (it did not start)"
    case $engine-$action in
    pg-stop) pg_stop || die "could not stop PostgreSQL" ;;
    mysql-stop) my_stop || die "could not stop MariaDB" ;;
    pg-start)
        pg_running && pg_as pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && return 0
        pg_start || { show_log_tails "$PG_DIR/pg_ctl.log" "$PG_DIR/postgres.log"; die "PostgreSQL did not start"; }
        ;;
    mysql-start)
        my_pid >/dev/null && return 0
        my_start || { show_log_tails "$MY_DIR/mariadbd.err"; die "MariaDB did not start"; }
        ;;
    esac
    log "$name $action: done (127.0.0.1:$([[ $engine == pg ]] && echo "$PG_PORT" || echo "$MY_PORT"))"
}

script_command() {   # command args...: all but run, start and stop (tests/harness.sh)
    local cmd=$1
    shift
    case $cmd in
    pg-stop) cmd_engine pg stop ;;
    pg-start) cmd_engine pg start ;;
    mysql-stop) cmd_engine mysql stop ;;
    mysql-start) cmd_engine mysql start ;;
    *) usage ;;
    esac
}

main "$@"
