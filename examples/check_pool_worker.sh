#!/bin/sh
# pool_worker on a fresh SQLite file each run: a database kept in the build
# folder from an earlier run refuses to boot (rightly) once a demo migration
# is edited.
#   check_pool_worker.sh POOL_WORKER_BINARY MIGRATIONS_DIR REQUESTS_PER_WORKER
set -eu
dir=$(mktemp -d /tmp/dbmgmt-poolex-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$1" "sqlite://$dir/pool-worker-test.db" "$2" "$3"
