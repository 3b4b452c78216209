#!/usr/bin/env python3
"""Replication lag against the exporters, on real replicas (issue 20; the `cluster`
suite; docs/health-exporters.md).

    postgres  the Patroni cluster of tests/cluster.sh, postgres_exporter 0.11 with the
              lag query of its documentation's example (exporters.sh's pg-replication)
    mysql     the GTID replication of tests/mariadb_cluster.sh, mysqld_exporter 0.14

On the primary: the exporter lists the same standbys as our snapshot (PostgreSQL) and
reports no lag of its own, and our lag figure is absent. On a replica made to lag (its
WAL replay paused / its SQL thread blocked on a row lock, while the primary writes): at
one instant (collect, scrape, collect) the exporter's lag lies within what our two
collects saw, give or take LAG_TOLERANCE, and is at least a second.

usage: test_exporters_replica.py postgres|mysql LIBDBMGMT_SO EXPORTERS_SH
Without the cluster's variables: skipped (77), or a failure with CI=true.
"""
import os
import subprocess
import sys
import time

from exporters_common import REPL_LAG, Snapshot, dc, one, scrape, skip, wait_for, within
import exporters_common as xc

ENGINE, LIBRARY, EXPORTERS = sys.argv[1], sys.argv[2], sys.argv[3]
lib = xc.load(LIBRARY)
checks = dc.Checks()
check, say = checks.check, checks.say

# Both sides compute now() minus the same timestamp, each at its own moment: the bounds
# of the two collects hold it; 1 ms for the exporter's rendering of the float.
LAG_TOLERANCE = 0.001


