#!/usr/bin/env python3
"""`dbmgmt seed`, `dbmgmt lint --seeds` and `dbmgmt embed` of a seeds folder,
with the real CLI on one engine (issue 22, docs/seeds.md):

- seed after up: one progress line per seed on stderr (applied, then
  unchanged, then re-applied after an edit), --json lists the outcomes, and
  the seeded rows are the same after every run (checksum of ordered rows);
- seed refused with --env production, with migrations pending, and when a
  seed is not idempotent (lint names FILE:LINE), with nothing applied;
- lint --seeds finds the seed rules' errors and exits 1; embed refuses a
  seeds folder.

usage: test_seed_cli.py DBMGMT_EXE LIBDBMGMT_SO ENGINE
The DSNs come from DBMGMT_TEST_PG_DSN / DBMGMT_TEST_MYSQL_DSN (skipped with
exit 77 when absent, a failure with CI=true).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

DBMGMT, LIBRARY, ENGINE = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import dbmgmt_ctypes as dc  # noqa: E402  (tests/support: the client and the checks)

lib = dc.load(LIBRARY)
Conn = dc.Conn
checks = dc.Checks()
check, say = checks.check, checks.say


def upsert(table, rows):
    if ENGINE == "mysql":
        return (f"INSERT INTO {table} (id, name) VALUES {rows}\n"
                "  ON DUPLICATE KEY UPDATE name = VALUES(name);\n")
    return (f"INSERT INTO {table} (id, name) VALUES {rows}\n"
            "  ON CONFLICT (id) DO UPDATE SET name = excluded.name;\n")


class Scratch:
    """A scratch database, DIR/migrations and DIR/seeds."""

    def __init__(self, base_dsn):
        self.dir = tempfile.mkdtemp(prefix="dbmgmt-seedcli-")
        self.migrations = os.path.join(self.dir, "migrations")
        self.seeds = os.path.join(self.dir, "seeds")
        os.mkdir(self.migrations)
        os.mkdir(self.seeds)
        self.db = dc.ScratchDb(base_dsn, ENGINE, f"dbmgmt_seedcli_{os.getpid()}", self.dir)
        self.dsn = self.db.dsn

    def write(self, folder, name, text):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)

    def run(self, *args):
        p = subprocess.run([DBMGMT, "--url", self.dsn, "--dir", self.migrations, *args],
                           capture_output=True, text=True, timeout=120)
        checks.captured.append(p.stdout + p.stderr)
        return p.returncode, p.stdout, p.stderr

    def rows_checksum(self):
        c = Conn(self.dsn)
        h = hashlib.sha256()
        for t in ("cli_roles", "cli_users"):
            for row in c.rows(f"SELECT id, name FROM {t} ORDER BY id"):
                h.update(("\x1f".join(str(v) for v in row) + "\x1e").encode())
        c.close()
        return h.hexdigest()

    def scalar(self, sql):
        c = Conn(self.dsn)
        v = c.scalar(sql)
        c.close()
        return v

    def drop(self):
        self.db.drop()
        shutil.rmtree(self.dir)


def seed_runs(s):
    for t in ("roles", "users"):
        s.write(s.migrations, f"00{1 if t == 'roles' else 2}_{t}.sql",
                f"-- migrate:up\nCREATE TABLE cli_{t} (id INTEGER NOT NULL PRIMARY KEY,"
                " name VARCHAR(50) NOT NULL);\n")
    s.write(s.seeds, "001_roles.sql", upsert("cli_roles", "(1, 'admin'), (2, 'member')"))
    s.write(s.seeds, "002_users.sql", upsert("cli_users", "(1, 'alice')"))

    code, out, err = s.run("seed")
    check(f"{ENGINE}: seed before up is refused: migrations pending",
          code == 1 and "pending" in err and "001" in err, out + err)
    c = Conn(s.dsn)
    tables = c.tables()
    c.close()
    check(f"{ENGINE}: ... with nothing applied", "dbmgmt_seed_history" not in tables, tables)
    code, out, err = s.run("up")
    check(f"{ENGINE}: up", code == 0, out + err)
    code, out, err = s.run("seed")
    check(f"{ENGINE}: seed applies each seed, one progress line each on stderr",
          code == 0 and "seed 001 roles" in err and err.count(": applied in") == 2, out + err)
    first = s.rows_checksum()
    code, out, err = s.run("seed", "--json")
    doc = json.loads(out) if code == 0 else {}
    check(f"{ENGINE}: seed again --json: every seed unchanged",
          [x.get("outcome") for x in doc.get("seeds", [])] == ["unchanged", "unchanged"],
          out + err)
    check(f"{ENGINE}: ... and the rows are identical", s.rows_checksum() == first)

    s.write(s.seeds, "001_roles.sql", upsert("cli_roles", "(1, 'admin'), (2, 'editor')"))
    code, out, err = s.run("seed")
    check(f"{ENGINE}: an edited seed is re-applied, the other unchanged",
          code == 0 and "seed 001 roles" in err and ": re-applied in" in err
          and ": unchanged in" in err, out + err)
    check(f"{ENGINE}: ... with its new data",
          s.scalar("SELECT name FROM cli_roles WHERE id = 2") == "editor")

    code, out, err = s.run("--env", "production", "seed")
    check(f"{ENGINE}: --env production refuses, naming the environment and the folder",
          code == 1 and "'production'" in err and s.seeds in err, out + err)
    code, out, err = s.run("--env", "production", "--json", "seed")
    check(f"{ENGINE}: ... --json: DBMGMT_ERR_POLICY",
          code == 1 and json.loads(out).get("status") == "DBMGMT_ERR_POLICY", out + err)

    s.write(s.seeds, "003_bad.sql",
            "-- by hand\nINSERT INTO cli_users (id, name) VALUES (7, 'x');\n")
    before = s.rows_checksum()
    code, out, err = s.run("lint", "--seeds", "--dialect", ENGINE)
    check(f"{ENGINE}: lint --seeds (beside --dir) names FILE:LINE and the rule, exit 1",
          code == 1 and "003_bad.sql:2: error seed-non-idempotent-insert" in out
          and "3 seeds linted: 1 error" in out, out + err)
    code, out, err = s.run("seed")
    check(f"{ENGINE}: seed refuses the non-idempotent seed with nothing applied",
          code == 1 and "seed-non-idempotent-insert" in err and s.rows_checksum() == before,
          out + err)
    os.remove(os.path.join(s.seeds, "003_bad.sql"))
    code, out, err = s.run("lint", "--seeds", s.seeds, "--dialect", ENGINE)
    check(f"{ENGINE}: lint --seeds DIR of good seeds exits 0", code == 0, out + err)

    other = os.path.join(s.dir, "more")
    os.mkdir(other)
    s.write(other, "001_extra.sql", upsert("cli_users", "(5, 'eve')"))
    code, out, err = s.run("seed", "--dir", other)
    check(f"{ENGINE}: seed --dir DIR takes another folder",
          code == 0 and s.scalar("SELECT name FROM cli_users WHERE id = 5") == "eve", out + err)

    code, out, err = s.run("embed", s.seeds, "-o", os.path.join(s.dir, "seeds.c"))
    check(f"{ENGINE}: embed refuses a seeds folder",
          code == 1 and "seeds folder" in err
          and not os.path.exists(os.path.join(s.dir, "seeds.c")),
          out + err)


def main():
    if ENGINE == "sqlite":
        base = "sqlite::memory:"
    else:
        base = os.environ.get("DBMGMT_TEST_PG_DSN" if ENGINE == "postgres"
                              else "DBMGMT_TEST_MYSQL_DSN")
        if not base:
            print(f"no {ENGINE} DSN")
            return 1 if os.environ.get("CI") == "true" else 77
    s = Scratch(base)
    try:
        seed_runs(s)
    finally:
        s.drop()
    for pw in os.environ.get("DBMGMT_TEST_PASSWORDS", "").split():
        check("no password in the output", all(pw not in t for t in checks.captured))
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
