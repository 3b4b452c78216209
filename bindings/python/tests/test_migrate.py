"""Migrations on every engine: the boot scenario of examples/boot_migrate.c,
the migrator's plan/up/down/status, refusals as exceptions, and the progress
callback (its exceptions reach the caller of up())."""
import uuid

import pytest

import dbmgmt
from conftest import ENGINE


def test_boot_migrate_example_in_python(example_db, example_migrations):
    """examples/boot_migrate.c + check_boot_migrate.sh, in Python."""
    def boot(env):
        dbmgmt.migrate_on_boot(example_db, example_migrations, environment=env)
        with dbmgmt.Connection(example_db) as conn:
            version, accounts = conn.query(
                "SELECT (SELECT MAX(version) FROM dbmgmt_schema_history WHERE success = 1 "
                "AND installed_rank > 0), (SELECT COUNT(*) FROM accounts)")[0]
        return f"schema is current at version {version} ({env}); {accounts} account(s); ready to serve"

    expected = "schema is current at version 20260103090000 (test); 1 account(s); ready to serve"
    assert boot("test") == expected
    assert boot("test") == expected  # the second boot has nothing to do
    # another environment is refused, and the database is untouched
    with pytest.raises(dbmgmt.PolicyRefused) as info:
        boot("production")
    assert "belongs to environment 'test'" in info.value.message
    assert boot("test") == expected


