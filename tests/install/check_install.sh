#!/bin/sh
# `meson install` puts the headers, the library (SONAME libdbmgmt.so.1) and
# dbmgmt.pc in place, and a program built with pkg-config against that
# install opens sqlite::memory: and runs a parameterised query.
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
LD_LIBRARY_PATH="$dest$libdir" "$dest/consumer"
echo "1 passed, 0 failed"
