#!/usr/bin/env python3
"""Migrations on the PostgreSQL cluster of tests/cluster.sh (issue 18), with the
real `dbmgmt` CLI:

- 16 `dbmgmt up` at once on an empty database, 8 through PgBouncer in
  transaction mode and 8 straight to the leader, over ten migrations (two
  CREATE INDEX CONCURRENTLY outside a transaction, one `SET search_path`):
  all exit 0, every migration runs exactly once, and the history, the tables
  and the indexes are those of a single run into a fresh database;
- nothing a migrator sends through PgBouncer is a named prepared statement
  (the leader's log, with log_statement = all for the database, shows every
  `execute` as `<unnamed>`; a named one through the public prepare API shows
  up there, so the check can fail);
- a migrator through PgBouncer waits for the session advisory lock that an
  older, direct migrator holds (times out, applies nothing);
- `dbmgmt up` on a replica is refused with DBMGMT_ERR_READ_ONLY's message:
  it names the server as a standby, shows the DSN redacted, applies nothing;
  `dbmgmt status` there still works; a multi-host DSN that lists the replica
  first is refused too without target_session_attrs, and with
  target_session_attrs=read-write migrates the primary.

usage: test_cluster_migrate.py DBMGMT_EXE LIBDBMGMT_SO
Needs the DBMGMT_TEST_CLUSTER_* variables of `bash tests/cluster.sh run --`;
without them it is skipped (exit 77), unless CI=true (then it fails).
"""
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

DBMGMT, LIBRARY = sys.argv[1], sys.argv[2]
LOCK_TIMEOUT_MS = "120000"

# Ten migrations: eight in a transaction (each records itself in `applied`), two
# CREATE INDEX CONCURRENTLY outside one, and 004 moves its session's search_path.
MIGRATIONS = {
    "001_accounts.sql": """-- migrate:up
CREATE TABLE applied (version TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());
CREATE TABLE accounts (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE);
INSERT INTO applied (version) VALUES ('001');
-- migrate:down
DROP TABLE accounts;
DROP TABLE applied;
""",
    "002_orders.sql": """-- migrate:up
CREATE TABLE orders (id BIGSERIAL PRIMARY KEY,
                     account_id BIGINT NOT NULL REFERENCES accounts (id),
                     total NUMERIC(12, 2) NOT NULL);
INSERT INTO applied (version) VALUES ('002');
-- migrate:down
DROP TABLE orders;
""",
    "003_seed.sql": """-- migrate:up
INSERT INTO accounts (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 2000) g;
INSERT INTO orders (account_id, total) SELECT 1 + g % 2000, g % 500 FROM generate_series(1, 20000) g;
INSERT INTO applied (version) VALUES ('003');
-- migrate:down
DELETE FROM orders;
DELETE FROM accounts;
""",
    "004_reporting.sql": """-- migrate:up
CREATE SCHEMA reporting;
SET search_path = reporting, public;
CREATE TABLE daily_totals (day DATE PRIMARY KEY, total NUMERIC(14, 2) NOT NULL);
INSERT INTO public.applied (version) VALUES ('004');
-- migrate:down
DROP SCHEMA reporting CASCADE;
""",
    "005_audit.sql": """-- migrate:up
CREATE TABLE audit_log (id BIGSERIAL PRIMARY KEY, happened TIMESTAMPTZ NOT NULL DEFAULT now(),
                        what TEXT NOT NULL);
INSERT INTO applied (version) VALUES ('005');
-- migrate:down
DROP TABLE audit_log;
""",
    "006_orders_account_index.sql": """-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY orders_account_id ON orders (account_id);
-- migrate:down transaction:false
DROP INDEX CONCURRENTLY orders_account_id;
""",
    "007_created_at.sql": """-- migrate:up
ALTER TABLE accounts ADD COLUMN created_at TIMESTAMPTZ;
INSERT INTO applied (version) VALUES ('007');
-- migrate:down
ALTER TABLE accounts DROP COLUMN created_at;
""",
    "008_order_count.sql": """-- migrate:up
CREATE FUNCTION order_count(account BIGINT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM orders WHERE account_id = account;
$$;
INSERT INTO applied (version) VALUES ('008');
-- migrate:down
DROP FUNCTION order_count(BIGINT);
""",
    "009_email_lower_index.sql": """-- migrate:up transaction:false
CREATE UNIQUE INDEX CONCURRENTLY accounts_email_lower ON accounts (lower(email));
-- migrate:down transaction:false
DROP INDEX CONCURRENTLY accounts_email_lower;
""",
    "010_totals_view.sql": """-- migrate:up
CREATE VIEW account_totals AS
    SELECT a.id, a.email, coalesce(sum(o.total), 0) AS total
    FROM accounts a LEFT JOIN orders o ON o.account_id = a.id GROUP BY a.id, a.email;
INSERT INTO applied (version) VALUES ('010');
-- migrate:down
DROP VIEW account_totals;
""",
}
TRANSACTIONAL = sorted(n[:3] for n, body in MIGRATIONS.items() if "transaction:false" not in body)

