"""Health through the binding (issue 20): snapshots, absent figures as None,
JSON, the sampler, alert rules with their callback, and the Prometheus
exposition of a snapshot, a pool, a backup catalog, a migrator and alerts."""
import json
import os
import sqlite3

import pytest

import dbmgmt
from dbmgmt import _lib
from conftest import ENGINE

pytestmark = pytest.mark.skipif(not _lib.has("dbmgmt_health_collect"),
                                reason="library built without health")


def test_collect_and_get(conn, dsn, table):
    conn.exec(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")  # an empty file has size 0
    h = dbmgmt.collect(conn)
    size = h.get("database_size_bytes")
    assert size is not None and size > 0
    assert h.get(dbmgmt.HealthMetric.DATABASE_SIZE_BYTES) == size
    assert h.engine == conn.engine
    assert h.collected_at_ms > 0
    # a rate needs a sampler's earlier snapshot: absent, None (not 0)
    assert h.get("queries_per_second") is None
    assert "queries_per_second" not in h.figures()
    assert h.figures()["database_size_bytes"] == size
    doc = json.loads(h.to_json())
    assert doc["database_size_bytes"] == size
    assert doc["queries_per_second"] is None
    with pytest.raises(KeyError):
        h.get("no_such_figure")
    if ENGINE == "sqlite":
        path = dsn[len("sqlite://"):]
        with sqlite3.connect(path) as db:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
        assert size == pages * page_size


def test_health_helper_and_tables(dsn, table):
    with dbmgmt.Connection(dsn) as c:
        c.exec(f"CREATE TABLE {table} (id INTEGER, v VARCHAR(100))")
        c.exec(f"INSERT INTO {table} (id, v) VALUES (1, 'a'), (2, 'b')")
    h = dbmgmt.health(dsn)
    assert h.get("database_size_bytes") > 0
    for name, size in h.tables():
        assert isinstance(name, str) and size >= 0
    for name, lag in h.replicas():
        assert lag is None or lag >= 0
    h.close()
    with pytest.raises(dbmgmt.Closed):
        h.get("database_size_bytes")


def test_sampler_rates_from_the_second_sample(conn):
    s = dbmgmt.Sampler()
    first = s.sample(conn, now_ms=1_000_000)
    second = s.sample(conn, now_ms=1_060_000)
    assert second.collected_at_ms == 1_060_000
    if first.get("queries_total") is not None:
        assert first.get("queries_per_second") is None
        assert second.get("queries_per_second") is not None
    if first.get("database_size_bytes") is not None:
        assert second.get("growth_bytes_per_day") is not None
    with pytest.raises(ValueError):
        s.sample()


def test_alerts_rules_callback_and_json():
    events = []
    a = dbmgmt.Alerts()
    a.set_callback(lambda rule, state, severity, value, message:
                   events.append((rule, state, severity, value, message)))
    rules = [r["name"] for r in a.json()["rules"]]
    assert "pool_usage_high" in rules and "deadlocks_high" in rules
    a.set_rule("size_big", "database_size_bytes", 1000.0, dbmgmt.AlertSeverity.CRITICAL)
    assert a.observe(dbmgmt.HealthMetric.DATABASE_SIZE_BYTES, 5000.0, 1000) == 1
    assert events and events[-1][0] == "size_big"
    assert events[-1][1] == dbmgmt.AlertState.FIRING
    assert events[-1][2] == dbmgmt.AlertSeverity.CRITICAL
    assert events[-1][3] == 5000.0 and "size_big" in events[-1][4]
    assert a.observe("database_size_bytes", 10.0, 2000) == 0
    assert events[-1][1] == dbmgmt.AlertState.RESOLVED
    a.remove_rule("size_big")
    with pytest.raises(dbmgmt.NotFound):
        a.remove_rule("size_big")
    assert "size_big" not in a.to_json()


def test_alert_callback_exception_reaches_the_caller():
    a = dbmgmt.Alerts()
    a.set_rule("size_big", "database_size_bytes", 1.0)

    def boom(*_):
        raise RuntimeError("from the callback")
    a.set_callback(boom)
    with pytest.raises(RuntimeError, match="from the callback"):
        a.observe("database_size_bytes", 5.0, 1)


def test_evaluate_on_a_snapshot(conn, table):
    conn.exec(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
    a = dbmgmt.Alerts()
    a.set_rule("any_size", "database_size_bytes", 0.0)
    assert a.evaluate(dbmgmt.collect(conn)) >= 1
    assert 'dbmgmt_alert_firing{rule="any_size",severity="warning"} 1' in \
        dbmgmt.metrics_to_prometheus(alerts=a)


@pytest.mark.skipif(ENGINE != "sqlite", reason="backup catalog and migrations on SQLite files")
def test_metrics_to_prometheus_everything(tmp_path):
    db = f"sqlite://{tmp_path}/app.db"
    mig = tmp_path / "migrations"
    mig.mkdir()
    (mig / "001_t.sql").write_text("CREATE TABLE t (id INTEGER PRIMARY KEY);\n")
    assert dbmgmt.metrics_to_prometheus() == ""
    with dbmgmt.Pool(db, max_size=2) as pool, \
            dbmgmt.Backup(db, str(tmp_path / "backups")) as backup:
        h = dbmgmt.collect_pool(pool)
        alerts = dbmgmt.Alerts()
        alerts.evaluate(h)
        with pool.acquire() as conn:
            m = dbmgmt.Migrator(conn, str(mig))
            text = dbmgmt.metrics_to_prometheus(h, pool, backup, m, alerts)
    for family in ("dbmgmt_database_size_bytes", "dbmgmt_pool_connections",
                   "dbmgmt_pool_max_connections", "dbmgmt_backups", "dbmgmt_migrations_pending",
                   "dbmgmt_migration_dirty", "dbmgmt_alert_firing"):
        assert text.count(f"# TYPE {family} ") == 1, family
    assert "dbmgmt_migrations_pending 1\n" in text
    assert "dbmgmt_backup_rpo_seconds" not in text  # no verified backup: left out
    assert text.endswith("\n")
