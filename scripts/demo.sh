#!/usr/bin/env bash
# The README's first command: install what is missing, build, run the demo
# on a SQLite file (no server needed).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/deps.sh" build
build="$top/build"
if [ -f "$build/build.ninja" ]; then
    meson configure "$build" -Dexamples=true >/dev/null
else
    meson setup "$build" "$top" -Dexamples=true >/dev/null
fi
ninja -C "$build" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$build/examples/quickstart" "sqlite:demo.db"
