"""The CLI's Prometheus output against the real tools (issue 20):

  check_cli_prometheus.py sqlite|postgres|mysql DBMGMT

1. `dbmgmt health --prometheus` passes `promtool check metrics` (also with the
   global --dir, which adds the migration families); `health` and `health
   --json` answer;
2. `dbmgmt health --textfile PATH` replaces PATH by a rename (a reader holding
   the old file still sees it whole), leaves no temporary file, and the
   content passes promtool;
3. `dbmgmt exporter --listen 127.0.0.1:PORT` serves /metrics (404 elsewhere),
   a real Prometheus server scrapes it every second, and its query API returns
   dbmgmt_database_size_bytes equal to the database's real size (SQLite:
   page_count * page_size by the sqlite3 shell; PostgreSQL:
   pg_database_size() by psql; MariaDB: the series is there and positive);
   SIGTERM stops the exporter with status 0; a scrape that fails (a missing
   --dir) answers 500 with the message, and SIGINT stops it with status 0.

The database comes from the environment (DBMGMT_TEST_PG_DSN /
DBMGMT_TEST_MYSQL_DSN, given to dbmgmt as DATABASE_URL, never in argv); SQLite
uses a scratch file. Without the engine's DSN, promtool or prometheus the test
is skipped (77), unless CI=true, where that is a failure. Every output is
searched for the servers' passwords (DBMGMT_TEST_PASSWORDS).
"""
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

# A cross build's target binary runs under qemu: meson test names it in MESON_EXE_WRAPPER.
WRAPPER = shlex.split(os.environ.get("MESON_EXE_WRAPPER", ""))

DEADLINE_S = 90  # generous: polls end as soon as the condition holds
CI = os.environ.get("CI") in ("true", "1")
failures = []
outputs = []  # everything the tools printed, for the password check


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + detail))
    if not ok:
        failures.append(name)
    return ok


def missing(what):
    print(what)
    sys.exit(1 if CI else 77)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, env, stdin=None):
    p = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, timeout=120)
    outputs.extend([p.stdout, p.stderr])
    return p


