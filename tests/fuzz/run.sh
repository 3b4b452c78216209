#!/bin/sh
# Build one fuzz target with clang + libFuzzer and run it for SECONDS
# seconds on its corpus.
#   tests/fuzz/run.sh TARGET SECONDS [extra libFuzzer args]
# TARGET is a splitter dialect (sqlite, postgres, mysql: fuzz_split.c built
# for that dialect) or one of dsn, cron, migration_file, embed, lint, json
# (fuzz_TARGET.c). Its committed corpus is tests/fuzz/corpus/TARGET and its
# dictionary tests/fuzz/TARGET.dict when there is one.
#
# How it builds: the library itself is built by meson with clang in its own
# build dir ($BUILD/meson: -Db_sanitize=address,undefined and
# -fsanitize=fuzzer-no-link for coverage, PostgreSQL/MySQL drivers off,
# no tests/tools/examples), so every target links the whole internal archive
# (libdbmgmt-internal.a) and no source list has to be kept here. The target
# is then compiled and linked with -fsanitize=fuzzer,address,undefined.
# CC_FUZZ (default clang-14) picks the compiler; run it under nice on a
# shared machine: nice -n 19 tests/fuzz/run.sh json 60
#
# New interesting inputs go to $BUILD/corpus-TARGET (not the committed
# corpus); crashes to $BUILD/artifacts-TARGET/. To refresh the committed
# corpus afterwards (keep it small, at most ~200 files):
#   $BUILD/fuzz-TARGET -merge=1 tests/fuzz/corpus/TARGET $BUILD/corpus-TARGET
set -eu
usage="usage: run.sh sqlite|postgres|mysql|dsn|cron|migration_file|embed|lint|json SECONDS"
target=${1:?$usage}
seconds=${2:?$usage}
shift 2
defs=
case $target in
    sqlite) src=fuzz_split.c; defs=-DFUZZ_DIALECT=DBMGMT_ENGINE_SQLITE ;;
    postgres) src=fuzz_split.c; defs=-DFUZZ_DIALECT=DBMGMT_ENGINE_POSTGRES ;;
    mysql) src=fuzz_split.c; defs=-DFUZZ_DIALECT=DBMGMT_ENGINE_MYSQL ;;
    dsn|cron|migration_file|embed|lint|json) src=fuzz_$target.c ;;
    *) echo "run.sh: unknown target $target ($usage)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-${TMPDIR:-/tmp}/dbmgmt-fuzz}
cc=${CC_FUZZ:-clang-14}
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$build"
if [ ! -f "$build/meson/build.ninja" ]; then
    CC=$cc meson setup "$build/meson" "$root" --buildtype=debugoptimized \
        -Dtests=disabled -Dtools=false -Dexamples=false -Dpostgres=disabled -Dmysql=disabled \
        -Db_lundef=false -Dc_args="-fsanitize=fuzzer-no-link $sanitize" \
        -Dc_link_args="$sanitize" >"$build/meson-setup.log"
fi
meson compile -C "$build/meson" dbmgmt-internal >"$build/meson-compile.log"
mkdir -p "$build/corpus-$target" "$build/artifacts-$target"
# shellcheck disable=SC2086
$cc -std=c11 -g -O1 -D_GNU_SOURCE $defs -DDBMGMT_BUILDING_LIBRARY \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$build/meson" -I"$root/include" -I"$root/lib" -I"$root" \
    "$here/$src" "$build/meson/libdbmgmt-internal.a" \
    -o "$build/fuzz-$target" $(pkg-config --libs sqlite3) -lm -lpthread
dict=
[ -f "$here/$target.dict" ] && dict="-dict=$here/$target.dict"
# shellcheck disable=SC2086
exec "$build/fuzz-$target" -max_total_time="$seconds" -max_len=4096 \
    -timeout=10 -artifact_prefix="$build/artifacts-$target/" $dict "$@" \
    "$build/corpus-$target" "$here/corpus/$target"
