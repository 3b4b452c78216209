#!/usr/bin/env python3
"""Health figures against the reference exporters (issue 20, docs/health-exporters.md).

On one server, at one instant, dbmgmt_health_collect and the exporter agree on the
database size, the cache hit ratio, the deadlock count, the connection counts and the
replication lag (none, on a primary without replicas):

    postgres  postgres_exporter 0.11 (DBMGMT_TEST_PG_EXPORTER_URL)
    mysql     mysqld_exporter 0.14 (DBMGMT_TEST_MYSQL_EXPORTER_URL)
    sqlite    no exporter: only the thread check below

"The same instant" is collect, scrape, collect: a figure the server changes meanwhile
must lie within what the two collects saw (tolerances in TOLERANCES, stated per figure
in the output and in docs/health-exporters.md). A few sessions of the test's own (idle
ones, one running a long statement) make the connection counts non-trivial, and a real
deadlock makes the deadlock counts non-zero. The instant is tried at most three times:
a session the server starts on its own (an autovacuum worker) may come or go between
the collect and the scrape; a figure that disagrees three times is a failure.

Every engine also checks that health opens no thread: /proc/self/task before and after
collects, samples and the exposition.

usage: test_exporters.py postgres|mysql|sqlite LIBDBMGMT_SO [SQLITE_FILE]
Run by tests/exporters.sh (which starts the exporter); the app DSN comes from
DBMGMT_TEST_PG_DSN / DBMGMT_TEST_MYSQL_DSN. Without them: skipped (77), or a failure
with CI=true.
"""
import ctypes
import os
import sys
import time

from exporters_common import (ACTIVE, DEADLOCKS, HITS, IDLE, MAX, NOTFOUND, READS,  # noqa
                              REPL_LAG, SIZE, TOTAL, Snapshot, dc, header_notfound,
                              in_thread, one, scrape, skip, wait_for, within)
import exporters_common as xc

ENGINE, LIBRARY = sys.argv[1], sys.argv[2]
lib = xc.load(LIBRARY)
checks = dc.Checks()
check, say = checks.check, checks.say

# Tolerances, beyond "within what the two collects saw":
PG_PAGE = 8192
TOLERANCES = {
    # pg_database_size() counts files; a hint-bit or visibility-map write between the
    # calls may add a page or two to a file: at most 8 pages either way.
    "postgres size": 8 * PG_PAGE,
    # information_schema.TABLES from InnoDB's statistics: no slack.
    "mysql size": 0,
    # ratios are compared against the bounds the two collects' counters give, plus
    # the rounding of a decimal text: 1e-9.
    "ratio": 1e-9,
}


# ---- comparisons ------------------------------------------------------------------------


def ratio_within(name, exp, lo, hi):
    eps = TOLERANCES["ratio"]
    return (name, lo - eps <= exp <= hi + eps,
            f"exporter {exp:.9f}, bounds from our two collects {lo:.9f} .. {hi:.9f}")


