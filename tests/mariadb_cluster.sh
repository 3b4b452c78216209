#!/usr/bin/env bash
# tests/mariadb_cluster.sh — real, throwaway MariaDB 10.11 clusters on 127.0.0.1 for the
# `cluster` test suite (issue 19): GTID replication (a primary p, replicas r1 r2) and a
# three-node Galera cluster (g1 g2 g3), from Debian packages, in one temporary folder
# that is deleted afterwards. Nothing is faked: `kill` SIGKILLs a server, a Galera node
# rejoins by IST, a replica reconnects on its own.
#
# Usage (as root: it installs Debian packages and runs the servers as mysql):
#   bash tests/mariadb_cluster.sh run -- CMD ARGS...  start, run CMD with the variables
#                                        below, stop, delete the folder, exit with CMD's status
#   eval "$(bash tests/mariadb_cluster.sh start)"     start, print `export VAR=...` lines
#   bash tests/mariadb_cluster.sh stop              stop everything it started, delete the folder
#   bash tests/mariadb_cluster.sh kill NAME         SIGKILL server NAME, print NAME
#   bash tests/mariadb_cluster.sh start-member NAME start NAME again (same configuration) and
#                                        wait: a Galera node until it has rejoined (IST) and
#                                        is Synced, a replica until it replicates and caught up
#   bash tests/mariadb_cluster.sh promote NAME      replica NAME becomes a writable primary:
#                                        STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0
#   bash tests/mariadb_cluster.sh demote NAME       SET GLOBAL read_only=1 on NAME
#   bash tests/mariadb_cluster.sh repoint NAME PRIMARY  NAME replicates from PRIMARY (GTID,
#                                        slave_pos from its gtid_current_pos); waits until
#                                        it has caught up
#   bash tests/mariadb_cluster.sh wait-synced [SECS] wait (default 60 s) until every running
#                                        Galera node is Synced, ready, in one cluster of them all
#   bash tests/mariadb_cluster.sh status            a line per member, e.g.
#       p 10001 up read_only=0 gtid=0-1-12 master=- io=- sql=-
#       r1 10002 up read_only=1 gtid=0-1-12 master=p io=Yes sql=Yes
#       g1 10004 up read_only=0 state=Synced ready=ON size=3
#       g3 10006 down
#   bash tests/mariadb_cluster.sh install           install the Debian packages only
# All but run/start/install find the clusters through DBMGMT_TEST_MYCLUSTER_DIR.
#
# Variables (a cluster that could not be started is left out, unless CI=true, which turns
# that into a failure; when neither starts, `start` prints nothing and exits 0):
#   DBMGMT_TEST_MYREPL_PRIMARY_DSN  mysql://dbmgmt_test:PW@127.0.0.1:P/dbmgmt_test
#   DBMGMT_TEST_MYREPL_REPLICA_DSNS the app user's DSN of r1 and r2, space-separated
#   DBMGMT_TEST_MYREPL_HOSTS_DSN    mysql://dbmgmt_test:PW@127.0.0.1:P,127.0.0.1:R1,
#                                   127.0.0.1:R2/dbmgmt_test
#   DBMGMT_TEST_MYREPL_ADMIN_DSNS   root's DSN of p r1 r2 (SUPER: not stopped by read_only)
#   DBMGMT_TEST_MYREPL_MEMBERS      p r1 r2
#   DBMGMT_TEST_GALERA_DSNS         the app user's DSN of g1 g2 g3
#   DBMGMT_TEST_GALERA_ADMIN_DSNS   root's DSN of g1 g2 g3
#   DBMGMT_TEST_GALERA_MEMBERS      g1 g2 g3
#   DBMGMT_TEST_MYCLUSTER_PASSWORDS every password above (and the replication user's),
#                                   space-separated (grep logs for them)
#   DBMGMT_TEST_MYCLUSTER_DIR       the temporary state folder
#   DBMGMT_TEST_MYCLUSTER_SCRIPT    this script (for kill / start-member / promote ...)
#
# Progress goes to stderr; in `start` mode stdout carries only the export lines.
# Passwords never appear on a command line or in a log: the script itself logs in as
# root over each server's unix socket (unix_socket authentication), SQL that sets a
# password goes to `mariadb` on stdin, and users are created from password hashes.
set -euo pipefail

