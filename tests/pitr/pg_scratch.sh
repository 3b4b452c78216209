#!/bin/bash
# A scratch PostgreSQL 15 for the point-in-time tests (tests/pitr), run as postgres:
#   pg_scratch.sh init DIR PORT     initdb into DIR/data (DIR owned by postgres), the
#                                   superuser's password from $PGSCRATCH_PW (never argv),
#                                   scram auth, wal_level=replica, archive_mode=on with no
#                                   archive_command yet (the library sets it); then start
#   pg_scratch.sh start DATA PORT SOCKDIR   start a restored data directory with archiving
#                                   off (a scratch copy must not push WAL to the repository)
#   pg_scratch.sh stop DATA         stop (immediate), if running
# Exit 0 on success; a restored server's log is SOCKDIR/<name of DATA>.log.
set -euo pipefail
readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly CLEAN_ENV=(env -i "PATH=$PG_BIN:/usr/sbin:/usr/bin:/sbin:/bin" LC_ALL=C.UTF-8)
as_pg() { (cd / && "${CLEAN_ENV[@]}" runuser -u postgres -- "$@"); }
cmd=$1
shift
case $cmd in
init)
    dir=$1 port=$2
    install -d -o postgres -g postgres -m 0700 "$dir"
    pwfile=$dir/pw
    (umask 077 && printf '%s\n' "${PGSCRATCH_PW:?PGSCRATCH_PW is not set}" >"$pwfile")
    chown postgres "$pwfile"
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" \
        --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
    rm -f "$pwfile"
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = replica
archive_mode = on
max_wal_senders = 2
fsync = off
full_page_writes = on
CONF
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
start)
    data=$1 port=$2 sock=$3
    as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$sock/$(basename "$data").log" -w -t 120 \
        -o "-c port=$port -c unix_socket_directories=$sock -c archive_mode=off" start >/dev/null
    ;;
stop)
    data=$1
    [[ -f $data/postmaster.pid ]] || exit 0
    as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null
    ;;
*)
    echo "usage: pg_scratch.sh init|start|stop ..." >&2
    exit 2
    ;;
esac
