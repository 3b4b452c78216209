#!/bin/sh
# backup_daily --once on a small SQLite database: a verified backup, a restore
# drill, the upload hook's off-site copy identical to the backup.
#   check_backup_daily.sh BACKUP_DAILY_BINARY
set -eu
dir=$(mktemp -d /tmp/dbmgmt-bkex-XXXXXX)
trap 'rm -rf "$dir"' EXIT
sqlite3 "$dir/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);"
mkdir "$dir/offsite"
out=$("$1" "sqlite://$dir/app.db" "$dir/backups" "$dir/offsite" --once)
echo "$out"
echo "$out" | grep -q '"verified":true' || { echo "FAIL: not verified"; exit 1; }
echo "$out" | grep -q '"rows":{"t":2}' || { echo "FAIL: row counts"; exit 1; }
for f in "$dir"/backups/*.sqlite; do
    cmp "$f" "$dir/offsite/$(basename "$f")" || { echo "FAIL: off-site copy differs"; exit 1; }
done