# ---------------------------------------------------------------------------------------
# The smallest client over libdbmgmt's C API
# ---------------------------------------------------------------------------------------
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import dbmgmt_ctypes as dc  # noqa: E402  (tests/support: the client and the checks)

lib = dc.load(LIBRARY)


class Conn(dc.Conn):
    def prepare_and_run(self, sql):
        """A named server-side statement (the public dbmgmt_conn_prepare)."""
        s, r = ctypes.c_void_p(), ctypes.c_void_p()
        if lib.dbmgmt_conn_prepare(self.h, ctypes.byref(s), sql.encode()) != 0:
            self._fail()
        try:
            if lib.dbmgmt_stmt_execute(s, ctypes.byref(r)) != 0:
                self._fail()
            lib.dbmgmt_result_free(r)
        finally:
            lib.dbmgmt_stmt_free(s)


checks = dc.Checks()
check, say, captured = checks.check, checks.say, checks.captured


# ---------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------
DSN_RE = re.compile(r"^(postgres(?:ql)?://[^@/]+@)([^/]+)/([^?]+)(\?.*)?$")


def with_database(dsn, db):
    m = DSN_RE.match(dsn)
    return f"{m.group(1)}{m.group(2)}/{db}{m.group(4) or ''}"


def hostport(dsn):
    return DSN_RE.match(dsn).group(2)


def multi_host(first, second, db, query=""):
    m = DSN_RE.match(first)
    return f"{m.group(1)}{hostport(first)},{hostport(second)}/{db}{query}"


class Cluster:
    def __init__(self):
        self.members = os.environ["DBMGMT_TEST_CLUSTER_MEMBERS"].split()
        self.member_dsns = os.environ["DBMGMT_TEST_CLUSTER_MEMBER_DSNS"].split()
        self.admin_dsns = os.environ["DBMGMT_TEST_CLUSTER_ADMIN_DSNS"].split()
        self.bouncer = os.environ["DBMGMT_TEST_CLUSTER_BOUNCER_DSN"]
        self.passwords = os.environ.get("DBMGMT_TEST_CLUSTER_PASSWORDS", "").split()
        self.dir = os.environ["DBMGMT_TEST_CLUSTER_DIR"]
        script = os.environ["DBMGMT_TEST_CLUSTER_SCRIPT"]
        # an earlier test may have failed the leader over: wait for one that takes writes
        out = subprocess.run(["bash", script, "wait-leader", "60"], capture_output=True,
                             text=True, check=True).stdout.split()
        self.leader = self.members.index(out[0])
        self.replicas = [i for i in range(len(self.members)) if i != self.leader]
        self.counter = 0

    def new_database(self, purpose, replicated=False):
        """A database of its own, created on the leader; replicated: wait until
        every replica has replayed it."""
        self.counter += 1
        name = f"dbmgmt_cm_{os.getpid()}_{self.counter}_{purpose}"
        c = Conn(self.member_dsns[self.leader])
        c.exec(f"CREATE DATABASE {name}")
        c.close()
        for i in self.replicas if replicated else []:
            deadline = time.time() + 60
            while True:
                try:
                    Conn(with_database(self.member_dsns[i], name)).close()
                    break
                except RuntimeError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
        return name

    def leader_dsn(self, db):
        return with_database(self.member_dsns[self.leader], db)

    def bouncer_dsn(self, db):
        return with_database(self.bouncer, db)

    def leader_log(self):
        return os.path.join(self.dir, self.members[self.leader], "log", "postgresql.log")


