#!/bin/sh
# Regenerate tests/abi/libdbmgmt.abi from a build, after a release or after
# adding symbols on purpose (record them in CHANGELOG.md).
# usage: tests/abi/update-baseline.sh [BUILD_DIR]   (default: build)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
abidw --headers-dir "$top/include" --no-corpus-path --no-show-locs \
      --out-file "$here/libdbmgmt.abi" "$build/libdbmgmt.so.1"
echo "wrote $here/libdbmgmt.abi"
