"""Fixtures shared by the binding's tests.

DBMGMT_TEST_ENGINE (sqlite, postgres, mysql; default sqlite) picks the
engine; postgres and mysql take their DSN from DBMGMT_TEST_PG_DSN /
DBMGMT_TEST_MYSQL_DSN (a scratch database: the tests create and drop tables
named py_* and, for the example scenarios, accounts / orders /
dbmgmt_schema_history). tests/run_pytest.sh is how meson runs them.
"""
import os
import uuid
from pathlib import Path

import pytest

import dbmgmt

ENGINE = os.environ.get("DBMGMT_TEST_ENGINE", "sqlite")
_ENV_DSN = {"postgres": "DBMGMT_TEST_PG_DSN", "mysql": "DBMGMT_TEST_MYSQL_DSN"}
SANITIZED = bool(os.environ.get("DBMGMT_TEST_SANITIZE", "").strip() not in ("", "none"))
EXAMPLES = Path(os.environ.get("DBMGMT_TEST_EXAMPLES",
                               Path(__file__).resolve().parents[3] / "examples"))


def pytest_report_header(config):
    return (f"dbmgmt engine: {ENGINE}; library: {os.environ.get('DBMGMT_LIBRARY', '(system)')}"
            f"{'; sanitizer build' if SANITIZED else ''}")


def pytest_sessionstart(session):
    if ENGINE in _ENV_DSN and not os.environ.get(_ENV_DSN[ENGINE]):
        pytest.exit(f"no {ENGINE} server: set {_ENV_DSN[ENGINE]}",
                    returncode=1 if os.environ.get("CI") == "true" else 77)


@pytest.fixture
def dsn(tmp_path):
    """A DSN of the engine under test: a fresh SQLite file, or the server's scratch database."""
    if ENGINE == "sqlite":
        return f"sqlite://{tmp_path}/test.db"
    return os.environ[_ENV_DSN[ENGINE]]


@pytest.fixture
def conn(dsn):
    with dbmgmt.Connection(dsn) as c:
        yield c


@pytest.fixture
def table(dsn):
    """A unique table name, dropped after the test."""
    name = "py_" + uuid.uuid4().hex[:12]
    yield name
    with dbmgmt.Connection(dsn) as c:
        c.exec(f"DROP TABLE IF EXISTS {name}")


EXAMPLE_TABLES = ("orders", "accounts", "dbmgmt_schema_history")


def drop_example_tables(dsn):
    with dbmgmt.Connection(dsn) as c:
        for t in EXAMPLE_TABLES:
            c.exec(f"DROP TABLE IF EXISTS {t}")


@pytest.fixture
def example_db(dsn):
    """dsn with the example migrations' tables absent before and after. On
    SQLite the write-lock wait is a hang guard of 60 s: eight writers share
    one file, and on a machine busy with other work a lock holder may not
    run for longer than the 5 s default (examples/check_pool_worker.sh)."""
    drop_example_tables(dsn)
    yield dsn + "?busy_timeout=60000" if ENGINE == "sqlite" else dsn
    drop_example_tables(dsn)


@pytest.fixture
def example_migrations():
    d = EXAMPLES / "migrations"
    assert d.is_dir(), f"the example migrations are not at {d}"
    return str(d)
