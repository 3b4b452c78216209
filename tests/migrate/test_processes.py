#!/usr/bin/env python3
"""Migrations across processes, with the real `dbmgmt` CLI:

- 16 processes running `dbmgmt up` at once on the same database: every
  process exits 0, each migration is applied exactly once;
- a process killed with SIGKILL in the middle of a long migration
  (PostgreSQL, SQLite): the database stays at the previous version with no
  partial objects, and the next `up` succeeds;
- PostgreSQL: a transaction:false migration with CREATE INDEX CONCURRENTLY
  completes while three other migrators wait on the lock.

usage: test_processes.py DBMGMT_EXE LIBDBMGMT_SO ENGINE
The DSNs come from DBMGMT_TEST_PG_DSN / DBMGMT_TEST_MYSQL_DSN (skipped with
exit 77 when absent, a failure with CI=true).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DBMGMT, LIBRARY, ENGINE = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import dbmgmt_ctypes as dc  # noqa: E402  (tests/support: the client and the checks)

lib = dc.load(LIBRARY)
Conn = dc.Conn
checks = dc.Checks()
check, say, captured = checks.check, checks.say, checks.captured


class Scratch:
    """A scratch database and a migrations folder."""
    counter = 0

    def __init__(self, base_dsn):
        Scratch.counter += 1
        self.dir = tempfile.mkdtemp(prefix="dbmgmt-proc-")
        self.migrations = os.path.join(self.dir, "migrations")
        os.mkdir(self.migrations)
        self.db = dc.ScratchDb(base_dsn, ENGINE, f"dbmgmt_proc_{os.getpid()}_{Scratch.counter}",
                               self.dir)
        self.dsn = self.db.dsn

    def write(self, name, text):
        with open(os.path.join(self.migrations, name), "w") as f:
            f.write(text)

    def dbmgmt(self, *args, **kw):
        return subprocess.Popen([DBMGMT, "--url", self.dsn, "--dir", self.migrations, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

    def drop(self):
        self.db.drop()
        shutil.rmtree(self.dir)


def sixteen_processes_apply_each_migration_once(base):
    s = Scratch(base)
    s.write("001_counter.sql", "-- migrate:up\nCREATE TABLE applied (migration INTEGER NOT NULL);\n")
    for v in range(2, 7):
        s.write(f"{v:03d}_step.sql",
                f"-- migrate:up\nCREATE TABLE t{v} (id INTEGER);\n"
                f"INSERT INTO applied (migration) VALUES ({v});\n")
    procs = [s.dbmgmt("--lock-timeout", "120000", "up") for _ in range(16)]
    results = [p.communicate(timeout=180) for p in procs]
    codes = [p.returncode for p in procs]
    check(f"{ENGINE}: 16 concurrent `dbmgmt up` all exit 0", codes == [0] * 16,
          f"codes {codes}; first failure: {next((r[1] for p, r in zip(procs, results) if p.returncode), '')}")
    c = Conn(s.dsn)
    rows = c.scalar("SELECT COUNT(*) FROM applied")
    distinct = c.scalar("SELECT COUNT(DISTINCT migration) FROM applied")
    history = c.scalar("SELECT COUNT(*) FROM dbmgmt_schema_history WHERE installed_rank > 0 AND success = 1")
    versions = c.scalar("SELECT COUNT(DISTINCT version) FROM dbmgmt_schema_history WHERE installed_rank > 0")
    c.close()
    check(f"{ENGINE}: each migration applied exactly once", rows == "5" and distinct == "5",
          f"rows={rows} distinct={distinct}")
    check(f"{ENGINE}: history has one row per version", history == "6" and versions == "6",
          f"history={history} versions={versions}")
    applied_lines = sum(out.count("applying") for out, _ in results)
    check(f"{ENGINE}: the work was done once across the processes", applied_lines == 6,
          f"{applied_lines} 'applying' lines")
    s.drop()


def wait_for_output(p, text, seconds):
    """Read p's stdout until text appears (True) or time runs out (False)."""
    import select
    seen = ""
    deadline = time.time() + seconds
    fd = p.stdout.fileno()
    while time.time() < deadline and text not in seen:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen += chunk.decode(errors="replace")
    return text in seen


