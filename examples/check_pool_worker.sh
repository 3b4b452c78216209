#!/bin/sh
# pool_worker on a fresh SQLite file each run: a database kept in the build
# folder from an earlier run refuses to boot (rightly) once a demo migration
# is edited.
#   check_pool_worker.sh POOL_WORKER_BINARY MIGRATIONS_DIR REQUESTS_PER_WORKER
# Eight workers write to one SQLite file: each waits for the write lock. The
# default wait (5 s) is a service's choice; here it is a hang guard, and on a
# machine busy with other work a lock holder may not run for seconds (seen:
# 2 of 400 orders got SQLITE_BUSY with both cores taken by other processes).
set -eu
dir=$(mktemp -d /tmp/dbmgmt-poolex-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$1" "sqlite://$dir/pool-worker-test.db?busy_timeout=60000" "$2" "$3"