@pytest.fixture
def mig(dsn, tmp_path):
    """A migrations folder with three versions over unique table names, a
    unique history table, and everything dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    names = {"a": f"py_{tag}_a", "b": f"py_{tag}_b", "hist": f"py_{tag}_hist"}
    d = tmp_path / "migrations"
    d.mkdir()
    for i, t in ((1, "a"), (2, "b")):
        (d / f"00{i}_create_{t}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE {names[t]} (id INTEGER PRIMARY KEY);\n"
            f"-- migrate:down\nDROP TABLE {names[t]};\n")
    (d / "003_seed_a.sql").write_text(
        f"-- migrate:up\nINSERT INTO {names['a']} (id) VALUES (1);\n"
        f"-- migrate:down\nDELETE FROM {names['a']} WHERE id = 1;\n")
    names["dir"] = str(d)
    yield names
    with dbmgmt.Connection(dsn) as c:
        for t in ("a", "b", "hist"):
            c.exec(f"DROP TABLE IF EXISTS {names[t]}")


def migrator(dsn, mig, **kw):
    return dbmgmt.Migrator(dsn, mig["dir"], table=mig["hist"], environment="test", **kw)


def test_plan_returns_steps_and_up_applies_them(dsn, mig):
    with migrator(dsn, mig) as m:
        plan = m.plan()
        assert plan.ok and not plan.problems
        assert [(s.version, s.name, s.direction) for s in plan] == [
            ("001", "create_a", dbmgmt.UP), ("002", "create_b", dbmgmt.UP),
            ("003", "seed_a", dbmgmt.UP)]
        assert plan[0].statement_count == 1 and plan[0].transactional == (ENGINE != "mysql")
        assert '"steps"' in plan.to_json()
        m.apply(plan)
        status = m.status()
        assert status["current"] == "003" and not status["dirty"]
        assert len(m.plan()) == 0
        assert m.conn.query(f"SELECT id FROM {mig['a']}") == [(1,)]
        m.down("001")
        assert m.status()["current"] == "001"
        assert [s.direction for s in m.plan()] == [dbmgmt.UP, dbmgmt.UP]
    assert m.closed and m.conn.closed  # it opened the connection itself


def test_progress_callback_sees_every_step(dsn, mig):
    seen = []
    with migrator(dsn, mig, progress=lambda *a: seen.append(a[:4])) as m:
        m.up()
    assert seen == [("001", "create_a", 1, False), ("001", "create_a", 1, True),
                    ("002", "create_b", 1, False), ("002", "create_b", 1, True),
                    ("003", "seed_a", 1, False), ("003", "seed_a", 1, True)]


def test_exception_in_progress_callback_reaches_the_caller_of_up(dsn, mig):
    class Boom(Exception):
        pass

    def progress(version, name, direction, done, elapsed_ms):
        if version == "002" and not done:
            raise Boom("stop at 002")

    with migrator(dsn, mig, progress=progress) as m:
        with pytest.raises(Boom, match="stop at 002"):
            m.up()
        assert m.status()["current"] == "001"  # 002 was never started
        m.set_progress(None)
        m.up()
        assert m.status()["current"] == "003"


def test_exception_after_a_step_stops_before_the_next(dsn, mig):
    def progress(version, name, direction, done, elapsed_ms):
        if version == "001" and done:
            raise KeyError("after 001")

    with migrator(dsn, mig, progress=progress) as m:
        with pytest.raises(KeyError):
            m.up()
        assert m.status()["current"] == "001"


def test_truthy_progress_return_stops_the_run_as_a_policy_refusal(dsn, mig):
    with migrator(dsn, mig, progress=lambda v, n, d, done, ms: v == "003" and not done) as m:
        with pytest.raises(dbmgmt.PolicyRefused):
            m.up()
        assert m.status()["current"] == "002"


def test_edited_migration_is_a_checksum_mismatch(dsn, mig):
    defs = [dbmgmt.MigrationDef("001", "create_a", f"CREATE TABLE {mig['a']} (id INTEGER);",
                                f"DROP TABLE {mig['a']};")]
    with dbmgmt.Migrator(dsn, defs=defs, table=mig["hist"]) as m:
        m.up()
    edited = [dbmgmt.MigrationDef("001", "create_a", f"CREATE TABLE {mig['a']} (id BIGINT);")]
    with dbmgmt.Migrator(dsn, defs=edited, table=mig["hist"]) as m:
        plan = m.plan()
        assert not plan.ok and plan.problems[0].status == -8
        with pytest.raises(dbmgmt.ChecksumMismatch) as info:
            m.up()
        assert "001" in info.value.message
        with pytest.raises(dbmgmt.ChecksumMismatch):
            plan.raise_for_status()


def test_failed_non_transactional_step_leaves_it_dirty_until_repaired(dsn, mig, tmp_path):
    d = tmp_path / "dirty"
    d.mkdir()
    (d / "001_half.sql").write_text(
        f"-- migrate:up transaction:false\nCREATE TABLE {mig['b']} (id INTEGER);\n"
        "INSERT INTO py_no_such_table_here VALUES (1);\n-- migrate:down\nSELECT 1;\n")
    with dbmgmt.Migrator(dsn, str(d), table=mig["hist"]) as m:
        with pytest.raises(dbmgmt.SQLError) as info:
            m.up()
        assert "001" in info.value.message and info.value.sqlstate
        with pytest.raises(dbmgmt.DirtyDatabase):
            m.up()
        m.conn.exec(f"DROP TABLE {mig['b']}")  # the operator undoes the partial work
        m.repair()
        assert m.status()["dirty"] is False


def test_down_in_production_is_refused(dsn, mig):
    with dbmgmt.Migrator(dsn, mig["dir"], table=mig["hist"], environment="production") as m:
        m.up()
        with pytest.raises(dbmgmt.PolicyRefused):
            m.down("001")


def test_production_takes_the_required_backup_before_changing(dsn, mig, tmp_path):
    if ENGINE != "sqlite":
        pytest.skip("the C suite covers the servers (a dump of the shared test database)")
    with dbmgmt.Backup(dsn, str(tmp_path / "backups")) as b, \
            dbmgmt.Migrator(dsn, mig["dir"], table=mig["hist"], environment="production") as m:
        m.require_backup(b)
        m.up()
        assert b.metric(dbmgmt.BackupMetric.COUNT) == 1
        m.up()  # nothing to do: no backup
        assert b.metric(dbmgmt.BackupMetric.COUNT) == 1
        m.require_backup(None)


def test_closing_the_connection_frees_its_migrator_and_plans(dsn, mig):
    conn = dbmgmt.Connection(dsn)
    m = dbmgmt.Migrator(conn, mig["dir"], table=mig["hist"])
    plan = m.plan()
    conn.close()
    assert plan.closed and m.closed and conn.closed


def test_bad_migration_folder_is_a_parse_error_naming_the_file(dsn, tmp_path):
    (tmp_path / "001_x.sql").write_text("-- migrate:down\nSELECT 1;\n")
    with pytest.raises(dbmgmt.ParseError) as info:
        dbmgmt.Migrator(dsn, str(tmp_path))
    assert "001_x.sql" in info.value.message


def galera_rules(findings):
    return sorted(f.rule for f in findings if f.rule.startswith("galera-"))


def test_galera_setting_chooses_the_lint_rules_of_plans(dsn, tmp_path):
    """Migrator(galera=...) / set_galera(): ON lints plans with the Galera
    rules (MySQL/MariaDB only) and their errors refuse production; AUTO asks
    the server (the test servers are not Galera nodes); OFF never."""
    tag = uuid.uuid4().hex[:8]
    table, hist = f"py_{tag}_keyless", f"py_{tag}_hist"
    d = tmp_path / "migrations"
    d.mkdir()
    (d / "001_keyless.sql").write_text(
        f"-- migrate:up\nCREATE TABLE {table} (note VARCHAR(20));\n"
        f"-- migrate:down\nDROP TABLE {table};\n")
    if ENGINE != "mysql":
        with pytest.raises(dbmgmt.InvalidArgument) as info:
            dbmgmt.Migrator(dsn, str(d), table=hist, galera=dbmgmt.GALERA_ON)
        assert "needs a MySQL/MariaDB connection" in info.value.message
        with dbmgmt.Migrator(dsn, str(d), table=hist, galera=dbmgmt.GALERA_OFF) as m:
            assert galera_rules(m.plan().findings) == []
        return
    try:
        with dbmgmt.Migrator(dsn, str(d), table=hist, environment="production") as m:
            plan = m.plan()  # AUTO on a plain server
            assert galera_rules(plan.findings) == [] and plan.ok
            m.set_galera(dbmgmt.GALERA_ON)
            plan = m.plan()
            assert galera_rules(plan.findings) == ["galera-no-primary-key"]
            assert not plan.ok
            assert any("galera-no-primary-key" in p.message and "001_keyless.sql:2" in p.message
                       for p in plan.problems)
            with pytest.raises(dbmgmt.PolicyRefused):
                m.up()
            with pytest.raises(dbmgmt.InvalidArgument):
                m.set_galera(7)
        with dbmgmt.Migrator(dsn, str(d), table=hist, galera=dbmgmt.GALERA_OFF) as m:
            assert galera_rules(m.plan().findings) == []
    finally:
        with dbmgmt.Connection(dsn) as c:
            c.exec(f"DROP TABLE IF EXISTS {table}")
            c.exec(f"DROP TABLE IF EXISTS {hist}")
