#!/usr/bin/env bash
# Install the Debian packages libdbmgmt needs, only those missing.
#   scripts/deps.sh build     compiler, meson, SQLite, libpq, MariaDB Connector/C, libsodium,
#                             zlib, libzstd
#   scripts/deps.sh test      the above plus cmocka and abigail-tools, and the aarch64 cross
#                             build of the SQLite-only configuration run under qemu-aarch64
#                             (cross/aarch64-linux-gnu.ini, docs/cross.md)
#   scripts/deps.sh cross-armhf   the same for 32-bit ARM (cross/arm-linux-gnueabihf.ini); not
#                             part of `test`, to keep CI short: run by hand (docs/cross.md)
# (tests/servers.sh installs the PostgreSQL and MariaDB servers themselves,
# tests/cluster.sh etcd, Patroni and PgBouncer, and tests/mariadb_cluster.sh Galera, for
# the cluster suite.)
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
want=(gcc g++ meson ninja-build pkg-config libsqlite3-dev sqlite3 python3 binutils
      libpq-dev libmariadb-dev
      libmicrohttpd-dev    # dbmgmt exporter (the CLI only, never the library)
      libsodium-dev        # encryption at rest of backups (-Dsodium, docs/backup-encryption.md)
      zlib1g-dev           # gzip export files of retention jobs (lib/archive, docs/archive.md)
      libzstd-dev)         # zstd export files of retention jobs (-Dzstd, docs/archive.md)
# The target's libraries for a cross build to Debian architecture $1 (multiarch, beside the
# host's): what the SQLite-only configuration links, cmocka for its tests, and
# libmicrohttpd for the CLI's exporter (the prometheus-cli-sqlite test runs it).
cross_libs() {
    local a=$1
    echo "libc6-dev:$a libsqlite3-dev:$a libcmocka-dev:$a zlib1g-dev:$a libsodium-dev:$a" \
         "libzstd-dev:$a libmicrohttpd-dev:$a"
}
cross_arch=()
case "${1:-build}" in
    test) cross_arch=(arm64) ;;
    cross-armhf) cross_arch=(armhf) ;;
esac
foreign=" $(dpkg --print-foreign-architectures | tr '\n' ' ') "
for a in "${cross_arch[@]}"; do
    if [[ $foreign != *" $a "* ]]; then
        echo "deps: adding the $a architecture (dpkg --add-architecture)" >&2
        $sudo dpkg --add-architecture "$a"
    fi
done
if [ "${1:-build}" = cross-armhf ]; then
    want=(gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf qemu-user pkg-config $(cross_libs armhf))
fi
if [ "${1:-build}" = test ]; then
    # the cross step of scripts/suites.sh: aarch64 compiler, qemu-aarch64, target libraries
    want+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user $(cross_libs arm64))
    want+=(libcmocka-dev abigail-tools)
    # the Python binding's tests (bindings/python): Debian's pytest, and what an
    # offline `pip install --no-build-isolation bindings/python` builds with
    want+=(python3-pytest python3-setuptools python3-pip python3-venv)
    # the MariaDB clusters of the cluster suite (tests/mariadb_cluster.sh): Galera, rsync
    # for its state transfers, ss for wsrep_sst_rsync, openssl for password hashes. None
    # starts a service; mariadb-server does, so the server scripts install it themselves.
    want+=(galera-4 rsync iproute2 openssl)
fi
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
$sudo apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >&2
