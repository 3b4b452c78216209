#!/bin/sh
# The embedded example runs with no migration files present (an empty
# working folder) and is idempotent across runs.
set -eu
bin=$(readlink -f "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
first=$("$bin" sqlite:device.db)
second=$("$bin" sqlite:device.db)
echo "$first"
[ "$first" = "device schema: 2 migrations applied, version 002" ] || { echo "unexpected: $first"; exit 1; }
[ "$second" = "$first" ] || { echo "second run differs: $second"; exit 1; }
[ ! -e migrations ] || { echo "a migrations folder appeared"; exit 1; }
echo "1 passed, 0 failed"
