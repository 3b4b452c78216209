#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, start a
# throwaway PostgreSQL 15 and MariaDB on 127.0.0.1 (tests/servers.sh), build
# and run the whole suite twice — once normally, once with AddressSanitizer +
# UndefinedBehaviorSanitizer — then stop the servers. With CI=true warnings
# are errors and a missing engine is a failure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/deps.sh" test
exec bash "$top/tests/servers.sh" run -- bash "$top/scripts/suites.sh"
