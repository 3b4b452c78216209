# Sourced by tests/mariadb_cluster.sh (never run alone): how each member is configured
# and started, and how the two clusters are set up. Split from that script by concern
# (it passed 1,000 lines); it uses that script's settings and helpers.
# shellcheck shell=bash
# ---------------------------------------------------------------------------------------
# Servers. Each runs from its own --defaults-file (nothing from /etc/mysql: the Debian
# configuration would move the socket, pid file and data folder), which the Galera SST
# scripts read too. Small on purpose: six of them share a 2-core machine.
# ---------------------------------------------------------------------------------------
# The data folders are copies of one mariadb-install-db: one bootstrap instead of four.
make_template() {
    install -d -o mysql -g mysql -m 0700 "$TEMPLATE_DIR"
    "${CLEAN_ENV[@]}" mariadb-install-db --no-defaults --user=mysql --datadir="$TEMPLATE_DIR/data" \
        --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
        --innodb-log-file-size=8M --innodb-buffer-pool-size=32M \
        </dev/null >"$STATE_DIR/install-db.log" 2>&1 3>&-
}

member_data_from_template() {   # member
    cp -a "$TEMPLATE_DIR/data" "$(member_dir "$1")/data"
}

common_config() {   # member
    local dir
    dir=$(member_dir "$1")
    cat <<EOF
# libdbmgmt tests/mariadb_cluster.sh: member $1 (no passwords in here)
[mysqld]
# first: it sets the names of every log, the explicit ones below included
log-basename = $1
user = mysql
datadir = $dir/data
socket = $dir/mysqld.sock
pid-file = $dir/mariadbd.pid
log-error = $dir/mariadbd.err
port = $(member_port "$1")
bind-address = 127.0.0.1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
performance-schema = OFF
innodb-buffer-pool-size = 32M
innodb-log-file-size = 8M
innodb-log-buffer-size = 2M
innodb-temp-data-file-path = ibtmp1:4M:autoextend
# a committed transaction survives the process dying (the log reaches the OS at each
# commit), not the machine: processes die in these tests, the machine does not
innodb-flush-log-at-trx-commit = 2
key-buffer-size = 1M
aria-pagecache-buffer-size = 8M
max-connections = 200
EOF
}

# Decision: every member has log-bin and log_slave_updates, so any replica can be
# promoted and the others repointed to it by GTID. read_only = 1 on the replicas stops
# the app user (no SUPER, no READ_ONLY ADMIN); repl connects again every second.
write_repl_config() {   # member server-id
    local m=$1 dir ro=0
    dir=$(member_dir "$m")
    [[ $m == p ]] || ro=1
    {
        common_config "$m"
        cat <<EOF
server-id = $2
log-bin
binlog-format = ROW
gtid-strict-mode = ON
log-slave-updates = ON
sync-binlog = 0
read-only = $ro
report-host = 127.0.0.1
report-port = $(member_port "$m")
slave-net-timeout = 10
EOF
    } >"$dir/my.cnf"
    chown mysql:mysql "$dir/my.cnf"
}

write_galera_config() {   # member
    local m=$1 dir addrs='' g v
    dir=$(member_dir "$m")
    for g in "${GALERA_MEMBERS[@]}"; do v=GCOMM_$g; addrs+="${addrs:+,}127.0.0.1:${!v}"; done
    local gcomm=GCOMM_$m ist=IST_$m sst=SST_$m
    {
        common_config "$m"
        cat <<EOF
binlog-format = ROW
default-storage-engine = InnoDB
innodb-autoinc-lock-mode = 2
wsrep-on = ON
wsrep-provider = $GALERA_PROVIDER
wsrep-cluster-name = $CLUSTER_NAME
wsrep-cluster-address = gcomm://$addrs
wsrep-node-name = $m
wsrep-node-address = 127.0.0.1
wsrep-node-incoming-address = 127.0.0.1:$(member_port "$m")
wsrep-sst-method = rsync
wsrep-sst-receive-address = 127.0.0.1:${!sst}
wsrep-provider-options = "gmcast.listen_addr=tcp://127.0.0.1:${!gcomm};ist.recv_addr=127.0.0.1:${!ist};gcache.size=16M;$EVS_OPTIONS"
EOF
    } >"$dir/my.cnf"
    chown mysql:mysql "$dir/my.cnf"
}

# setsid: its own session, so neither a Ctrl-C at the caller's terminal nor a test
# runner killing a process group reaches it. setsid and env exec: $! is mariadbd's pid.
# A role set by promote / demote survives the restart (start-member).
launch_member() {   # member extra-options...
    local m=$1 dir ro=()
    shift
    dir=$(member_dir "$m")
    [[ -f $ROLE_DIR/$m ]] && ro=("--read-only=$(<"$ROLE_DIR/$m")")
    rm -f "$dir/mariadbd.pid"
    setsid "${CLEAN_ENV[@]}" mariadbd --defaults-file="$dir/my.cnf" "${ro[@]}" "$@" \
        </dev/null >>"$dir/mariadbd.out" 2>&1 3>&- 9>&- &
    echo "$!" >"$PID_DIR/$m.pid"
    disown "$!"
}

