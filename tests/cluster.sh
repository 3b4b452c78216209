#!/usr/bin/env bash
# tests/cluster.sh — a real, throwaway high-availability PostgreSQL 15 cluster on
# 127.0.0.1 for the `cluster` test suite (issue 18): one etcd member, three PostgreSQL 15
# members managed by Patroni (one leader, two streaming replicas, synchronous_mode) and
# PgBouncer 1.18 (pool_mode = transaction) in front of the leader. All from Debian
# packages, in one temporary folder, deleted afterwards. Nothing is faked: a failover is
# Patroni's own, after `kill-leader` SIGKILLs the leader's postmaster.
#
# Usage (as root: it installs Debian packages and runs everything but etcd as postgres):
#   bash tests/cluster.sh run -- CMD ARGS...  start, run CMD with the variables below,
#                                             stop, delete the folder, exit with CMD's status
#   eval "$(bash tests/cluster.sh start)"     start, print `export VAR=...` lines
#   bash tests/cluster.sh stop                stop everything it started, delete the folder
#   bash tests/cluster.sh leader              print the leader: `NAME 127.0.0.1:PORT`
#   bash tests/cluster.sh wait-leader [SECS]  wait (default 30 s) for a leader that accepts
#                                             writes, print it like `leader`
#   bash tests/cluster.sh kill-leader         SIGKILL the leader's postmaster, print which
#   bash tests/cluster.sh restart-member NAME start NAME's Patroni again if it is gone, else
#                                             ask it to restart PostgreSQL; wait until NAME
#                                             streams from the leader
#   bash tests/cluster.sh maintenance on|off  Patroni's maintenance mode (`patronictl pause`),
#                                             waits until every member has it. Needed to keep
#                                             a replica's pg_wal_replay_pause(): outside it,
#                                             Patroni resumes replay at its next loop (2 s)
#   bash tests/cluster.sh status              the members as Patroni's REST API sees them
#   bash tests/cluster.sh install             install the Debian packages only
# All but run/start/install find the cluster through DBMGMT_TEST_CLUSTER_DIR.
#
# Variables (not set when the cluster could not be started, unless CI=true, which turns
# that into a failure):
#   DBMGMT_TEST_CLUSTER_DSN          postgres://dbmgmt_test:PW@127.0.0.1:P1,127.0.0.1:P2,
#                                    127.0.0.1:P3/dbmgmt_test?target_session_attrs=read-write
#   DBMGMT_TEST_CLUSTER_MEMBER_DSNS  the app user's DSN of each member (m1 m2 m3), space-separated
#   DBMGMT_TEST_CLUSTER_ADMIN_DSNS   the superuser postgres's DSN of each member, same order
#   DBMGMT_TEST_CLUSTER_BOUNCER_DSN  the app user through PgBouncer (follows the leader;
#                                    any database name is routed to the leader's)
#   DBMGMT_TEST_CLUSTER_PATRONI_APIS Patroni's REST API of each member (http://127.0.0.1:R)
#   DBMGMT_TEST_CLUSTER_MEMBERS      the member names, same order (m1 m2 m3)
#   DBMGMT_TEST_CLUSTER_TTL          Patroni's ttl in seconds: a failover completes well
#                                    within TTL + 5 s
#   DBMGMT_TEST_CLUSTER_PASSWORDS    every password above, space-separated (grep logs for them)
#   DBMGMT_TEST_CLUSTER_DIR          the temporary state folder
#   DBMGMT_TEST_CLUSTER_SCRIPT       this script (for leader / kill-leader / wait-leader)
#
# Progress goes to stderr; in `start` mode stdout carries only the export lines.
# Passwords never appear on a command line or in a log: SQL that sets them goes to psql
# on stdin; Patroni and PgBouncer read them from files of mode 0600 owned by postgres.
set -euo pipefail

# fd 3 is the caller's stdout; everything this script prints otherwise goes to stderr,
# so nothing but the export lines can reach `eval "$(... start)"`.
exec 3>&1 1>&2

readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly MARKER=.dbmgmt-test-cluster      # marks a folder as ours before any rm -rf
readonly START_SECONDS=180                # bring-up bound, for a busy 2-core machine
readonly MEMBERS=(m1 m2 m3)
readonly PKGS=(postgresql-15 postgresql-client-15 patroni etcd-server etcd-client
    pgbouncer curl)