class Exporter:
    """tests/exporters.sh run KIND against one server, held up until close()."""

    def __init__(self, kind, dsn_var, dsn):
        env = dict(os.environ, **{dsn_var: dsn, "DBMGMT_TEST_PG_CA": ""})
        env.pop("LD_PRELOAD", None)   # a sanitizer's runtime is for Python only
        var = "DBMGMT_TEST_%s_EXPORTER_URL" % kind.upper().replace("-", "_")
        self.p = subprocess.Popen(
            ["bash", EXPORTERS, "run", kind, "--", "sh", "-c",
             f'printf "%s\\n" "${var}"; exec cat >/dev/null'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        self.url = self.p.stdout.readline().strip()
        if not self.url:
            rc = self.p.wait()
            if rc == 77:
                skip(f"tests/exporters.sh could not run {kind}")
            raise RuntimeError(f"tests/exporters.sh run {kind} failed ({rc})")

    def close(self):
        self.p.stdin.close()
        check("the exporter stopped cleanly (and its log holds no password)",
              self.p.wait(timeout=60) == 0, f"status {self.p.returncode}")


def instant(conn, url, compare):
    """collect, scrape, collect; compare(c1, m, c2) -> (name, ok, detail); 3 tries."""
    for attempt in range(1, 4):
        c1 = Snapshot(conn)
        m = scrape(url)
        c2 = Snapshot(conn)
        name, ok, detail = compare(c1, m, c2)
        if ok:
            break
        say(f"attempt {attempt}: {name}: {detail}")
    check(name, ok, detail)
    say(f"     {detail}")
    return c1, m, c2


def lag_series(m, prefixes):
    return sorted(n for n in m if n.startswith(prefixes))


# ---- PostgreSQL: the Patroni cluster ---------------------------------------------------
def run_postgres():
    need = ("DBMGMT_TEST_CLUSTER_ADMIN_DSNS", "DBMGMT_TEST_CLUSTER_MEMBERS",
            "DBMGMT_TEST_CLUSTER_SCRIPT")
    for var in need:
        if not os.environ.get(var):
            skip(f"{var} is not set (run under tests/cluster.sh)")
    admins = os.environ["DBMGMT_TEST_CLUSTER_ADMIN_DSNS"].split()
    names = os.environ["DBMGMT_TEST_CLUSTER_MEMBERS"].split()
    script = os.environ["DBMGMT_TEST_CLUSTER_SCRIPT"]
    conns = {n: dc.Conn(d) for n, d in zip(names, admins)}
    dsns = dict(zip(names, admins))
    role = {n: c.scalar("SELECT pg_is_in_recovery()") for n, c in conns.items()}
    leader = [n for n, r in role.items() if r == "f"]
    standbys = sorted(n for n, r in role.items() if r == "t")
    if len(leader) != 1 or not standbys:
        check("one leader and at least one standby", False, f"{role}")
        return
    leader = leader[0]
    table = f"expo_lag_{os.getpid()}"

    # The primary: the same standbys; no lag of its own on either side.
    x = Exporter("pg-replication", "DBMGMT_EXPORTER_PG_DSN", dsns[leader])
    try:
        c = Snapshot(conns[leader])
        m = scrape(x.url)
        theirs = sorted({labels.get("application_name") for labels, _ in
                         m.get("pg_stat_replication_pg_wal_lsn_diff", [])})
        check("primary: the exporter's standbys (pg_stat_replication_*{application_name}) "
              "are ours", theirs == sorted(c.replica_lags) == standbys,
              f"exporter {theirs}, ours {sorted(c.replica_lags)}, standbys {standbys}")
        check("primary: no lag of its own (exporter pg_replication_lag 0, ours absent)",
              one(m, "pg_replication_lag") == 0 and c[REPL_LAG] is None,
              f"exporter {one(m, 'pg_replication_lag')}, ours {c[REPL_LAG]}")
    finally:
        x.close()

    # A standby that lags: Patroni's maintenance mode (it would resume the replay), the
    # replay paused, a write on the primary received but not replayed.
    s = standbys[0]
    subprocess.run(["bash", script, "maintenance", "on"], check=True)
    try:
        conns[s].rows("SELECT pg_wal_replay_pause()")
        conns[leader].exec(f"CREATE TABLE {table} (i INT); INSERT INTO {table} VALUES (1)")
        wait_for("the standby to receive WAL it does not replay", lambda: conns[s].scalar(
            "SELECT pg_get_wal_replay_pause_state() = 'paused' "
            "AND pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()") == "t")
        time.sleep(1.2)
        x = Exporter("pg-replication", "DBMGMT_EXPORTER_PG_DSN", dsns[s])
        try:
            c1, _, _ = instant(conns[s], x.url, lambda c1, m, c2: within(
                f"standby {s}: lag (pg_replication_lag vs replication_lag_seconds)",
                one(m, "pg_replication_lag"), c1[REPL_LAG], c2[REPL_LAG], LAG_TOLERANCE))
            check("standby: the lag is real (>= 1 s)", (c1[REPL_LAG] or 0) >= 1,
                  f"{c1[REPL_LAG]}")
        finally:
            x.close()
    finally:
        conns[s].rows("SELECT pg_wal_replay_resume()")
        subprocess.run(["bash", script, "maintenance", "off"], check=True)
        conns[leader].exec(f"DROP TABLE IF EXISTS {table}")
        for c in conns.values():
            c.close()


# ---- MariaDB: GTID replication p -> r1, r2 ---------------------------------------------
def run_mysql():
    for var in ("DBMGMT_TEST_MYREPL_ADMIN_DSNS", "DBMGMT_TEST_MYREPL_MEMBERS"):
        if not os.environ.get(var):
            skip(f"{var} is not set (run under tests/mariadb_cluster.sh)")
    dsns = dict(zip(os.environ["DBMGMT_TEST_MYREPL_MEMBERS"].split(),
                    os.environ["DBMGMT_TEST_MYREPL_ADMIN_DSNS"].split()))
    conns = {n: dc.Conn(d) for n, d in dsns.items()}
    p, r = "p", sorted(n for n in dsns if n != "p")[0]
    table = f"dbmgmt_test.expo_lag_{os.getpid()}"
    slave = ("mysql_slave_status_",)

    x = Exporter("mysql", "DBMGMT_EXPORTER_MYSQL_DSN", dsns[p])
    try:
        c = Snapshot(conns[p])
        m = scrape(x.url)
        check("primary: the exporter has no mysql_slave_status_* series",
              not lag_series(m, slave), f"{lag_series(m, slave)}")
        check("primary: our lag figure is absent", c[REPL_LAG] is None, f"{c[REPL_LAG]}")
    finally:
        x.close()

    # A replica that lags: its SQL thread waits on a row lock held on the replica while
    # the primary's update of that row arrives.
    holder = dc.Conn(dsns[r])
    try:
        conns[p].exec(f"CREATE TABLE {table} (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        conns[p].exec(f"INSERT INTO {table} VALUES (1, 0)")
        wait_for("the row on the replica",
                 lambda: conns[r].scalar(f"SELECT count(*) FROM {table}") == "1")
        holder.exec("BEGIN")
        holder.rows(f"SELECT v FROM {table} WHERE id = 1 FOR UPDATE")
        conns[p].exec(f"UPDATE {table} SET v = 1 WHERE id = 1")
        wait_for("the replica to lag 2 s", lambda: (Snapshot(conns[r])[REPL_LAG] or 0) >= 2)
        x = Exporter("mysql", "DBMGMT_EXPORTER_MYSQL_DSN", dsns[r])
        try:
            instant(conns[r], x.url, lambda c1, m, c2: within(
                f"replica {r}: lag (mysql_slave_status_seconds_behind_master vs "
                "replication_lag_seconds)", one(m, "mysql_slave_status_seconds_behind_master"),
                c1[REPL_LAG], c2[REPL_LAG], LAG_TOLERANCE))
        finally:
            x.close()
    finally:
        holder.exec("ROLLBACK")
        holder.close()
        wait_for("the replica to catch up",
                 lambda: conns[r].scalar(f"SELECT v FROM {table} WHERE id = 1") == "1", 90)
        conns[p].exec(f"DROP TABLE IF EXISTS {table}")
        for c in conns.values():
            c.close()


def main():
    if ENGINE == "postgres":
        run_postgres()
    elif ENGINE == "mysql":
        run_mysql()
    else:
        print(f"unknown engine {ENGINE}")
        return 2
    for var in ("DBMGMT_TEST_CLUSTER_PASSWORDS", "DBMGMT_TEST_MYCLUSTER_PASSWORDS"):
        for pw in os.environ.get(var, "").split():
            if any(pw in line for line in checks.captured):
                check("no password in the test's output", False)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed or not checks.passed else 0


if __name__ == "__main__":
    sys.exit(main())
