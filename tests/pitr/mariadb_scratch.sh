#!/bin/bash
# A scratch MariaDB for the point-in-time tests (tests/pitr), run as mysql:
#   mariadb_scratch.sh init DIR PORT    mariadb-install-db into DIR/data (DIR owned by
#                                       mysql), the binary log on (log_bin, server_id = 1,
#                                       binlog_format = ROW), 127.0.0.1:PORT and the socket
#                                       DIR/mysqld.sock; start; root@localhost and
#                                       root@127.0.0.1 get the password in $MDBSCRATCH_PW
#                                       (through stdin, never argv)
#   mariadb_scratch.sh start DATA PORT SOCKDIR  start a restored data directory (no binlog)
#   mariadb_scratch.sh stop DATA SOCKDIR        stop (SIGTERM, clean), if running
# Exit 0 on success; a server's log is SOCKDIR/<name of DATA>.err.
set -euo pipefail
readonly CLEAN_ENV=(env -i "PATH=/usr/sbin:/usr/bin:/sbin:/bin" LC_ALL=C.UTF-8)
as_my() { (cd / && "${CLEAN_ENV[@]}" runuser -u mysql -- "$@"); }

wait_socket() {   # SOCK PIDFILE LOG
    local i
    for ((i = 0; i < 600; i++)); do
        [[ -S $1 ]] && return 0
        sleep 0.1
    done
    tail -n 30 "$3" >&2 || true
    return 1
}

start_server() {   # DATA SOCKDIR PORT LOG [extra mariadbd options...]
    local data=$1 sock=$2 port=$3 log=$4
    shift 4
    as_my setsid mariadbd --no-defaults --datadir="$data" --socket="$sock/$(basename "$data").sock" \
        --pid-file="$sock/$(basename "$data").pid" --port="$port" --bind-address=127.0.0.1 \
        --log-error="$log" --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
        "$@" </dev/null >/dev/null 2>&1 &
    wait_socket "$sock/$(basename "$data").sock" "$sock/$(basename "$data").pid" "$log"
}

cmd=$1
shift
case $cmd in
init)
    dir=$1 port=$2
    install -d -o mysql -g mysql -m 0711 "$dir"
    as_my mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
        --skip-test-db >"$dir/install.log" 2>&1
    start_server "$dir/data" "$dir" "$port" "$dir/data.err" --log-bin="$dir/data/mysql-bin" \
        --server-id=1 --binlog-format=ROW
    # The password through stdin: never on a command line.
    printf "ALTER USER root@localhost IDENTIFIED BY '%s';
CREATE USER IF NOT EXISTS root@'127.0.0.1';
ALTER USER root@'127.0.0.1' IDENTIFIED BY '%s';
GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE pitr;\n" "${MDBSCRATCH_PW:?MDBSCRATCH_PW is not set}" "$MDBSCRATCH_PW" |
        mariadb --no-defaults --socket="$dir/data.sock" -uroot
    ;;
start)
    data=$1 port=$2 sock=$3
    chown -R mysql:mysql "$data"
    install -d -o mysql -g mysql -m 0711 "$sock"
    start_server "$data" "$sock" "$port" "$sock/$(basename "$data").err" --skip-log-bin
    ;;
stop)
    data=$1 sock=$2
    pidfile=$sock/$(basename "$data").pid
    [[ -f $pidfile ]] || exit 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || exit 0
    for ((i = 0; i < 600; i++)); do
        kill -0 "$pid" 2>/dev/null || exit 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    ;;
*)
    echo "usage: mariadb_scratch.sh init|start|stop ..." >&2
    exit 2
    ;;
esac