def compare_pg(c1, m, c2, db):
    res = [within("database size (pg_database_size_bytes)",
                  one(m, "pg_database_size_bytes", datname=db), c1[SIZE], c2[SIZE],
                  TOLERANCES["postgres size"])]
    hit = one(m, "pg_stat_database_blks_hit", datname=db)
    read = one(m, "pg_stat_database_blks_read", datname=db)
    res.append(within("cache hits (pg_stat_database_blks_hit)", hit, c1[HITS], c2[HITS]))
    res.append(within("cache reads (pg_stat_database_blks_read)", read, c1[READS], c2[READS]))
    if None not in (c1[HITS], c1[READS], c2[HITS], c2[READS]):
        lo = c1[HITS] / (c1[HITS] + c2[READS])
        hi = c2[HITS] / (c2[HITS] + c1[READS])
        res.append(ratio_within("cache hit ratio (blks_hit / (blks_hit + blks_read))",
                                hit / (hit + read), lo, hi))
    res.append(within("deadlocks (pg_stat_database_deadlocks)",
                      one(m, "pg_stat_database_deadlocks", datname=db),
                      c1[DEADLOCKS], c2[DEADLOCKS]))
    # Sessions of this database (ours: client backends). postgres_exporter has two: one
    # for its built-in queries, one for its `database` collector, which runs in parallel.
    # Both are idle while we collect (ours is active); while the first reads
    # pg_stat_activity it is active (ours idle: one active session swapped for another),
    # and the second may be running pg_database_size: one more active, one fewer idle.
    act = {}
    for labels, v in m.get("pg_stat_activity_count", []):
        if labels.get("datname") == db:
            act[labels.get("state", "")] = act.get(labels.get("state", ""), 0) + v
    exp_active = act.get("active", 0)
    exp_idle = sum(v for k, v in act.items() if k.startswith("idle"))
    name, ok, detail = within("", exp_active, c1[ACTIVE], c2[ACTIVE])
    ok = ok or within("", exp_active - 1, c1[ACTIVE], c2[ACTIVE])[1]
    res.append(("connections active (pg_stat_activity_count{state=active}, "
                "+1 when the exporter's second session is running)", ok,
                detail + ", +1 allowed"))
    name, ok, detail = within("", exp_idle, c1[IDLE], c2[IDLE])
    ok = ok or within("", exp_idle + 1, c1[IDLE], c2[IDLE])[1]
    res.append(("connections idle (pg_stat_activity_count{state=~idle.*}, "
                "-1 when the exporter's second session is running)", ok,
                detail + ", -1 allowed"))
    res.append(within("connections total (sum of pg_stat_activity_count{datname})",
                      sum(act.values()), c1[TOTAL], c2[TOTAL]))
    res.append(within("max_connections (pg_settings_max_connections)",
                      one(m, "pg_settings_max_connections"), c1[MAX], c2[MAX]))
    return res


def compare_mysql(c1, m, c2, db):
    size = sum(v for labels, v in m.get("mysql_info_schema_table_size", [])
               if labels.get("schema") == db
               and labels.get("component") in ("data_length", "index_length"))
    res = [within("database size (mysql_info_schema_table_size data+index)",
                  size, c1[SIZE], c2[SIZE], TOLERANCES["mysql size"])]
    req = one(m, "mysql_global_status_innodb_buffer_pool_read_requests")
    reads = one(m, "mysql_global_status_innodb_buffer_pool_reads")
    res.append(within("cache reads (mysql_global_status_innodb_buffer_pool_reads)",
                      reads, c1[READS], c2[READS]))
    # hits are the read requests the buffer pool answered: requests - reads
    if None not in (c1[HITS], c1[READS], c2[HITS], c2[READS]):
        res.append(within("cache requests (..._innodb_buffer_pool_read_requests)", req,
                          c1[HITS] + c1[READS], c2[HITS] + c2[READS]))
        lo = c1[HITS] / (c1[HITS] + c2[READS])
        hi = c2[HITS] / (c2[HITS] + c1[READS])
        res.append(ratio_within("cache hit ratio (1 - reads / read_requests)",
                                1 - reads / req, lo, hi))
    res.append(within("deadlocks (mysql_global_status_innodb_deadlocks)",
                      one(m, "mysql_global_status_innodb_deadlocks"),
                      c1[DEADLOCKS], c2[DEADLOCKS]))
    # The exporter opens one connection per scrape and closes it: Threads_connected
    # counts it, our collects do not see it (one more). It runs SHOW GLOBAL STATUS while
    # ours is idle, ours runs while it is gone: Threads_running, no correction.
    res.append(within("connections total (mysql_global_status_threads_connected - 1)",
                      one(m, "mysql_global_status_threads_connected") - 1,
                      c1[TOTAL], c2[TOTAL]))
    res.append(within("connections active (mysql_global_status_threads_running)",
                      one(m, "mysql_global_status_threads_running"),
                      c1[ACTIVE], c2[ACTIVE]))
    res.append(within("max_connections (mysql_global_variables_max_connections)",
                      one(m, "mysql_global_variables_max_connections"), c1[MAX], c2[MAX]))
    return res


def same_instant(conn, url, compare, db):
    results = []
    for attempt in range(1, 4):
        c1 = Snapshot(conn)
        m = scrape(url)
        c2 = Snapshot(conn)
        results = compare(c1, m, c2, db)
        bad = [r for r in results if not r[1]]
        if not bad:
            break
        say(f"attempt {attempt}: {len(bad)} figure(s) differ: "
            + "; ".join(f"{n}: {d}" for n, _, d in bad))
        time.sleep(0.5)   # a server's own short-lived session ends meanwhile
    for name, ok, detail in results:
        check(name, ok, detail)
        if ok:
            say(f"     {detail}")
    return c1, m, c2


