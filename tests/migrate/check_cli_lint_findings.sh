#!/bin/sh
# dbmgmt up and plan show a plan's lint findings: errors and warnings
# always, info findings only with --verbose (-v, before or after the
# command); --json keeps them all. The README's demo (scripts/demo.sh:
# `dbmgmt plan` on examples/migrations) prints no finding at all, and its
# migrations follow the lint's advice.
#   check_cli_lint_findings.sh DBMGMT_BINARY EXAMPLES_MIGRATIONS_DIR
set -u
dbmgmt=$1 demo=$2
# A cross build's target binary runs under qemu: meson test names it in MESON_EXE_WRAPPER.
run_dbmgmt() { ${MESON_EXE_WRAPPER:-} "$dbmgmt" "$@"; }
dir=$(mktemp -d /tmp/dbmgmt-findings-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir "$dir/m"
# 001: info (CREATE TABLE without IF NOT EXISTS) and warning (no down section)
printf -- '-- migrate:up\nCREATE TABLE t (id INTEGER, note TEXT);\n' >"$dir/m/001_t.sql"
mig() { db=$1; shift; run_dbmgmt --url "sqlite://$dir/$db.db" --dir "$dir/m" "$@"; }
info='001_t.sql:2: info non-idempotent-ddl'
warning='001_t.sql:2: warning missing-down'
error='002_drop.sql:2: error drop-column'

mig quiet up >"$dir/out" 2>"$dir/err" || fail "up: exit $?: $(cat "$dir/out" "$dir/err")"
grep -q "$warning" "$dir/err" || fail "up shows no warning: $(cat "$dir/err")"
grep -q 'safe: add a `-- migrate:down` section' "$dir/err" || fail "up shows no safe path: $(cat "$dir/err")"
grep -q 'info' "$dir/err" && fail "up shows info findings without --verbose: $(cat "$dir/err")"
grep -q '^applying 001 t \.\.\. done in' "$dir/out" || fail "up progress: $(cat "$dir/out")"
# 002: error (DROP COLUMN of a table the database has); outside production it runs
printf -- '-- migrate:up\nALTER TABLE t DROP COLUMN note;\n-- migrate:down\nALTER TABLE t ADD COLUMN note TEXT;\n' >"$dir/m/002_drop.sql"
mig quiet up >"$dir/out" 2>"$dir/err" || fail "second up: exit $?: $(cat "$dir/out" "$dir/err")"
grep -q "$error" "$dir/err" || fail "up shows no error finding: $(cat "$dir/err")"
grep -q "$warning" "$dir/err" && fail "up shows findings of applied migrations: $(cat "$dir/err")"
grep -q '^applying 002 drop \.\.\. done in' "$dir/out" || fail "second up progress: $(cat "$dir/out")"
mig quiet up >"$dir/out" 2>"$dir/err" || fail "third up: exit $?"
[ ! -s "$dir/err" ] || fail "up with nothing to do printed: $(cat "$dir/err")"

for flags in "--verbose up" "-v up" "up --verbose" "up -v"; do
    rm -f "$dir/v.db"
    # shellcheck disable=SC2086
    mig v $flags >/dev/null 2>"$dir/err" || fail "$flags: exit $?"
    grep -q "$info" "$dir/err" || fail "$flags shows no info finding: $(cat "$dir/err")"
    grep -q "$warning" "$dir/err" || fail "$flags shows no warning: $(cat "$dir/err")"
done

out=$(mig plan-only plan) || fail "plan: exit $?"
echo "$out" | grep -q "$warning" || fail "plan shows no warning: $out"
case $out in *info*) fail "plan shows info findings without --verbose: $out" ;; esac
mig plan-only plan --verbose | grep -q "$info" || fail "plan --verbose shows no info finding"
mig plan-only --json plan | grep -q '"rule":"non-idempotent-ddl"' || fail "plan --json lost the info finding"

# the demo's first boot: nothing about its own migrations
out=$(run_dbmgmt --url "sqlite://$dir/demo.db" --dir "$demo" plan 2>&1) || fail "demo plan: exit $?: $out"
case $out in *info*|*warning*|*error*|*safe:*) fail "the demo's plan prints findings: $out" ;; esac
[ "$(echo "$out" | grep -c '^up ')" -eq 3 ] || fail "the demo's plan: $out"
# ... and its migrations follow the lint's advice (IF NOT EXISTS); the one
# info left, an index MySQL cannot create IF NOT EXISTS, says why in the file
for d in sqlite postgres mysql; do
    out=$(run_dbmgmt lint --dir "$demo" --dialect $d) || fail "lint the demo as $d: $out"
    want=1; [ $d = mysql ] && want=0
    echo "$out" | grep -q "^3 migrations linted: 0 errors, 0 warnings, $want info$" ||
        fail "the demo's migrations as $d: $out"
    [ $want -eq 0 ] || echo "$out" | grep -q '_create_orders.sql:[0-9]*: info non-idempotent-ddl: CREATE INDEX orders_account_id' ||
        fail "the demo's info finding as $d: $out"
done
grep -q 'MySQL has none for CREATE INDEX' "$demo"/*_create_orders.sql || fail "the demo does not say why"
echo "1 passed, 0 failed"
