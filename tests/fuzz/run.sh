#!/bin/sh
# Build the splitter fuzzer for one dialect with clang + libFuzzer (outside
# meson) and run it for SECONDS seconds on its corpus.
#   tests/fuzz/run.sh sqlite|postgres|mysql SECONDS [extra libFuzzer args]
# New interesting inputs go to $BUILD/corpus-DIALECT (not the committed
# corpus); crashes to $BUILD/artifacts-DIALECT/. To refresh the committed
# corpus afterwards (keep it small):
#   $BUILD/fuzz-DIALECT -merge=1 tests/fuzz/corpus/DIALECT $BUILD/corpus-DIALECT
set -eu
dialect=${1:?usage: run.sh sqlite|postgres|mysql SECONDS}
seconds=${2:?usage: run.sh sqlite|postgres|mysql SECONDS}
shift 2
case $dialect in
    sqlite) engine=DBMGMT_ENGINE_SQLITE ;;
    postgres) engine=DBMGMT_ENGINE_POSTGRES ;;
    mysql) engine=DBMGMT_ENGINE_MYSQL ;;
    *) echo "run.sh: unknown dialect $dialect" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-${TMPDIR:-/tmp}/dbmgmt-fuzz}
cc=${CC_FUZZ:-clang-14}
mkdir -p "$build/corpus-$dialect" "$build/artifacts-$dialect"
$cc -std=c11 -g -O1 -D_GNU_SOURCE -DFUZZ_DIALECT=$engine -DDBMGMT_BUILDING_LIBRARY \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" -I"$root/lib" -I"$root" \
    "$here/fuzz_split.c" \
    "$root/lib/sql/bytescan.c" "$root/lib/sql/lexer.c" "$root/lib/sql/split.c" "$root/lib/sql/rewrite.c" \
    "$root/lib/core/alloc.c" "$root/lib/core/buf.c" "$root/lib/core/error.c" \
    "$root/lib/core/json.c" "$root/lib/core/log.c" \
    -o "$build/fuzz-$dialect" -lm -lpthread
exec "$build/fuzz-$dialect" -max_total_time="$seconds" -max_len=4096 \
    -timeout=10 -artifact_prefix="$build/artifacts-$dialect/" \
    -dict="$here/$dialect.dict" "$@" \
    "$build/corpus-$dialect" "$here/corpus/$dialect"