# fd 3 is the caller's stdout; everything this script prints otherwise goes to stderr,
# so nothing but the export lines can reach `eval "$(... start)"`.
exec 3>&1 1>&2

readonly MARKER=.dbmgmt-test-mycluster    # marks a folder as ours before any rm -rf
readonly START_SECONDS=180                # bound of each wait, for a busy 2-core machine
readonly GALERA_PROVIDER=/usr/lib/galera/libgalera_smm.so
readonly REPL_MEMBERS=(p r1 r2)
readonly GALERA_MEMBERS=(g1 g2 g3)
readonly MEMBERS=("${REPL_MEMBERS[@]}" "${GALERA_MEMBERS[@]}")
# ss (iproute2): wsrep_sst_rsync checks its rsync daemon's port with it.
readonly PKGS=(mariadb-server mariadb-client galera-4 rsync openssl iproute2 procps)
readonly SERVICES=(mariadb rsync)         # what the packages could start
readonly DISABLE_UNITS=()
# Ports: free ones in a block that tests/servers.sh and tests/cluster.sh never pick from
# (they pick from 15000 up), so concurrent start-ups cannot choose the same port.
readonly PORT_LO=10000 PORT_HI=14999
# Galera timing for one machine: a SIGKILLed node is declared dead after about 3 s
# instead of 5-15 s; 3 s still survives a process that a loaded 2-core machine stalls.
readonly EVS_OPTIONS='evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT3S;evs.inactive_check_period=PT0.5S;evs.keepalive_period=PT0.5S'
# A clean environment for every tool: no MYSQL_* variables or ~/.my.cnf of the caller's
# can redirect them to another server, user or configuration.
readonly CLEAN_ENV=(env -i "PATH=/usr/sbin:/usr/bin:/sbin:/bin" LC_ALL=C.UTF-8)

# For tests/harness.sh: log prefix, end of the usage text (the whole header above), how
# much of a log to show.
readonly LOG_TAG=mariadb-cluster USAGE_END='/^set -euo/' WHAT=clusters
readonly STATE_DIR_VAR=DBMGMT_TEST_MYCLUSTER_DIR LOG_TAIL_LINES=25
# shellcheck source=tests/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# ---------------------------------------------------------------------------------------
# State: one folder per start. Layout: state.env (root, 0600: ports, passwords), pids/
# (root: the pid of each server this script launched), roles/ (read_only set by
# promote / demote, applied again by start-member), client/ (root, 0700: the app users'
# client option files, 0600), template/ (one mariadb-install-db, copied for each server),
# and per member NAME/ (mysql, 0700: my.cnf, data/, mariadbd.err, socket, pid file).
# ---------------------------------------------------------------------------------------
STATE_DIR=''
REPL_OK=0 GALERA_OK=0 CLUSTER_NAME=''
REPL_APP_PW='' REPL_ROOT_PW='' REPL_USER_PW='' GALERA_APP_PW='' GALERA_ROOT_PW=''
PORT_p='' PORT_r1='' PORT_r2='' PORT_g1='' PORT_g2='' PORT_g3=''
# shellcheck disable=SC2034 # read through ${!v}
GCOMM_g1='' GCOMM_g2='' GCOMM_g3='' IST_g1='' IST_g2='' IST_g3='' SST_g1='' SST_g2='' SST_g3=''
readonly STATE_VARS=(REPL_OK GALERA_OK CLUSTER_NAME REPL_APP_PW REPL_ROOT_PW REPL_USER_PW
    GALERA_APP_PW GALERA_ROOT_PW PORT_p PORT_r1 PORT_r2 PORT_g1 PORT_g2 PORT_g3
    GCOMM_g1 GCOMM_g2 GCOMM_g3 IST_g1 IST_g2 IST_g3 SST_g1 SST_g2 SST_g3)

set_paths() {
    PID_DIR=$STATE_DIR/pids
    ROLE_DIR=$STATE_DIR/roles
    CLIENT_DIR=$STATE_DIR/client
    TEMPLATE_DIR=$STATE_DIR/template
    APT_LOG=$STATE_DIR/apt.log
}

member_dir() { echo "$STATE_DIR/$1"; }