# shellcheck disable=SC2120 # callers feed SQL on stdin; arguments are optional
member_sql() {   # member client-args...: SQL on stdin, as root over the unix socket
    local dir
    dir=$(member_dir "$1")
    shift
    "${CLEAN_ENV[@]}" mariadb --no-defaults --protocol=socket --socket="$dir/mysqld.sock" \
        --user=root --batch --skip-column-names --connect-timeout=3 "$@"
}

member_query() {   # member sql: the answer (tab-separated), errors silenced
    member_sql "$1" -e "$2" </dev/null 2>/dev/null
}

member_pings() {   # member: the server answers on its socket (whatever the credentials)
    "${CLEAN_ENV[@]}" mariadb-admin --no-defaults --protocol=socket \
        --socket="$(member_dir "$1")/mysqld.sock" --user=root --connect-timeout=2 ping \
        >/dev/null 2>&1
}

wait_until() {   # seconds member what cmd...: retry cmd while the member's server runs
    local secs=$1 m=$2 what=$3 deadline=$((SECONDS + $1))
    shift 3
    until "$@"; do
        member_running "$m" || { sleep 0.3; member_running "$m"; } ||
            { log "$m: mariadbd exited while waiting for: $what"; return 1; }
        ((SECONDS < deadline)) || { log "$m: not $what after $secs s"; return 1; }
        sleep 0.2
    done
}

wait_up() { wait_until "$2" "$1" "answering" member_pings "$1"; }   # member seconds

# Root with a password over TCP (for tests that need SUPER), the database, and the app
# user, from password hashes (tests/harness.sh's my_users_sql), so that no password is in
# the SQL that a binary log or Galera's write-set cache keeps. The app user also gets what
# a migrator or pool needs to read replication state, but neither SUPER nor READ_ONLY
# ADMIN: read_only must stop it.
create_users() {   # member root-password app-password
    local root_hash app_hash
    root_hash=$(my_hash "$2")
    app_hash=$(my_hash "$3")
    {
        my_users_sql "$root_hash" "$app_hash"
        echo "GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO dbmgmt_test@'127.0.0.1'," \
            "dbmgmt_test@localhost;"
    } | member_sql "$1"
}

write_client_file() {   # file user password: a client option file, mode 0600
    (
        umask 077
        printf '[client]\nuser=%s\npassword=%s\n' "$2" "$3" >"$1"
    )
}

# The app user logs in over TCP, as the DSNs will (catches a user shadowed by another
# host entry, or a grant that did not reach the member).
app_user_logs_in() {   # member client-file
    [[ $("${CLEAN_ENV[@]}" mariadb --defaults-file="$2" --protocol=tcp --host=127.0.0.1 \
        --port="$(member_port "$1")" --batch --skip-column-names --connect-timeout=3 \
        dbmgmt_test -e 'SELECT current_user()' </dev/null 2>/dev/null) == 'dbmgmt_test@127.0.0.1' ]]
}

# ---------------------------------------------------------------------------------------
# GTID replication: p, then r1 r2 replicating from it with MASTER_USE_GTID=slave_pos.
# ---------------------------------------------------------------------------------------
slave_status() {   # member: `SHOW SLAVE STATUS` as FIELD: VALUE lines (empty: no master)
    member_sql "$1" --column-names --vertical -e 'SHOW SLAVE STATUS' </dev/null 2>/dev/null
}
slave_field() { sed -n "s/^ *$2: //p" <<<"$1"; }   # status field

# CHANGE MASTER, password on stdin. Decision: gtid_slave_pos is first set to
# gtid_current_pos, which for a replica is its slave position and for an old primary its
# own last GTID, so a demoted primary resumes where it stopped writing (as
# MASTER_USE_GTID=current_pos would) instead of asking for its own transactions again.
change_master() {   # member primary
    # shellcheck disable=SC2119
    member_sql "$1" <<EOF
STOP SLAVE;
SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos;
CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = $(member_port "$2"),
    MASTER_USER = 'repl', MASTER_PASSWORD = '$REPL_USER_PW', MASTER_USE_GTID = slave_pos,
    MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = 1;
START SLAVE;
EOF
}

# Replicating: both threads run and the replica has applied everything its primary has
# logged so far.
replica_caught_up() {   # member
    local st primary pos
    st=$(slave_status "$1")
    [[ $(slave_field "$st" Slave_IO_Running) == Yes && $(slave_field "$st" Slave_SQL_Running) == Yes ]] ||
        return 1
    primary=$(member_by_port "$(slave_field "$st" Master_Port)") || return 1
    pos=$(member_query "$primary" 'SELECT @@GLOBAL.gtid_binlog_pos') || return 1
    [[ $(member_query "$1" "SELECT MASTER_GTID_WAIT('$pos', 2)") == 0 ]]
}