def http_get(url):
    """(status, body); status 0 when nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return 0, ""


def poll(what, fn):
    """fn() until it returns something true, for DEADLINE_S; None after."""
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.25)
    print("gave up waiting for " + what)
    return None


def promtool_ok(name, text):
    p = run(["promtool", "check", "metrics"], None, stdin=text)
    return check(name, p.returncode == 0, (p.stdout + p.stderr).strip())


def sample_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def real_size(engine, dsn, sqlite_path):
    """The database's size as the engine's own client says, or None (MariaDB)."""
    if engine == "sqlite":
        out = run(["sqlite3", sqlite_path, "PRAGMA page_count;", "PRAGMA page_size;"], None)
        count, size = out.stdout.split()
        return float(int(count) * int(size))
    if engine == "postgres":
        u = urllib.parse.urlparse(dsn)
        env = {"PATH": os.environ["PATH"], "PGPASSWORD": urllib.parse.unquote(u.password or ""),
               "PGSSLMODE": "prefer", "PGCONNECT_TIMEOUT": "10"}
        out = run(["psql", "-X", "-At", "-h", u.hostname, "-p", str(u.port or 5432),
                   "-U", urllib.parse.unquote(u.username), "-d", u.path.lstrip("/"),
                   "-c", "SELECT pg_database_size(current_database())"], env)
        return float(out.stdout.strip()) if out.returncode == 0 else None
    return None


def mariadb(dsn, sql):
    """Runs sql with the mariadb client; the password goes in MYSQL_PWD."""
    u = urllib.parse.urlparse(dsn)
    env = {"PATH": os.environ["PATH"], "MYSQL_PWD": urllib.parse.unquote(u.password or "")}
    p = run(["mariadb", "--protocol=tcp", "-h", u.hostname, "-P", str(u.port or 3306),
             "-u", urllib.parse.unquote(u.username), u.path.lstrip("/"), "-e", sql], env)
    return check("mariadb: " + sql, p.returncode == 0, p.stderr)


def check_health_and_textfile(dbmgmt, env, tmp):
    p = run([*WRAPPER, dbmgmt, "health", "--prometheus"], env)
    check("health --prometheus exits 0", p.returncode == 0, p.stderr)
    check("health --prometheus has dbmgmt_database_size_bytes",
          "\n# TYPE dbmgmt_database_size_bytes gauge\n" in "\n" + p.stdout, p.stdout)
    check("health --prometheus has the default alert rules",
          'dbmgmt_alert_firing{rule="' in p.stdout, p.stdout)
    promtool_ok("promtool check metrics: health --prometheus", p.stdout)
    check("no migration families without --dir", "dbmgmt_migration" not in p.stdout, p.stdout)

    p = run([*WRAPPER, dbmgmt, "health"], env)
    check("health (table) exits 0", p.returncode == 0, p.stderr)
    check("health (table) names the engine and the size",
          "engine " in p.stdout and "database_size_bytes " in p.stdout, p.stdout)
    p = run([*WRAPPER, dbmgmt, "health", "--json"], env)
    check("health --json exits 0", p.returncode == 0, p.stderr)
    try:
        doc = json.loads(p.stdout)
        check("health --json has database_size_bytes",
              isinstance(doc.get("database_size_bytes"), (int, float)), p.stdout)
    except ValueError as e:
        check("health --json is JSON", False, "%s: %s" % (e, p.stdout))

    # the global --dir adds the migration state (a history table of our own
    # that does not exist: the one migration is pending, nothing applied)
    mig = os.path.join(tmp, "migrations")
    os.mkdir(mig)
    with open(os.path.join(mig, "001_probe.sql"), "w") as f:
        f.write("CREATE TABLE dbmgmt_prom_never (id INT);\n")
    p = run([*WRAPPER, dbmgmt, "--dir", mig, "--table", "dbmgmt_prom_history", "health",
             "--prometheus"],
            env)
    check("--dir health --prometheus exits 0", p.returncode == 0, p.stderr)
    check("--dir: dbmgmt_migrations_pending 1", "\ndbmgmt_migrations_pending 1\n" in p.stdout,
          p.stdout)
    check("--dir: dbmgmt_migration_dirty 0", "\ndbmgmt_migration_dirty 0\n" in p.stdout, p.stdout)
    check("--dir: nothing applied, no version", "dbmgmt_migration_info" not in p.stdout, p.stdout)
    promtool_ok("promtool check metrics: --dir health --prometheus", p.stdout)

    textdir = os.path.join(tmp, "textfile")
    os.mkdir(textdir)
    path = os.path.join(textdir, "dbmgmt.prom")
    with open(path, "w") as f:
        f.write("# an older file\n")
    old_inode = os.stat(path).st_ino
    with open(path) as held:  # a reader that opened the old file
        p = run([*WRAPPER, dbmgmt, "health", "--textfile", path], env)
        check("health --textfile exits 0", p.returncode == 0, p.stderr)
        check("health --textfile prints nothing", p.stdout == "", p.stdout)
        check("the reader of the old file still sees it whole",
              held.read() == "# an older file\n")
    check("the file was replaced by a rename (new inode)", os.stat(path).st_ino != old_inode)
    check("no temporary file left", os.listdir(textdir) == ["dbmgmt.prom"],
          str(os.listdir(textdir)))
    check("the textfile is readable by node_exporter (mode 0644)",
          os.stat(path).st_mode & 0o777 == 0o644, oct(os.stat(path).st_mode))
    with open(path) as f:
        text = f.read()
    check("the textfile has dbmgmt_database_size_bytes",
          sample_value(text, "dbmgmt_database_size_bytes") is not None, text)
    promtool_ok("promtool check metrics: the textfile", text)
    p = run([*WRAPPER, dbmgmt, "health", "--textfile",
             os.path.join(tmp, "no", "such", "x.prom")], env)
    check("health --textfile into a missing folder fails naming it",
          p.returncode != 0 and "no/such/x.prom" in p.stderr, p.stderr)


def start_prometheus(tmp, exporter_port):
    port = free_port()
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: dbmgmt\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % exporter_port)
    log = open(os.path.join(tmp, "prometheus.log"), "w")
    proc = subprocess.Popen(["prometheus", "--config.file=" + config,
                             "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
                             "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, port, log


def query(port, expr):
    status, body = http_get("http://127.0.0.1:%d/api/v1/query?%s"
                            % (port, urllib.parse.urlencode({"query": expr})))
    if status != 200:
        return None
    result = json.loads(body)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def check_exporter(engine, dbmgmt, env, tmp, dsn, sqlite_path):
    port = free_port()
    elog = open(os.path.join(tmp, "exporter.log"), "w+")
    exporter = subprocess.Popen([*WRAPPER, dbmgmt, "exporter", "--listen", "127.0.0.1:%d" % port],
                                env=env, stdout=elog, stderr=subprocess.STDOUT)
    prom = None
    try:
        url = "http://127.0.0.1:%d" % port
        first = poll("the exporter", lambda: (lambda r: r if r[0] == 200 else None)(
            http_get(url + "/metrics")))
        if not check("GET /metrics answers 200", first is not None):
            return
        body = first[1]
        check("/metrics has dbmgmt_database_size_bytes",
              sample_value(body, "dbmgmt_database_size_bytes") is not None, body)
        check("/metrics has the pool's families", "dbmgmt_pool_max_connections " in body, body)
        promtool_ok("promtool check metrics: /metrics", body)
        status, _ = http_get(url + "/other")
        check("GET /other answers 404", status == 404, str(status))
        if sample_value(body, "dbmgmt_transactions_total") is not None:
            second = http_get(url + "/metrics")[1]
            check("the second scrape has a rate (dbmgmt_transactions_per_second)",
                  sample_value(second, "dbmgmt_transactions_per_second") is not None, second)

        prom, prom_port, plog = start_prometheus(tmp, port)
        value = poll("Prometheus to return dbmgmt_database_size_bytes",
                     lambda: query(prom_port, "dbmgmt_database_size_bytes"))
        if check("Prometheus scraped dbmgmt_database_size_bytes", value is not None):
            check("the value is positive", value > 0, str(value))
            if engine in ("sqlite", "postgres"):
                # the size may move between a scrape and the client's query
                # (PostgreSQL's own writes): poll until they agree
                last = {}

                def agree():
                    last["prom"] = query(prom_port, "dbmgmt_database_size_bytes")
                    last["real"] = real_size(engine, dsn, sqlite_path)
                    return last["prom"] is not None and last["prom"] == last["real"]

                check("Prometheus' value equals the database's real size",
                      poll("the values to agree", agree) is not None, str(last))
    finally:
        if prom:
            prom.terminate()
            prom.wait(timeout=60)
        exporter.send_signal(signal.SIGTERM)
        try:
            rc = exporter.wait(timeout=60)
        except subprocess.TimeoutExpired:
            exporter.kill()
            rc = "killed after 60 s"
        elog.seek(0)
        outputs.append(elog.read())
        check("SIGTERM stops the exporter with status 0", rc == 0, str(rc) + " " + outputs[-1])


def check_exporter_failure(dbmgmt, env, tmp):
    """A scrape that fails answers 500 with the message; the exporter keeps serving."""
    port = free_port()
    missing_dir = os.path.join(tmp, "no-such-migrations")
    exporter = subprocess.Popen([*WRAPPER, dbmgmt, "--dir", missing_dir, "exporter", "--listen",
                                 "127.0.0.1:%d" % port], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    try:
        got = poll("the exporter", lambda: (lambda r: r if r[0] else None)(
            http_get("http://127.0.0.1:%d/metrics" % port)))
        check("a failing scrape answers 500 naming the folder",
              got is not None and got[0] == 500 and "no-such-migrations" in got[1], str(got))
    finally:
        exporter.send_signal(signal.SIGINT)
        try:
            _, err = exporter.communicate(timeout=60)
            rc = exporter.returncode
        except subprocess.TimeoutExpired:
            exporter.kill()
            _, err = exporter.communicate()
            rc = "killed after 60 s"
        outputs.append(err)
        check("SIGINT stops the exporter with status 0", rc == 0, "%s %s" % (rc, err))


def main():
    engine, dbmgmt = sys.argv[1], sys.argv[2]
    for tool in ("promtool", "prometheus"):
        if not shutil.which(tool):
            missing(tool + " is missing (Debian package prometheus; tests/servers.sh installs "
                    "it)")
    if os.environ.get("DBMGMT_TEST_HAVE_MICROHTTPD") == "0":
        missing("dbmgmt was built without libmicrohttpd: no exporter (scripts/deps.sh installs "
                "libmicrohttpd-dev)")
    if engine != "sqlite":
        var = {"postgres": "DBMGMT_TEST_PG_DSN", "mysql": "DBMGMT_TEST_MYSQL_DSN"}[engine]
        dsn = os.environ.get(var)
        if not dsn:
            missing("no %s server: %s is not set (tests/servers.sh sets it)" % (engine, var))
    tmp = tempfile.mkdtemp(prefix="dbmgmt-prom-")
    sqlite_path = None
    if engine == "sqlite":
        sqlite_path = os.path.join(tmp, "health.db")
        subprocess.run(["sqlite3", sqlite_path,
                        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
                        "INSERT INTO t (v) VALUES ('a'), ('b');"], check=True)
        dsn = "sqlite://" + sqlite_path
    env = dict(os.environ, DATABASE_URL=dsn)
    if engine == "mysql":  # an empty MariaDB database has no size to report
        mariadb(dsn, "CREATE TABLE IF NOT EXISTS dbmgmt_prom_probe (id INT PRIMARY KEY)")
    try:
        check_health_and_textfile(dbmgmt, env, tmp)
        check_exporter(engine, dbmgmt, env, tmp, dsn, sqlite_path)
        check_exporter_failure(dbmgmt, env, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if engine == "mysql":
            mariadb(dsn, "DROP TABLE IF EXISTS dbmgmt_prom_probe")
    for pw in os.environ.get("DBMGMT_TEST_PASSWORDS", "").split():
        check("no password in any output", not any(pw in o for o in outputs if o))
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
