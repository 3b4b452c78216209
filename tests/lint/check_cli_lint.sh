#!/bin/sh
# dbmgmt lint: exact JSON (stable keys and order), human output, exit statuses,
# the dialect (--dialect, else from --url, else SQLite said on stderr).
set -u
unset DATABASE_URL
dbmgmt=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir "$work/m"
printf -- '-- migrate:up\nCREATE TABLE IF NOT EXISTS users (id INT, email TEXT);\n-- migrate:down\nDROP TABLE IF EXISTS users;\n' >"$work/m/001_init.sql"
printf -- "-- migrate:up\nSELECT 'DROP TABLE users';\nALTER TABLE users DROP COLUMN email;\n-- migrate:down\nALTER TABLE users ADD COLUMN email TEXT;\n" >"$work/m/002_drop.sql"
cd "$work"
out=$("$dbmgmt" lint --dir m --engine sqlite --json); rc=$?
[ $rc -eq 1 ] || fail "exit $rc with an error finding (want 1)"
want='{"engine":"sqlite","migrations":2,"errors":1,"warnings":0,"infos":0,"findings":[{"rule":"drop-column","severity":"error","version":"002","file":"m/002_drop.sql","line":3,"message":"DROP COLUMN email of users: code of the previous release, still running during the deploy, reads or writes the column and fails as soon as it is gone","advice":"expand-contract: release code that no longer reads or writes the column, then drop it in a later migration"}]}'
[ "$out" = "$want" ] || fail "JSON differs:
got:  $out
want: $want"
human=$("$dbmgmt" lint m/002_drop.sql --engine sqlite)
echo "$human" | grep -q '^m/002_drop.sql:3: error drop-column: DROP COLUMN email of users: .*\. Safe: expand-contract' || fail "human output: $human"
echo "$human" | grep -q '^1 migration linted: 1 error, 0 warnings, 0 info$' || fail "summary: $human"
# allowed in the file: exit 0
printf -- "-- migrate:up\n-- dbmgmt:allow drop-column unused since v2\nALTER TABLE users DROP COLUMN email;\n-- migrate:down\nALTER TABLE users ADD COLUMN email TEXT;\n" >"m/002_drop.sql"
"$dbmgmt" lint --dir m >/dev/null 2>&1 || fail "exit $? with the finding allowed (want 0)"
# the engine follows --url's scheme: a PostgreSQL-only rule appears
printf -- "-- migrate:up\nCREATE INDEX IF NOT EXISTS users_email ON users (email);\n-- migrate:down\nDROP INDEX IF EXISTS users_email;\n" >"m/003_index.sql"
"$dbmgmt" --url postgres://nobody@127.0.0.1:1/x lint --dir m --json | grep -q '"engine":"postgres".*"rule":"index-not-concurrent"' || fail "engine from --url"
"$dbmgmt" lint --dir m --engine sqlite >/dev/null || fail "sqlite has no index-not-concurrent"
# usage errors: 2; load errors: 1
"$dbmgmt" lint --engine oracle >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown engine is not exit 2"
"$dbmgmt" lint --dir m m/001_init.sql >/dev/null 2>&1; [ $? -eq 2 ] || fail "--dir with FILES is not exit 2"
"$dbmgmt" lint --dir nowhere >/dev/null 2>&1; [ $? -eq 1 ] || fail "missing folder is not exit 1"
echo "ok" >"m/notes.txt"
"$dbmgmt" lint m/notes.txt >/dev/null 2>&1; [ $? -eq 1 ] || fail "a non-migration file is not exit 1"
# the dialect: --dialect, else --url's; without either SQLite, said on stderr
"$dbmgmt" lint --dir m >"$work/out" 2>"$work/err"
[ "$(cat "$work/err")" = "dbmgmt lint: no --url or DATABASE_URL; linting as SQLite (choose with --dialect postgres|mysql|sqlite)" ] ||
    fail "no note of the assumed dialect: $(cat "$work/err")"
"$dbmgmt" lint --dir m --json 2>/dev/null | grep -q '^{"engine":"sqlite"' || fail "default dialect is not sqlite"
for d in postgres mysql sqlite; do
    "$dbmgmt" lint --dir m --dialect $d --json >"$work/out" 2>"$work/err"
    grep -q "^{\"engine\":\"$d\"" "$work/out" || fail "--dialect $d: $(cat "$work/out")"
    [ ! -s "$work/err" ] || fail "--dialect $d printed: $(cat "$work/err")"
done
"$dbmgmt" --url postgres://nobody@127.0.0.1:1/x lint --dir m >/dev/null 2>"$work/err"
[ ! -s "$work/err" ] || fail "--url postgres printed: $(cat "$work/err")"
DATABASE_URL='host=127.0.0.1 dbname=x' "$dbmgmt" lint --dir m --json 2>/dev/null |
    grep -q '^{"engine":"postgres"' || fail "a libpq keyword DSN is not postgres"
