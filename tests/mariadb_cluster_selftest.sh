#!/usr/bin/env bash
# tests/mariadb_cluster_selftest.sh — checks the clusters of tests/mariadb_cluster.sh.
# GTID replication: a row written on p reaches r1 and r2; the app user cannot write on a
# replica (read_only, error 1290); `STOP SLAVE SQL_THREAD` on r1 holds a row back there
# while r2 gets it, and START SLAVE catches up; a killed replica and a killed primary
# come back and replicate; promote / demote / repoint switch the primary over to r1 and
# back. Galera: a row written on g2 is read on g1 and g3, a table the app user creates on
# g3 appears on g1; killing g3 leaves g1 and g2 Synced in a cluster of 2, and
# `start-member g3` brings it back Synced by IST, with what it missed. No password is
# in a log of the clusters, on a process's argv or in this test's output.
# It leaves the clusters as it found them: every member up, r1 and r2 replicating from
# p, p writable.
# Starts nothing itself: it uses the variables of
#   bash tests/mariadb_cluster.sh run -- bash tests/mariadb_cluster_selftest.sh
# Without them it is skipped (exit 77), unless CI=true (then it fails).
# Prints "N passed, M failed", with the measured times.
# shellcheck disable=SC2317 # the checks are functions called through check / eventually
# shellcheck disable=SC2016 # `check NAME eval '...'`: expanded when the check runs
set -euo pipefail

# shellcheck source=tests/selftest_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/selftest_lib.sh"
# pass, fail, check, equals, eventually, now_us, seconds_since: tests/selftest_lib.sh.

skip_unless_set mariadb_cluster.sh DBMGMT_TEST_MYREPL_PRIMARY_DSN DBMGMT_TEST_GALERA_DSNS

SCRIPT=${DBMGMT_TEST_MYCLUSTER_SCRIPT:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/mariadb_cluster.sh}
WORK=$(mktemp -d)        # client option files (0600), the output of each command
chmod 0700 "$WORK"
OUT=$WORK/out            # output of the command under test, shown when a check fails
ALL=$WORK/all            # every command's output and everything printed: no password in it
trap 'rm -rf "$WORK"' EXIT
exec > >(tee -a "$ALL") 2>&1

