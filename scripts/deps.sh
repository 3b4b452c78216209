#!/usr/bin/env bash
# Install the Debian packages libdbmgmt needs, only those missing.
#   scripts/deps.sh build     compiler, meson, SQLite, libpq, MariaDB Connector/C, libsodium,
#                             zlib, libzstd
#   scripts/deps.sh test      the above plus cmocka and abigail-tools
# (tests/servers.sh installs the PostgreSQL and MariaDB servers themselves,
# tests/cluster.sh etcd, Patroni and PgBouncer, and tests/mariadb_cluster.sh Galera, for
# the cluster suite.)
set -euo pipefail
want=(gcc g++ meson ninja-build pkg-config libsqlite3-dev sqlite3 python3 binutils
      libpq-dev libmariadb-dev
      libmicrohttpd-dev    # dbmgmt exporter (the CLI only, never the library)
      libsodium-dev        # encryption at rest of backups (-Dsodium, docs/backup-encryption.md)
      zlib1g-dev           # gzip export files of retention jobs (lib/archive, docs/archive.md)
      libzstd-dev)         # zstd export files of retention jobs (-Dzstd, docs/archive.md)
if [ "${1:-build}" = test ]; then
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
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
