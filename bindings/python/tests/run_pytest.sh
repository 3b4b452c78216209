#!/bin/sh
# Run the binding's pytest suite against one engine (meson test calls this):
#   run_pytest.sh PYTHON sqlite|postgres|mysql [PYTEST ARGS...]
# DBMGMT_LIBRARY names the built libdbmgmt.so.1. The DSN of postgres and
# mysql comes from DBMGMT_TEST_PG_DSN / DBMGMT_TEST_MYSQL_DSN at run time
# (tests/servers.sh exports them); SQLite uses files in a temporary folder.
# Without the DSN, or without pytest, the test is skipped (exit 77), except
# with CI=true, where that is a failure. Like tests/engines/run_engine.sh,
# the output is searched for the servers' passwords (DBMGMT_TEST_PASSWORDS).
set -u
python=$1 engine=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
skip() {
    echo "$1"
    if [ "${CI:-}" = true ]; then echo "CI=true: a skipped engine is a failure"; exit 1; fi
    exit 77
}
case $engine in
    sqlite) dsn=sqlite ;;
    postgres) dsn=${DBMGMT_TEST_PG_DSN:-} ;;
    mysql) dsn=${DBMGMT_TEST_MYSQL_DSN:-} ;;
    *) echo "unknown engine $engine"; exit 2 ;;
esac
[ -n "$dsn" ] || skip "no $engine server: set DBMGMT_TEST_PG_DSN / DBMGMT_TEST_MYSQL_DSN (tests/servers.sh does)"
"$python" -c 'import pytest' 2>/dev/null || skip "$python has no pytest: apt-get install python3-pytest"
[ -n "${DBMGMT_LIBRARY:-}" ] || { echo "DBMGMT_LIBRARY is not set"; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# No .pytest_cache or __pycache__ in the source tree.
PYTHONDONTWRITEBYTECODE=1 DBMGMT_TEST_ENGINE=$engine PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" \
    "$python" -m pytest -p no:cacheprovider -q -rs "$here" "$@" >"$log" 2>&1
status=$?
cat "$log"
for pw in ${DBMGMT_TEST_PASSWORDS:-}; do
    if grep -qF "$pw" "$log"; then
        echo "a test password appears in the binding tests' output"
        exit 1
    fi
done
# pytest: 5 = no tests collected, which must not pass for a suite
[ $status -eq 5 ] && { echo "pytest collected no tests"; exit 1; }
exit $status
