#!/usr/bin/env bash
# tests/cluster_selftest.sh — checks the cluster of tests/cluster.sh: one Patroni leader
# and two streaming replicas (one synchronous), the app database everywhere, a write
# through PgBouncer reaching the replicas, then a real failover: the leader's postmaster
# is SIGKILLed, Patroni promotes a replica within ttl + 5 s, no acknowledged write is
# lost, PgBouncer follows the new leader and the old leader rejoins as a replica.
# Starts nothing itself: it uses the DBMGMT_TEST_CLUSTER_* variables of
#   bash tests/cluster.sh run -- bash tests/cluster_selftest.sh
# Without them it is skipped (exit 77), unless CI=true (then it fails).
# Prints "N passed, M failed", with the measured times.
# shellcheck disable=SC2317 # the checks are functions called through check / eventually
set -euo pipefail

# shellcheck source=tests/selftest_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/selftest_lib.sh"
# pass, fail, check, equals, eventually, now_us, seconds_since: tests/selftest_lib.sh.

SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh
OUT=$(mktemp)            # output of the command under test, shown when a check fails
trap 'rm -f "$OUT"' EXIT

skip_unless_set cluster.sh DBMGMT_TEST_CLUSTER_DSN

# DSN postgres://user:password@host:port/db into the array DSN (user pw host port db), so
# the password goes to psql through PGPASSWORD, never argv.
parse_dsn() {
    [[ $1 =~ ^[a-z]+://([^:@/]+):([^@/]+)@([^:/]+):([0-9]+)/([^?]+)$ ]] || return 1
    DSN=("${BASH_REMATCH[@]:1}")
}

q() {   # user password "host=... port=..." sql: one answer, unaligned
    PGPASSWORD=$2 psql -X -At -F ' ' -v ON_ERROR_STOP=1 \
        "$3 user=$1 dbname=dbmgmt_test connect_timeout=3" -c "$4"
}

# ---------------------------------------------------------------------------------------
# The exports
# ---------------------------------------------------------------------------------------
for v in DBMGMT_TEST_CLUSTER_DSN DBMGMT_TEST_CLUSTER_MEMBER_DSNS DBMGMT_TEST_CLUSTER_ADMIN_DSNS \
    DBMGMT_TEST_CLUSTER_BOUNCER_DSN DBMGMT_TEST_CLUSTER_PATRONI_APIS DBMGMT_TEST_CLUSTER_MEMBERS \
    DBMGMT_TEST_CLUSTER_TTL DBMGMT_TEST_CLUSTER_PASSWORDS DBMGMT_TEST_CLUSTER_DIR; do
    check "variable $v is set" test -n "${!v:-}"
done
read -ra NAMES <<<"$DBMGMT_TEST_CLUSTER_MEMBERS"
read -ra MEMBER_DSNS <<<"$DBMGMT_TEST_CLUSTER_MEMBER_DSNS"
read -ra ADMIN_DSNS <<<"$DBMGMT_TEST_CLUSTER_ADMIN_DSNS"
read -ra APIS <<<"$DBMGMT_TEST_CLUSTER_PATRONI_APIS"
TTL=$DBMGMT_TEST_CLUSTER_TTL
PORTS=() HOSTS=''
for d in "${MEMBER_DSNS[@]}"; do
    parse_dsn "$d"
    APP_USER=${DSN[0]} APP_PW=${DSN[1]}
    PORTS+=("${DSN[3]}")
    HOSTS+="${HOSTS:+,}127.0.0.1"
done
parse_dsn "${ADMIN_DSNS[0]}"; SU=${DSN[0]} SU_PW=${DSN[1]}
parse_dsn "$DBMGMT_TEST_CLUSTER_BOUNCER_DSN"; BOUNCER="host=127.0.0.1 port=${DSN[3]}"
# The multi-host DSN, as conninfo (its password through PGPASSWORD).
check "the cluster DSN lists the three members and asks for read-write" test \
    "$DBMGMT_TEST_CLUSTER_DSN" = "postgres://$APP_USER:$APP_PW@127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}/dbmgmt_test?target_session_attrs=read-write"
MULTI="host=$HOSTS port=$(IFS=,; echo "${PORTS[*]}") target_session_attrs=read-write"

check "three members, PostgreSQL ports and REST APIs" \
    test "${#NAMES[@]}" -eq 3 -a "${#PORTS[@]}" -eq 3 -a "${#ADMIN_DSNS[@]}" -eq 3 -a "${#APIS[@]}" -eq 3

port_of() { local i; for i in "${!NAMES[@]}"; do [[ ${NAMES[i]} != "$1" ]] || echo "${PORTS[i]}"; done; }
app() { q "$APP_USER" "$APP_PW" "$1" "$2"; }                        # conninfo sql
admin() { q "$SU" "$SU_PW" "host=127.0.0.1 port=$(port_of "$1")" "$2"; }   # member sql

members() {   # Patroni's view: "NAME ROLE STATE" per line, sorted
    local api json
    for api in "${APIS[@]}"; do
        json=$(curl -fsS -m 3 "$api/cluster" 2>/dev/null) || continue
        python3 -c '
import json, sys
for m in json.loads(sys.argv[1])["members"]:
    print(m["name"], m["role"], m["state"])
' "$json" | sort
        return 0
    done
    echo "no Patroni REST API answers"
    return 1
}
leader() { members | awk '$2 == "leader" {print $1}'; }
leader_timeline() {   # the leader's timeline, from Patroni: 1 + the failovers so far
    local api json
    for api in "${APIS[@]}"; do
        json=$(curl -fsS -m 3 "$api/cluster" 2>/dev/null) || continue
        python3 -c '
import json, sys
print(*[m.get("timeline") for m in json.loads(sys.argv[1])["members"] if m["role"] == "leader"])
' "$json"
        return 0
    done
    return 1
}
replicas_are_healthy() {   # one leader, two running replicas (one of them sync_standby)
    local m
    m=$(members) || return 1
    [[ $(awk '$2 == "leader" && $3 == "running"' <<<"$m" | wc -l) == 1 &&
        $(awk '$2 ~ /^(replica|sync_standby)$/ && $3 == "running"' <<<"$m" | wc -l) == 2 &&
        $(awk '$2 == "sync_standby"' <<<"$m" | wc -l) == 1 ]] || { echo "$m"; return 1; }
}
streaming() {   # leader: "STREAMING SYNC" counts of its pg_stat_replication
    admin "$1" "SELECT count(*) FILTER (WHERE state = 'streaming') || ' ' ||
        count(*) FILTER (WHERE sync_state = 'sync') FROM pg_stat_replication"
}
dynamic_config() {   # "TTL LOOP_WAIT SYNCHRONOUS_MODE PRIMARY_START_TIMEOUT" from GET /config
    curl -fsS -m 3 "${APIS[0]}/config" | python3 -c '
import json, sys
c = json.load(sys.stdin)
print(c["ttl"], c["loop_wait"], c["synchronous_mode"], c["primary_start_timeout"])'
}

# ---------------------------------------------------------------------------------------
# Before the failover
# ---------------------------------------------------------------------------------------
check "Patroni: one leader and two running replicas, one of them synchronous" replicas_are_healthy
check "Patroni's dynamic config: ttl = DBMGMT_TEST_CLUSTER_TTL, synchronous_mode, no restart in place" \
    equals "$TTL 2 True 0" dynamic_config
LEADER=$(leader)
echo "     leader: $LEADER"
check "the leader has two streaming replicas, one sync" equals "2 1" streaming "$LEADER"
check "the multi-host DSN reaches the leader, read-write, as the app user" \
    equals "f $(port_of "$LEADER") $APP_USER" app "$MULTI" \
    'SELECT pg_is_in_recovery(), inet_server_port(), current_user'
for i in "${!NAMES[@]}"; do
    [[ ${NAMES[i]} == "$LEADER" ]] && continue
    check "${NAMES[i]}: the app user logs in to the replica, which is read-only" \
        equals t app "host=127.0.0.1 port=${PORTS[i]}" 'SELECT pg_is_in_recovery()'
done
wrong_password_refused() {
    local out
    ! out=$(q "$APP_USER" not-the-password "$MULTI" 'SELECT 1' 2>&1) &&
        grep -q 'password authentication failed' <<<"$out"
}
check "a wrong password is refused (scram-sha-256)" wrong_password_refused
check "the admin DSNs are superusers" equals on admin "$LEADER" 'SHOW is_superuser'
check "hot_standby_feedback is on" equals on admin "$LEADER" 'SHOW hot_standby_feedback'

TOKEN=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
check "PgBouncer: the app user creates a table and writes a row" \
    app "$BOUNCER" "CREATE TABLE ct_cluster_selftest (id serial PRIMARY KEY, note text NOT NULL);
        INSERT INTO ct_cluster_selftest (note) VALUES ('bouncer-$TOKEN')"
check "PgBouncer leads to the leader" equals "$(port_of "$LEADER")" app "$BOUNCER" 'SELECT inet_server_port()'
for i in "${!NAMES[@]}"; do
    [[ ${NAMES[i]} == "$LEADER" ]] && continue
    check "${NAMES[i]}: the row written through PgBouncer is replayed within 10 s" \
        eventually 10 equals 1 app "host=127.0.0.1 port=${PORTS[i]}" \
        "SELECT count(*) FROM ct_cluster_selftest WHERE note = 'bouncer-$TOKEN'"
done

# pg_wal_replay_pause() on the asynchronous replica (pausing replay does not hold commits
# back: synchronous_commit = on waits for the sync standby's flush, not its replay).
# Patroni resumes a paused replay at its next loop unless it is in maintenance mode.
ASYNC=$(members | awk '$2 == "replica" {print $1; exit}')
async_has() {   # note: the count of rows with it on the async replica
    app "host=127.0.0.1 port=$(port_of "$ASYNC")" \
        "SELECT count(*) FROM ct_cluster_selftest WHERE note = '$1'"
}
replay_state() { admin "$ASYNC" 'SELECT pg_get_wal_replay_pause_state()'; }
# Requests a pause and reads the state in the same statement: Patroni may resume it at
# any moment. On an idle replica the state stays "pause requested" until the next WAL
# record arrives; then it is "paused".
pause_replay() {
    local state
    state=$(admin "$ASYNC" 'WITH p AS MATERIALIZED (SELECT pg_wal_replay_pause())
        SELECT pg_get_wal_replay_pause_state() FROM p') || return 1
    [[ $state == 'pause requested' || $state == paused ]] || { echo "after the pause: $state"; return 1; }
}
patroni_resumes_replay() {
    pause_replay || return 1
    app "$BOUNCER" "INSERT INTO ct_cluster_selftest (note) VALUES ('unpaused-$TOKEN')" >/dev/null
    eventually $((3 * 2 + 5)) equals 'not paused' replay_state &&
        eventually 10 equals 1 async_has "unpaused-$TOKEN"
}
pause_holds_back_replay() {
    pause_replay || return 1
    app "$BOUNCER" "INSERT INTO ct_cluster_selftest (note) VALUES ('paused-$TOKEN')" >/dev/null
    sleep 5        # more than two Patroni loops
    equals 0 async_has "paused-$TOKEN" || return 1
    equals paused replay_state || return 1
    admin "$ASYNC" 'SELECT pg_wal_replay_resume()' >/dev/null
    eventually 10 equals 1 async_has "paused-$TOKEN"
}
check "$ASYNC: outside maintenance mode Patroni resumes a paused WAL replay at its next loop" \
    patroni_resumes_replay
check "maintenance on" bash "$SCRIPT" maintenance on
check "$ASYNC: in maintenance mode pg_wal_replay_pause() holds a write back until resumed" \
    pause_holds_back_replay
check "maintenance off" bash "$SCRIPT" maintenance off

# ---------------------------------------------------------------------------------------
# The failover: SIGKILL of the leader's postmaster, Patroni does the rest
# ---------------------------------------------------------------------------------------
check "no failover happened before the kill (the leader is on timeline 1)" equals 1 leader_timeline
check "a write acknowledged just before the crash" \
    app "$MULTI" "INSERT INTO ct_cluster_selftest (note) VALUES ('acked-$TOKEN')"
writable_elsewhere() {   # old leader: the multi-host DSN reaches another member, read-write
    local got
    got=$(app "$MULTI" 'SELECT inet_server_port() FROM (SELECT) x WHERE NOT pg_is_in_recovery()' 2>/dev/null) &&
        [[ -n $got && $got != "$(port_of "$1")" ]]
}
T0=$(now_us)
KILLED=$(bash "$SCRIPT" kill-leader 2>"$OUT") || true
KILLED=${KILLED%% *}
check "kill-leader names the leader it killed ($KILLED)" test "$KILLED" = "$LEADER"
if eventually $((TTL + 20)) writable_elsewhere "$LEADER"; then
    FAILOVER=$(seconds_since "$T0")
    : >"$OUT"
    check "a replica is promoted and takes writes within ttl + 5 s ($FAILOVER s, ttl $TTL s)" \
        test "${FAILOVER%.*}" -lt $((TTL + 5))
else
    echo "no writable member after $((TTL + 20)) s; $(members 2>&1 | tr '\n' ';')" >"$OUT"
    fail "a replica is promoted and takes writes within ttl + 5 s"
fi
NEW=$(bash "$SCRIPT" wait-leader 30 2>"$OUT") || true
NEW=${NEW%% *}
echo "     new leader: $NEW"
check "wait-leader prints the new leader" test -n "$NEW" -a "$NEW" != "$LEADER"
check "the write acknowledged before the crash is on the new leader" \
    equals 1 app "$MULTI" "SELECT count(*) FROM ct_cluster_selftest WHERE note = 'acked-$TOKEN'"
bouncer_on_new_leader() {
    equals "$(port_of "$NEW") f" app "$BOUNCER" 'SELECT inet_server_port(), pg_is_in_recovery()' 2>/dev/null
}
if eventually 20 bouncer_on_new_leader >"$OUT" 2>&1; then
    pass "PgBouncer reaches the new leader ($(seconds_since "$T0") s after the kill)"
else
    fail "PgBouncer reaches the new leader within 20 s"
fi
check "PgBouncer: a write after the failover" \
    app "$BOUNCER" "INSERT INTO ct_cluster_selftest (note) VALUES ('after-$TOKEN')"

old_leader_rejoined() {
    members | grep -qE "^$LEADER (replica|sync_standby) running$" &&
        equals 1 admin "$NEW" "SELECT count(*) FROM pg_stat_replication
            WHERE application_name = '$LEADER' AND state = 'streaming'" &&
        equals 1 app "host=127.0.0.1 port=$(port_of "$LEADER")" \
            "SELECT count(*) FROM ct_cluster_selftest WHERE note = 'after-$TOKEN'"
}
if eventually 120 old_leader_rejoined >"$OUT" 2>&1; then
    pass "the old leader $LEADER rejoins as a streaming replica, with the new writes ($(seconds_since "$T0") s after the kill)"
else
    members >>"$OUT" 2>&1 || true
    fail "the old leader $LEADER rejoins as a streaming replica within 120 s"
fi
check "Patroni: one leader and two running replicas again, one synchronous" \
    eventually 30 replicas_are_healthy
check "the new leader has two streaming replicas, one sync" eventually 30 equals "2 1" streaming "$NEW"
check "exactly one failover happened (the leader is on timeline 2)" equals 2 leader_timeline

# ---------------------------------------------------------------------------------------
# Passwords: nowhere in the logs, the DCS view or any process's argv
# ---------------------------------------------------------------------------------------
password_in() {   # stdin: true if one of DBMGMT_TEST_CLUSTER_PASSWORDS occurs in it
    grep -qF -f <(tr ' ' '\n' <<<"$DBMGMT_TEST_CLUSTER_PASSWORDS")
}
no_password_in_logs() {
    local f n=0
    while IFS= read -r -d '' f; do
        n=$((n + 1))
        ! password_in <"$f" || { echo "a password is in $f"; return 1; }
    done < <(find "${DBMGMT_TEST_CLUSTER_DIR:?}" -type f \( -name '*.log' -o -name '*.out' \) -print0)
    ((n >= 10)) || { echo "only $n log files found"; return 1; }
}
check "three passwords are listed" test "$(wc -w <<<"$DBMGMT_TEST_CLUSTER_PASSWORDS")" -eq 3
check "no password in any log of the cluster" no_password_in_logs
no_password_in() {   # cmd...: it must succeed and print no password
    local text
    text=$("$@") || { echo "$text"; return 1; }
    ! password_in <<<"$text" || { echo "a password is in the output of $1"; return 1; }
}
rest_answers() {
    local a
    for a in "${APIS[@]}"; do curl -fsS -m 3 "$a/cluster" "$a/config" "$a/patroni" || return 1; done
}
check "no password in Patroni's REST answers (the DCS view)" no_password_in rest_answers
check "no password on any process's argv" no_password_in ps -eo args=
if bash "$SCRIPT" status >"$OUT" 2>&1; then
    grep -o '[0-9]* MiB in use' "$OUT" | sed 's/^/     memory of the cluster: /' || true
fi

echo "$PASSED passed, $FAILED failed"
exit $((FAILED > 0))