"$dbmgmt" lint --dialect oracle >/dev/null 2>"$work/err"; [ $? -eq 2 ] || fail "unknown dialect is not exit 2"
grep -q "unknown dialect 'oracle'" "$work/err" || fail "bad --dialect not named: $(cat "$work/err")"
# BEGIN/END inside a PostgreSQL $$ body is not the migrator's transaction
mkdir "$work/pg"
cat >"$work/pg/001_touch.sql" <<'EOF'
-- migrate:up
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;
CREATE FUNCTION nested() RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
    BEGIN
        PERFORM 1;
    END;
END
$body$;
-- migrate:down
DROP FUNCTION IF EXISTS nested();
DROP FUNCTION IF EXISTS touch_updated_at();
EOF
out=$("$dbmgmt" lint --dir pg --dialect postgres) || fail "\$\$ body with --dialect postgres: exit $?: $out"
case $out in *transaction-nesting*) fail "transaction-nesting in a \$\$ body: $out" ;; esac
echo "$out" | grep -q '^1 migration linted: 0 errors, 0 warnings, 0 info$' || fail "\$\$ summary: $out"
# --galera: the galera-* rules, mysql dialect only (the default with --galera)
mkdir "$work/gal"
cat >"$work/gal/001_log.sql" <<'EOF'
-- migrate:up
CREATE TABLE IF NOT EXISTS log (line TEXT) ENGINE=MyISAM;
SELECT GET_LOCK('seed', 5);
-- migrate:down
DROP TABLE IF EXISTS log;
EOF
out=$("$dbmgmt" lint --dir gal --dialect mysql --json) || fail "no --galera: exit $?: $out"
case $out in *galera-*) fail "galera findings without --galera: $out" ;; esac
out=$("$dbmgmt" lint --dir gal --galera --json 2>"$work/err"); rc=$?
[ $rc -eq 1 ] || fail "--galera with error findings: exit $rc (want 1)"
[ ! -s "$work/err" ] || fail "--galera printed a dialect note: $(cat "$work/err")"
for rule in '"engine":"mysql"' '"rule":"galera-no-primary-key","severity":"error"' \
    '"rule":"galera-non-transactional-engine","severity":"error"' \
    '"rule":"galera-explicit-lock","severity":"warning"'; do
    case $out in *"$rule"*) ;; *) fail "--galera: no $rule in $out" ;; esac
done
human=$("$dbmgmt" lint gal/001_log.sql --galera --dialect mysql)
echo "$human" | grep -q '^gal/001_log.sql:2: error galera-no-primary-key: CREATE TABLE log ' ||
    fail "--galera human output: $human"
echo "$human" | grep -q 'without a PRIMARY KEY: .*\. Safe: declare a PRIMARY KEY' ||
    fail "--galera human output, safe way: $human"
"$dbmgmt" --galera on lint --dir gal --json | grep -q '"errors":2' ||
    fail "global --galera on is not lint --galera"
"$dbmgmt" --galera off lint --dir gal --dialect mysql >/dev/null ||
    fail "global --galera off: exit $?"
"$dbmgmt" lint --dir gal --galera --dialect postgres >/dev/null 2>"$work/err"; rc=$?
[ $rc -eq 2 ] || fail "--galera --dialect postgres: exit $rc (want 2)"
grep -q "lint: --galera needs the mysql dialect (Galera is MariaDB/MySQL), not postgres" \
    "$work/err" ||
    fail "--galera --dialect postgres: $(cat "$work/err")"
"$dbmgmt" --url postgres://nobody@127.0.0.1:1/x lint --dir gal --galera >/dev/null 2>&1
[ $? -eq 2 ] || fail "--galera with a postgres --url is not exit 2"
"$dbmgmt" --galera sometimes lint --dir gal >/dev/null 2>"$work/err"; rc=$?
[ $rc -eq 2 ] && grep -q "\-\-galera takes on, off or auto, not 'sometimes'" "$work/err" ||
    fail "global --galera sometimes: exit $rc: $(cat "$work/err")"
# a migrating command: ON needs a MySQL/MariaDB connection
"$dbmgmt" --url "sqlite://$work/g.db" --dir gal --galera on plan >/dev/null 2>"$work/err"; rc=$?
[ $rc -eq 1 ] && grep -q "DBMGMT_GALERA_ON needs a MySQL/MariaDB connection" "$work/err" ||
    fail "--galera on with SQLite: exit $rc: $(cat "$work/err")"
"$dbmgmt" --url "sqlite://$work/g.db" --dir gal --galera off plan >/dev/null 2>&1 ||
    fail "--galera off with SQLite: exit $?"
echo "1 passed, 0 failed"
