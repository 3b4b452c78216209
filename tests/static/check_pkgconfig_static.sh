#!/bin/sh
# check_pkgconfig_static.sh BUILD_DIR PREFIX LIBDIR CONSUMER_C MODE: `meson install` puts
# libdbmgmt.a beside libdbmgmt.so.1, and dbmgmt.pc's Requires.private and Libs.private
# are enough to link a program with it: `pkg-config --static --libs dbmgmt` plus -static
# (MODE=fully-static), or with -l:libdbmgmt.a and the shared C library (MODE=archive).
# The program migrates and reads a SQLite file (tests/static/static_consumer.c).
set -eu
build=$1 prefix=$2 libdir=$3 consumer=$4 mode=$5
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
[ -f "$dest$libdir/libdbmgmt.a" ] || { echo "not installed: $libdir/libdbmgmt.a"; exit 1; }
export PKG_CONFIG_PATH="$dest$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
cflags=$(pkg-config --cflags dbmgmt)
libs=$(pkg-config --static --libs dbmgmt)
echo "pkg-config --static --libs dbmgmt: $libs"
if [ "$mode" = fully-static ]; then
    # shellcheck disable=SC2086
    cc -std=c99 -Wall -Werror -static -o "$dest/consumer" "$consumer" $cflags $libs \
        2>"$dest/ld.log" || { cat "$dest/ld.log"; exit 1; }
    ! readelf -lW "$dest/consumer" | grep -q INTERP ||
        { echo "not statically linked: it has a program interpreter"; exit 1; }
else
    libs=$(echo "$libs" | sed 's/-ldbmgmt\b/-l:libdbmgmt.a/')
    # shellcheck disable=SC2086
    cc -std=c99 -Wall -Werror -o "$dest/consumer" "$consumer" $cflags $libs
    ! ldd "$dest/consumer" | grep -q libdbmgmt || { echo "linked with libdbmgmt.so"; exit 1; }
fi
"$dest/consumer" "$dest/consumer.db"
echo "1 passed, 0 failed"
