#!/bin/sh
# Compare the built library's ABI with the committed baseline (abidiff from
# Debian's abigail-tools). Added symbols are allowed (record them in
# CHANGELOG.md); a removed or changed symbol or type fails.
# usage: check_abi.sh LIB BASELINE.abi INCLUDE_DIR
set -u
lib=$1 baseline=$2 headers=$3
if ! command -v abidiff >/dev/null 2>&1; then
    echo "abidiff not found: install Debian's abigail-tools" >&2
    exit 1
fi
abidiff --headers-dir2 "$headers" --no-added-syms "$baseline" "$lib"
status=$?
# abidiff's exit status is a bit field: 1 error, 2 usage error,
# 4 ABI change, 8 incompatible ABI change.
if [ $((status & 3)) -ne 0 ]; then
    echo "abidiff failed to run (status $status)"
    exit 1
fi
if [ $((status & 8)) -ne 0 ]; then
    echo "incompatible ABI change against $baseline (status $status): a symbol was removed or changed"
    exit 1
fi
if [ $((status & 4)) -ne 0 ]; then
    echo "ABI changed against $baseline (status $status): only additions are allowed"
    exit 1
fi
echo "ABI compatible with $baseline"
exit 0
