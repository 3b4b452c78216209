#!/usr/bin/env python3
"""Migrations on the three-node Galera cluster of tests/mariadb_cluster.sh
(issue 19, docs/mariadb-cluster.md), with the real `dbmgmt` CLI:

- 12 `dbmgmt up` at once, 4 on each node, on an empty database, over eight
  migrations (DDL: CREATE TABLE, ALTER TABLE ADD COLUMN, CREATE INDEX, a
  view; data migrations that record themselves in `applied`; one that
  sleeps so the migrators overlap): all exit 0, every migration runs exactly
  once, and on every node the tables (SHOW CREATE), the history and
  `applied` are those of a single run into a fresh database;
- the same with `migration_lock=get_lock` forced: GET_LOCK is local to one
  node, so migrators of different nodes run at once, and some fail (they
  find the history row of a migration another node's migrator is running,
  or lose the race to write it: duplicate key, certification conflict) or
  some migration runs twice (bounded retries; it must show at least once):
  the first test can fail;
- a migrator SIGKILLed on g1 while it holds the lock row, in the middle of
  a migration: the row stays; the next boot, on g2, waits for the lease
  (migration_lock_lease=5) and takes the lock over, then refuses the
  database the killed migration left dirty (MariaDB runs a migration
  statement by statement: docs/migrations.md, "Failure"), naming the
  statement; `dbmgmt resume` on g2 continues from that statement without
  repeating the one before it, and `dbmgmt up` finishes: every node ends
  as after a single run, the lock row gone;
- a node that is not Synced (`wsrep_desync = ON`: 'Donor/Desynced') is
  refused with DBMGMT_ERR_READ_ONLY's message naming its state, and nothing
  is written; Synced again, the same DSN migrates;
- no password appears in anything the CLI printed.

The migrators connect as the application user (ALL on its database, no
SUPER), as a deployed service does: that the lock row needs nothing more
is part of what is shown. Each scenario gets a database of its own, created
through root on g1 with a GRANT for that user.

usage: test_galera_migrate.py DBMGMT_EXE LIBDBMGMT_SO
Needs DBMGMT_TEST_GALERA_DSNS and DBMGMT_TEST_GALERA_ADMIN_DSNS (`bash
tests/mariadb_cluster.sh run --`); without them it is skipped (exit 77),
unless CI=true (then it fails).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DBMGMT, LIBRARY = sys.argv[1], sys.argv[2]
LOCK_TIMEOUT_MS = "120000"
GET_LOCK_ATTEMPTS = 3
TAKEOVER_LEASE_S = 5

# Eight migrations. MariaDB commits DDL implicitly, so every migration runs
# statement by statement with the dirty-state protocol; each records itself
# in `applied` (no unique key there: a second run of a migration shows as a
# second row). 002 sleeps for a minute on a node whose port is in sleep_flag
# (only the takeover test puts g1's there, so the next boot, on g2, does not
# sleep, and nothing has to be written to the table under the shared locks
# that the dead migrator's sleeping statement still holds); 003 sleeps a
# second so that migrators overlap.
MIGRATIONS = {
    "001_accounts.sql": """-- migrate:up