def killed_mid_migration_leaves_previous_version(base):
    s = Scratch(base)
    s.write("001_base.sql", "-- migrate:up\nCREATE TABLE base (id INTEGER);\n")
    if ENGINE == "postgres":
        long_body = "CREATE TABLE partial (id INTEGER);\nSELECT pg_sleep(6);\n"
    else:  # a statement that keeps SQLite busy for seconds
        long_body = ("CREATE TABLE partial (id INTEGER);\n"
                     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000)\n"
                     "SELECT COUNT(*) FROM c;\n")
    s.write("002_long.sql", "-- migrate:up\n" + long_body)
    p = s.dbmgmt("up", start_new_session=True)
    # the CLI prints "applying 002 long ... " when the step starts
    seen = wait_for_output(p, "applying 002", 30)
    time.sleep(0.7)
    running = seen and p.poll() is None
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()
    c = Conn(s.dsn)
    check(f"{ENGINE}: the long migration was still running when killed", running)
    time.sleep(0.3)
    tables = c.tables()
    version = c.scalar("SELECT MAX(version) FROM dbmgmt_schema_history WHERE installed_rank > 0")
    c.close()
    check(f"{ENGINE}: after SIGKILL the database is at the previous version", version == "001",
          f"version {version}")
    check(f"{ENGINE}: after SIGKILL no partial objects remain", "partial" not in tables, f"tables {tables}")
    s.write("002_long.sql", "-- migrate:up\nCREATE TABLE partial (id INTEGER);\n")
    p = s.dbmgmt("--allow-out-of-order", "up")
    out, err = p.communicate(timeout=120)
    check(f"{ENGINE}: the next up succeeds", p.returncode == 0, err)
    s.drop()


def concurrent_index_completes_while_others_wait(base):
    s = Scratch(base)
    s.write("001_table.sql",
            "-- migrate:up\nCREATE TABLE big (id INTEGER, v INTEGER);\n"
            "INSERT INTO big SELECT g, g % 97 FROM generate_series(1, 200000) g;\n")
    s.write("002_index.sql",
            "-- migrate:up transaction:false\nSELECT pg_sleep(1.5);\n"
            "CREATE INDEX CONCURRENTLY big_v ON big (v);\n")
    first = s.dbmgmt("--lock-timeout", "120000", "up")
    time.sleep(0.8)  # the first holds the lock and is in 002
    waiters = [s.dbmgmt("--lock-timeout", "120000", "up") for _ in range(3)]
    started = time.time()
    out, err = first.communicate(timeout=120)
    elapsed = time.time() - started
    check("postgres: CREATE INDEX CONCURRENTLY completes while 3 migrators wait",
          first.returncode == 0 and elapsed < 60, f"rc={first.returncode} {err} after {elapsed:.1f}s")
    codes = [w.wait(timeout=120) for w in waiters]
    check("postgres: the 3 waiting migrators then find nothing to do", codes == [0, 0, 0], f"{codes}")
    c = Conn(s.dsn)
    valid = c.scalar("SELECT indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'big_v'")
    c.close()
    check("postgres: the concurrent index is valid", valid == "t", f"indisvalid={valid}")
    s.drop()


def read_only_session_is_refused_before_writing(base):
    """DBMGMT_ERR_READ_ONLY on one server: a session with
    default_transaction_read_only is refused before the lock, with the reason
    (the standby case needs a replica: tests/cluster/test_cluster_migrate.py)."""
    s = Scratch(base)
    s.write("001_table.sql", "-- migrate:up\nCREATE TABLE t (id INTEGER);\n")
    plain = s.dsn
    s.dsn += ("&" if "?" in s.dsn else "?") + "options=-c%20default_transaction_read_only%3Don"
    out, err = s.dbmgmt("up").communicate(timeout=60)
    check("postgres: `dbmgmt up` in a read-only session is refused with the reason",
          "read-only for this session" in err and "read-only transaction" not in err, err)
    out, err = s.dbmgmt("--json", "up").communicate(timeout=60)
    check("postgres: ... as DBMGMT_ERR_READ_ONLY", "DBMGMT_ERR_READ_ONLY" in out, out + err)
    s.dsn = plain
    c = Conn(s.dsn)
    exists = c.scalar("SELECT to_regclass('dbmgmt_schema_history') IS NOT NULL")
    c.close()
    check("postgres: ... and nothing was written", exists == "f", f"history table: {exists}")
    s.drop()


def main():
    if ENGINE == "sqlite":
        base = "sqlite::memory:"
    else:
        base = os.environ.get("DBMGMT_TEST_PG_DSN" if ENGINE == "postgres" else "DBMGMT_TEST_MYSQL_DSN")
        if not base:
            print(f"no {ENGINE} DSN")
            return 1 if os.environ.get("CI") == "true" else 77
    sixteen_processes_apply_each_migration_once(base)
    if ENGINE in ("sqlite", "postgres"):
        killed_mid_migration_leaves_previous_version(base)
    if ENGINE == "postgres":
        concurrent_index_completes_while_others_wait(base)
        read_only_session_is_refused_before_writing(base)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
