#!/bin/sh
# boot_migrate migrates a fresh SQLite file, then boots again with nothing to do.
set -eu
bin=$1 migrations=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out1=$(APP_ENV=test "$bin" "sqlite:$work/app.db" "$migrations")
out2=$(APP_ENV=test "$bin" "sqlite:$work/app.db" "$migrations")
echo "$out1"
expected="schema is current at version 20260103090000 (test); 1 account(s); ready to serve"
[ "$out1" = "$expected" ] && [ "$out2" = "$expected" ] || { echo "unexpected: $out1 / $out2"; exit 1; }
# another environment is refused, and the database is untouched
if APP_ENV=production "$bin" "sqlite:$work/app.db" "$migrations" 2>"$work/err"; then
    echo "production boot on a test database was not refused"; exit 1
fi
grep -q "belongs to environment 'test'" "$work/err" || { cat "$work/err"; exit 1; }
echo "1 passed, 0 failed"
