#!/bin/sh
# dbmgmt archive on SQLite (issue 22): run --action export writes files and
# reports its totals as JSON with progress on stderr; status --json lists the
# catalog's files; restore loads them into an empty table with the same
# ordered rows; move and delete leave every row in exactly one place; a bad
# window and a missing column are refused by name; a missing --table is a
# usage error (exit 2); CSV and zstd files round-trip every kind of text
# and NULL, and a malformed CSV is refused by file and line; --prometheus and
# --textfile give the run's metrics, a failed run's too, in a form promtool
# accepts.
#   check_cli_archive.sh DBMGMT_BINARY
set -eu
dbmgmt=$1
# A cross build's target binary runs under qemu: meson test names it in MESON_EXE_WRAPPER.
run_dbmgmt() { ${MESON_EXE_WRAPPER:-} "$dbmgmt" "$@"; }
if ! command -v sqlite3 >/dev/null 2>&1 || ! command -v sha256sum >/dev/null 2>&1; then
    echo "sqlite3 or sha256sum missing"
    [ "${CI:-}" = true ] && exit 1
    exit 77
fi
dir=$(mktemp -d /tmp/dbmgmt-archcli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

sqlite3 "$dir/app.db" "CREATE TABLE ev(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, note TEXT);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
  INSERT INTO ev SELECT i, CASE WHEN i % 5 = 0 THEN 1800000000 ELSE 1000000 + i END,
    CASE WHEN i % 7 = 0 THEN NULL ELSE 'note \"' || i || '\"' END FROM n;
  CREATE TABLE back(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, note TEXT);"
url="sqlite://$dir/app.db"
ordered="SELECT id, t, quote(note) FROM"
want=$(sqlite3 "$dir/app.db" "$ordered ev WHERE t < 1800000000 - 86400 ORDER BY id" | sha256sum)
ar() { run_dbmgmt --url "$url" archive "$@"; }

out=$(ar run --table ev --time-column t --window 1d --action export --to "$dir/x" --batch 75 --batch-time 0 \
      --now 1800000000 --json 2>"$dir/err")
echo "$out" | grep -q '"rows_exported":400' || fail "run --json: $out"
echo "$out" | grep -q '"files":\[{"file":"ev-00000001.jsonl.gz"' || fail "no files in: $out"
[ "$(echo "$out" | grep -o '"files":' | wc -l)" = 1 ] || fail "\"files\" twice in: $out"
echo "$out" | grep -q '"files_recorded":6,' || fail "no files_recorded in: $out"
grep -q "^archive: .*rows examined" "$dir/err" || fail "no progress on stderr: $(cat "$dir/err")"
[ "$(sqlite3 "$dir/app.db" "SELECT COUNT(*) FROM ev")" = 100 ] || fail "old rows left in ev"
[ "$(ls "$dir/x"/*.jsonl.gz | wc -l)" = 6 ] || fail "not 6 files: $(ls "$dir/x")"

st=$(ar status --table ev --action export --to "$dir/x" --json)
[ "$(echo "$st" | grep -o '"state":"deleted"' | wc -l)" = 6 ] || fail "status: $st"

res=$(ar restore "$dir/x"/*.jsonl.gz --to "$url" --table back --json 2>/dev/null)
echo "$res" | grep -q '"rows":400' || fail "restore: $res"
got=$(sqlite3 "$dir/app.db" "$ordered back ORDER BY id" | sha256sum)
[ "$got" = "$want" ] || fail "the restored rows differ from the exported ones"

ar run --table back --time-column t --window 1d --action move --to back_archive \
    --now 1900000000 >/dev/null 2>&1 || fail "move"
[ "$(sqlite3 "$dir/app.db" "SELECT (SELECT COUNT(*) FROM back), COUNT(*) FROM back_archive")" \
    = "0|400" ] || fail "move did not move every row once"
ar run --table ev --time-column t --window 1d --now 1900000000 >/dev/null 2>&1 || fail "delete"
[ "$(sqlite3 "$dir/app.db" "SELECT COUNT(*) FROM ev")" = 0 ] || fail "delete left rows"

set +e
msg=$(ar run --table ev --time-column t --window 9x 2>&1); rc=$?
[ $rc = 1 ] && echo "$msg" | grep -q "archive window '9x'" || fail "bad window: $rc $msg"
msg=$(ar run --table ev --time-column created --window 1d 2>&1); rc=$?
[ $rc = 1 ] && echo "$msg" | grep -q "no column 'created' (the time column)" ||
    fail "missing column: $rc $msg"
msg=$(ar run --time-column t --window 1d 2>&1); rc=$?
[ $rc = 2 ] && echo "$msg" | grep -q -- "--table is required" || fail "no --table: $rc $msg"
# CSV and zstd: the same rows back, quotes, commas, line ends, empty strings
# and NULLs kept apart; a malformed file is refused by name and line
sqlite3 "$dir/app.db" "
  CREATE TABLE csv_src(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, note TEXT);
  CREATE TABLE csv_back(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, note TEXT);
  INSERT INTO csv_src VALUES (1, 5, 'a,b'), (2, 6, 'say \"hi\"'), (3, 7, ''), (4, 8, NULL),
    (5, 9, 'two' || char(10) || 'lines'), (6, 10, ' padded '), (7, 11, 'cr' || char(13));"
want=$(sqlite3 "$dir/app.db" "$ordered csv_src ORDER BY id" | sha256sum)
out=$(ar run --table csv_src --time-column t --window 1d --action export --to "$dir/c" \
      --format csv --compress zstd --now 1800000000 --json 2>/dev/null) || fail "csv: $out"
echo "$out" | grep -q '"file":"csv_src-00000001.csv.zst"' || fail "csv file: $out"
ar restore "$dir/c"/*.csv.zst --to "$url" --table csv_back >/dev/null 2>&1 || fail "csv restore"
got=$(sqlite3 "$dir/app.db" "$ordered csv_back ORDER BY id" | sha256sum)
[ "$got" = "$want" ] || fail "the CSV rows differ: $(sqlite3 "$dir/app.db" "$ordered csv_back")"
printf 'id,t,note\n1,2,ok\n2,3,"x"y\n' > "$dir/bad.csv"
msg=$(ar restore "$dir/bad.csv" --to "$url" --table csv_back 2>&1); rc=$?
[ $rc = 1 ] && echo "$msg" | grep -q "bad.csv' line 3: not a CSV field" || fail "bad csv: $msg"
printf 'id,t,note\n1,2,"never\nends\n' > "$dir/open.csv"
msg=$(ar restore "$dir/open.csv" --to "$url" --table csv_back 2>&1); rc=$?
[ $rc = 1 ] && echo "$msg" | grep -q "open.csv' line 2: a quoted field never ends" ||
    fail "open quote: $msg"
msg=$(ar run --table ev --time-column t --window 1d --format csv 2>&1); rc=$?
[ $rc = 2 ] && echo "$msg" | grep -q -- "--format and --compress go with --action export" ||
    fail "csv on delete: $rc $msg"

msg=$(ar run --table ev --time-column t --window 1d --json --prometheus 2>&1); rc=$?
[ $rc = 2 ] && echo "$msg" | grep -q -- "--json and --prometheus" || fail "json+prom: $rc $msg"

# --prometheus and --textfile: the run's figures, a failed run's too, as
# promtool accepts them (a missing promtool fails under CI=true)
sqlite3 "$dir/app.db" "INSERT INTO ev VALUES (1, 5, 'a'), (2, 6, 'b'), (3, 1900000000, 'c')"
prom=$(ar run --table ev --time-column t --window 1d --now 1800000000 --prometheus \
       --textfile "$dir/archive.prom" 2>/dev/null); rc=$?
series='{table="ev",action="delete",database="'"$dir"'/app.db"}'
[ $rc = 0 ] && echo "$prom" | grep -qxF "dbmgmt_archive_rows_deleted_total$series 2" ||
    fail "--prometheus: $rc $prom"
cmp -s "$dir/archive.prom" - <<EOT || fail "the textfile is not what --prometheus printed"
$prom
EOT
ar run --table ev --time-column created --window 1d --textfile "$dir/archive.prom" \
    >/dev/null 2>&1; rc=$?
[ $rc = 1 ] && grep -qxF "dbmgmt_archive_last_run_failed$series 1" "$dir/archive.prom" ||
    fail "failed run's textfile: $rc $(cat "$dir/archive.prom")"
grep -qxF "dbmgmt_archive_runs_failed_total$series 1" "$dir/archive.prom" || fail "runs_failed"
if command -v promtool >/dev/null 2>&1; then
    echo "$prom" | promtool check metrics || fail "promtool: --prometheus"
    promtool check metrics < "$dir/archive.prom" || fail "promtool: the textfile"
elif [ "${CI:-}" = true ]; then
    fail "promtool missing (CI=true)"
fi
echo "archive cli: export, status, restore, move, delete, refusals, CSV, zstd and Prometheus OK"