# ---- load: sessions, a long statement, a deadlock ---------------------------------------


def make_deadlock(dsn, admin, table, lock_waits_sql):
    """Two sessions lock rows 1 and 2 in opposite orders: the server kills one."""
    a, b = dc.Conn(dsn), dc.Conn(dsn)
    try:
        a.exec("BEGIN")
        a.exec(f"UPDATE {table} SET v = v + 1 WHERE id = 1")
        b.exec("BEGIN")
        b.exec(f"UPDATE {table} SET v = v + 1 WHERE id = 2")
        t, box = in_thread(lambda: a.exec(f"UPDATE {table} SET v = v + 1 WHERE id = 2"))
        wait_for("the first session to wait on the lock",
                 lambda: int(admin.scalar(lock_waits_sql)) >= 1)
        try:
            b.exec(f"UPDATE {table} SET v = v + 1 WHERE id = 1")
        except RuntimeError as e:
            box["error"] = str(e)
        t.join()
        a.exec("ROLLBACK")
        b.exec("ROLLBACK")
        check("a real deadlock: one session was chosen as the victim",
              "deadlock" in box.get("error", "").lower(), box.get("error", "no error"))
    finally:
        a.close()
        b.close()


def threads_now():
    return len(os.listdir("/proc/self/task"))


def check_no_thread(conn):
    """Collects, samples and the exposition open no thread (include/dbmgmt/health.h)."""
    before = threads_now()
    Snapshot(conn)
    s = ctypes.c_void_p()
    check("dbmgmt_health_sampler_new", lib.dbmgmt_health_sampler_new(ctypes.byref(s)) == 0)
    for _ in range(2):
        h = ctypes.c_void_p()
        check("dbmgmt_health_sample", lib.dbmgmt_health_sample(s, conn.h, None,
                                                              ctypes.byref(h)) == 0,
              lib.dbmgmt_errmsg().decode())
        j = lib.dbmgmt_health_to_json(h)
        lib.dbmgmt_free(j)
        if xc.HAVE_PROM:
            out = ctypes.c_void_p()
            lib.dbmgmt_metrics_to_prometheus(h, None, None, None, None, ctypes.byref(out))
            lib.dbmgmt_free(out)
        lib.dbmgmt_health_free(h)
    lib.dbmgmt_health_sampler_free(s)
    after = threads_now()
    check("health opens no thread (/proc/self/task before and after)", before == after,
          f"{before} threads before, {after} after")


# ---- per engine -------------------------------------------------------------------------


