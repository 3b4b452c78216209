#!/bin/sh
# dbmgmt backup --offsite DIR on SQLite (issue 21): run copies the backup,
# list --json shows the copy, a flipped byte in the copy fails verify naming
# the folder, prune removes the copy, a missing folder is refused by name.
#   check_cli_offsite.sh DBMGMT_BINARY
set -eu
dbmgmt=$1
# A cross build's target binary runs under qemu: meson test names it in MESON_EXE_WRAPPER.
run_dbmgmt() { ${MESON_EXE_WRAPPER:-} "$dbmgmt" "$@"; }
if ! command -v sqlite3 >/dev/null 2>&1 || ! command -v sha256sum >/dev/null 2>&1; then
    echo "sqlite3 or sha256sum missing"
    [ "${CI:-}" = true ] && exit 1
    exit 77
fi
dir=$(mktemp -d /tmp/dbmgmt-bkoffcli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

sqlite3 "$dir/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
  INSERT INTO t(v) VALUES ('a'), ('b'), ('c');"
mkdir "$dir/off"
off=$(cd "$dir/off" && pwd -P)
url="sqlite://$dir/app.db"
bk() { run_dbmgmt --url "$url" backup --backup-dir "$dir/backups" --offsite "$dir/off" "$@"; }

id1=$(bk --json run | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$id1" ] || fail "run --json gave no id"
[ -f "$dir/off/$id1.sqlite" ] || fail "no copy of $id1 in $dir/off"
[ "$(sha256sum < "$dir/off/$id1.sqlite")" = "$(sha256sum < "$dir/backups/$id1.sqlite")" ] ||
    fail "the copy differs from the backup"
json=$(bk list --json)
echo "$json" | grep -q "\"copies\":\[{\"location\":\"$off\",\"file\":\"$id1.sqlite\"" ||
    fail "list --json lacks the copy: $json"
sleep 1
id2=$(bk --json run | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')

out=$(bk prune --keep-last 1)
[ "$out" = "removed 1 backup" ] || fail "prune said: $out"
[ ! -e "$dir/off/$id1.sqlite" ] || fail "prune left the copy of $id1"
[ -f "$dir/off/$id2.sqlite" ] || fail "prune removed the copy of $id2"

printf 'X' | dd of="$dir/off/$id2.sqlite" bs=1 seek=2000 conv=notrunc 2>/dev/null
if bk verify "$id2" 2>"$dir/err"; then fail "verify passed a damaged copy"; fi
grep -q "off-site copy in '$off'" "$dir/err" || fail "verify said: $(cat "$dir/err")"

if run_dbmgmt --url "$url" backup --backup-dir "$dir/backups" --offsite "$dir/nope" run \
    2>"$dir/err"; then
    fail "a missing off-site folder was accepted"
fi
grep -q "$dir/nope" "$dir/err" || fail "the error does not name the folder: $(cat "$dir/err")"
echo "ok"
