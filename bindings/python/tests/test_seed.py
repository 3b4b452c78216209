"""Migrator.seed() and lint(seeds=True) (issue 22, docs/seeds.md) on the
engine under test: seeds applied twice give the same rows, an edited seed
is re-applied, and production, pending migrations and a non-idempotent seed
refuse with nothing applied."""
import hashlib
import uuid

import pytest

import dbmgmt
from conftest import ENGINE


def upsert(table, rows):
    if ENGINE == "mysql":
        return (f"INSERT INTO {table} (id, name) VALUES {rows}\n"
                "  ON DUPLICATE KEY UPDATE name = VALUES(name);\n")
    return (f"INSERT INTO {table} (id, name) VALUES {rows}\n"
            "  ON CONFLICT (id) DO UPDATE SET name = excluded.name;\n")


@pytest.fixture
def project(dsn, tmp_path):
    """tmp/migrations (one table), tmp/seeds (one seed), a unique history
    table; the tables and the seed history are dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    p = {"t": f"py_{tag}_seeded", "hist": f"py_{tag}_hist",
         "migrations": tmp_path / "migrations", "seeds": tmp_path / "seeds"}
    p["migrations"].mkdir()
    p["seeds"].mkdir()
    (p["migrations"] / "001_create.sql").write_text(
        f"-- migrate:up\nCREATE TABLE {p['t']} (id INTEGER NOT NULL PRIMARY KEY,"
        " name VARCHAR(40) NOT NULL);\n")
    (p["seeds"] / "001_rows.sql").write_text(upsert(p["t"], "(1, 'a'), (2, 'b')"))
    with dbmgmt.Connection(dsn) as c:
        c.exec("DROP TABLE IF EXISTS dbmgmt_seed_history")
    yield p
    with dbmgmt.Connection(dsn) as c:
        for t in (p["t"], p["hist"], "dbmgmt_seed_history"):
            c.exec(f"DROP TABLE IF EXISTS {t}")


def migrator(dsn, p, **kw):
    return dbmgmt.Migrator(dsn, p["migrations"], table=p["hist"], **kw)


def rows_checksum(dsn, table):
    with dbmgmt.Connection(dsn) as c:
        rows = list(c.query(f"SELECT id, name FROM {table} ORDER BY id"))
    return hashlib.sha256(repr([tuple(str(v) for v in r) for r in rows]).encode()).hexdigest()


def test_seed_twice_is_identical_and_an_edit_is_reapplied(dsn, project):
    with migrator(dsn, project, environment="development") as m:
        m.up()
        first = m.seed()  # None: the seeds folder beside migrations
        assert [(r.version, r.outcome) for r in first] == [("001", "applied")]
        assert first[0].file.endswith("001_rows.sql")
        before = rows_checksum(dsn, project["t"])
        assert [r.outcome for r in m.seed(project["seeds"])] == ["unchanged"]
        assert rows_checksum(dsn, project["t"]) == before
        (project["seeds"] / "001_rows.sql").write_text(upsert(project["t"], "(1, 'a'), (2, 'c')"))
        assert [r.outcome for r in m.seed()] == ["re-applied"]
        assert rows_checksum(dsn, project["t"]) != before
    with dbmgmt.Connection(dsn) as c:
        assert c.scalar(f"SELECT name FROM {project['t']} WHERE id = 2") == "c"


def test_non_idempotent_seed_is_refused_by_lint_with_nothing_applied(dsn, project):
    (project["seeds"] / "002_more.sql").write_text(
        f"INSERT INTO {project['t']} (id, name) VALUES (3, 'c');\n")
    report = dbmgmt.lint(project["seeds"], ENGINE, seeds=True)
    assert [(f.rule, f.line) for f in report.errors] == [("seed-non-idempotent-insert", 1)]
    with migrator(dsn, project) as m:
        m.up()
        with pytest.raises(dbmgmt.PolicyRefused) as info:
            m.seed()
    assert "002_more.sql:1" in info.value.message
    with dbmgmt.Connection(dsn) as c:
        assert c.scalar(f"SELECT COUNT(*) FROM {project['t']}") == 0


def test_pending_migrations_refuse(dsn, project):
    with migrator(dsn, project) as m:
        m.up()
    (project["migrations"] / "002_more.sql").write_text(
        f"-- migrate:up\nALTER TABLE {project['t']} ADD COLUMN note VARCHAR(10);\n")
    with migrator(dsn, project) as m:
        with pytest.raises(dbmgmt.PolicyRefused) as info:
            m.seed()
        assert "pending" in info.value.message and "002" in info.value.message
    with dbmgmt.Connection(dsn) as c:
        assert c.scalar(f"SELECT COUNT(*) FROM {project['t']}") == 0


def test_production_refuses(dsn, project):
    with migrator(dsn, project, environment="production") as m:
        m.up()
        with pytest.raises(dbmgmt.PolicyRefused) as info:
            m.seed()
        assert "'production'" in info.value.message and str(project["seeds"]) in info.value.message
    # the database is stamped production: a migrator without an environment is refused too
    with migrator(dsn, project) as m:
        with pytest.raises(dbmgmt.PolicyRefused) as info:
            m.seed()
        assert "stamped" in info.value.message
    with dbmgmt.Connection(dsn) as c:
        assert c.scalar(f"SELECT COUNT(*) FROM {project['t']}") == 0