make_state_dir() {
    new_state_dir dbmgmt-mycluster
    mkdir -m 0700 "$PID_DIR" "$ROLE_DIR" "$CLIENT_DIR"
    CLUSTER_NAME=dbmgmt-test-${STATE_DIR##*.}
}

pick_ports() {
    local m
    for m in "${MEMBERS[@]}"; do pick_free_port; printf -v "PORT_$m" %s "$PORT"; done
    for m in "${GALERA_MEMBERS[@]}"; do
        pick_free_port; printf -v "GCOMM_$m" %s "$PORT"
        pick_free_port; printf -v "IST_$m" %s "$PORT"
        pick_free_port; printf -v "SST_$m" %s "$PORT"
    done
}

is_galera() { [[ $1 == g[123] ]]; }
is_repl() { [[ $1 == p || $1 == r[12] ]]; }
check_member() {   # name: dies unless it is one of MEMBERS of a cluster that is up
    if is_repl "$1"; then
        ((REPL_OK)) || die "the replication cluster is not up"
    elif is_galera "$1"; then
        ((GALERA_OK)) || die "the Galera cluster is not up"
    else
        die "no member named '$1' (members: ${MEMBERS[*]})"
    fi
}
member_port() { local v=PORT_$1; echo "${!v}"; }
member_by_port() {   # port: the member listening there, if any
    local m
    for m in "${MEMBERS[@]}"; do [[ $(member_port "$m") != "$1" ]] || { echo "$m"; return 0; }; done
    return 1
}

# ---------------------------------------------------------------------------------------
# Processes: the pid of each server this script launches is written to pids/NAME.pid;
# teardown kills exactly those (and what they started), never anything found by name.
# is_zombie, alive, wait_gone, descendants and kill_and_wait are in tests/harness.sh.
# ---------------------------------------------------------------------------------------
# The member's running mariadbd: the recorded pid (or the server's own pid file), if
# that process is a mariadbd started with this member's configuration (a pid may have
# been reused since).
server_pid() {   # member
    local dir f pid
    dir=$(member_dir "$1")
    for f in "$PID_DIR/$1.pid" "$dir/mariadbd.pid"; do
        pid=$(cat "$f" 2>/dev/null) || continue
        [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == mariadbd ]] || continue
        alive "$pid" || continue
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--defaults-file=$dir/my.cnf " ||
            continue
        echo "$pid"
        return 0
    done
    return 1
}

member_running() { server_pid "$1" >/dev/null; }

# SIGKILL of a member and of whatever it started (an SST script and its rsync).
kill_member() {   # member
    local pid dir pids
    dir=$(member_dir "$1")
    pid=$(server_pid "$1") || return 0
    mapfile -t pids < <(echo "$pid"; descendants "$pid")
    kill_and_wait KILL "${pids[@]}"
    rm -f "$dir/mariadbd.pid" "$dir/mysqld.sock" "$dir/mysqld.sock.lock"
}

# ---------------------------------------------------------------------------------------
# Failures: fatal with CI=true, otherwise a warning and the cluster is left out.
# ---------------------------------------------------------------------------------------
member_logs() {   # members...
    local m
    for m; do
        echo "$(member_dir "$m")/setup.log"
        echo "$(member_dir "$m")/mariadbd.out"
        echo "$(member_dir "$m")/mariadbd.err"
    done
}

