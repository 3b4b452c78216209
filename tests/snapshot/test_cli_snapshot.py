"""dbmgmt snapshot on every engine there is (issue 22, docs/snapshots.md).

    test_cli_snapshot.py DBMGMT LIBRARY ENGINES

SQLite always; PostgreSQL and MariaDB when the build has their driver
(ENGINES: the comma-separated engines built) and DBMGMT_TEST_PG_DSN /
DBMGMT_TEST_MYSQL_DSN are set (tests/servers.sh), else skipped for that
engine, or a failure with CI=true. For each: a source, a backup taken by
`dbmgmt backup run`, then `dbmgmt snapshot --json`: the totals, the progress
on stderr, and every masked value equal to the one this test derives itself
from HMAC-SHA256 (Python's hmac) of the source value, so the values are the
same on every engine; a personal column without a rule exits 1 naming it.
"""
import datetime
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile

DBMGMT, LIBRARY = sys.argv[1], sys.argv[2]
BUILT = sys.argv[3].split(",") if len(sys.argv) > 3 else ["sqlite", "postgres", "mysql"]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import dbmgmt_ctypes as dc  # noqa: E402

dc.load(LIBRARY)
checks = dc.Checks()
KEY = b"cli-mask-key-5f2a"
ROWS = [
    (1, "Ada Lovelace", "ada@analytical.test", "+442079460001", "1815-12-10", 36),
    (2, "Alan Turing", "alan@bletchley.test", "+441908640404", "1912-06-23", 41),
    (3, "Grace Hopper", "grace@navy.test", "+12025550123", "1906-12-09", 85),
]
RULES = """# the CLI test's rules
people.full_name = hash
people.email = email
people.phone = phone
people.birth_date = hash
people.score = keep
"""


def digest(value):
    return hmac.new(KEY, value.encode(), hashlib.sha256).digest()


def expected(row):
    """The masked row, derived here independently of the library."""
    name, email, phone, birth = (digest(v) for v in row[1:5])
    u64 = lambda d, at: int.from_bytes(d[at:at + 8], "big")  # noqa: E731
    day = datetime.date(1940, 1, 1) + datetime.timedelta(days=u64(birth, 0) % 25567)
    return (str(row[0]), name.hex()[:60], "u" + email.hex()[:16] + "@example.com",
            "+1%03d55501%02d" % (200 + u64(phone, 0) % 800, u64(phone, 8) % 100),
            day.isoformat(), str(row[5]))


def with_database(dsn, name):
    head, sep, query = dsn.partition("?")
    scheme, _, rest = head.partition("://")
    auth = rest.split("/", 1)[0]
    return f"{scheme}://{auth}/{name}" + (sep + query if sep else "")


def run(args, env=None):
    return subprocess.run([DBMGMT] + args, capture_output=True, text=True, env=env, timeout=120)