readonly SERVICES=(etcd pgbouncer patroni postgresql)   # what the packages could start
# What this run installs must not start at the next boot (etcd on 2379, pgbouncer on 6432).
readonly DISABLE_UNITS=(etcd-server:etcd pgbouncer:pgbouncer)
# Patroni timing. Decision: ttl 10 / loop_wait 2 / retry_timeout 4 (loop_wait +
# 2 * retry_timeout = ttl, as Patroni's docs ask). A crashed leader is noticed within one
# loop (2 s) and, with primary_start_timeout 0, failed over at once instead of being
# restarted in place; the ttl only matters when a leader's Patroni itself stops
# answering, and 10 s survives a loop that a saturated 2-core machine delays by seconds.
readonly TTL=10 LOOP_WAIT=2 RETRY_TIMEOUT=4
# A clean environment for every tool: no PG*/PATRONI_* variables of the caller's can
# redirect them to another server, user or configuration.
readonly CLEAN_ENV=(env -i "PATH=$PG_BIN:/usr/sbin:/usr/bin:/sbin:/bin" LC_ALL=C.UTF-8
    HOME=/var/lib/postgresql)

# For tests/harness.sh: log prefix, end of the usage text (lines 2-32 above), ports,
# how much of a log to show.
readonly LOG_TAG=cluster USAGE_END=33 WHAT=cluster STATE_DIR_VAR=DBMGMT_TEST_CLUSTER_DIR
readonly PORT_LO=15000 PORT_HI=32767 LOG_TAIL_LINES=25
# shellcheck source=tests/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# ---------------------------------------------------------------------------------------
# State: one folder per start. Layout: state.env (root, 0600: ports, passwords), pids/
# (root: the pids this script started), bin/ (the Patroni callback), etcd/ (root),
# m1/ m2/ m3/ (postgres, 0700: patroni.yml, data/, logs, unix socket), bouncer/
# (postgres, 0700: pgbouncer.ini, userlist.txt, log, pid). etcd's data lives on tmpfs
# (ETCD_DIR, with its own marker) when /dev/shm is there: a single etcd fsyncs every
# Patroni heartbeat, and a disk busy with other builds must not delay them.
# ---------------------------------------------------------------------------------------
STATE_DIR=''
CLUSTER_OK=0
SCOPE='' ETCD_DIR='' ETCD_PORT='' ETCD_PEER_PORT='' BOUNCER_PORT=''
PG_PORTS='' API_PORTS='' APP_PW='' SU_PW='' REPL_PW=''
readonly STATE_VARS=(CLUSTER_OK SCOPE ETCD_DIR ETCD_PORT ETCD_PEER_PORT BOUNCER_PORT
    PG_PORTS API_PORTS APP_PW SU_PW REPL_PW)

set_paths() {
    PID_DIR=$STATE_DIR/pids
    BOUNCER_DIR=$STATE_DIR/bouncer
    CALLBACK=$STATE_DIR/bin/on_role_change.sh
    APT_LOG=$STATE_DIR/apt.log
}

member_dir() { echo "$STATE_DIR/$1"; }

make_state_dir() {
    new_state_dir dbmgmt-cluster
    mkdir -m 0700 "$PID_DIR"
    SCOPE=dbmgmt-test-${STATE_DIR##*.}
}

make_etcd_dir() {
    if [[ -d /dev/shm && -w /dev/shm ]] && ETCD_DIR=$(mktemp -d /dev/shm/dbmgmt-cluster-etcd.XXXXXX); then
        touch "$ETCD_DIR/$MARKER"
    else
        ETCD_DIR=$STATE_DIR/etcd
        mkdir -m 0700 "$ETCD_DIR"
    fi
    chmod 0700 "$ETCD_DIR"
}

state_loaded() {   # after load_state (tests/harness.sh)
    ((CLUSTER_OK)) || die "the cluster in $STATE_DIR did not start"
}

pick_ports() {
    local m
    pick_free_port; ETCD_PORT=$PORT
    pick_free_port; ETCD_PEER_PORT=$PORT
    pick_free_port; BOUNCER_PORT=$PORT
    PG_PORTS='' API_PORTS=''
    for m in "${MEMBERS[@]}"; do
        pick_free_port; PG_PORTS+="${PG_PORTS:+ }$PORT"
        pick_free_port; API_PORTS+="${API_PORTS:+ }$PORT"
    done
}

member_index() {   # name: its index in MEMBERS
    local i
    for i in "${!MEMBERS[@]}"; do [[ ${MEMBERS[i]} != "$1" ]] || { echo "$i"; return 0; }; done
    die "no member named '$1' (members: ${MEMBERS[*]})"
}
member_pg_port() { local p; read -ra p <<<"$PG_PORTS"; echo "${p[$(member_index "$1")]}"; }
member_api_port() { local p; read -ra p <<<"$API_PORTS"; echo "${p[$(member_index "$1")]}"; }

# ---------------------------------------------------------------------------------------
# Processes: each pid this script starts is written to pids/NAME.pid, and teardown kills
# exactly those (and what they started), never anything found by name. is_zombie, alive,
# wait_gone, descendants and kill_and_wait are in tests/harness.sh.
# ---------------------------------------------------------------------------------------
recorded_pid() {   # name expected-comm: the recorded pid if that process still runs
    local pid
    pid=$(cat "$PID_DIR/$1.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2"* ]] || return 1
    echo "$pid"
}

