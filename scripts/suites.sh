#!/usr/bin/env bash
# Build and run the suite in a normal and a sanitizer build. Called by
# scripts/test.sh with the servers' DSNs in the environment.
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

run_suite() { # NAME BUILD_DIR MESON_OPTIONS...
    local name=$1 dir=$2
    shift 2
    echo "=== $name build ($dir)"
    rm -rf "$dir"
    meson setup "$dir" "$top" "${options[@]}" "$@" >"$dir.setup.log" 2>&1 ||
        { cat "$dir.setup.log"; return 1; }
    ninja -C "$dir"
    # The cluster suite needs the cluster of tests/cluster.sh: it runs once, below.
    meson test -C "$dir" --print-errorlogs --num-processes 2 "${timeouts[@]}" --no-suite cluster
}

run_suite normal "$top/build-test"

# The high-availability suite against real clusters, each started once per run: etcd +
# Patroni + PgBouncer (issue 18) and, nested inside it, MariaDB GTID replication and
# Galera (issue 19). In the normal build only (its tests kill servers and wait for them
# to come back, which a sanitizer build would only slow down).
echo "=== cluster suite ($top/build-test, tests/cluster.sh, tests/mariadb_cluster.sh)"
bash "$top/tests/cluster.sh" run -- bash "$top/tests/mariadb_cluster.sh" run -- \
    meson test -C "$top/build-test" --no-rebuild --print-errorlogs --suite cluster "${timeouts[@]}"

run_suite sanitize "$top/build-test-asan" -Db_sanitize=address,undefined -Db_lundef=false

# ThreadSanitizer over the pool suite (the module with threads of its own) and the
# folder read that two threads share at boot (test-migrate-source): only their
# programs are built, to keep CI short.
echo "=== tsan build, pool suite and the shared folder read ($top/build-test-tsan)"
rm -rf "$top/build-test-tsan"
meson setup "$top/build-test-tsan" "$top" "${options[@]}" -Db_sanitize=thread -Db_lundef=false \
    >"$top/build-test-tsan.setup.log" 2>&1 || { cat "$top/build-test-tsan.setup.log"; exit 1; }
ninja -C "$top/build-test-tsan" tests/pool/test-conformance-pool examples/pool_worker \
    tests/migrate/test-migrate-source
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
meson test -C "$top/build-test-tsan" --no-rebuild --print-errorlogs --suite pool "${timeouts[@]}"
meson test -C "$top/build-test-tsan" --no-rebuild --print-errorlogs migrate-source "${timeouts[@]}"
unset TSAN_OPTIONS

# The embedded configuration, SQLite only, cross-built for aarch64, its unit and SQLite
# suites run under qemu-aarch64 (issue 24, docs/cross.md; armhf by hand: scripts/cross.sh
# armhf). It proves that configuration builds on its own and that a DSN for an engine left
# out names the option that enables it: the native SQLite-only step it replaced ran the
# same two suites, and the footprint step below builds SQLite only on x86-64.
bash "$top/scripts/cross.sh" aarch64

# Footprint (issue 24, docs/footprint.md): the migrate-on-boot build (SQLite only, minsize,
# six modules left out), stripped, at most 256,000 bytes on x86-64 and aarch64.
echo "=== footprint ($top/build-footprint, $top/build-footprint-aarch64)"
rm -rf "$top/build-footprint" "$top/build-footprint-aarch64"
bash "$top/tests/footprint/check_size.sh" "$top/build-footprint" -- -Dtests=enabled \
    $([ "${CI:-}" = true ] && echo --werror)
meson test -C "$top/build-footprint" --no-rebuild --print-errorlogs "${timeouts[@]}"
STRIP=aarch64-linux-gnu-strip bash "$top/tests/footprint/check_size.sh" \
    "$top/build-footprint-aarch64" -- --cross-file "$top/cross/aarch64-linux-gnu.ini"
echo "=== all suites passed"