def run_server(dsn_var, admin_var, url_var):
    dsn, admin_dsn, url = (os.environ.get(v) for v in (dsn_var, admin_var, url_var))
    for var, val in ((dsn_var, dsn), (admin_var, admin_dsn), (url_var, url)):
        if not val:
            skip(f"{var} is not set (run under tests/servers.sh and tests/exporters.sh)")
    pg = ENGINE == "postgres"
    conn, admin = dc.Conn(dsn), dc.Conn(admin_dsn)
    db = conn.scalar("SELECT current_database()" if pg else "SELECT DATABASE()")
    table = f"expo_{os.getpid()}"
    idle = []
    sleeper = None
    try:
        check_no_thread(conn)
        # Some data (the size), rows to deadlock on.
        conn.exec(f"CREATE TABLE {table} (id INT PRIMARY KEY, v INT, pad VARCHAR(200))")
        conn.exec(f"INSERT INTO {table} VALUES (1, 0, ''), (2, 0, '')")
        fill = ("INSERT INTO {t} SELECT g, 0, repeat('x', 200) "
                "FROM generate_series(3, 20000) g" if pg else
                "INSERT INTO {t} SELECT seq, 0, repeat('x', 200) FROM seq_3_to_20000")
        conn.exec(fill.format(t=table))
        # VACUUM too: an autovacuum worker would be a session of this database that the
        # exporter counts and we do not (client backends only).
        conn.exec(f"VACUUM ANALYZE {table}" if pg else f"ANALYZE TABLE {table}")
        waits = ("SELECT count(*) FROM pg_locks WHERE NOT granted" if pg else
                 "SELECT count(*) FROM information_schema.INNODB_LOCK_WAITS")
        make_deadlock(dsn, admin, table, waits)
        # PostgreSQL reports the count when the victim's statistics are flushed (within
        # a second or so of it going idle).
        wait_for("the deadlock in our snapshot", lambda: (Snapshot(conn)[DEADLOCKS] or 0) >= 1)
        # Three idle sessions and one running a long statement.
        idle = [dc.Conn(dsn) for _ in range(3)]
        sleeper = dc.Conn(dsn)
        long_sql = "SELECT pg_sleep(60)" if pg else "SELECT SLEEP(60)"
        t, _ = in_thread(lambda: sleeper.rows(long_sql))
        running = ("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' "
                   "AND state = 'active'" if pg else
                   "SELECT count(*) FROM information_schema.PROCESSLIST "
                   "WHERE INFO LIKE 'SELECT SLEEP%'")
        wait_for("the long statement to run", lambda: int(admin.scalar(running)) >= 1)
        # The exporter's first scrape opens its connection (postgres_exporter keeps it).
        scrape(url)
        c1, _, _ = same_instant(conn, url, compare_pg if pg else compare_mysql, db)
        check("the test's own sessions are counted (>= 2 active, >= 3 idle, >= 6 total)",
              (c1[ACTIVE] or 0) >= 2 and (c1[TOTAL] or 0) >= 6
              and (not pg or (c1[IDLE] or 0) >= 3),
              f"active {c1[ACTIVE]} idle {c1[IDLE]} total {c1[TOTAL]}")
        check("the deadlock is counted", (c1[DEADLOCKS] or 0) >= 1, f"{c1[DEADLOCKS]}")
        # Replication: a primary without replicas. The exporter has no lag series;
        # our figure is absent and no replica is listed.
        m = scrape(url)
        lag_series = sorted(n for n in m if n in ("pg_replication_lag",
                                                  "mysql_slave_status_seconds_behind_master")
                            or n.startswith(("pg_stat_replication_", "mysql_slave_status_")))
        check("replication lag: the exporter reports none on a primary without replicas",
              not lag_series, f"{lag_series}")
        check("replication lag: absent in our snapshot too, no replica listed",
              c1[REPL_LAG] is None and c1.replicas == 0, f"{c1[REPL_LAG]}, {c1.replicas}")
        cancel = ("SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                  "WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'" if pg else None)
        if pg:
            admin.rows(cancel)
        else:
            for (tid,) in admin.rows("SELECT ID FROM information_schema.PROCESSLIST "
                                     "WHERE INFO LIKE 'SELECT SLEEP%'"):
                admin.exec(f"KILL QUERY {tid}")
        t.join()
    finally:
        for c in idle:
            c.close()
        if sleeper:
            sleeper.close()
        try:
            conn.exec(f"DROP TABLE IF EXISTS {table}")
        finally:
            conn.close()
            admin.close()


def main():
    nf = header_notfound()
    check("DBMGMT_ERR_NOTFOUND is the value this test uses", nf == NOTFOUND, f"{nf}")
    if ENGINE == "postgres":
        run_server("DBMGMT_TEST_PG_DSN", "DBMGMT_TEST_PG_ADMIN_DSN",
                   "DBMGMT_TEST_PG_EXPORTER_URL")
    elif ENGINE == "mysql":
        run_server("DBMGMT_TEST_MYSQL_DSN", "DBMGMT_TEST_MYSQL_ADMIN_DSN",
                   "DBMGMT_TEST_MYSQL_EXPORTER_URL")
    elif ENGINE == "sqlite":
        path = sys.argv[3]
        if os.path.exists(path):
            os.unlink(path)
        conn = dc.Conn("sqlite://" + path)
        conn.exec("CREATE TABLE t (a INTEGER)")
        check_no_thread(conn)
        conn.close()
    else:
        print(f"unknown engine {ENGINE}")
        return 2
    for pw in os.environ.get("DBMGMT_TEST_PASSWORDS", "").split():
        if any(pw in line for line in checks.captured):
            check("no password in the test's output", False)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
