#!/usr/bin/env bash
# check_symbols.sh NM ARCHIVE: libdbmgmt.a defines no global symbol outside dbmgmt_
# (internal dm_ names are local: lib/build/static_archive.py) and needs no dm_ name
# from elsewhere. libdevmapper's prefix is dm_ too, and a firmware may link both.
set -euo pipefail
nm=$1 archive=$2
defined=$("$nm" -g --defined-only "$archive" | awk 'NF == 3 { print $3 }')
count=$(grep -c '^dbmgmt_' <<<"$defined" || true)
if [ "$count" -lt 100 ]; then
    echo "FAIL: only $count dbmgmt_ symbols defined in $archive (expected the whole API)"
    exit 1
fi
leaked=$(grep -v '^dbmgmt_' <<<"$defined" || true)
undefined_dm=$("$nm" -u "$archive" | awk '{ print $NF }' | grep '^dm_' || true)
if [ -n "$leaked" ] || [ -n "$undefined_dm" ]; then
    echo "FAIL: $archive defines global symbols outside dbmgmt_:"
    printf '%s\n' "$leaked" | head -40
    [ -z "$undefined_dm" ] || { echo "and needs:"; printf '%s\n' "$undefined_dm" | head -40; }
    exit 1
fi
echo "ok: $archive defines $count global symbols, all dbmgmt_"
