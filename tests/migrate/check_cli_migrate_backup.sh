#!/bin/sh
# dbmgmt up with --backup-dir on SQLite: production backs up before it
# changes the schema (not when there is nothing to do), other environments
# do not, and a backup that cannot be taken refuses the run untouched.
#   check_cli_migrate_backup.sh DBMGMT_BINARY
set -eu
dbmgmt=$1
# A cross build's target binary runs under qemu: meson test names it in MESON_EXE_WRAPPER.
run_dbmgmt() { ${MESON_EXE_WRAPPER:-} "$dbmgmt" "$@"; }
dir=$(mktemp -d /tmp/dbmgmt-migbk-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir "$dir/m"
printf -- '-- migrate:up\nCREATE TABLE t (id INTEGER);\nINSERT INTO t VALUES (1);\n' > "$dir/m/001_t.sql"
url="sqlite://$dir/app.db"
mig() { run_dbmgmt --url "$url" --dir "$dir/m" "$@"; }
count() { run_dbmgmt --url "$url" backup --backup-dir "$dir/bk" list --json | grep -o '"id":' | wc -l; }

mig --env production --backup-dir "$dir/bk" up >/dev/null || fail "first up"
[ "$(count)" -eq 1 ] || fail "one backup expected before the first change"
mig --env production --backup-dir "$dir/bk" up >/dev/null || fail "up with nothing to do"
[ "$(count)" -eq 1 ] || fail "a backup was taken with nothing to change"

printf -- '-- migrate:up\nCREATE TABLE u (id INTEGER);\n' > "$dir/m/002_u.sql"
# no backup can be taken (the backup folder is a file): refused, nothing applied
if out=$(mig --env production --backup-dir "$dir/m/001_t.sql" up 2>&1); then fail "up without a backup: $out"; fi
[ "$(sqlite3 "$dir/app.db" "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'u'")" = 0 ] || fail "u applied: $out"
mig --env production --backup-dir "$dir/bk" up >/dev/null || fail "second up"
[ "$(count)" -eq 2 ] || fail "a backup before the second change"
run_dbmgmt --url "$url" backup --backup-dir "$dir/bk" list --json | grep -q '"t":1}' || fail "the backup holds t"

printf -- '-- migrate:up\nCREATE TABLE v (id INTEGER);\n' > "$dir/m/003_v.sql"
run_dbmgmt --url "sqlite://$dir/dev.db" --dir "$dir/m" --env dev --backup-dir "$dir/bk-dev" up >/dev/null || fail "dev up"
[ "$(run_dbmgmt --url "sqlite://$dir/dev.db" backup --backup-dir "$dir/bk-dev" list --json | grep -o '"id":' | wc -l)" -eq 0 ] || fail "dev took a backup"
echo "ok"