class Folder:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dbmgmt-cluster-mig-")
        for name, text in MIGRATIONS.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

    def dbmgmt(self, dsn, *args):
        return subprocess.Popen([DBMGMT, "--url", dsn, "--dir", self.dir, "--lock-timeout",
                                 LOCK_TIMEOUT_MS, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, dsn, *args, timeout=180):
        p = self.dbmgmt(dsn, *args)
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err


def history(dsn):
    c = Conn(dsn)
    rows = c.rows("SELECT installed_rank, version, description, script, checksum, success "
                  "FROM dbmgmt_schema_history WHERE installed_rank > 0 ORDER BY installed_rank")
    c.close()
    return rows


def schema_shape(dsn):
    """Where every table, index and view is, and whether each index is valid."""
    c = Conn(dsn)
    rows = c.rows("SELECT n.nspname, c.relname, c.relkind::text, "
                  "coalesce((SELECT i.indisvalid::text FROM pg_index i WHERE i.indexrelid = c.oid), '') "
                  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
                  "AND c.relkind IN ('r', 'i', 'v') ORDER BY 1, 2")
    c.close()
    return rows


def log_offset(path):
    return os.path.getsize(path)


def named_executes(path, offset):
    """(named, unnamed) extended-protocol executions logged since offset."""
    time.sleep(0.5)  # the logging collector writes asynchronously
    with open(path, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    named = re.findall(r"LOG:  execute (?!<unnamed>)([^:\s]+):", text)
    unnamed = len(re.findall(r"LOG:  execute <unnamed>:", text))
    return named, unnamed


# ---------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------
def sixteen_migrators_direct_and_pooled(cl, folder):
    # the single run goes through PgBouncer: the pooled path alone (its lock held
    # over a pinned server connection, 004's SET, the concurrent indexes) is the reference
    reference = cl.new_database("ref")
    rc, _, err = folder.run(cl.bouncer_dsn(reference), "up")
    check("a single run through PgBouncer into a fresh database succeeds", rc == 0, err)
    want_history, want_shape = history(cl.leader_dsn(reference)), schema_shape(cl.leader_dsn(reference))

    db = cl.new_database("sixteen")
    admin = Conn(with_database(cl.admin_dsns[cl.leader], db))
    admin.exec(f"ALTER DATABASE {db} SET log_statement = 'all'")
    admin.close()
    log, offset = cl.leader_log(), log_offset(cl.leader_log())
    started = time.time()
    procs = []
    # pooled ones first: a connection through PgBouncer takes longer (two handshakes)
    for i in range(16):
        kind = "pooled" if i < 8 else "direct"
        procs.append((kind, folder.dbmgmt(cl.bouncer_dsn(db) if kind == "pooled"
                                          else cl.leader_dsn(db), "up")))
    results = [(kind, p, *p.communicate(timeout=300)) for kind, p in procs]
    elapsed = time.time() - started
    codes = [p.returncode for _, p, _, _ in results]
    first_error = next((err for _, p, _, err in results if p.returncode), "")
    check(f"16 migrators (8 through PgBouncer, 8 direct) all exit 0 ({elapsed:.1f} s)",
          codes == [0] * 16, f"codes {codes}; first failure: {first_error}")
    applying = {"pooled": 0, "direct": 0}
    for kind, _, out, _ in results:
        applying[kind] += out.count("applying")
    print(f"     migrations applied through PgBouncer: {applying['pooled']}, direct: "
          f"{applying['direct']}")
    check("the work was done once across the 16 processes", sum(applying.values()) == 10,
          f"{applying}")

    c = Conn(cl.leader_dsn(db))
    ran = [r[0] for r in c.rows("SELECT version FROM applied ORDER BY version")]
    c.close()
    check("every transactional migration's body ran exactly once", ran == TRANSACTIONAL,
          f"ran {ran}")
    got = history(cl.leader_dsn(db))
    versions = [r[1] for r in got]
    check("each version has exactly one history row, all successful",
          sorted(versions) == sorted(set(versions)) and len(versions) == 10 and
          all(r[5] == "1" for r in got), f"{got}")
    check("the history (ranks, versions, scripts, checksums, success) is that of a single run",
          got == want_history, f"\n     got  {got}\n     want {want_history}")
    shape = schema_shape(cl.leader_dsn(db))
    check("tables, views and indexes are where a single run puts them, indexes valid "
          "(004's search_path reached no other migration)",
          shape == want_shape, f"\n     got  {shape}\n     want {want_shape}")

    named, unnamed = named_executes(log, offset)
    check("no named prepared statement reached the server (the log shows "
          f"{unnamed} unnamed executions)", unnamed > 0 and not named,
          f"named: {sorted(set(named))[:5]}, unnamed: {unnamed}")
    # the check above can fail: a named statement through the public API is seen
    offset = log_offset(log)
    c = Conn(cl.leader_dsn(db))
    c.prepare_and_run("SELECT count(*) FROM applied")
    c.close()
    named, _ = named_executes(log, offset)
    check("a named prepared statement (dbmgmt_conn_prepare) does show in that log", named != [],
          "the log check could not see one")


def pooled_migrator_waits_for_direct_session_lock(cl, folder, db):
    """An older libdbmgmt takes the session advisory lock, direct: a pooled
    migrator with the transaction-level lock must wait for it, not pass it."""
    holder = Conn(cl.leader_dsn(db))
    holder.lock("dbmgmt:dbmgmt_schema_history", 0)
    started = time.time()
    p = subprocess.run([DBMGMT, "--url", cl.bouncer_dsn(db), "--dir", folder.dir,
                        "--lock-timeout", "1500", "up"], capture_output=True, text=True, timeout=60)
    waited = time.time() - started
    holder.close()
    check(f"a pooled migrator waits for a direct session lock and times out ({waited:.1f} s)",
          p.returncode != 0 and "held by another session" in p.stderr and waited >= 1.4,
          f"rc={p.returncode} {p.stderr.strip()}")
    c = Conn(cl.leader_dsn(db))
    exists = c.scalar("SELECT to_regclass('dbmgmt_schema_history') IS NOT NULL")
    c.close()
    check("the waiting migrator applied nothing", exists == "f", f"history table exists: {exists}")


def replica_refused_and_multi_host_finds_primary(cl, folder):
    db = cl.new_database("replica", replicated=True)
    replica = with_database(cl.member_dsns[cl.replicas[0]], db)
    leader = cl.leader_dsn(db)
    rc, _, err = folder.run(replica, "up")
    shown = err.strip()
    check("`dbmgmt up` with a replica's DSN exits non-zero", rc != 0, shown)
    check("the refusal says the server is a standby and names it",
          "standby" in err and hostport(replica) in err and "read-only transaction" not in err,
          shown)
    check("the refusal says what to give instead",
          "primary" in err and "target_session_attrs=read-write" in err, shown)
    check("the refusal shows the DSN redacted",
          "://dbmgmt_test:***@" in err and not any(pw in err for pw in cl.passwords), shown)
    rc, out, err = folder.run(replica, "status")
    check("`dbmgmt status` on the replica still works", rc == 0 and "pending" in out,
          f"rc={rc} {err.strip()}")

    first_replica = multi_host(replica, leader, db)
    rc, _, err = folder.run(first_replica, "up")
    check("a multi-host DSN with the replica first and no target_session_attrs is refused",
          rc != 0 and "standby" in err and "target_session_attrs" in err, err.strip())
    check("that refusal shows the whole host list",
          f"{hostport(replica)},{hostport(leader)}" in err, err.strip())

    pooled_migrator_waits_for_direct_session_lock(cl, folder, db)

    dsn = multi_host(replica, leader, db, "?target_session_attrs=read-write")
    rc, out, err = folder.run(dsn, "up")
    check("a multi-host DSN listing the replica first, with target_session_attrs=read-write, "
          "migrates", rc == 0, err.strip())
    rows = history(leader)
    check("... the primary: its history has all ten versions", len(rows) == 10, f"{rows}")


def main():
    if not os.environ.get("DBMGMT_TEST_CLUSTER_DSN"):
        print("DBMGMT_TEST_CLUSTER_DSN is not set (run under bash tests/cluster.sh run --)")
        return 1 if os.environ.get("CI") in ("true", "1") else 77
    cl = Cluster()
    print(f"leader {cl.members[cl.leader]}, replicas "
          f"{', '.join(cl.members[i] for i in cl.replicas)}", flush=True)
    folder = Folder()
    try:
        started = time.time()
        sixteen_migrators_direct_and_pooled(cl, folder)
        replica_refused_and_multi_host_finds_primary(cl, folder)
        print(f"{checks.passed} passed, {checks.failed} failed in {time.time() - started:.1f} s")
    finally:
        shutil.rmtree(folder.dir, ignore_errors=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