postmaster_pid() {   # member: its running postmaster's pid, from data/postmaster.pid
    local dir pid
    dir=$(member_dir "$1")/data
    pid=$(head -n 1 "$dir/postmaster.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] || return 1
    # the pid file may be stale and the pid reused by another cluster's postmaster
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir" || return 1
    echo "$pid"
}

# ---------------------------------------------------------------------------------------
# Failures: fatal with CI=true, otherwise a warning and no cluster variables.
# ---------------------------------------------------------------------------------------
member_logs() {
    local m
    for m in "${MEMBERS[@]}"; do
        echo "$(member_dir "$m")/patroni.log"
        echo "$(member_dir "$m")/patroni.out"
        echo "$(member_dir "$m")/log/postgresql.log"
    done
}

cluster_failed() {   # message [logs...]: default, every log of the cluster
    local msg=$1 logs
    shift
    logs=("$@")
    (($#)) || mapfile -t logs < <(echo "$STATE_DIR/etcd.log"; member_logs; echo "$BOUNCER_DIR/pgbouncer.log")
    log "$msg"
    show_log_tails "${logs[@]}"
    in_ci && die "the PostgreSQL cluster is required with CI=true"
    log "warning: continuing without the cluster (its variables are not exported)"
    CLUSTER_OK=0
    stop_processes
}

# ---------------------------------------------------------------------------------------
# Packages: tests/harness.sh's install_packages (PKGS; SERVICES that start anyway are
# stopped, the DISABLE_UNITS this run installed are disabled).
# ---------------------------------------------------------------------------------------
# etcd: one member, v3 API (Patroni's etcd3 client), client and peer port on 127.0.0.1.
# ---------------------------------------------------------------------------------------
etcd_start() {
    local url=http://127.0.0.1:$ETCD_PORT peer=http://127.0.0.1:$ETCD_PEER_PORT pid
    # setsid: its own session, so a Ctrl-C at the caller's terminal or a test runner
    # killing a process group does not reach it. It execs, so $! is etcd's pid.
    setsid "${CLEAN_ENV[@]}" etcd --name "$SCOPE" --data-dir "$ETCD_DIR/data" \
        --listen-client-urls "$url" --advertise-client-urls "$url" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "$SCOPE=$peer" --initial-cluster-state new \
        --initial-cluster-token "$SCOPE" --snapshot-count 10000 \
        --quota-backend-bytes $((256 * 1024 * 1024)) --logger zap --log-level warn \
        </dev/null >>"$STATE_DIR/etcd.log" 2>&1 3>&- &
    pid=$!
    disown "$pid"     # no "Killed" job report from bash at teardown
    echo "$pid" >"$PID_DIR/etcd.pid"
    local deadline=$((SECONDS + 60))
    until curl -fsS -m 2 "$url/health" 2>/dev/null | grep -q '"health":"true"'; do
        alive "$pid" || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# ---------------------------------------------------------------------------------------
# Patroni members, run as postgres from their own folder.
# ---------------------------------------------------------------------------------------
as_postgres() {   # dir cmd...: run as postgres (postgres cannot enter root's cwd)
    local dir=$1
    shift
    (cd "$dir" && "${CLEAN_ENV[@]}" runuser -u postgres -- "$@")
}

member_psql() {   # member database: SQL from stdin, as superuser over the unix socket
    local dir
    dir=$(member_dir "$1")
    as_postgres "$dir" psql -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$(member_pg_port "$1")" \
        -U postgres -d "$2"
}

member_query() {   # member sql: one-row answer as superuser (database postgres), fast timeout
    local dir
    dir=$(member_dir "$1")
    as_postgres "$dir" psql -X -q -At -v ON_ERROR_STOP=1 \
        "host=$dir port=$(member_pg_port "$1") user=postgres dbname=postgres connect_timeout=3" \
        -c "$2" 2>/dev/null
}

# The on_role_change / on_start callback: the member that becomes the leader points
# PgBouncer at itself (databases.ini, then SIGHUP: PgBouncer reloads it and closes its
# server connections to the old leader as they are released). Besides dbmgmt_test, a
# `*` entry sends any other database name to the leader too, so that tests can reach
# databases of their own through PgBouncer. Patroni appends
# "ACTION ROLE SCOPE" to the arguments given here.
write_callback() {
    mkdir -m 0755 "$STATE_DIR/bin"
    cat >"$CALLBACK" <<'EOF'
#!/bin/sh
# on_role_change / on_start callback from libdbmgmt tests/cluster.sh.
# Arguments: MY_PG_PORT BOUNCER_DIR (from patroni.yml), then ACTION ROLE SCOPE (Patroni's).
port=$1 dir=$2 action=$3 role=$4
case $role in master|primary) ;; *) exit 0 ;; esac
printf '[databases]\ndbmgmt_test = host=127.0.0.1 port=%s dbname=dbmgmt_test\n* = host=127.0.0.1 port=%s\n' \
    "$port" "$port" >"$dir/databases.ini.tmp" && mv -f "$dir/databases.ini.tmp" "$dir/databases.ini" || exit 1
pid=$(cat "$dir/pgbouncer.pid" 2>/dev/null) || pid=
if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pgbouncer ]; then
    kill -HUP "$pid"
fi
echo "$(date '+%F %T') $action $role: PgBouncer -> 127.0.0.1:$port" >>"$dir/callback.log"
EOF
    chmod 0755 "$CALLBACK"
}

write_member_config() {   # member
    local m=$1 dir pg_port api_port
    dir=$(member_dir "$m")
    pg_port=$(member_pg_port "$m")
    api_port=$(member_api_port "$m")
    install -d -o postgres -g postgres -m 0700 "$dir" "$dir/log"
    # Decision: fsync off (as in servers.sh): processes die in these tests, the machine
    # does not. full_page_writes stays on (pg_rewind needs it) and synchronous_commit on:
    # with synchronous_mode a commit is acknowledged once the sync standby has it.
    # initdb: no-sync (Patroni forbids `nosync`, not its long form; 3 s less on a busy
    # disk) and 1 MB WAL segments, so three members take 100 MB, not 250 MB, which
    # initdb, pg_basebackup and the final rm -rf all write or walk.
    (
        umask 077
        cat >"$dir/patroni.yml" <<EOF
# libdbmgmt tests/cluster.sh: member $m (holds passwords: mode 0600, owner postgres)
scope: $SCOPE
namespace: /dbmgmt-test/
name: $m
log:
  level: INFO
  dir: $dir
  file_num: 2
  file_size: 10485760
restapi:
  listen: 127.0.0.1:$api_port
  connect_address: 127.0.0.1:$api_port
etcd3:
  hosts: 127.0.0.1:$ETCD_PORT
watchdog:
  mode: 'off'
bootstrap:
  dcs:
    ttl: $TTL
    loop_wait: $LOOP_WAIT
    retry_timeout: $RETRY_TIMEOUT
    maximum_lag_on_failover: 1048576
    primary_start_timeout: 0
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        hot_standby_feedback: 'on'
        wal_log_hints: 'on'
        max_connections: 100
        max_wal_senders: 10
        max_replication_slots: 10
        shared_buffers: 32MB
        fsync: 'off'
        password_encryption: scram-sha-256
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth-local: trust
    - auth-host: scram-sha-256
    - no-sync
    - wal-segsize: '1'
  pg_hba:
$(hba_lines)
postgresql:
  listen: 127.0.0.1:$pg_port
  connect_address: 127.0.0.1:$pg_port
  data_dir: $dir/data
  bin_dir: $PG_BIN
  pgpass: $dir/pgpass
  authentication:
    superuser:
      username: postgres
      password: '$SU_PW'
    replication:
      username: replicator
      password: '$REPL_PW'
    rewind:
      username: postgres
      password: '$SU_PW'
  parameters:
    unix_socket_directories: '$dir'
    logging_collector: 'on'
    log_directory: '$dir/log'
    log_filename: postgresql.log
    log_min_error_statement: panic
  pg_hba:
$(hba_lines)
  callbacks:
    on_start: $CALLBACK $pg_port $BOUNCER_DIR
    on_role_change: $CALLBACK $pg_port $BOUNCER_DIR
EOF
    )
    chown postgres:postgres "$dir/patroni.yml"
    validate_member_config "$dir/patroni.yml" >"$dir/validate.log" 2>&1
}

# The unix socket folders are 0700: `local trust` lets only postgres (and root) in.
hba_lines() {
    printf '    - %s\n' 'local all all trust' \
        'host replication replicator 127.0.0.1/32 scram-sha-256' \
        'host all all 127.0.0.1/32 scram-sha-256'
}

# Patroni's own validator, less one rule: it refuses a connect_address on 127.0.0.1
# (other hosts could not reach it), which is exactly what a one-machine test cluster
# wants. Anything else it reports is an error.
validate_member_config() {   # patroni.yml
    local out
    out=$("${CLEAN_ENV[@]}" patroni --validate-config "$1" 2>&1) && return 0
    out=$(grep -v 'connect_address 127\.0\.0\.1:[0-9]* didn.t pass validation: .must not contain "127\.0\.0\.1"' \
        <<<"$out" || true)
    [[ -z $out ]] || { echo "$out"; return 1; }
}

patroni_start() {   # member: launch its Patroni (setpriv execs: $! is patroni's pid)
    local m=$1 dir
    dir=$(member_dir "$m")
    (
        cd "$dir"
        exec setsid setpriv --reuid=postgres --regid=postgres --init-groups \
            "${CLEAN_ENV[@]}" patroni "$dir/patroni.yml" </dev/null >>"$dir/patroni.out" 2>&1 3>&-
    ) &
    echo "$!" >"$PID_DIR/patroni-$m.pid"
    disown "$!"
}

# `GET /cluster` of the first member that answers: one line per member,
# "NAME ROLE STATE PORT" (role leader / sync_standby / replica).
cluster_members() {
    local port json
    for port in $API_PORTS; do
        json=$(curl -fsS -m 3 "http://127.0.0.1:$port/cluster" 2>/dev/null) || continue
        "${CLEAN_ENV[@]}" python3 -c '
import json, sys
for m in json.loads(sys.argv[1]).get("members", []):
    print(m.get("name"), m.get("role"), m.get("state"), m.get("port"))
' "$json" 2>/dev/null && return 0
    done
    return 1
}

# The leader, if its PostgreSQL accepts writes: "NAME 127.0.0.1:PORT".
writable_leader() {
    local name role state port
    while read -r name role state port; do
        [[ $role == leader && $state == running ]] || continue
        [[ $(member_query "$name" 'SELECT pg_is_in_recovery()') == f ]] || return 1
        echo "$name 127.0.0.1:$port"
        return 0
    done < <(cluster_members)
    return 1
}

wait_writable_leader() {   # seconds: print the leader once it accepts writes
    local deadline=$((SECONDS + $1))
    until writable_leader; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# The app role and database, created once on the leader. The passwords reach the
# server only as SQL on psql's stdin; nothing in that session may log the statement.
create_app_database() {   # leader
    member_psql "$1" postgres <<EOF
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
CREATE ROLE dbmgmt_test LOGIN CREATEDB PASSWORD '$APP_PW';
EOF
    member_psql "$1" postgres <<'EOF'
CREATE DATABASE dbmgmt_test OWNER dbmgmt_test;
GRANT pg_read_all_stats TO dbmgmt_test;
EOF
}

# Ready: two replicas stream from the leader, one of them synchronously, and each has
# replayed the app database and role (libpq does not try the next host of a multi-host
# DSN when the first answers "database does not exist").
cluster_ready() {   # leader
    local leader=$1 m
    [[ $(member_query "$leader" "SELECT count(*) FILTER (WHERE state = 'streaming') || ' ' ||
        count(*) FILTER (WHERE sync_state = 'sync') FROM pg_stat_replication") == '2 1' ]] ||
        return 1
    for m in "${MEMBERS[@]}"; do
        [[ $m == "$leader" ]] && continue
        [[ $(member_query "$m" "SELECT pg_is_in_recovery() AND EXISTS (SELECT FROM pg_database
            WHERE datname = 'dbmgmt_test') AND EXISTS (SELECT FROM pg_roles
            WHERE rolname = 'dbmgmt_test')") == t ]] || return 1
    done
}

stop_members() {
    local m pid patronis=() rest=()
    # Patroni is frozen first (SIGSTOP), so that it cannot restart a PostgreSQL it sees
    # go away; then each postmaster gets an immediate shutdown (SIGQUIT, it takes its
    # backends and WAL senders with it); then Patroni dies with whatever else it had
    # started (a pg_basebackup, pg_rewind or callback under way).
    for m in "${MEMBERS[@]}"; do
        pid=$(recorded_pid "patroni-$m" patroni) || pid=$(recorded_pid "patroni-$m" python) || continue
        kill -STOP "$pid" 2>/dev/null || true
        patronis+=("$pid")
    done
    for m in "${MEMBERS[@]}"; do
        pid=$(postmaster_pid "$m") || continue
        kill -QUIT "$pid" 2>/dev/null || true
        wait_gone "$pid" || kill_and_wait KILL "$pid"
    done
    for pid in "${patronis[@]}"; do
        rest+=("$pid")
        mapfile -t -O "${#rest[@]}" rest < <(descendants "$pid")
    done
    ((${#rest[@]} == 0)) || kill_and_wait KILL "${rest[@]}"
}

# ---------------------------------------------------------------------------------------
# PgBouncer, as postgres (it refuses root), in front of the leader.
# ---------------------------------------------------------------------------------------
bouncer_start() {   # leader
    local d=$BOUNCER_DIR
    install -d -o postgres -g postgres -m 0700 "$d"
    (
        umask 077
        printf '"dbmgmt_test" "%s"\n' "$APP_PW" >"$d/userlist.txt"
        cat >"$d/pgbouncer.ini" <<EOF
; libdbmgmt tests/cluster.sh. The [databases] section is in databases.ini, which the
; Patroni callback rewrites when another member becomes the leader.
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir = $d
auth_type = scram-sha-256
auth_file = $d/userlist.txt
pool_mode = transaction
max_client_conn = 200
default_pool_size = 20
server_login_retry = 1
server_connect_timeout = 3
logfile = $d/pgbouncer.log
pidfile = $d/pgbouncer.pid
%include $d/databases.ini
EOF
    )
    chown postgres:postgres "$d/userlist.txt" "$d/pgbouncer.ini"
    as_postgres "$d" "$CALLBACK" "$(member_pg_port "$1")" "$d" on_start master "$SCOPE"
    as_postgres "$d" pgbouncer -d -q "$d/pgbouncer.ini" </dev/null >>"$d/pgbouncer.out" 2>&1 3>&- ||
        return 1
    local deadline=$((SECONDS + 30)) pid
    until pid=$(cat "$d/pgbouncer.pid" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] &&
        (exec 4<>"/dev/tcp/127.0.0.1/$BOUNCER_PORT") 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
    echo "$pid" >"$PID_DIR/pgbouncer.pid"
}

# ---------------------------------------------------------------------------------------
# The whole cluster
# ---------------------------------------------------------------------------------------
bring_up() {
    [[ $EUID -eq 0 ]] || die "run as root (installs packages, runs the servers as postgres)"
    local t0 t1 m leader deadline
    t0=$(now_us)
    make_state_dir
    CLUSTER_OK=1
    save_state
    install_packages || { cluster_failed "could not install ${PKGS[*]}" "$APT_LOG"; return 0; }
    make_etcd_dir
    pick_ports
    APP_PW=$(random_hex24) SU_PW=$(random_hex24) REPL_PW=$(random_hex24)
    save_state
    t1=$(now_us)
    log "etcd on 127.0.0.1:$ETCD_PORT, PostgreSQL on ${PG_PORTS// /, }, Patroni API on ${API_PORTS// /, }, PgBouncer on $BOUNCER_PORT, in $STATE_DIR"
    etcd_start || { cluster_failed "etcd did not start" "$STATE_DIR/etcd.log"; return 0; }
    write_callback
    for m in "${MEMBERS[@]}"; do
        write_member_config "$m" || { cluster_failed "Patroni rejects the configuration of $m" \
            "$(member_dir "$m")/validate.log"; return 0; }
    done
    # All three at once: one wins the initialize key and runs initdb, the others wait
    # for it and then clone it with pg_basebackup.
    for m in "${MEMBERS[@]}"; do patroni_start "$m"; done
    leader=$(wait_writable_leader "$START_SECONDS") ||
        { cluster_failed "no leader within $START_SECONDS s"; return 0; }
    leader=${leader%% *}
    log "leader $leader after $(seconds_since "$t1") s"
    create_app_database "$leader" >>"$STATE_DIR/setup.log" 2>&1 ||
        { cluster_failed "could not create the app database" "$STATE_DIR/setup.log"; return 0; }
    bouncer_start "$leader" ||
        { cluster_failed "PgBouncer did not start" "$BOUNCER_DIR/pgbouncer.log" "$BOUNCER_DIR/pgbouncer.out"; return 0; }
    deadline=$((SECONDS + START_SECONDS))
    # The leader is asked again each time: should it change meanwhile, the callback has
    # repointed PgBouncer, and readiness is the new leader's.
    until leader=$(writable_leader) && leader=${leader%% *} && cluster_ready "$leader"; do
        ((SECONDS < deadline)) ||
            { cluster_failed "the replicas did not stream within $START_SECONDS s"; return 0; }
        sleep 0.3
    done
    save_state
    log "cluster up in $(seconds_since "$t0") s ($(seconds_since "$t1") s after install): leader $leader, 2 streaming replicas (1 sync), $(memory_in_use) MiB"
}

exit_unless_up() { ((CLUSTER_OK)) || exit 1; }   # for cmd_start (tests/harness.sh)

our_pids() {   # every process of the cluster: the recorded ones, the postmasters (a
    # member's survives its Patroni) and all their descendants, once each
    local f pid m
    {
        for f in "$PID_DIR"/*.pid; do
            [[ -e $f ]] || continue
            pid=$(<"$f")
            alive "$pid" || continue
            echo "$pid"
            descendants "$pid"
        done
        for m in "${MEMBERS[@]}"; do
            pid=$(postmaster_pid "$m") || continue
            echo "$pid"
            descendants "$pid"
        done
    } | sort -un
}

stop_processes() {
    local pid
    if pid=$(recorded_pid pgbouncer pgbouncer); then kill_and_wait KILL "$pid"; fi
    stop_members
    if pid=$(recorded_pid etcd etcd); then kill_and_wait KILL "$pid"; fi
}

stop_all() {   # teardown's (tests/harness.sh): the processes, etcd's folder on tmpfs
    stop_processes
    if [[ -n $ETCD_DIR && $ETCD_DIR != "$STATE_DIR"/* && -f $ETCD_DIR/$MARKER ]]; then
        rm -rf "$ETCD_DIR"
    fi
}

# Assigns (does not export) the variables; clears them all when the cluster is not up,
# so a caller's stale values cannot point the suite at a cluster that is gone.
VARS=(DBMGMT_TEST_CLUSTER_DSN DBMGMT_TEST_CLUSTER_MEMBER_DSNS DBMGMT_TEST_CLUSTER_ADMIN_DSNS
    DBMGMT_TEST_CLUSTER_BOUNCER_DSN DBMGMT_TEST_CLUSTER_PATRONI_APIS DBMGMT_TEST_CLUSTER_MEMBERS
    DBMGMT_TEST_CLUSTER_TTL DBMGMT_TEST_CLUSTER_PASSWORDS DBMGMT_TEST_CLUSTER_DIR
    DBMGMT_TEST_CLUSTER_SCRIPT)

# shellcheck disable=SC2034 # the variables are read through ${!v} by the callers
set_vars() {
    unset "${VARS[@]}"
    ((CLUSTER_OK)) || return 0
    local port hosts='' members='' admins='' apis=''
    for port in $PG_PORTS; do
        hosts+="${hosts:+,}127.0.0.1:$port"
        members+="${members:+ }postgres://dbmgmt_test:$APP_PW@127.0.0.1:$port/dbmgmt_test"
        admins+="${admins:+ }postgres://postgres:$SU_PW@127.0.0.1:$port/dbmgmt_test"
    done
    for port in $API_PORTS; do apis+="${apis:+ }http://127.0.0.1:$port"; done
    DBMGMT_TEST_CLUSTER_DSN="postgres://dbmgmt_test:$APP_PW@$hosts/dbmgmt_test?target_session_attrs=read-write"
    DBMGMT_TEST_CLUSTER_MEMBER_DSNS=$members
    DBMGMT_TEST_CLUSTER_ADMIN_DSNS=$admins
    DBMGMT_TEST_CLUSTER_BOUNCER_DSN=postgres://dbmgmt_test:$APP_PW@127.0.0.1:$BOUNCER_PORT/dbmgmt_test
    DBMGMT_TEST_CLUSTER_PATRONI_APIS=$apis
    DBMGMT_TEST_CLUSTER_MEMBERS=${MEMBERS[*]}
    DBMGMT_TEST_CLUSTER_TTL=$TTL
    DBMGMT_TEST_CLUSTER_PASSWORDS="$APP_PW $SU_PW $REPL_PW"
    DBMGMT_TEST_CLUSTER_DIR=$STATE_DIR
    DBMGMT_TEST_CLUSTER_SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh
}

# ---------------------------------------------------------------------------------------
# Sub-commands
# ---------------------------------------------------------------------------------------
# run, start, stop and install are in tests/harness.sh.
cmd_leader() {
    load_state
    writable_leader >&3 || die "no leader accepts writes now"
}

cmd_wait_leader() {   # [seconds]
    local secs=${1:-30} t0
    [[ $secs =~ ^[0-9]+$ ]] || usage
    load_state
    t0=$(now_us)
    wait_writable_leader "$secs" >&3 || die "no leader accepted writes within $secs s"
    log "leader found after $(seconds_since "$t0") s"
}

cmd_kill_leader() {
    load_state
    local name role state port pid
    while read -r name role state port; do
        [[ $role == leader ]] || continue
        pid=$(postmaster_pid "$name") || die "the leader $name has no running postmaster"
        kill -KILL "$pid"
        log "killed the postmaster (pid $pid) of the leader $name"
        echo "$name 127.0.0.1:$port" >&3
        return 0
    done < <(cluster_members)
    die "no leader in Patroni's view of the cluster"
}

cmd_restart_member() {   # name
    (($# == 1)) || usage
    load_state
    local m=$1 pid deadline
    member_index "$m" >/dev/null
    if pid=$(recorded_pid "patroni-$m" patroni) || pid=$(recorded_pid "patroni-$m" python); then
        if ! postmaster_pid "$m" >/dev/null; then
            log "asking Patroni to restart PostgreSQL on $m"
            curl -fsS -m 30 -X POST -d '{}' "http://127.0.0.1:$(member_api_port "$m")/restart" >&2 || true
        fi
    else
        log "starting Patroni of $m again"
        patroni_start "$m"
    fi
    deadline=$((SECONDS + START_SECONDS))
    until member_streams "$m"; do
        ((SECONDS < deadline)) || die "$m does not run and stream from the leader after $START_SECONDS s"
        sleep 0.5
    done
    log "$m streams from the leader"
}

member_streams() {   # member: its Patroni answers, and it streams from the current leader
    local leader
    curl -fsS -m 3 "http://127.0.0.1:$(member_api_port "$1")/patroni" 2>/dev/null |
        grep -q '"state": *"running"' || return 1
    leader=$(writable_leader) || return 1
    leader=${leader%% *}
    [[ $leader != "$1" ]] || return 1
    [[ $(member_query "$leader" "SELECT count(*) FROM pg_stat_replication
        WHERE application_name = '$1' AND state = 'streaming'") == 1 ]]
}

# Decision: maintenance mode is Patroni's cluster-wide `pause` key in the DCS, set
# through the REST API as patronictl does. While it is on, Patroni neither fails over nor
# resumes a paused WAL replay (PostgreSQL 14+ replicas otherwise get
# pg_wal_replay_resume() at every loop: Patroni 3.0's handle_parameter_change).
cmd_maintenance() {   # on|off
    local want api deadline
    case ${1-} in on) want=true ;; off) want=false ;; *) usage ;; esac
    load_state
    for api in $API_PORTS; do
        curl -fsS -m 5 -X PATCH -H 'Content-Type: application/json' -d "{\"pause\": $want}" \
            "http://127.0.0.1:$api/config" >/dev/null 2>&1 && break
    done
    deadline=$((SECONDS + 30))
    until all_members_report_pause "$want"; do
        ((SECONDS < deadline)) || die "the members did not all report pause=$want within 30 s"
        sleep 0.2
    done
    log "maintenance mode $1 on every member"
}

all_members_report_pause() {   # true|false: every member's GET /patroni says so
    local api json
    for api in $API_PORTS; do
        json=$(curl -fsS -m 3 "http://127.0.0.1:$api/patroni" 2>/dev/null) || return 1
        "${CLEAN_ENV[@]}" python3 -c '
import json, sys
sys.exit(0 if bool(json.loads(sys.argv[1]).get("pause", False)) == (sys.argv[2] == "true") else 1)
' "$json" "$1" || return 1
    done
}

cmd_status() {
    load_state
    log "members (name role state port), $(memory_in_use) MiB in use:"
    cluster_members >&3 || die "no Patroni REST API answers"
}

script_command() {   # command args...: all but run, start and stop (tests/harness.sh)
    local cmd=$1
    shift
    case $cmd in
    install) cmd_install ;;
    leader) cmd_leader ;;
    wait-leader) cmd_wait_leader "$@" ;;
    kill-leader) cmd_kill_leader ;;
    restart-member) cmd_restart_member "$@" ;;
    maintenance) cmd_maintenance "$@" ;;
    status) cmd_status ;;
    *) usage ;;
    esac
}

main "$@"