def one_engine(engine, base, work):
    pid = os.getpid()
    if engine == "sqlite":
        src = f"sqlite://{work}/src.sqlite"
        target = f"sqlite://{work}/target.sqlite"
        refused = f"sqlite://{work}/refused.sqlite"
        admin = None
    else:
        names = [f"dbmgmt_snapc_{pid}_{n}" for n in ("src", "tgt", "ref")]
        admin = dc.Conn(base)
        for n in names:
            admin.exec(f"DROP DATABASE IF EXISTS {n}")
        admin.exec(f"CREATE DATABASE {names[0]}")
        src, target, refused = (with_database(base, n) for n in names)
    try:
        c = dc.Conn(src)
        c.exec("CREATE TABLE people (id INTEGER PRIMARY KEY, full_name VARCHAR(60) NOT NULL, "
               "email VARCHAR(80) NOT NULL, phone VARCHAR(20), birth_date DATE, score INTEGER)")
        for r in ROWS:
            c.exec("INSERT INTO people VALUES (%d, '%s', '%s', '%s', '%s', %d)" % r)
        c.close()
        bdir = os.path.join(work, "backups")
        p = run(["--url", src, "backup", "--backup-dir", bdir, "run"])
        checks.check(f"{engine}: backup run", p.returncode == 0, p.stderr)
        p = run(["snapshot", "--from", bdir, "--to", target, "--mask", f"{work}/rules",
                 "--mask-key-file", f"{work}/key", "--json"])
        checks.say(p.stderr.rstrip())
        if not checks.check(f"{engine}: snapshot exits 0", p.returncode == 0, p.stderr):
            return None
        out = json.loads(p.stdout)
        checks.check(f"{engine}: --json totals", out["total_rows"] == 3 and
                     out["total_masked_rows"] == 3 and out["total_masked_columns"] == 4 and
                     out["engine"] == engine, p.stdout)
        checks.check(f"{engine}: progress on stderr", "people: 3 of 3 rows masked" in p.stderr,
                     p.stderr)
        t = dc.Conn(target)
        got = t.rows("SELECT id, full_name, email, phone, birth_date, score FROM people "
                     "ORDER BY id")
        t.close()
        want = [expected(r) for r in ROWS]
        checks.check(f"{engine}: masked values are HMAC-SHA256 of the source", got == want,
                     f"got {got} want {want}")
        checks.check(f"{engine}: no source value kept in a masked column",
                     all(g[k] != str(r[k]) for g, r in zip(got, ROWS) for k in range(1, 5)))
        with open(f"{work}/rules_missing", "w") as f:
            f.write(RULES.replace("people.phone = phone\n", ""))
        p = run(["snapshot", "--from", bdir, "--to", refused, "--mask",
                 f"{work}/rules_missing", "--mask-key-file", f"{work}/key", "--json"])
        checks.check(f"{engine}: a personal column without a rule exits 1 naming it",
                     p.returncode == 1 and "people.phone" in p.stderr, p.stderr)
        checks.check(f"{engine}: the key is in no output", KEY.decode() not in
                     p.stderr + p.stdout)
        return got
    finally:
        if admin:
            for n in names:
                admin.exec(f"DROP DATABASE IF EXISTS {n}")
            admin.close()
        shutil.rmtree(os.path.join(work, "backups"), ignore_errors=True)
        for f in ("src.sqlite", "target.sqlite", "refused.sqlite"):
            if os.path.exists(os.path.join(work, f)):
                os.unlink(os.path.join(work, f))


def main():
    work = tempfile.mkdtemp(prefix="dbmgmt-snapcli-")
    try:
        with open(f"{work}/rules", "w") as f:
            f.write(RULES)
        fd = os.open(f"{work}/key", os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, KEY + b"\n")
        os.close(fd)
        p = run(["snapshot", "--from", work, "--to", f"sqlite://{work}/x.sqlite"])
        checks.check("usage: --mask is required (exit 2)", p.returncode == 2, p.stderr)
        engines = [("sqlite", None)]
        for engine, var in (("postgres", "DBMGMT_TEST_PG_DSN"), ("mysql", "DBMGMT_TEST_MYSQL_DSN")):
            if engine not in BUILT:
                checks.say(f"skip {engine}: this build has no {engine} driver")
            elif os.environ.get(var):
                engines.append((engine, os.environ[var]))
            elif os.environ.get("CI") == "true":
                checks.check(f"{engine}: CI=true and {var} is not set", False)
            else:
                checks.say(f"skip {engine}: {var} is not set")
        results = {e: one_engine(e, base, work) for e, base in engines}
        values = [v for v in results.values() if v is not None]
        checks.check("the same values on every engine (%s)" % ", ".join(results),
                     len(values) == len(results) and all(v == values[0] for v in values))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for pw in os.environ.get("DBMGMT_TEST_PASSWORDS", "").split():
        if any(pw in line for line in checks.captured):
            checks.check("no server password in the output", False)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