cluster_failed() {   # repl|galera message [logs...]: default, the members' logs
    local which=$1 msg=$2 logs members name
    shift 2
    if [[ $which == repl ]]; then
        members=("${REPL_MEMBERS[@]}") name='MariaDB GTID replication'
    else
        members=("${GALERA_MEMBERS[@]}") name='MariaDB Galera'
    fi
    logs=("$@")
    (($#)) || mapfile -t logs < <(member_logs "${members[@]}")
    log "$name: $msg"
    show_log_tails "${logs[@]}"
    in_ci && die "the $name cluster is required with CI=true"
    log "warning: continuing without the $name cluster (its variables are not exported)"
    if [[ $which == repl ]]; then REPL_OK=0; else GALERA_OK=0; fi
    local m
    for m in "${members[@]}"; do kill_member "$m"; done
}

# ---------------------------------------------------------------------------------------
# Packages: tests/harness.sh's install_packages (PKGS; SERVICES that start anyway are
# stopped), then tools_present.
# ---------------------------------------------------------------------------------------
tools_present() {   # what the servers need, whatever installed it
    local t
    for t in mariadbd mariadb mariadb-admin mariadb-install-db wsrep_sst_rsync rsync openssl ss; do
        command -v "$t" >/dev/null || { log "$t is missing"; return 1; }
    done
    [[ -f $GALERA_PROVIDER ]] || { log "$GALERA_PROVIDER is missing"; return 1; }
}

# ---------------------------------------------------------------------------------------
# Servers, GTID replication and Galera set-up: in their own file.
# ---------------------------------------------------------------------------------------
# shellcheck source=tests/mariadb_cluster_members.sh
source "$(dirname "${BASH_SOURCE[0]}")/mariadb_cluster_members.sh"

# ---------------------------------------------------------------------------------------
# Both clusters
# ---------------------------------------------------------------------------------------
SETUP_PIDS=()

bring_up() {
    [[ $EUID -eq 0 ]] || die "run as root (installs packages, runs the servers as mysql)"
    local t0 t1 repl_job galera_job
    t0=$(now_us)
    make_state_dir
    REPL_OK=1 GALERA_OK=1
    save_state
    if ! install_packages || ! tools_present; then
        cluster_failed repl "could not install ${PKGS[*]}" "$APT_LOG"
        cluster_failed galera "could not install ${PKGS[*]}" "$APT_LOG"
        return 0
    fi
    pick_ports
    REPL_APP_PW=$(random_hex24) REPL_ROOT_PW=$(random_hex24) REPL_USER_PW=$(random_hex24)
    GALERA_APP_PW=$(random_hex24) GALERA_ROOT_PW=$(random_hex24)
    write_client_file "$CLIENT_DIR/repl-app.cnf" dbmgmt_test "$REPL_APP_PW"
    write_client_file "$CLIENT_DIR/galera-app.cnf" dbmgmt_test "$GALERA_APP_PW"
    save_state
    t1=$(now_us)
    if ! make_template; then
        cluster_failed repl "mariadb-install-db failed" "$STATE_DIR/install-db.log"
        cluster_failed galera "mariadb-install-db failed" "$STATE_DIR/install-db.log"
        return 0
    fi
    log "replication p r1 r2 on 127.0.0.1:$PORT_p, $PORT_r1, $PORT_r2; Galera g1 g2 g3 on $PORT_g1, $PORT_g2, $PORT_g3 (gcomm $GCOMM_g1, $GCOMM_g2, $GCOMM_g3), in $STATE_DIR"
    # Both clusters at once: the Galera joiners wait for their SST one after the other,
    # which leaves the machine time for the replication cluster.
    (repl_setup) & repl_job=$!
    (galera_setup) & galera_job=$!
    SETUP_PIDS=("$repl_job" "$galera_job")
    wait "$repl_job" || cluster_failed repl "could not start"
    wait "$galera_job" || cluster_failed galera "could not start"
    SETUP_PIDS=()
    rm -rf "$TEMPLATE_DIR"
    save_state
    log "clusters up in $(seconds_since "$t0") s ($(seconds_since "$t1") s after install):" \
        "replication $( ((REPL_OK)) && echo up || echo down), Galera $( ((GALERA_OK)) && echo up || echo down), $(memory_in_use) MiB"
}

# Without CI=true, clusters that could not start are left out, and when neither is up
# `start` prints nothing and exits 0: the tests that need them skip.
exit_unless_up() { ((REPL_OK || GALERA_OK)) || exit 0; }   # cmd_start's (tests/harness.sh)

our_pids() {   # every process of the clusters: the servers, what they started, and any
    # mariadbd started with a configuration of this folder (launched but not yet recorded)
    local m pid
    {
        for m in "${MEMBERS[@]}"; do
            pid=$(server_pid "$m") || continue
            echo "$pid"
            descendants "$pid"
        done
        [[ -z $STATE_DIR ]] || pgrep -f -- "^mariadbd --defaults-file=$STATE_DIR/[a-z0-9]*/my.cnf( |\$)" || true
    } | sort -un
}

stop_setups() {   # a start-up under way (a signal): it and what it runs now, at once
    local pid all=()
    for pid in "${SETUP_PIDS[@]}"; do
        alive "$pid" || continue
        kill -STOP "$pid" 2>/dev/null || true
        all+=("$pid")
        mapfile -t -O "${#all[@]}" all < <(descendants "$pid")
    done
    ((${#all[@]} == 0)) || kill_and_wait KILL "${all[@]}"
    SETUP_PIDS=()
}

stop_processes() {
    local pids
    stop_setups
    mapfile -t pids < <(our_pids)
    ((${#pids[@]} == 0)) || kill_and_wait KILL "${pids[@]}"
    # a process started by a server an instant before it died
    mapfile -t pids < <(our_pids)
    ((${#pids[@]} == 0)) || kill_and_wait KILL "${pids[@]}"
}

stop_all() { stop_processes; }   # teardown's (tests/harness.sh)

# Assigns (does not export) the variables; clears them all first, so a caller's stale
# values cannot point the suite at a cluster that is gone.
VARS=(DBMGMT_TEST_MYREPL_PRIMARY_DSN DBMGMT_TEST_MYREPL_REPLICA_DSNS DBMGMT_TEST_MYREPL_HOSTS_DSN
    DBMGMT_TEST_MYREPL_ADMIN_DSNS DBMGMT_TEST_MYREPL_MEMBERS DBMGMT_TEST_GALERA_DSNS
    DBMGMT_TEST_GALERA_ADMIN_DSNS DBMGMT_TEST_GALERA_MEMBERS DBMGMT_TEST_MYCLUSTER_PASSWORDS
    DBMGMT_TEST_MYCLUSTER_DIR DBMGMT_TEST_MYCLUSTER_SCRIPT)

# shellcheck disable=SC2034 # the variables are read through ${!v} by the callers
set_vars() {
    unset "${VARS[@]}"
    ((REPL_OK || GALERA_OK)) || return 0
    local m port hosts='' replicas='' admins='' dsns='' pws=()
    if ((REPL_OK)); then
        for m in "${REPL_MEMBERS[@]}"; do
            port=$(member_port "$m")
            hosts+="${hosts:+,}127.0.0.1:$port"
            admins+="${admins:+ }mysql://root:$REPL_ROOT_PW@127.0.0.1:$port/dbmgmt_test"
            [[ $m == p ]] ||
                replicas+="${replicas:+ }mysql://dbmgmt_test:$REPL_APP_PW@127.0.0.1:$port/dbmgmt_test"
        done
        DBMGMT_TEST_MYREPL_PRIMARY_DSN=mysql://dbmgmt_test:$REPL_APP_PW@127.0.0.1:$PORT_p/dbmgmt_test
        DBMGMT_TEST_MYREPL_REPLICA_DSNS=$replicas
        DBMGMT_TEST_MYREPL_HOSTS_DSN=mysql://dbmgmt_test:$REPL_APP_PW@$hosts/dbmgmt_test
        DBMGMT_TEST_MYREPL_ADMIN_DSNS=$admins
        DBMGMT_TEST_MYREPL_MEMBERS=${REPL_MEMBERS[*]}
        pws+=("$REPL_APP_PW" "$REPL_ROOT_PW" "$REPL_USER_PW")
    fi
    if ((GALERA_OK)); then
        admins=''
        for m in "${GALERA_MEMBERS[@]}"; do
            port=$(member_port "$m")
            dsns+="${dsns:+ }mysql://dbmgmt_test:$GALERA_APP_PW@127.0.0.1:$port/dbmgmt_test"
            admins+="${admins:+ }mysql://root:$GALERA_ROOT_PW@127.0.0.1:$port/dbmgmt_test"
        done
        DBMGMT_TEST_GALERA_DSNS=$dsns
        DBMGMT_TEST_GALERA_ADMIN_DSNS=$admins
        DBMGMT_TEST_GALERA_MEMBERS=${GALERA_MEMBERS[*]}
        pws+=("$GALERA_APP_PW" "$GALERA_ROOT_PW")
    fi
    DBMGMT_TEST_MYCLUSTER_PASSWORDS=${pws[*]}
    DBMGMT_TEST_MYCLUSTER_DIR=$STATE_DIR
    DBMGMT_TEST_MYCLUSTER_SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/mariadb_cluster.sh
}

# ---------------------------------------------------------------------------------------
# Sub-commands
# ---------------------------------------------------------------------------------------
# run, start, stop and install are in tests/harness.sh.
cmd_kill() {   # name
    (($# == 1)) || usage
    load_state
    check_member "$1"
    local pid
    pid=$(server_pid "$1") || die "$1 is not running"
    kill_member "$1"
    log "killed $1 (mariadbd pid $pid)"
    echo "$1" >&3
}

# A killed Galera node's grastate.dat has no position (seqno -1): like mysqld_safe and
# galera_recovery, recover it from InnoDB first (`--wsrep-recover`) and pass it as
# --wsrep-start-position, so that the node asks for an IST of what it missed instead of
# a full SST.
galera_recovered_position() {   # member: "UUID:SEQNO", or nothing
    local dir
    dir=$(member_dir "$1")
    rm -f "$dir/recover.err"
    "${CLEAN_ENV[@]}" timeout 120 mariadbd --defaults-file="$dir/my.cnf" --wsrep-recover \
        --log-error="$dir/recover.err" --pid-file="$dir/recover.pid" \
        </dev/null >>"$dir/mariadbd.out" 2>&1 3>&- || return 0
    sed -n 's/.*WSREP: Recovered position: *\([0-9a-f-]*:[0-9-]*\).*/\1/p' "$dir/recover.err" | tail -n 1
}

start_galera_member() {   # member
    local m=$1 dir pos n before t0 how=SST
    dir=$(member_dir "$m")
    [[ -n $(running_galera_nodes) ]] ||
        die "no Galera node runs: $m has no cluster to join (stop and start the clusters again)"
    t0=$(now_us)
    pos=$(galera_recovered_position "$m")
    before=$(stat -c %s "$dir/mariadbd.err" 2>/dev/null || echo 0)
    if [[ -n $pos ]]; then
        log "starting $m from its recovered position $pos"
        launch_member "$m" "--wsrep-start-position=$pos"
    else
        log "starting $m (no position recovered: it will need an SST)"
        launch_member "$m"
    fi
    n=$(running_galera_nodes | wc -l)
    wait_until "$START_SECONDS" "$m" "Synced in a cluster of $n" galera_node_synced "$m" "$n" ||
        { show_log_tails "$dir/mariadbd.err"; die "$m did not rejoin"; }
    wait_until "$START_SECONDS" "$m" "Synced with every running node" galera_synced ||
        die "the Galera nodes are not all Synced"
    # wsrep_sst_rsync logs "rsync IST completed" or "rsync SST completed on joiner"
    tail -c +$((before + 1)) "$dir/mariadbd.err" | grep -q 'rsync SST completed on joiner' || how=IST
    log "$m rejoined and is Synced after $(seconds_since "$t0") s (state transfer: $how)"
}

start_repl_member() {   # member
    local m=$1 dir t0 st primary
    dir=$(member_dir "$m")
    t0=$(now_us)
    launch_member "$m"
    wait_up "$m" "$START_SECONDS" || { show_log_tails "$dir/mariadbd.err"; die "$m did not start"; }
    st=$(slave_status "$m")
    if [[ -z $st ]]; then
        log "$m is up after $(seconds_since "$t0") s (it has no primary)"
        return 0
    fi
    primary=$(member_by_port "$(slave_field "$st" Master_Port)") || primary='?'
    if ! member_running "$primary"; then   # it reconnects every second once it is back
        log "$m is up after $(seconds_since "$t0") s; its primary $primary is down"
        return 0
    fi
    wait_until "$START_SECONDS" "$m" "replicating" replica_caught_up "$m" ||
        { show_log_tails "$dir/mariadbd.err"; die "$m does not replicate again"; }
    log "$m is up and replicating from $primary again after $(seconds_since "$t0") s"
}

cmd_start_member() {   # name
    (($# == 1)) || usage
    load_state
    check_member "$1"
    if member_running "$1"; then
        log "$1 runs already"
    elif is_galera "$1"; then
        start_galera_member "$1"
    else
        start_repl_member "$1"
    fi
}

set_role() {   # member read-only(0|1): now, and at a restart by start-member
    member_sql "$1" <<<"SET GLOBAL read_only = $2;" || die "could not set read_only=$2 on $1"
    echo "$2" >"$ROLE_DIR/$1"
}

cmd_promote() {   # name
    (($# == 1)) || usage
    load_state
    check_member "$1"
    is_repl "$1" || die "promote is for the replication members (${REPL_MEMBERS[*]})"
    member_running "$1" || die "$1 is not running"
    member_sql "$1" <<<'STOP SLAVE; RESET SLAVE ALL;' || die "could not stop replication on $1"
    set_role "$1" 0
    log "$1 is a writable primary (no replication source, read_only=0)"
}

cmd_demote() {   # name
    (($# == 1)) || usage
    load_state
    check_member "$1"
    member_running "$1" || die "$1 is not running"
    set_role "$1" 1
    log "$1 is read-only (read_only=1)"
}

cmd_repoint() {   # name primary
    (($# == 2)) || usage
    load_state
    check_member "$1"
    check_member "$2"
    { is_repl "$1" && is_repl "$2"; } || die "repoint is for the replication members (${REPL_MEMBERS[*]})"
    [[ $1 != "$2" ]] || die "$1 cannot replicate from itself"
    member_running "$1" || die "$1 is not running"
    member_running "$2" || die "$2 is not running"
    change_master "$1" "$2" || die "CHANGE MASTER on $1 failed"
    wait_until "$START_SECONDS" "$1" "replicating from $2" replica_caught_up "$1" ||
        { show_log_tails "$(member_dir "$1")/mariadbd.err"; die "$1 does not replicate from $2"; }
    log "$1 replicates from $2 and has caught up"
}

cmd_wait_synced() {   # [seconds]
    local secs=${1:-60} t0 deadline
    [[ $secs =~ ^[0-9]+$ ]] || usage
    load_state
    ((GALERA_OK)) || die "the Galera cluster is not up"
    t0=$(now_us)
    deadline=$((SECONDS + secs))
    until galera_synced; do
        ((SECONDS < deadline)) || die "the running Galera nodes are not all Synced within $secs s"
        sleep 0.2
    done
    log "$(running_galera_nodes | wc -l) Galera nodes Synced after $(seconds_since "$t0") s"
}

# One line per member, as in the usage above: NAME PORT up|down, then for a running
# member read_only=, and gtid= (gtid_current_pos) master= io= sql= (replication) or
# state= ready= size= (Galera).
cmd_status() {
    load_state
    local m members=() st ro line st_state st_ready st_size master io sql
    ((REPL_OK)) && members+=("${REPL_MEMBERS[@]}")
    ((GALERA_OK)) && members+=("${GALERA_MEMBERS[@]}")
    log "members, $(memory_in_use) MiB in use:"
    for m in "${members[@]}"; do
        line="$m $(member_port "$m")"
        if ! member_running "$m"; then
            echo "$line down" >&3
            continue
        fi
        ro=$(member_query "$m" 'SELECT @@GLOBAL.read_only') || ro='?'
        if is_galera "$m"; then
            read -r st_state st_ready st_size <<<"$(wsrep_status "$m" || echo '? ? ?')"
            echo "$line up read_only=$ro state=$st_state ready=$st_ready size=$st_size" >&3
        else
            st=$(slave_status "$m")
            master=- io=- sql=-
            if [[ -n $st ]]; then
                master=$(member_by_port "$(slave_field "$st" Master_Port)") || master='?'
                io=$(slave_field "$st" Slave_IO_Running)
                sql=$(slave_field "$st" Slave_SQL_Running)
            fi
            echo "$line up read_only=$ro gtid=$(member_query "$m" 'SELECT @@GLOBAL.gtid_current_pos' || echo '?') master=$master io=$io sql=$sql" >&3
        fi
    done
}

script_command() {   # command args...: all but run, start and stop (tests/harness.sh)
    local cmd=$1
    shift
    case $cmd in
    install) cmd_install ;;
    kill) cmd_kill "$@" ;;
    start-member) cmd_start_member "$@" ;;
    promote) cmd_promote "$@" ;;
    demote) cmd_demote "$@" ;;
    repoint) cmd_repoint "$@" ;;
    wait-synced) cmd_wait_synced "$@" ;;
    status) cmd_status ;;
    *) usage ;;
    esac
}

main "$@"
