#!/bin/sh
# `meson install` puts the headers, the library (SONAME libdbmgmt.so.1, in a
# file named libdbmgmt.so.1.MINOR.PATCH after it, MINOR.PATCH those of the
# version it reports) and dbmgmt.pc in place, and a program built with
# pkg-config against that install opens sqlite::memory: and runs a
# parameterised query.
# usage: check_install.sh BUILD_DIR PREFIX LIBDIR SOURCE_DIR SANITIZE
set -eu
build=$1 prefix=$2 libdir=$3 src=$4 sanitize=$5
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
for f in "$prefix/include/dbmgmt.h" "$prefix/include/dbmgmt/conn.h" "$libdir/libdbmgmt.so.1" \
         "$libdir/pkgconfig/dbmgmt.pc"; do
    [ -e "$dest$f" ] || { echo "not installed: $f"; exit 1; }
done
soname=$(objdump -p "$dest$libdir/libdbmgmt.so.1" | awk '$1 == "SONAME" {print $2}')
[ "$soname" = "libdbmgmt.so.1" ] || { echo "SONAME is '$soname', expected libdbmgmt.so.1"; exit 1; }
export PKG_CONFIG_PATH="$dest$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
extra=""
[ "$sanitize" = none ] || extra="-fsanitize=$sanitize"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Werror $extra -o "$dest/consumer" "$src/consumer.c" $(pkg-config --cflags --libs dbmgmt)
out=$(LD_LIBRARY_PATH="$dest$libdir" "$dest/consumer")
echo "$out"
# "installed libdbmgmt 0.1.0 answers 42" -> the file is libdbmgmt.so.1.1.0
version=$(echo "$out" | sed -n 's/^installed libdbmgmt \([0-9]*\.[0-9]*\.[0-9]*\) .*/\1/p')
[ -n "$version" ] || { echo "no version from the consumer: $out"; exit 1; }
want=libdbmgmt.so.1.${version#*.}
file=$(basename "$(readlink -f "$dest$libdir/libdbmgmt.so.1")")
[ "$file" = "$want" ] || { echo "libdbmgmt.so.1 is $file, expected $want (version $version)"; exit 1; }
[ -f "$dest$libdir/$want" ] && [ ! -L "$dest$libdir/$want" ] || { echo "$want is not a file"; exit 1; }
[ "$(readlink "$dest$libdir/libdbmgmt.so")" = libdbmgmt.so.1 ] || { echo "libdbmgmt.so does not point at libdbmgmt.so.1"; exit 1; }
echo "1 passed, 0 failed"
