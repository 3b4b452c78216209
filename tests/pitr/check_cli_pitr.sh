#!/bin/sh
# dbmgmt backup restore --to-time on SQLite: the nearest backup at or before the
# time, said so in the output; a time before the first backup fails naming the
# earliest time; --engine pgbackrest is refused for SQLite; a bad time is a usage error.
#   check_cli_pitr.sh DBMGMT_BINARY
set -eu
dbmgmt=$1
# A cross build's target binary runs under qemu: meson test names it in MESON_EXE_WRAPPER.
run_dbmgmt() { ${MESON_EXE_WRAPPER:-} "$dbmgmt" "$@"; }
dir=$(mktemp -d /tmp/dbmgmt-pitrcli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

sqlite3 "$dir/app.db" \
    "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a');"
url="sqlite://$dir/app.db"
bk() { run_dbmgmt --url "$url" backup --backup-dir "$dir/backups" "$@"; }

first=$(bk --json run | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$first" ] || fail "run gave no id"
sleep 1
sqlite3 "$dir/app.db" "INSERT INTO t(v) VALUES ('b');"
second=$(bk --json run | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
sqlite3 "$dir/app.db" "INSERT INTO t(v) VALUES ('c');"

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
out=$(bk restore --to-time "$now" "$dir/r1.db") || fail "restore --to-time: $out"
echo "$out" | grep -q "\"backup_id\":\"$second\"" || fail "not the newest backup: $out"
echo "$out" | grep -q "nearest backup at or before the time" || fail "no method: $out"
[ "$(sqlite3 "$dir/r1.db" 'SELECT COUNT(*) FROM t')" = 2 ] || fail "restored rows"

out=$(bk --json restore --to-time "$now" "sqlite://$dir/r2.db") || fail "json: $out"
echo "$out" | grep -q '"restored":{"engine":"sqlite"' || fail "json said: $out"

if bk restore --to-time 2001-01-01T00:00:00Z "$dir/r3.db" 2>"$dir/err"; then
    fail "a time before every backup was accepted"
fi
grep -q "earliest time available" "$dir/err" || fail "said: $(cat "$dir/err")"

set +e
bk restore --to-time yesterday "$dir/r4.db" >/dev/null 2>&1
[ $? -eq 2 ] || fail "a malformed time is a usage error (exit 2)"
bk restore --to-time "$now" >/dev/null 2>&1
[ $? -eq 2 ] || fail "a missing target is a usage error (exit 2)"
bk --engine pgbackrest list >/dev/null 2>"$dir/err"
[ $? -eq 1 ] || fail "--engine pgbackrest on SQLite accepted"
set -e
grep -q "pgbackrest engine is for PostgreSQL" "$dir/err" || fail "said: $(cat "$dir/err")"
echo "ok"
