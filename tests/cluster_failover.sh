#!/usr/bin/env bash
# tests/cluster_failover.sh — "failover under load" (issue 18) on the cluster of
# tests/cluster.sh: examples/failover_drill with 8 writer threads, the leader's postmaster
# SIGKILLed under them (`cluster.sh kill-leader`), in its --check mode: writes resume on
# the new leader, RTO <= ttl + 5 s, no acknowledged write lost (synchronous_mode), no
# borrower hangs past its acquire timeout, and every live member has exactly the sessions
# the pool holds for it (pg_stat_activity by application_name and user vs
# dbmgmt_pool_stats_json). Then the killed member is started again and must stream, so
# the cluster is whole for whatever runs next (meson runs this test last: priority).
#   bash tests/cluster_failover.sh FAILOVER_DRILL_BINARY
# Without DBMGMT_TEST_CLUSTER_DSN it is skipped (exit 77), unless CI=true (then it fails).
# DSNs travel in the environment only: none is on a command line.
set -euo pipefail

DRILL=$1
SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh

# shellcheck source=tests/selftest_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/selftest_lib.sh"
skip_unless_set cluster.sh DBMGMT_TEST_CLUSTER_DSN

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

# Start from a whole cluster: a leader that takes writes and two streaming replicas.
bash "$SCRIPT" wait-leader 60 >/dev/null

status=0
DATABASE_URL=$DBMGMT_TEST_CLUSTER_DSN \
FAILOVER_DRILL_REPLICA_URLS=$DBMGMT_TEST_CLUSTER_MEMBER_DSNS \
FAILOVER_DRILL_ADMIN_URLS=$DBMGMT_TEST_CLUSTER_ADMIN_DSNS \
    "$DRILL" --writers 8 --warmup 3 --seconds 4 --acquire-timeout-ms 5000 \
    --kill-command "bash $SCRIPT kill-leader" --check \
    --max-rto-ms $(((DBMGMT_TEST_CLUSTER_TTL + 5) * 1000)) --max-lost 0 \
    >"$OUT" 2>&1 || status=$?
cat "$OUT"

for pw in $DBMGMT_TEST_CLUSTER_PASSWORDS; do
    if grep -qF -- "$pw" "$OUT"; then
        echo "FAIL a password appears in the drill's output"
        status=1
    fi
done

# The member the drill killed rejoins as a replica and streams again.
killed=$(sed -n 's/^kill: \([A-Za-z0-9_-]*\) .*/\1/p' "$OUT" | head -n 1)
if [[ -n $killed ]]; then
    echo "restarting $killed"
    bash "$SCRIPT" restart-member "$killed" || { echo "FAIL $killed did not rejoin"; status=1; }
fi
bash "$SCRIPT" status || true
exit "$status"
