#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, then
# build and run the whole suite twice, once normally and once with
# AddressSanitizer + UndefinedBehaviorSanitizer. With CI=true warnings are
# errors.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/deps.sh" test

werror=()
[ "${CI:-}" = true ] && werror=(--werror)
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"

run_suite() { # NAME BUILD_DIR MESON_OPTIONS...
    local name=$1 dir=$2
    shift 2
    echo "=== $name build ($dir)"
    rm -rf "$dir"
    meson setup "$dir" "$top" -Dtests=enabled "${werror[@]}" "$@" >"$dir.setup.log" 2>&1 ||
        { cat "$dir.setup.log"; return 1; }
    ninja -C "$dir"
    meson test -C "$dir" --print-errorlogs --num-processes 2
}

run_suite normal "$top/build-test"
run_suite sanitize "$top/build-test-asan" -Db_sanitize=address,undefined -Db_lundef=false
echo "=== all suites passed"