CREATE TABLE applied (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, version VARCHAR(8) NOT NULL,
                      at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB;
CREATE TABLE accounts (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, email VARCHAR(190) NOT NULL,
                       UNIQUE KEY accounts_email (email)) ENGINE=InnoDB;
CREATE TABLE sleep_flag (node_port INT NOT NULL PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO applied (version) VALUES ('001');
-- migrate:down
DROP TABLE sleep_flag;
DROP TABLE accounts;
DROP TABLE applied;
""",
    "002_first_account.sql": """-- migrate:up
INSERT INTO applied (version) VALUES ('002');
DO SLEEP(IF((SELECT COUNT(*) FROM sleep_flag WHERE node_port = @@port) > 0, 60, 0));
INSERT INTO accounts (email) VALUES ('first@example.com');
-- migrate:down
DELETE FROM accounts WHERE email = 'first@example.com';
""",
    "003_seed_accounts.sql": """-- migrate:up
INSERT INTO accounts (email) SELECT CONCAT('user', seq, '@example.com') FROM seq_1_to_2000;
DO SLEEP(1);
INSERT INTO applied (version) VALUES ('003');
-- migrate:down
DELETE FROM accounts WHERE email LIKE 'user%@example.com';
""",
    "004_orders.sql": """-- migrate:up
CREATE TABLE orders (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, account_id BIGINT NOT NULL,
                     total DECIMAL(12, 2) NOT NULL,
                     CONSTRAINT orders_account FOREIGN KEY (account_id) REFERENCES accounts (id))
                     ENGINE=InnoDB;
INSERT INTO applied (version) VALUES ('004');
-- migrate:down
DROP TABLE orders;
""",
    "005_created_at.sql": """-- migrate:up
ALTER TABLE accounts ADD COLUMN created_at DATETIME(6) NULL;
INSERT INTO applied (version) VALUES ('005');
-- migrate:down
ALTER TABLE accounts DROP COLUMN created_at;
""",
    "006_seed_orders.sql": """-- migrate:up
INSERT INTO orders (account_id, total)
    SELECT a.id, s.seq % 500 FROM seq_1_to_5000 s
    JOIN accounts a ON a.email = CONCAT('user', 1 + s.seq % 2000, '@example.com');
INSERT INTO applied (version) VALUES ('006');
-- migrate:down
DELETE FROM orders;
""",
    "007_orders_account_total_index.sql": """-- migrate:up
CREATE INDEX orders_account_total ON orders (account_id, total);
INSERT INTO applied (version) VALUES ('007');
-- migrate:down
DROP INDEX orders_account_total ON orders;
""",
    "008_audit_and_totals.sql": """-- migrate:up
CREATE TABLE audit_log (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, what VARCHAR(255) NOT NULL,
                        happened DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB;
CREATE VIEW account_totals AS
    SELECT a.id, a.email, COALESCE(SUM(o.total), 0) AS total
    FROM accounts a LEFT JOIN orders o ON o.account_id = a.id GROUP BY a.id, a.email;
INSERT INTO applied (version) VALUES ('008');
-- migrate:down
DROP VIEW account_totals;
DROP TABLE audit_log;
""",
}
VERSIONS = sorted(name[:3] for name in MIGRATIONS)
EXPECTED_ROWS = {"accounts": 2001, "orders": 5000}

# ---------------------------------------------------------------------------------------
# The smallest client over libdbmgmt's C API
# ---------------------------------------------------------------------------------------
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import dbmgmt_ctypes as dc  # noqa: E402  (tests/support: the client and the checks)

lib = dc.load(LIBRARY)
Conn = dc.Conn
checks = dc.Checks()
check, say, captured = checks.check, checks.say, checks.captured


# ---------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------
DSN_RE = re.compile(r"^(mysql://([^:@/]+)(?::[^@/]*)?@)([^/?]+)(?:/([^?]*))?(?:\?(.*))?$")


def with_database(dsn, db, params=""):
    """dsn for database db, with its own parameters and params (a=b&c=d) added."""
    m = DSN_RE.match(dsn)
    query = "&".join(p for p in (m.group(5), params) if p)
    return f"{m.group(1)}{m.group(3)}/{db}{'?' + query if query else ''}"


def host_port(dsn):
    return DSN_RE.match(dsn).group(3)


class Galera:
    def __init__(self):
        self.dsns = os.environ["DBMGMT_TEST_GALERA_DSNS"].split()
        self.admin_dsns = os.environ["DBMGMT_TEST_GALERA_ADMIN_DSNS"].split()
        self.names = os.environ.get("DBMGMT_TEST_GALERA_MEMBERS", "g1 g2 g3").split()
        self.passwords = os.environ.get("DBMGMT_TEST_MYCLUSTER_PASSWORDS", "").split()
        self.user = DSN_RE.match(self.dsns[0]).group(2)
        self.counter = 0
        # an earlier test may have killed a node: all three Synced, in one cluster, first
        script = os.environ.get("DBMGMT_TEST_MYCLUSTER_SCRIPT")
        if script:
            subprocess.run(["bash", script, "wait-synced", "120"], capture_output=True,
                           check=True)
        for i in range(len(self.dsns)):
            self.wait_state(i, "Synced", 120)

    def admin(self, i, db=None, causal=True):
        """Root on node i; causal: reads wait until the node has applied
        everything the cluster committed before them (wsrep_sync_wait)."""
        c = Conn(with_database(self.admin_dsns[i], db) if db else self.admin_dsns[i])
        if causal:
            c.exec("SET SESSION wsrep_sync_wait = 15")
        return c

    def state(self, i):
        c = self.admin(i, causal=False)
        try:
            return c.scalar("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                            "WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'")
        finally:
            c.close()

    def wait_state(self, i, want, seconds):
        deadline = time.time() + seconds
        while True:
            got = self.state(i)
            if got == want:
                return got
            if time.time() > deadline:
                raise RuntimeError(f"{self.names[i]} is '{got}', not '{want}' after {seconds} s")
            time.sleep(0.2)

    def new_database(self, purpose):
        """A database of its own, created on g1 (TOI: on every node), with
        the application user granted ALL on it; usable on every node."""
        self.counter += 1
        name = f"dbmgmt_gm_{os.getpid()}_{self.counter}_{purpose}"
        c = self.admin(0, causal=False)
        c.exec(f"CREATE DATABASE `{name}`")
        for (host,) in c.rows(f"SELECT Host FROM mysql.user WHERE User = '{self.user}'"):
            c.exec(f"GRANT ALL ON `{name}`.* TO '{self.user}'@'{host}'")
        c.close()
        for i in range(len(self.dsns)):
            deadline = time.time() + 30
            while True:
                try:
                    Conn(self.app_dsn(i, name)).close()
                    break
                except RuntimeError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)
        return name

    def app_dsn(self, i, db, params=""):
        return with_database(self.dsns[i], db, params)


class Folder:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dbmgmt-galera-mig-")
        for name, text in MIGRATIONS.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

    def argv(self, args, lock_timeout_ms):
        return [DBMGMT, "--dir", self.dir, "--lock-timeout", lock_timeout_ms, *args]

    @staticmethod
    def env(dsn):
        """The DSN goes in DATABASE_URL, never in argv: a password on a
        command line is readable by every user of the machine (ps)."""
        return dict(os.environ, DATABASE_URL=dsn)

    def start(self, dsn, *args, lock_timeout_ms=LOCK_TIMEOUT_MS):
        return subprocess.Popen(self.argv(args, lock_timeout_ms), env=self.env(dsn),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, dsn, *args, lock_timeout_ms=LOCK_TIMEOUT_MS, timeout=180):
        p = self.start(dsn, *args, lock_timeout_ms=lock_timeout_ms)
        out, err = p.communicate(timeout=timeout)
        captured.extend((out, err))
        return p.returncode, out, err

    def run_together(self, dsns, *args):
        """One `dbmgmt` per DSN, released at the same moment: each first
        waits for the end of one shared pipe, so process start-up is not a
        head start."""
        gate_r, gate_w = os.pipe()
        procs = [subprocess.Popen(["sh", "-c", 'read _; exec "$@"', "sh",
                                   *self.argv(args, LOCK_TIMEOUT_MS)],
                                  env=self.env(dsn), stdin=gate_r, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for dsn in dsns]
        os.close(gate_r)
        started = time.time()
        os.close(gate_w)  # every `read` returns at once
        results = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            captured.extend((out, err))
            results.append((p.returncode, out, err))
        return results, time.time() - started


# ---------------------------------------------------------------------------------------
# What a node holds
# ---------------------------------------------------------------------------------------
AUTO_INCREMENT_RE = re.compile(r" AUTO_INCREMENT=\d+")


def node_state(cl, i, db):
    """Node i's tables and views (SHOW CREATE, without the AUTO_INCREMENT
    counter, which each node keeps with its own Galera offset), history,
    `applied`, row counts and lock rows; read causally."""
    c = cl.admin(i, db)
    try:
        objects = c.rows("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
                         "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME")
        names = {name for name, _ in objects}
        shapes = []
        for name, kind in objects:
            text = c.rows(f"SHOW CREATE {'VIEW' if kind == 'VIEW' else 'TABLE'} `{name}`")[0][1]
            shapes.append((name, AUTO_INCREMENT_RE.sub("", text)))
        s = {"shapes": shapes, "history": [], "applied": [], "counts": {}, "locks": None}
        if "dbmgmt_schema_history" in names:
            s["history"] = c.rows(
                "SELECT installed_rank, version, description, script, checksum, success, "
                "statements_applied, error_message FROM dbmgmt_schema_history "
                "WHERE installed_rank > 0 ORDER BY installed_rank")
        if "applied" in names:
            s["applied"] = [r[0] for r in c.rows("SELECT version FROM applied "
                                                 "ORDER BY version, id")]
        for table in EXPECTED_ROWS:
            if table in names:
                s["counts"][table] = int(c.scalar(f"SELECT COUNT(*) FROM `{table}`"))
        if "dbmgmt_migration_lock" in names:
            s["locks"] = c.rows("SELECT name, owner, node FROM dbmgmt_migration_lock")
        return s
    finally:
        c.close()


def applied_counts(applied):
    counts = {}
    for v in applied:
        counts[v] = counts.get(v, 0) + 1
    return counts


def check_nodes_like_single_run(cl, db, reference, what):
    """Every node: each migration once in `applied` and in the history, all
    successful; history, tables and row counts those of the single run."""
    states = [node_state(cl, i, db) for i in range(len(cl.dsns))]
    for i, s in enumerate(states):
        node = cl.names[i]
        check(f"{what}, {node}: every migration's body ran exactly once",
              s["applied"] == VERSIONS, f"applied {applied_counts(s['applied'])}")
        check(f"{what}, {node}: one successful history row per version",
              [r[1] for r in s["history"]] == VERSIONS and all(r[5] == "1" for r in s["history"]),
              f"{s['history']}")
        check(f"{what}, {node}: history (ranks, versions, scripts, checksums, statements) "
              "is that of a single run", s["history"] == reference["history"],
              f"\n     got  {s['history']}\n     want {reference['history']}")
        check(f"{what}, {node}: SHOW CREATE of every table and view is that of a single run",
              s["shapes"] == reference["shapes"],
              f"\n     got  {[n for n, _ in s['shapes']]}\n     want "
              f"{[n for n, _ in reference['shapes']]}"
              + "".join(f"\n     differs: {a[0]}" for a, b in zip(s["shapes"], reference["shapes"])
                        if a != b))
        check(f"{what}, {node}: the data migrations' rows are there once ({s['counts']})",
              s["counts"] == EXPECTED_ROWS, f"want {EXPECTED_ROWS}")
        check(f"{what}, {node}: the lock row was released", s["locks"] == [], f"{s['locks']}")
    return states


# ---------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------
def single_run_reference(cl, folder):
    db = cl.new_database("ref")
    rc, out, err = folder.run(cl.app_dsn(0, db), "up")
    check("a single run into a fresh database succeeds", rc == 0 and out.count("applying") == 8,
          f"rc={rc} {out.strip()} {err.strip()}")
    ref = node_state(cl, 0, db)
    check("... and applies every migration once, with the row counts expected",
          ref["applied"] == VERSIONS and ref["counts"] == EXPECTED_ROWS,
          f"applied {ref['applied']} counts {ref['counts']}")
    return ref


def twelve_migrators_on_three_nodes(cl, folder, reference):
    db = cl.new_database("twelve")
    dsns = [cl.app_dsn(i % 3, db) for i in range(12)]  # g1 g2 g3 g1 ...: 4 on each
    results, elapsed = folder.run_together(dsns, "up")
    codes = [rc for rc, _, _ in results]
    first_error = next((err.strip() for rc, _, err in results if rc), "")
    check(f"12 migrators, 4 on each node, all exit 0 ({elapsed:.1f} s)", codes == [0] * 12,
          f"codes {codes}; first failure: {first_error}")
    by_node = [sum(out.count("applying") for k, (_, out, _) in enumerate(results) if k % 3 == i)
               for i in range(3)]
    say(f"     migrations applied by the migrators on g1, g2, g3: {by_node}")
    check("the work was done once across the 12 processes", sum(by_node) == 8, f"{by_node}")
    check_nodes_like_single_run(cl, db, reference, "12 migrators")
    return elapsed


FAILURE_KINDS = (
    ("an object another node's migrator created already exists",
     re.compile(r"already exists|Duplicate (key|column) name", re.I)),
    ("a history row another node's migrator wrote (duplicate key)", re.compile(r"Duplicate entry")),
    ("refused as dirty: another node's migrator was in the middle of a migration",
     re.compile(r"database is dirty")),
    ("a certification conflict with another node's migrator", re.compile(r"Deadlock|1213")),
)


def failure_kind(err):
    for name, pattern in FAILURE_KINDS:
        if pattern.search(err):
            return name
    return "other: " + err.strip().splitlines()[-1][:200] if err.strip() else "other"


def get_lock_forced_runs_twice(cl, folder):
    """GET_LOCK is local to a node: with it forced, the migrators of
    different nodes run at the same time. The run must go wrong: some
    migrator fails, or some migration runs twice."""
    shown = 0
    attempts = 0
    for attempt in range(1, GET_LOCK_ATTEMPTS + 1):
        attempts = attempt
        db = cl.new_database(f"getlock{attempt}")
        dsns = [cl.app_dsn(i % 3, db, "migration_lock=get_lock") for i in range(12)]
        results, elapsed = folder.run_together(dsns, "up")
        kinds = {}
        for rc, _, err in results:
            if rc:
                kind = failure_kind(err)
                kinds[kind] = kinds.get(kind, 0) + 1
        s = node_state(cl, 0, db)
        twice = {v: n for v, n in applied_counts(s["applied"]).items() if n > 1}
        dirty = [r[1] for r in s["history"] if r[5] != "1"]
        failures = sum(kinds.values())
        say(f"     get_lock attempt {attempt} ({elapsed:.1f} s): {failures} of 12 migrators "
            f"failed; applied more than once: {twice or 'none'}; left dirty: {dirty or 'none'}")
        for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
            say(f"       {n} x {kind}")
        if attempt == 1:
            check("with get_lock forced no lock row is used (no dbmgmt_migration_lock table)",
                  s["locks"] is None, f"{s['locks']}")
        if failures or twice:
            shown += 1
            break
    check(f"with get_lock forced, migrators on different nodes collide (shown in {shown} of "
          f"{attempts} attempts)", shown >= 1,
          "12 migrators on three nodes all succeeded, each migration once: the check in "
          "twelve_migrators_on_three_nodes cannot tell the row lock from GET_LOCK")
    return shown, attempts


def lock_row_and_sleeper(cl, db):
    """(the lock row: owner, node, lease_until, microseconds of lease left;
    the id of a session sleeping in 002), as g1 sees them."""
    c = cl.admin(0, db, causal=False)
    try:
        row = None
        if c.scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                    "DATABASE() AND TABLE_NAME = 'dbmgmt_migration_lock'") == "1":
            rows = c.rows("SELECT owner, node, DATE_FORMAT(lease_until, '%Y-%m-%d %H:%i:%s.%f'), "
                          "TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), lease_until) "
                          "FROM dbmgmt_migration_lock")
            row = rows[0] if rows else None
        sleeper = c.scalar("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
                           "AND COMMAND = 'Query' AND INFO LIKE 'DO SLEEP%'")
        return row, sleeper
    finally:
        c.close()


def killed_holder_taken_over_on_another_node(cl, folder, reference):
    db = cl.new_database("takeover")
    lease = f"migration_lock_lease={TAKEOVER_LEASE_S}"
    on_g1, on_g2 = cl.app_dsn(0, db, lease), cl.app_dsn(1, db, lease)
    rc, _, err = folder.run(on_g1, "up", "--to", "001")
    check("001 applied on g1 first", rc == 0, err.strip())
    c = cl.admin(0, db)
    g1_port = host_port(on_g1).rsplit(":", 1)[1]
    c.exec(f"INSERT INTO sleep_flag (node_port) VALUES ({g1_port})")  # 002 sleeps on g1
    c.close()

    holder = folder.start(on_g1, "up")
    deadline, row, sleeper = time.time() + 30, None, None
    while time.time() < deadline and holder.poll() is None and not (row and sleeper):
        row, sleeper = lock_row_and_sleeper(cl, db)
        time.sleep(0.05)
    check("the migrator on g1 holds the lock row and sleeps inside 002",
          row is not None and sleeper is not None and f"/{holder.pid}/" in row[0],
          f"lock row {row}, sleeping session {sleeper}, exit {holder.poll()}")
    holder.send_signal(signal.SIGKILL)
    out, err = holder.communicate(timeout=30)
    captured.extend((out, err))
    row, sleeper_after = lock_row_and_sleeper(cl, db)
    check(f"after SIGKILL the lock row stays (owner {row[0] if row else None}, lease until "
          f"{row[2] if row else None} UTC)", row is not None and f"/{holder.pid}/" in row[0],
          f"{row}")
    lease_left_s = max(0.0, int(row[3]) / 1e6) if row else 0.0
    lease_ends = time.time() + lease_left_s
    say(f"     the killed migrator's session on g1 is "
        f"{'still sleeping server-side' if sleeper_after else 'gone'}; "
        f"{lease_left_s:.1f} s of its lease left")
    s = node_state(cl, 0, db)
    mark = [r for r in s["history"] if r[1] == "002"]
    check("the kill left 002 marked dirty after its first statement",
          len(mark) == 1 and mark[0][5] == "0" and mark[0][6] == "1", f"{mark}")

    started = time.time()
    lease_left_s = max(0.0, lease_ends - started)
    rc, out, err = folder.run(on_g2, "up", lock_timeout_ms="60000", timeout=120)
    waited = time.time() - started
    check(f"the next boot, on g2, waits for the lease ({waited:.1f} s, {lease_left_s:.1f} s of it "
          "were left) and does not time out on the lock",
          waited >= lease_left_s - 0.5 and waited < 30 and "held by another migrator" not in err,
          f"rc={rc} {err.strip()}")
    check("... takes the lock over and releases it (the dead holder's row is gone: only the "
          "new owner's DELETE removes it)", lock_row_and_sleeper(cl, db)[0] is None,
          f"{lock_row_and_sleeper(cl, db)[0]}")
    check("... and refuses the dirty database, naming 002's second statement and the death",
          rc == 1 and "the database is dirty: migration 002" in err and "statement 2" in err
          and "the process died" in err, f"rc={rc} {err.strip()}")

    rc, out, err = folder.run(on_g2, "resume", lock_timeout_ms="60000")
    check("`dbmgmt resume` on g2 finishes 002 from its second statement", rc == 0,
          f"rc={rc} {out.strip()} {err.strip()}")
    rc, out, err = folder.run(on_g2, "up", lock_timeout_ms="60000")
    check("`dbmgmt up` on g2 applies the six migrations left",
          rc == 0 and out.count("applying") == 6, f"rc={rc} {out.strip()} {err.strip()}")
    check_nodes_like_single_run(cl, db, reference, "after the takeover")
    if sleeper_after:  # the dead migrator's session would sleep on for up to a minute
        c = cl.admin(0, causal=False)
        try:
            c.exec(f"KILL {sleeper_after}")
        except RuntimeError:
            pass  # it ended on its own
        c.close()


def desynced_node_refused(cl, folder):
    db = cl.new_database("desync")
    g3 = cl.app_dsn(2, db)
    admin = cl.admin(2, causal=False)
    try:
        admin.exec("SET GLOBAL wsrep_desync = ON")
        state = cl.wait_state(2, "Donor/Desynced", 30)
        rc, out, err = folder.run(g3, "up", lock_timeout_ms="5000")
        shown = err.strip()
        check(f"`dbmgmt up` on g3 in state '{state}' exits 1", rc == 1, f"rc={rc} {shown}")
        check("the refusal names the state and says not Synced",
              "Donor/Desynced" in err and "not Synced" in err and "migrate through a Synced node"
              in err, shown)
        check("the refusal says nothing was applied and shows the DSN redacted",
              "nothing was applied" in err and f"://{cl.user}:***@{host_port(g3)}" in err, shown)
        c = cl.admin(2, db)
        tables = c.rows("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                        "DATABASE()")
        c.close()
        check("nothing was written (no history table, no lock table)", tables == [], f"{tables}")
        rc, out, err = folder.run(g3, "status")
        check("`dbmgmt status` on the desynced node still works", rc == 0 and "pending" in out,
              f"rc={rc} {err.strip()}")
    finally:
        admin.exec("SET GLOBAL wsrep_desync = OFF")
        admin.close()
        cl.wait_state(2, "Synced", 120)
    rc, out, err = folder.run(g3, "up")
    check("Synced again, the same DSN migrates", rc == 0 and out.count("applying") == 8,
          f"rc={rc} {err.strip()}")


def timed(name, fn, *args):
    started = time.time()
    result = fn(*args)
    say(f"     -- {name}: {time.time() - started:.1f} s")
    return result


def main():
    if not os.environ.get("DBMGMT_TEST_GALERA_DSNS"):
        print("DBMGMT_TEST_GALERA_DSNS is not set (run under bash tests/mariadb_cluster.sh run --)")
        return 1 if os.environ.get("CI") in ("true", "1") else 77
    cl = Galera()
    folder = Folder()
    try:
        started = time.time()
        reference = timed("single run", single_run_reference, cl, folder)
        timed("12 migrators, row lock", twelve_migrators_on_three_nodes, cl, folder, reference)
        timed("12 migrators, get_lock forced", get_lock_forced_runs_twice, cl, folder)
        timed("SIGKILLed holder taken over", killed_holder_taken_over_on_another_node, cl, folder,
              reference)
        timed("desynced node refused", desynced_node_refused, cl, folder)
        leaked = [pw for pw in cl.passwords if any(pw in text for text in captured)]
        check(f"no password in anything printed ({len(captured)} outputs searched for "
              f"{len(cl.passwords)} passwords)", cl.passwords and not leaked,
              f"{len(leaked)} leaked" if leaked else "no passwords to search for")
        print(f"{checks.passed} passed, {checks.failed} failed in {time.time() - started:.1f} s")
    finally:
        shutil.rmtree(folder.dir, ignore_errors=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
