#!/usr/bin/env bash
# Build and run the suite in a normal and a sanitizer build. Called by
# scripts/test.sh with the servers' DSNs in the environment. The steps and
# why they run in two lanes: docs/testing.md ("CI's steps").
#   scripts/suites.sh                   everything
#   scripts/suites.sh --sanitizer-lane  (itself, inside servers of its own)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

options=(-Dtests=enabled)
if [ "${CI:-}" = true ]; then
    options+=(--werror -Dpostgres=enabled -Dmysql=enabled -Dsodium=enabled -Dzstd=enabled)
fi
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Test timeouts are hang guards, not speed checks: a 2-core machine that is
# busy with something else (or with the sanitizer builds) may take three
# times as long as a quiet one, and must still pass.
timeouts=(--timeout-multiplier 3)
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"

# The cluster suite needs the clusters of tests/cluster.sh: it runs once, in the normal lane.
test_suite() { # BUILD_DIR MESON_TEST_OPTIONS...
    local dir=$1
    shift
    meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 "${timeouts[@]}" \
        --no-suite cluster "$@"
}

# The sanitizer lane, run by the main script below inside a nested tests/servers.sh:
# the ASan + UBSan suite (the archive suite too: that build prints its lock waits without
# asserting them), then ThreadSanitizer over the pool suite (the module with threads of
# its own) and the folder read that two threads share at boot (test-migrate-source).
if [ "${1:-}" = --sanitizer-lane ]; then
    echo "=== sanitize build's suites (all but cluster; $top/build-test-asan)"
    test_suite "$top/build-test-asan"
    echo "=== tsan build's pool suite and the shared folder read ($top/build-test-tsan)"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    meson test -C "$top/build-test-tsan" --no-rebuild --print-errorlogs --suite pool \
        "${timeouts[@]}"
    meson test -C "$top/build-test-tsan" --no-rebuild --print-errorlogs migrate-source \
        "${timeouts[@]}"
    exit 0
fi

step_start=$SECONDS
step_done() { # NAME: how long the step took (CI's budget is the sum)
    echo "=== $1: $((SECONDS - step_start)) s"
    step_start=$SECONDS
}

setup_build() { # NAME BUILD_DIR MESON_OPTIONS...
    local name=$1 dir=$2
    shift 2
    echo "=== $name build ($dir)"
    rm -rf "$dir"
    meson setup "$dir" "$top" "${options[@]}" "$@" >"$dir.setup.log" 2>&1 ||
        { cat "$dir.setup.log"; return 1; }
}

setup_build normal "$top/build-test"
ninja -C "$top/build-test"
setup_build sanitize "$top/build-test-asan" -Db_sanitize=address,undefined -Db_lundef=false
ninja -C "$top/build-test-asan"
# ThreadSanitizer: only the programs of its two tests are built, to keep CI short.
setup_build tsan "$top/build-test-tsan" -Db_sanitize=thread -Db_lundef=false
ninja -C "$top/build-test-tsan" tests/pool/test-conformance-pool examples/pool_worker \
    tests/migrate/test-migrate-source
step_done "the normal, sanitize and tsan builds"

# Nearly every test of a server engine runs alone (they share the servers' database), so
# one `meson test` keeps about one core busy: two lanes run side by side, each into its
# own log, printed when both are done.
# - normal: the normal build's suites but archive (against the servers of
#   scripts/test.sh), then the high-availability suite against real clusters, each started
#   once per run: etcd + Patroni + PgBouncer (issue 18) and, nested inside it, MariaDB
#   GTID replication and Galera (issue 19). The cluster suite runs in the normal build only
#   (its tests kill servers and wait for them to come back, which a sanitizer build would
#   only slow down).
# - sanitizer: the lane above, against servers of its own (a nested tests/servers.sh), so
#   the two lanes never share a database.
normal_lane() {
    echo "=== normal build's suites (all but archive and cluster; $top/build-test)"
    test_suite "$top/build-test" --no-suite archive
    echo "=== cluster suite ($top/build-test, tests/cluster.sh, tests/mariadb_cluster.sh)"
    bash "$top/tests/cluster.sh" run -- bash "$top/tests/mariadb_cluster.sh" run -- \
        meson test -C "$top/build-test" --no-rebuild --print-errorlogs --suite cluster \
        "${timeouts[@]}"
}
echo "=== two lanes side by side: normal + cluster, sanitize + tsan"
normal_lane >"$top/build-test.lane.log" 2>&1 &
normal_job=$!
bash "$top/tests/servers.sh" run -- bash "$top/scripts/suites.sh" --sanitizer-lane \
    >"$top/build-test-asan.lane.log" 2>&1 &
sanitizer_job=$!
normal_rc=0 sanitizer_rc=0
wait "$normal_job" || normal_rc=$?
wait "$sanitizer_job" || sanitizer_rc=$?
cat "$top/build-test.lane.log"
echo "=== the normal lane: exit $normal_rc"
cat "$top/build-test-asan.lane.log"
echo "=== the sanitizer lane: exit $sanitizer_rc"
if [ "$normal_rc" != 0 ] || [ "$sanitizer_rc" != 0 ]; then exit 1; fi
step_done "the two lanes"

# The normal build's archive suite, alone: it asserts the 100 ms lock bound
# (docs/archive.md), which the other lane's fsyncs must not disturb.
echo "=== normal build's archive suite ($top/build-test)"
test_suite "$top/build-test" --suite archive
step_done "the archive suite"

# The embedded configuration, SQLite only, cross-built for aarch64, its unit and SQLite
# suites run under qemu-aarch64 (issue 24, docs/cross.md; armhf by hand: scripts/cross.sh
# armhf). It proves that configuration builds on its own and that a DSN for an engine left
# out names the option that enables it: the native SQLite-only step it replaced ran the
# same two suites, and the footprint step below builds SQLite only on x86-64.
bash "$top/scripts/cross.sh" aarch64
step_done "the aarch64 step"

# Footprint (issue 24, docs/footprint.md): the migrate-on-boot build (SQLite only, minsize,
# six modules left out), stripped, at most 256,000 bytes on x86-64 and aarch64.
echo "=== footprint ($top/build-footprint, $top/build-footprint-aarch64)"
rm -rf "$top/build-footprint" "$top/build-footprint-aarch64"
bash "$top/tests/footprint/check_size.sh" "$top/build-footprint" -- -Dtests=enabled \
    $([ "${CI:-}" = true ] && echo --werror)
meson test -C "$top/build-footprint" --no-rebuild --print-errorlogs "${timeouts[@]}"
STRIP=aarch64-linux-gnu-strip bash "$top/tests/footprint/check_size.sh" \
    "$top/build-footprint-aarch64" -- --cross-file "$top/cross/aarch64-linux-gnu.ini"
step_done "the footprint step"
echo "=== all suites passed"
