#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the
# demo — a service booting on a SQLite file: migrate on boot from
# examples/migrations, then serve. It boots twice to show that the second
# start finds nothing to do. No server needed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/deps.sh" build
build="$top/build"
if [ -f "$build/build.ninja" ]; then
    meson configure "$build" -Dexamples=true -Dtools=true >/dev/null
else
    meson setup "$build" "$top" -Dexamples=true -Dtools=true >/dev/null
fi
ninja -C "$build" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== first boot: the schema is migrated"
"$build/tools/dbmgmt/dbmgmt" --url "sqlite:$work/app.db" --dir "$top/examples/migrations" plan
"$build/examples/boot_migrate" "sqlite:$work/app.db" "$top/examples/migrations"
echo "== second boot: nothing to do"
"$build/examples/boot_migrate" "sqlite:$work/app.db" "$top/examples/migrations"
echo "== status"
"$build/tools/dbmgmt/dbmgmt" --url "sqlite:$work/app.db" --dir "$top/examples/migrations" status
