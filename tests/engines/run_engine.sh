#!/bin/sh
# Run a conformance binary against one engine, taking the DSN from the
# environment at run time (tests/servers.sh exports them):
#   run_engine.sh postgres|mysql BINARY
# Without the engine's DSN the test is skipped (exit 77), except with
# CI=true, where a missing engine is a failure. Everything the binary prints
# is also searched for the servers' passwords (DBMGMT_TEST_PASSWORDS).
set -u
engine=$1 binary=$2
case $engine in
    postgres) dsn=${DBMGMT_TEST_PG_DSN:-} admin=${DBMGMT_TEST_PG_ADMIN_DSN:-} ca=${DBMGMT_TEST_PG_CA:-} ;;
    mysql) dsn=${DBMGMT_TEST_MYSQL_DSN:-} admin=${DBMGMT_TEST_MYSQL_ADMIN_DSN:-} ca=${DBMGMT_TEST_PG_CA:-} ;;
    *) echo "unknown engine $engine"; exit 2 ;;
esac
if [ -z "$dsn" ]; then
    if [ "${CI:-}" = true ]; then
        echo "CI=true and DBMGMT_TEST_$(echo "$engine" | tr a-z A-Z | sed 's/POSTGRES/PG/')_DSN is not set: the $engine engine is missing"
        exit 1
    fi
    echo "no $engine server: set DBMGMT_TEST_PG_DSN / DBMGMT_TEST_MYSQL_DSN (tests/servers.sh does)"
    exit 77
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
DBMGMT_TEST_DSN=$dsn DBMGMT_TEST_ADMIN_DSN=$admin DBMGMT_TEST_CA=$ca DBMGMT_TEST_LOG=$log "$binary" >"$log.out" 2>&1
status=$?
cat "$log.out"
cat "$log.out" >>"$log"
rm -f "$log.out"
for pw in ${DBMGMT_TEST_PASSWORDS:-}; do
    if grep -qF "$pw" "$log"; then
        echo "a test password appears in the suite's output or the library's log lines"
        exit 1
    fi
done
exit $status