prints() {     # expected cmd...: the command succeeds and its stdout is exactly `expected`
    local expected=$1 got; shift
    got=$("$@" 2>"$WORK/stderr") || { echo "$got"; cat "$WORK/stderr"; return 1; }
    [[ $got == "$expected" ]] || { echo "expected [$expected], got [$got]"; cat "$WORK/stderr"; return 1; }
}
# DSN mysql://user:password@host:port/db into the array DSN (user pw host port db).
parse_dsn() {
    [[ $1 =~ ^mysql://([^:@/]+):([^@/]+)@([^:/,]+):([0-9]+)/([^?/]+)$ ]] || return 1
    DSN=("${BASH_REMATCH[@]:1}")
}

# The password reaches `mariadb` in a --defaults-extra-file of mode 0600, never argv.
# HOME is this test's folder, so no ~/.my.cnf of the caller's is read after it.
declare -A CNF=()
client_file() {   # user password: the option file's path (made on first use)
    local key="$1:$2" f
    if [[ -z ${CNF[$key]:-} ]]; then
        f=$WORK/client-${#CNF[@]}.cnf
        (umask 077; printf '[client]\nuser=%s\npassword=%s\n' "$1" "$2" >"$f")
        CNF[$key]=$f
    fi
    CLIENT_FILE=${CNF[$key]}
}
q() {   # dsn sql [client-options...]: the answer, tab-separated, as the DSN's user over TCP
    parse_dsn "$1" || { echo "not a DSN I can read"; return 1; }
    client_file "${DSN[0]}" "${DSN[1]}"
    env -i PATH="$PATH" HOME="$WORK" mariadb --defaults-extra-file="$CLIENT_FILE" \
        --protocol=tcp --host="${DSN[2]}" --port="${DSN[3]}" --batch --skip-column-names \
        --connect-timeout=3 "${@:3}" "${DSN[4]}" -e "$2" </dev/null
}

# ---------------------------------------------------------------------------------------
# The exports
# ---------------------------------------------------------------------------------------
for v in DBMGMT_TEST_MYREPL_PRIMARY_DSN DBMGMT_TEST_MYREPL_REPLICA_DSNS DBMGMT_TEST_MYREPL_HOSTS_DSN \
    DBMGMT_TEST_MYREPL_ADMIN_DSNS DBMGMT_TEST_MYREPL_MEMBERS DBMGMT_TEST_GALERA_DSNS \
    DBMGMT_TEST_GALERA_ADMIN_DSNS DBMGMT_TEST_GALERA_MEMBERS DBMGMT_TEST_MYCLUSTER_PASSWORDS \
    DBMGMT_TEST_MYCLUSTER_DIR DBMGMT_TEST_MYCLUSTER_SCRIPT; do
    check "variable $v is set" test -n "${!v:-}"
done
read -ra R_NAMES <<<"$DBMGMT_TEST_MYREPL_MEMBERS"
read -ra REPLICAS <<<"$DBMGMT_TEST_MYREPL_REPLICA_DSNS"
read -ra R_ADMINS <<<"$DBMGMT_TEST_MYREPL_ADMIN_DSNS"
read -ra G_NAMES <<<"$DBMGMT_TEST_GALERA_MEMBERS"
read -ra G_APPS <<<"$DBMGMT_TEST_GALERA_DSNS"
read -ra G_ADMINS <<<"$DBMGMT_TEST_GALERA_ADMIN_DSNS"
check "members: p r1 r2 and g1 g2 g3" test "${R_NAMES[*]}|${G_NAMES[*]}" = "p r1 r2|g1 g2 g3"
check "two replica DSNs, three admin DSNs per cluster, three Galera DSNs" \
    test "${#REPLICAS[@]}${#R_ADMINS[@]}${#G_APPS[@]}${#G_ADMINS[@]}" = 2333
check "five passwords, all hex (URL-safe)" \
    eval '[[ $(wc -w <<<"$DBMGMT_TEST_MYCLUSTER_PASSWORDS") == 5 && $DBMGMT_TEST_MYCLUSTER_PASSWORDS =~ ^[0-9a-f\ ]+$ ]]'

# The app user's DSN of each replication member, by name (the admin DSNs give the ports).
declare -A APP=() ADMIN=() PORT=()
for i in 0 1 2; do
    parse_dsn "${R_ADMINS[i]}"
    PORT[${R_NAMES[i]}]=${DSN[3]}
    ADMIN[${R_NAMES[i]}]=${R_ADMINS[i]}
    parse_dsn "${G_ADMINS[i]}"
    PORT[${G_NAMES[i]}]=${DSN[3]}
    ADMIN[${G_NAMES[i]}]=${G_ADMINS[i]}
    APP[${G_NAMES[i]}]=${G_APPS[i]}
done
APP[p]=$DBMGMT_TEST_MYREPL_PRIMARY_DSN APP[r1]=${REPLICAS[0]} APP[r2]=${REPLICAS[1]}
parse_dsn "${APP[p]}"; APP_USER=${DSN[0]} APP_PW=${DSN[1]}
check "the replica DSNs are the app user's on r1 and r2" test \
    "${REPLICAS[*]}" = "mysql://$APP_USER:$APP_PW@127.0.0.1:${PORT[r1]}/dbmgmt_test mysql://$APP_USER:$APP_PW@127.0.0.1:${PORT[r2]}/dbmgmt_test"
check "the multi-host DSN lists p, r1, r2" test "$DBMGMT_TEST_MYREPL_HOSTS_DSN" = \
    "mysql://$APP_USER:$APP_PW@127.0.0.1:${PORT[p]},127.0.0.1:${PORT[r1]},127.0.0.1:${PORT[r2]}/dbmgmt_test"

app() { q "${APP[$1]}" "$2"; }       # member sql, as the app user
admin() { q "${ADMIN[$1]}" "$2"; }   # member sql, as root
ms() { bash "$SCRIPT" "$@"; }        # the cluster script's commands

TOKEN=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')

# ---------------------------------------------------------------------------------------
# GTID replication
# ---------------------------------------------------------------------------------------
for m in p r1 r2 g1 g2 g3; do
    check "$m: the app user logs in over TCP as dbmgmt_test@127.0.0.1" \
        equals "dbmgmt_test@127.0.0.1" app "$m" 'SELECT current_user()'
done
check "p is writable, r1 and r2 are read_only" equals "0 1 1" eval \
    'echo $(admin p "SELECT @@read_only") $(admin r1 "SELECT @@read_only") $(admin r2 "SELECT @@read_only")'
check "p logs ROW binlogs in GTID strict mode" equals "1	ROW	1	1" admin p \
    'SELECT @@server_id, @@binlog_format, @@gtid_strict_mode, @@log_bin'
no_super_grants() {   # member: the app user's grants name neither SUPER nor READ ONLY ADMIN
    local g
    g=$(app "$1" 'SHOW GRANTS') || { echo "$g"; return 1; }
    if ! grep -q 'SLAVE MONITOR' <<<"$g" || ! grep -q 'BINLOG MONITOR' <<<"$g"; then
        echo "$g"
        return 1
    fi
    ! grep -Eq 'SUPER|READ ONLY ADMIN|ALL PRIVILEGES ON \*\.\*' <<<"$g" || { echo "$g"; return 1; }
}
check "the app user has BINLOG / SLAVE MONITOR but not SUPER or READ ONLY ADMIN" no_super_grants r1
replication_state_readable() {   # as the app user on r1: SHOW SLAVE STATUS and the GTIDs
    app r1 'SHOW SLAVE STATUS' | grep -q . && app r1 'SELECT @@gtid_slave_pos, @@gtid_binlog_pos' >/dev/null &&
        app p 'SHOW MASTER STATUS' | grep -q .
}
check "the app user reads the replication state (SHOW SLAVE STATUS, SHOW MASTER STATUS)" \
    replication_state_readable
check "the admin DSNs are root with SUPER" eval 'admin r1 "SHOW GRANTS" | grep -q "ALL PRIVILEGES ON \*\.\* TO \`root\`"'

count_on() {   # member note: rows with it in mc_selftest, as the app user
    app "$1" "SELECT count(*) FROM mc_selftest WHERE note = '$2'"
}
check "p: the app user creates a table and writes a row" app p \
    "CREATE TABLE mc_selftest (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64) NOT NULL);
     INSERT INTO mc_selftest (note) VALUES ('p-$TOKEN')"
for m in r1 r2; do
    check "$m: the row written on p is replicated within 10 s" eventually 10 equals 1 count_on "$m" "p-$TOKEN"
done
refused_read_only() {   # member: an insert by the app user fails with 1290
    local out
    if out=$(app "$1" "INSERT INTO mc_selftest (note) VALUES ('refused-$TOKEN')" 2>&1); then
        echo "the insert succeeded"
        return 1
    fi
    grep -q 'ERROR 1290' <<<"$out" || { echo "$out"; return 1; }
}
check "r1: the app user cannot write (read_only, error 1290)" refused_read_only r1
check "r2: the app user cannot write (read_only, error 1290)" refused_read_only r2

lag_on_demand() {
    admin r1 'STOP SLAVE SQL_THREAD' || return 1
    app p "INSERT INTO mc_selftest (note) VALUES ('lag-$TOKEN')" || return 1
    eventually 10 equals 1 count_on r2 "lag-$TOKEN" || { echo "r2 did not get the row"; return 1; }
    sleep 1
    equals 0 count_on r1 "lag-$TOKEN" || { echo "r1 applied the row with its SQL thread stopped"; return 1; }
    admin r1 'START SLAVE' || return 1
    eventually 10 equals 1 count_on r1 "lag-$TOKEN" || { echo "r1 did not catch up"; return 1; }
}
check "r1: STOP SLAVE SQL_THREAD holds a row back there while r2 gets it; START SLAVE catches up" \
    lag_on_demand

replicating_from() {   # member primary: both threads run, from that primary's port
    local st
    st=$(q "${ADMIN[$1]}" 'SHOW SLAVE STATUS' --column-names --vertical) || return 1
    if ! grep -q "Master_Port: ${PORT[$2]}\$" <<<"$st" || ! grep -q 'Slave_IO_Running: Yes' <<<"$st" ||
        ! grep -q 'Slave_SQL_Running: Yes' <<<"$st"; then
        grep -E 'Master_Port|Running|Error' <<<"$st"
        return 1
    fi
}

T0=$(now_us)
check "kill r2 prints r2" prints r2 ms kill r2
check "r2 is down" equals 'r2 down' eval "ms status 2>/dev/null | awk '\$1 == \"r2\" {print \$1, \$3}'"
check "p: a write while r2 is down" app p "INSERT INTO mc_selftest (note) VALUES ('r2down-$TOKEN')"
check "start-member r2" ms start-member r2
check "r2 replicates from p again and has the row written while it was down ($(seconds_since "$T0") s)" \
    eval 'replicating_from r2 p && equals 1 count_on r2 "r2down-$TOKEN"'

T0=$(now_us)
check "kill p prints p" prints p ms kill p
check "start-member p" ms start-member p
check "p is writable again after its restart ($(seconds_since "$T0") s)" equals 0 admin p 'SELECT @@read_only'
check "p: a write after its restart" app p "INSERT INTO mc_selftest (note) VALUES ('prestart-$TOKEN')"
for m in r1 r2; do
    check "$m: reconnects to the restarted p and gets the row within 15 s" \
        eventually 15 equals 1 count_on "$m" "prestart-$TOKEN"
done

# A switchover to r1 and back, with the script's commands.
gtid_of() { admin "$1" 'SELECT @@gtid_current_pos'; }
check "promote r1" ms promote r1
check "demote p" ms demote p
check "repoint p to r1 (the old primary resumes from its own last GTID)" ms repoint p r1
check "repoint r2 to r1" ms repoint r2 r1
check "r1 is writable, p read_only" equals "0 1" eval 'echo $(admin r1 "SELECT @@read_only") $(admin p "SELECT @@read_only")'
check "r1: the app user writes on the new primary" app r1 "INSERT INTO mc_selftest (note) VALUES ('r1-$TOKEN')"
for m in p r2; do
    check "$m: the row written on r1 is replicated within 10 s" eventually 10 equals 1 count_on "$m" "r1-$TOKEN"
done
check "p: the app user cannot write on the demoted primary (1290)" refused_read_only p
check "promote p" ms promote p
check "demote r1" ms demote r1
check "repoint r1 to p" ms repoint r1 p
check "repoint r2 to p" ms repoint r2 p
check "p: a write after switching back" app p "INSERT INTO mc_selftest (note) VALUES ('back-$TOKEN')"
for m in r1 r2; do
    check "$m: replicates from p again, with the row" \
        eval "replicating_from $m p && eventually 10 equals 1 count_on $m back-$TOKEN"
done
check "the three members are at the same GTID position" eval \
    'eventually 10 eval "[[ \$(gtid_of p) == \$(gtid_of r1) && \$(gtid_of p) == \$(gtid_of r2) ]]"'

# ---------------------------------------------------------------------------------------
# Galera
# ---------------------------------------------------------------------------------------
wsrep() {   # member: "STATE READY SIZE"
    admin "$1" "SHOW GLOBAL STATUS WHERE Variable_name IN
        ('wsrep_local_state_comment', 'wsrep_ready', 'wsrep_cluster_size')" |
        awk -F'\t' '{v[$1] = $2} END {print v["wsrep_local_state_comment"], v["wsrep_ready"], v["wsrep_cluster_size"]}'
}
for m in g1 g2 g3; do
    check "$m: Synced, ready, in a cluster of 3" equals "Synced ON 3" wsrep "$m"
done
check "the Galera nodes run ROW binlog format, autoinc lock mode 2, wsrep on" equals "ROW	2	1" \
    admin g1 'SELECT @@binlog_format, @@innodb_autoinc_lock_mode, @@wsrep_on'
causal() {   # member sql: read as the app user after everything committed anywhere before
    app "$1" "SET SESSION wsrep_sync_wait = 1; $2"
}
check "g2: the app user creates a table and writes a row" app g2 \
    "CREATE TABLE mc_galera (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64) NOT NULL);
     INSERT INTO mc_galera (note) VALUES ('g2-$TOKEN')"
for m in g1 g3; do
    check "$m: the row written on g2 is there (causal read)" \
        equals 1 causal "$m" "SELECT count(*) FROM mc_galera WHERE note = 'g2-$TOKEN'"
done
check "g3: the app user creates a table" app g3 "CREATE TABLE mc_galera_g3 (id INT PRIMARY KEY)"
check "g1: the table created on g3 is there" \
    equals 1 causal g1 "SELECT count(*) FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = 'dbmgmt_test' AND TABLE_NAME = 'mc_galera_g3'"

T0=$(now_us)
check "kill g3 prints g3" prints g3 ms kill g3
check "wait-synced: g1 and g2 Synced without g3" ms wait-synced 30
for m in g1 g2; do
    check "$m: Synced in a cluster of 2 ($(seconds_since "$T0") s after the kill)" equals "Synced ON 2" wsrep "$m"
done
check "g1: a write while g3 is down" app g1 "INSERT INTO mc_galera (note) VALUES ('g3down-$TOKEN')"
T0=$(now_us)
check "start-member g3" ms start-member g3
cp "$OUT" "$WORK/start-g3"
grep -o 'after [0-9.]* s (state transfer: [A-Z]*)' "$WORK/start-g3" | sed 's/^/     g3 rejoined /' || true
check "g3 rejoined by IST, not a full SST" grep -q 'state transfer: IST' "$WORK/start-g3"
for m in g1 g2 g3; do
    check "$m: Synced, ready, in a cluster of 3 again" equals "Synced ON 3" wsrep "$m"
done
check "g3: has the row written while it was down ($(seconds_since "$T0") s)" \
    equals 1 causal g3 "SELECT count(*) FROM mc_galera WHERE note = 'g3down-$TOKEN'"

# ---------------------------------------------------------------------------------------
# Left as found: the test's tables gone, every member up, r1 and r2 replicating from p
# ---------------------------------------------------------------------------------------
check "p: drop the test's table" app p 'DROP TABLE mc_selftest'
check "g1: drop the test's tables" app g1 'DROP TABLE mc_galera, mc_galera_g3'
check "r1, r2: the drop is replicated" eventually 10 eval \
    "[[ \$(app r1 \"SHOW TABLES LIKE 'mc\\_%'\")\$(app r2 \"SHOW TABLES LIKE 'mc\\_%'\") == '' ]]"
status_as_found() {
    local st
    st=$(ms status 2>/dev/null) || return 1
    awk '
        $1 == "p" && $3 == "up" && $4 == "read_only=0" && $6 == "master=-" {n++}
        $1 ~ /^r[12]$/ && $3 == "up" && $4 == "read_only=1" && $6 == "master=p" && $7 == "io=Yes" && $8 == "sql=Yes" {n++}
        $1 ~ /^g[123]$/ && $3 == "up" && $5 == "state=Synced" && $6 == "ready=ON" && $7 == "size=3" {n++}
        END {exit !(n == 6)}' <<<"$st" || { echo "$st"; return 1; }
}
check "status: every member up, r1 and r2 replicating from p, p writable, Galera Synced" status_as_found
ms status 2>/dev/null | sed 's/^/     /' || true

# ---------------------------------------------------------------------------------------
# Passwords: nowhere in the clusters' logs, any process's argv or this test's output
# ---------------------------------------------------------------------------------------
password_in() {   # stdin: true if one of DBMGMT_TEST_MYCLUSTER_PASSWORDS occurs in it
    grep -aqF -f <(tr ' ' '\n' <<<"$DBMGMT_TEST_MYCLUSTER_PASSWORDS")
}
# Every file of the state folder but the three that hold passwords by design: the
# script's state.env, the client option files, and each replica's master.info (CHANGE
# MASTER keeps MASTER_PASSWORD there). Binary logs, relay logs, Galera's write-set
# cache and the InnoDB / Aria logs included: users are created from password hashes.
no_password_in_logs() {
    local f n=0
    while IFS= read -r -d '' f; do
        n=$((n + 1))
        ! password_in <"$f" || { echo "a password is in $f"; return 1; }
    done < <(find "${DBMGMT_TEST_MYCLUSTER_DIR:?}" -type f ! -name state.env ! -name master.info \
        ! -path "$DBMGMT_TEST_MYCLUSTER_DIR/client/*" -print0)
    ((n >= 60)) || { echo "only $n files found"; return 1; }
    echo "$n files searched"
}
check "no password in any log or data file of the clusters" no_password_in_logs
check "no password on any process's argv" eval '! ps -eo args= | password_in'
check "no password in this test's output" eval '! password_in <"$ALL"'

echo "$PASSED passed, $FAILED failed"
exit $((FAILED > 0))
