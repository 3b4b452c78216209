#!/bin/sh
# dbmgmt backup with encryption (issue 21) on SQLite: keygen writes a 0600
# key file and never overwrites one; run/verify/restore with --key-file or
# $DBMGMT_BACKUP_KEY_FILE; the file is no database to the sqlite3 shell;
# without the key verify fails naming the backup; a key file others may
# read is refused; --key on the command line is refused; the key appears in
# no output.
#   check_cli_backup_encrypt.sh DBMGMT_BINARY
set -eu
dbmgmt=$1
# A cross build's target binary runs under qemu: meson test names it in MESON_EXE_WRAPPER.
run_dbmgmt() { ${MESON_EXE_WRAPPER:-} "$dbmgmt" "$@"; }
if ! command -v sqlite3 >/dev/null; then
    echo "the sqlite3 shell is not installed (Debian: sqlite3)"
    [ "${CI:-}" = true ] && exit 1
    exit 77
fi
dir=$(mktemp -d /tmp/dbmgmt-bkclienc-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

sqlite3 "$dir/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
  INSERT INTO t(v) VALUES ('osprey-secret'), ('b'), ('c');"
url="sqlite://$dir/app.db"
# Every output is kept in $dir/all, searched for the key at the end.
bk() {
    rc=0
    run_dbmgmt --url "$url" backup --backup-dir "$dir/backups" "$@" >"$dir/one" 2>&1 || rc=$?
    cat "$dir/one" >>"$dir/all"
    cat "$dir/one"
    return $rc
}
out="$dir/out"

if run_dbmgmt backup keygen >/dev/null 2>&1; then fail "keygen without --key-file"; fi
run_dbmgmt backup keygen --key-file "$dir/k" >"$out" 2>&1 || fail "keygen: $(cat "$out")"
cat "$out" >>"$dir/all"
if ! bk --key-file "$dir/k" list >"$out" 2>&1; then
    if grep -q "without libsodium" "$out"; then
        echo "libdbmgmt was built without libsodium: $(cat "$out")"
        [ "${CI:-}" = true ] && exit 1
        exit 77
    fi
    fail "list with a key file: $(cat "$out")"
fi
[ "$(stat -c %a "$dir/k")" = 600 ] || fail "key file mode $(stat -c %a "$dir/k")"
[ "$(wc -c <"$dir/k")" = 65 ] || fail "key file size $(wc -c <"$dir/k")"
key=$(cat "$dir/k")
grep -q "$key" "$out" && fail "keygen printed the key"
cp "$dir/k" "$dir/k.orig"
if run_dbmgmt backup keygen --key-file "$dir/k" >"$out" 2>&1; then fail "keygen overwrote"; fi
grep -q "never overwritten" "$out" || fail "keygen said: $(cat "$out")"
cmp -s "$dir/k" "$dir/k.orig" || fail "keygen changed an existing key file"

bk --key-file "$dir/k" run >"$out" 2>&1 || fail "run: $(cat "$out")"
id=$(sed -n 's/^backup \([^:]*\):.*verified$/\1/p' "$out")
[ -n "$id" ] || fail "run said: $(cat "$out")"
file="$dir/backups/$id.sqlite.enc"
[ -f "$file" ] || fail "no $file"
if sqlite3 -readonly "$file" 'SELECT v FROM t' >"$out" 2>&1; then fail "sqlite3 read it"; fi
grep -q "not a database" "$out" || fail "sqlite3 said: $(cat "$out")"
grep -q osprey "$out" && fail "sqlite3 showed data"

DBMGMT_BACKUP_KEY_FILE="$dir/k" bk verify "$id" >"$out" 2>&1 || fail "verify: $(cat "$out")"
bk --key-file "$dir/k" restore "$id" --to "sqlite://$dir/scratch.db" >"$out" 2>&1 ||
    fail "restore: $(cat "$out")"
[ "$(sqlite3 "$dir/scratch.db" "SELECT v FROM t WHERE id = 1")" = osprey-secret ] ||
    fail "restored rows"
bk --key-file "$dir/k" list --json >"$out" 2>&1
grep -q '"encryption":"secretstream-xchacha20poly1305"' "$out" || fail "list: $(cat "$out")"

# Without the key: verify fails, naming the backup.
if bk verify "$id" >"$out" 2>&1; then fail "verify without a key passed"; fi
grep -q "backup $id is encrypted: no key is set" "$out" || fail "no key said: $(cat "$out")"
# A key file others can read: refused, naming the file.
chmod 644 "$dir/k"
if bk --key-file "$dir/k" verify "$id" >"$out" 2>&1; then fail "a 0644 key file accepted"; fi
grep -q "key file '$dir/k' is accessible by group or others" "$out" || fail "0644: $(cat "$out")"
chmod 600 "$dir/k"
# Never a key on the command line.
if bk --key "$key" verify "$id" >"$out" 2>&1; then fail "--key accepted"; fi
grep -q "never given on the command line" "$out" || fail "--key said: $(cat "$out")"
# One flipped byte: verify fails.
printf 'X' | dd of="$file" bs=1 seek=3000 conv=notrunc 2>/dev/null
if bk --key-file "$dir/k" verify "$id" >"$out" 2>&1; then fail "verify passed a flipped byte"; fi
grep -q "$id" "$out" || fail "flip said: $(cat "$out")"
bk --key-file "$dir/k" list --json >/dev/null 2>&1
grep -q "$id" "$dir/all" || fail "outputs were not captured"
grep -qi "$key" "$dir/all" && fail "the key appears in an output"
echo "ok"