repl_setup() {   # in a background subshell: non-zero on the first failure
    exec 3>&-
    local m id=1
    for m in "${REPL_MEMBERS[@]}"; do
        install -d -o mysql -g mysql -m 0700 "$(member_dir "$m")" || return 1
        write_repl_config "$m" "$id" || return 1
        member_data_from_template "$m" || return 1
        launch_member "$m"
        id=$((id + 1))
    done
    wait_up p "$START_SECONDS" || return 1
    create_repl_users >>"$(member_dir p)/setup.log" 2>&1 || { log "p: could not create the users"; return 1; }
    for m in r1 r2; do
        wait_up "$m" "$START_SECONDS" || return 1
        change_master "$m" p >>"$(member_dir "$m")/setup.log" 2>&1 ||
            { log "$m: CHANGE MASTER failed"; return 1; }
    done
    for m in r1 r2; do
        wait_until "$START_SECONDS" "$m" "replicating from p" replica_caught_up "$m" || return 1
    done
    for m in "${REPL_MEMBERS[@]}"; do
        wait_until 30 "$m" "letting the app user in" app_user_logs_in "$m" "$CLIENT_DIR/repl-app.cnf" ||
            return 1
    done
}

# On p only, with the binary log on: the replicas get the users and the database by
# replication, from the first GTID on.
create_repl_users() {
    create_users p "$REPL_ROOT_PW" "$REPL_APP_PW" || return 1
    member_sql p <<EOF
CREATE USER repl@'127.0.0.1' IDENTIFIED BY PASSWORD '$(my_hash "$REPL_USER_PW")';
GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1';
EOF
}

# ---------------------------------------------------------------------------------------
# Galera: g1 bootstraps a new cluster, gets the users, then g2 and g3 join one at a time
# (rsync SST from a Synced node).
# ---------------------------------------------------------------------------------------
wsrep_status() {   # member: "STATE READY SIZE", e.g. "Synced ON 3"
    # SHOW STATUS: it answers before the node is ready, where a SELECT is refused
    local out state='' ready='' size='' name value
    out=$(member_query "$1" "SHOW GLOBAL STATUS WHERE Variable_name IN
        ('wsrep_local_state_comment', 'wsrep_ready', 'wsrep_cluster_size')") || return 1
    while IFS=$'\t' read -r name value; do
        case $name in
        wsrep_local_state_comment) state=$value ;;
        wsrep_ready) ready=$value ;;
        wsrep_cluster_size) size=$value ;;
        esac
    done <<<"$out"
    [[ -n $state && -n $ready && -n $size ]] || return 1
    echo "$state $ready $size"
}

running_galera_nodes() {   # the Galera members whose mariadbd runs, one a line
    local m
    for m in "${GALERA_MEMBERS[@]}"; do member_running "$m" && echo "$m"; done
    return 0
}

# Synced: every running node is Synced and ready, in one cluster of all running nodes.
galera_synced() {
    local nodes m n
    mapfile -t nodes < <(running_galera_nodes)
    n=${#nodes[@]}
    ((n > 0)) || return 1
    for m in "${nodes[@]}"; do
        [[ $(wsrep_status "$m") == "Synced ON $n" ]] || return 1
    done
}

galera_node_synced() {   # member size: Synced, ready, in a cluster of that size
    [[ $(wsrep_status "$1") == "Synced ON $2" ]]
}

galera_setup() {   # in a background subshell: non-zero on the first failure
    exec 3>&-
    local m size=1
    for m in "${GALERA_MEMBERS[@]}"; do
        install -d -o mysql -g mysql -m 0700 "$(member_dir "$m")" || return 1
        write_galera_config "$m" || return 1
    done
    # The joiners get their data by SST: an empty data folder is enough.
    member_data_from_template g1 || return 1
    install -d -o mysql -g mysql -m 0700 "$(member_dir g2)/data" "$(member_dir g3)/data" || return 1
    launch_member g1 --wsrep-new-cluster
    wait_until "$START_SECONDS" g1 "Synced (bootstrap)" galera_node_synced g1 1 || return 1
    create_users g1 "$GALERA_ROOT_PW" "$GALERA_APP_PW" >>"$(member_dir g1)/setup.log" 2>&1 ||
        { log "g1: could not create the users"; return 1; }
    for m in g2 g3; do
        size=$((size + 1))
        launch_member "$m"
        wait_until "$START_SECONDS" "$m" "Synced in a cluster of $size" galera_node_synced "$m" "$size" ||
            return 1
    done
    wait_until "$START_SECONDS" g1 "Synced with 3 nodes" galera_synced || return 1
    for m in "${GALERA_MEMBERS[@]}"; do
        wait_until 30 "$m" "letting the app user in" app_user_logs_in "$m" "$CLIENT_DIR/galera-app.cnf" ||
            return 1
    done
}
