# Sourced by tests/servers_selftest.sh, tests/cluster_selftest.sh,
# tests/mariadb_cluster_selftest.sh and tests/cluster_failover.sh (never run alone): the
# checks' bookkeeping. The sourcing script sets OUT (a file: the output of the command
# under test, shown when a check fails) and, to collect every command's output too, ALL.
# shellcheck shell=bash

PASSED=0 FAILED=0

skip_unless_set() {   # script var...: exit 77 (meson's skip) unless every var is set;
    # with CI=true exit 1 instead
    local script=$1 v names='' verb=is missing=0
    shift
    for v; do
        [[ -n ${!v:-} ]] || missing=1
        names+="${names:+ / }$v"
    done
    ((missing)) || return 0
    (($# == 1)) || verb=are
    if [[ ${CI:-} == true || ${CI:-} == 1 ]]; then
        echo "$names $verb not set (run under tests/$script; required with CI=true)"
        exit 1
    fi
    echo "skipped: $names $verb not set (run under bash tests/$script run --)"
    exit 77
}

pass() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$1"; sed 's/^/     | /' "$OUT" | tail -n 15; }
check() {      # name cmd...: the command must succeed
    local name=$1 rc=0; shift
    "$@" >"$OUT" 2>&1 || rc=$?
    if [[ -n ${ALL:-} ]]; then cat "$OUT" >>"$ALL"; fi
    if ((rc == 0)); then pass "$name"; else fail "$name"; fi
}
equals() {     # expected cmd...: the command's stdout must be exactly `expected`
    local expected=$1 got; shift
    got=$("$@" 2>&1) || { echo "$got"; return 1; }
    [[ $got == "$expected" ]] || { echo "expected [$expected], got [$got]"; return 1; }
}
eventually() {   # seconds cmd...: retry the command until it succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.25
    done
}

now_us() { echo "${EPOCHREALTIME/./}"; }
seconds_since() {   # start (from now_us): elapsed seconds, two decimals
    local d=$(($(now_us) - $1))
    printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}
