#!/usr/bin/env python3
"""The Galera lint rules on the real Galera cluster of tests/mariadb_cluster.sh
(issue 19, docs/lint.md "Galera"), with the real `dbmgmt` CLI and the
default `--galera auto`, which asks the node (`wsrep_on`):

- a proper InnoDB table with a primary key migrates through g1 with `--env
  production`, which stamps the database `production`;
- the next migration, a keyless table and a MyISAM one, planned through g3,
  has the galera-no-primary-key and galera-non-transactional-engine error
  findings (rule, file, line, safe way); `dbmgmt up` through g2 (no --env:
  the stamp says production) is refused naming the file, line and rule, and
  nothing is applied on any node;
- the same folder on the plain MariaDB primary `p` of the GTID cluster,
  also stamped production, has no Galera finding and migrates;
- `--galera off` on the Galera node: no Galera finding, and it migrates;
- an ALTER TABLE of the existing table: a galera-toi-alter warning naming
  wsrep_OSU_method=RSU, which does not refuse.

usage: test_galera_lint.py DBMGMT_EXE LIBDBMGMT_SO
Needs DBMGMT_TEST_GALERA_DSNS and DBMGMT_TEST_GALERA_ADMIN_DSNS (`bash
tests/mariadb_cluster.sh run --`), and for the plain server
DBMGMT_TEST_MYREPL_PRIMARY_DSN / DBMGMT_TEST_MYREPL_ADMIN_DSNS; without the
Galera ones it is skipped (exit 77), unless CI=true (then it fails).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

DBMGMT, LIBRARY = sys.argv[1], sys.argv[2]

ACCOUNTS = """-- migrate:up
CREATE TABLE gl_accounts (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                          email VARCHAR(190) NOT NULL) ENGINE=InnoDB;
-- migrate:down
DROP TABLE gl_accounts;
"""
KEYLESS = """-- migrate:up
CREATE TABLE gl_notes (note VARCHAR(200) NOT NULL);
CREATE TABLE gl_cache (id INT NOT NULL PRIMARY KEY, v VARCHAR(200)) ENGINE=MyISAM;
-- migrate:down
DROP TABLE gl_cache;
DROP TABLE gl_notes;
"""
TIER = """-- migrate:up
ALTER TABLE gl_accounts ADD COLUMN tier INT NULL;
-- migrate:down
ALTER TABLE gl_accounts DROP COLUMN tier;
"""

# ---------------------------------------------------------------------------------------
# A connection through libdbmgmt's C API (root, to create databases and look)
# ---------------------------------------------------------------------------------------
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import dbmgmt_ctypes as dc  # noqa: E402  (tests/support: the client and the checks)

lib = dc.load(LIBRARY)
Conn = dc.Conn
checks = dc.Checks()
check, say, captured = checks.check, checks.say, checks.captured


DSN_RE = re.compile(r"^(mysql://([^:@/]+)(?::[^@/]*)?@)([^/?]+)(?:/([^?]*))?(?:\?(.*))?$")


def with_database(dsn, db):
    m = DSN_RE.match(dsn)
    return f"{m.group(1)}{m.group(3)}/{db}{'?' + m.group(5) if m.group(5) else ''}"


class Server:
    """Some servers of one cluster: the app user's and root's DSN of each."""

    def __init__(self, dsns, admin_dsns, names):
        self.dsns, self.admin_dsns, self.names = dsns, admin_dsns, names
        self.user = DSN_RE.match(dsns[0]).group(2)

    def new_database(self, purpose):
        """A database of its own, created as root on the first server, with
        the app user granted ALL on it; waits until every server has it."""
        name = f"dbmgmt_gl_{os.getpid()}_{purpose}"
        c = Conn(self.admin_dsns[0])
        c.exec(f"CREATE DATABASE `{name}`")
        for host in c.column(f"SELECT Host FROM mysql.user WHERE User = '{self.user}'"):
            c.exec(f"GRANT ALL ON `{name}`.* TO '{self.user}'@'{host}'")
        c.close()
        for dsn in self.dsns:
            deadline = time.time() + 30
            while True:
                try:
                    Conn(with_database(dsn, name)).close()
                    break
                except RuntimeError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)
        return name

    def drop_database(self, name):
        c = Conn(self.admin_dsns[0])
        c.exec(f"DROP DATABASE IF EXISTS `{name}`")
        c.close()

    def column(self, i, db, sql):
        """The first column of sql as root on server i in db; on Galera a
        causal read (after every write the cluster committed before it)."""
        c = Conn(with_database(self.admin_dsns[i], db))
        try:
            if self.galera:
                c.exec("SET SESSION wsrep_sync_wait = 15")
            return c.column(sql)
        finally:
            c.close()

    def tables(self, i, db):
        return sorted(self.column(i, db, "SELECT TABLE_NAME FROM information_schema.TABLES "
                                         "WHERE TABLE_SCHEMA = DATABASE()"))

    def history(self, i, db):
        return self.column(i, db, "SELECT version FROM dbmgmt_schema_history WHERE "
                                  "installed_rank > 0 AND success = 1 ORDER BY version")


def galera_cluster():
    dsns = os.environ["DBMGMT_TEST_GALERA_DSNS"].split()
    admin = os.environ["DBMGMT_TEST_GALERA_ADMIN_DSNS"].split()
    script = os.environ.get("DBMGMT_TEST_MYCLUSTER_SCRIPT")
    if script:  # an earlier test may have killed a node: all three Synced first
        subprocess.run(["bash", script, "wait-synced", "120"], capture_output=True, check=True)
    s = Server(dsns, admin, os.environ.get("DBMGMT_TEST_GALERA_MEMBERS", "g1 g2 g3").split())
    s.galera = True
    return s


def plain_primary():
    dsn = os.environ.get("DBMGMT_TEST_MYREPL_PRIMARY_DSN")
    admin = os.environ.get("DBMGMT_TEST_MYREPL_ADMIN_DSNS", "").split()
    if not dsn or not admin:
        return None
    s = Server([dsn], admin[:1], ["p"])
    s.galera = False
    return s


class Folder:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dbmgmt-galera-lint-")

    def write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def run(self, dsn, *args):
        """dbmgmt --dir FOLDER ARGS with the DSN in DATABASE_URL (never argv)."""
        p = subprocess.run([DBMGMT, "--dir", self.dir, "--lock-timeout", "60000", *args],
                           env=dict(os.environ, DATABASE_URL=dsn), capture_output=True,
                           text=True, timeout=120)
        captured.extend((p.stdout, p.stderr))
        return p.returncode, p.stdout, p.stderr


def galera_rules(findings):
    return sorted(f["rule"] for f in findings if f["rule"].startswith("galera-"))


# ---------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------
def refused_on_galera(g, folder, db):
    on = [with_database(dsn, db) for dsn in g.dsns]
    folder.write("001_accounts.sql", ACCOUNTS)
    rc, out, err = folder.run(on[0], "--env", "production", "up")
    check("a proper InnoDB table with a primary key migrates through g1 in production",
          rc == 0 and out.count("applying") == 1 and "galera-" not in err,
          f"rc={rc} {out.strip()} {err.strip()}")
    check("... and is on every node", all("gl_accounts" in g.tables(i, db)
                                            for i in range(len(on))))

    folder.write("002_keyless.sql", KEYLESS)
    rc, out, err = folder.run(on[2], "--json", "plan")
    plan = json.loads(out) if out.strip().startswith("{") else {}
    findings = plan.get("findings", [])
    check("plan through g3 (auto): the keyless and the MyISAM table are Galera errors",
          galera_rules(findings) == ["galera-no-primary-key", "galera-non-transactional-engine"]
          and all(f["severity"] == "error" for f in findings if f["rule"].startswith("galera-")),
          f"rc={rc} {galera_rules(findings)} {err.strip()}")
    lines = {f["rule"]: (os.path.basename(f["file"] or ""), f["line"], f["message"], f["advice"])
             for f in findings}
    keyless = lines.get("galera-no-primary-key", ("", 0, "", ""))
    myisam = lines.get("galera-non-transactional-engine", ("", 0, "", ""))
    check("... each with its file, line, table and safe way",
          keyless[:2] == ("002_keyless.sql", 2) and "gl_notes" in keyless[2]
          and "PRIMARY KEY" in keyless[3] and myisam[:2] == ("002_keyless.sql", 3)
          and "gl_cache" in myisam[2] and "InnoDB" in myisam[3], f"{lines}")
    check("... and the plan is refused (the database is stamped production)",
          rc == 1 and plan.get("status") == "DBMGMT_ERR_POLICY", f"rc={rc} {plan.get('status')}")

    rc, out, err = folder.run(on[1], "up")
    check("`dbmgmt up` through g2 (no --env: the stamp) exits 1", rc == 1,
          f"rc={rc} {out.strip()} {err.strip()}")
    check("... naming the file, line and rule, and the safe way",
          re.search(r"002_keyless\.sql:2: error galera-no-primary-key in migration 002", err)
          is not None and "Safe: declare a PRIMARY KEY" in err
          and "002_keyless.sql:3: error galera-non-transactional-engine" in err, err.strip())
    app_tables = [[t for t in g.tables(i, db) if t.startswith("gl_")] for i in range(len(on))]
    check("... and nothing is applied on any node",
          app_tables == [["gl_accounts"]] * len(on)
          and all(g.history(i, db) == ["001"] for i in range(len(on))),
          f"{app_tables} history {[g.history(i, db) for i in range(len(on))]}")

    rc, out, err = folder.run(on[1], "--galera", "off", "--json", "plan")
    plan = json.loads(out) if out.strip().startswith("{") else {}
    check("--galera off: no Galera finding, the plan may run",
          rc == 0 and galera_rules(plan.get("findings", [])) == []
          and plan.get("status") == "DBMGMT_OK", f"rc={rc} {out.strip()[:300]} {err.strip()}")
    rc, out, err = folder.run(on[1], "--galera", "off", "up")
    check("--galera off: `dbmgmt up` through g2 applies 002", rc == 0 and "applying 002" in out
          and "galera-" not in err, f"rc={rc} {out.strip()} {err.strip()}")

    folder.write("003_tier.sql", TIER)
    rc, out, err = folder.run(on[0], "up")
    check("ALTER TABLE of the existing gl_accounts: a galera-toi-alter warning naming RSU, "
          "and it runs", rc == 0 and "applying 003" in out
          and re.search(r"003_tier\.sql:2: warning galera-toi-alter: .*gl_accounts", err)
          is not None and "wsrep_OSU_method='RSU'" in err, f"rc={rc} {out.strip()} {err.strip()}")
    check("every node has 001-003", all(g.history(i, db) == ["001", "002", "003"]
                                        for i in range(len(on))))


def silent_on_a_plain_server(p, folder, db):
    dsn = with_database(p.dsns[0], db)
    rc, out, err = folder.run(dsn, "--env", "production", "--json", "plan")
    plan = json.loads(out) if out.strip().startswith("{") else {}
    check("the same folder on the plain MariaDB primary p (auto): no Galera finding",
          rc == 0 and galera_rules(plan.get("findings", [])) == []
          and len(plan.get("steps", [])) == 2, f"rc={rc} {out.strip()[:300]} {err.strip()}")
    rc, out, err = folder.run(dsn, "--env", "production", "up")
    check("... and it migrates in production", rc == 0 and out.count("applying") == 2
          and "galera-" not in err, f"rc={rc} {out.strip()} {err.strip()}")
    check("... both tables there", {"gl_notes", "gl_cache"} <= set(p.tables(0, db)),
          f"{p.tables(0, db)}")


def main():
    if not os.environ.get("DBMGMT_TEST_GALERA_DSNS"):
        print("DBMGMT_TEST_GALERA_DSNS is not set (run under bash tests/mariadb_cluster.sh run --)")
        return 1 if os.environ.get("CI") in ("true", "1") else 77
    started = time.time()
    g = galera_cluster()
    p = plain_primary()
    folder = Folder()
    dbs = []
    try:
        db = g.new_database("refused")
        dbs.append((g, db))
        if p:
            pdb = p.new_database("plain")
            dbs.append((p, pdb))
            plain = Folder()
            try:
                plain.write("001_accounts.sql", ACCOUNTS)
                plain.write("002_keyless.sql", KEYLESS)
                silent_on_a_plain_server(p, plain, pdb)
            finally:
                shutil.rmtree(plain.dir, ignore_errors=True)
        else:
            check("the GTID cluster's primary p is there for the plain-server case", False,
                  "DBMGMT_TEST_MYREPL_PRIMARY_DSN / _ADMIN_DSNS are not set")
        refused_on_galera(g, folder, db)
        passwords = os.environ.get("DBMGMT_TEST_MYCLUSTER_PASSWORDS", "").split()
        leaked = [pw for pw in passwords if any(pw in text for text in captured)]
        check(f"no password in anything printed ({len(captured)} outputs searched)",
              passwords and not leaked, f"{len(leaked)} leaked" if leaked else "no passwords")
    finally:
        shutil.rmtree(folder.dir, ignore_errors=True)
        for server, name in dbs:
            server.drop_database(name)
    print(f"{checks.passed} passed, {checks.failed} failed in {time.time() - started:.1f} s")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
