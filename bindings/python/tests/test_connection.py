"""Connections on every engine: values and their Python types, parameters,
scripts, transactions, errors with SQLSTATE, and handles freed once."""
import gc

import pytest

import dbmgmt
from conftest import ENGINE

BLOB_TYPE = {"sqlite": "BLOB", "postgres": "BYTEA", "mysql": "LONGBLOB"}[ENGINE]


@pytest.fixture
def typed(conn, table):
    conn.exec(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, n BIGINT, x DOUBLE PRECISION, "
              f"s VARCHAR(100), b {BLOB_TYPE})")
    return table


def test_values_come_back_as_python_types(conn, typed):
    conn.query(f"INSERT INTO {typed} (id, n, x, s, b) VALUES (?, ?, ?, ?, ?)",
               [1, -(2 ** 62), 2.5, "héllo ☃", b"\x00\x01\xff"])
    conn.query(f"INSERT INTO {typed} (id) VALUES (?)", [2])
    rows = conn.query(f"SELECT id, n, x, s, b FROM {typed} ORDER BY id")
    assert rows.columns == ("id", "n", "x", "s", "b")
    assert rows == [(1, -(2 ** 62), 2.5, "héllo ☃", b"\x00\x01\xff"),
                    (2, None, None, None, None)]
    assert isinstance(rows[0][0], int) and isinstance(rows[0][2], float)


def test_text_parameters_go_through_one_call(conn, typed):
    r = conn.query(f"INSERT INTO {typed} (id, s) VALUES (?, ?)", ["7", "seven"])
    assert r.affected_rows == 1
    assert conn.query(f"SELECT s FROM {typed} WHERE id = ?", ["7"]) == [("seven",)]
    assert conn.scalar(f"SELECT COUNT(*) FROM {typed} WHERE s = ?", [None]) == 0


def test_prepared_statement_runs_again_with_new_binds(conn, typed):
    with conn.prepare(f"INSERT INTO {typed} (id, s) VALUES (?, ?)") as stmt:
        assert stmt.param_count == 2
        for i in range(5):
            assert stmt.execute([i, f"row {i}"]).affected_rows == 1
    assert conn.scalar(f"SELECT COUNT(*) FROM {typed}") == 5
    assert stmt.closed


def test_exec_runs_a_script_and_names_the_failing_statement(conn, table):
    conn.exec(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY);\n"
              f"INSERT INTO {table} VALUES (1);\nINSERT INTO {table} VALUES (2);")
    with pytest.raises(dbmgmt.SQLError) as info:
        conn.exec(f"INSERT INTO {table} VALUES (3);\nINSERT INTO no_such_table_py VALUES (1);")
    assert "2" in info.value.message  # the statement's number / line
    assert conn.scalar(f"SELECT COUNT(*) FROM {table}") == 3


def test_failed_query_raises_with_sqlstate_and_leaves_the_connection_usable(conn, table):
    conn.exec(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
    conn.query(f"INSERT INTO {table} (id) VALUES (?)", [1])
    with pytest.raises(dbmgmt.SQLError) as info:
        conn.query(f"INSERT INTO {table} (id) VALUES (?)", [1])
    assert info.value.sqlstate == ("23000" if ENGINE == "mysql" else "23505")
    assert info.value.status == -5 and info.value.status_name == "DBMGMT_ERR_SQL"
    assert conn.sqlstate == info.value.sqlstate and conn.errmsg
    with pytest.raises(dbmgmt.SQLError):
        conn.query("SELECT * FROM py_no_such_table")
    # the connection still works, in and out of transactions
    assert conn.scalar("SELECT 1 + 1") == 2
    conn.query(f"INSERT INTO {table} (id) VALUES (?)", [2])
    assert conn.scalar(f"SELECT COUNT(*) FROM {table}") == 2


def test_transaction_commits_or_rolls_back(conn, table):
    conn.exec(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
    with conn.transaction():
        conn.query(f"INSERT INTO {table} (id) VALUES (?)", [1])
        assert conn.in_transaction
    assert not conn.in_transaction
    with pytest.raises(RuntimeError):
        with conn.transaction():
            conn.query(f"INSERT INTO {table} (id) VALUES (?)", [2])
            raise RuntimeError("the caller's own failure")
    assert not conn.in_transaction
    assert conn.query(f"SELECT id FROM {table}") == [(1,)]
    conn.begin()
    with pytest.raises(dbmgmt.Busy):
        conn.begin()
    conn.rollback()


def test_close_is_idempotent_and_a_closed_connection_refuses(dsn):
    c = dbmgmt.Connection(dsn)
    assert c.engine.label == ENGINE
    c.close()
    c.close()
    assert c.closed
    with pytest.raises(dbmgmt.Closed):
        c.query("SELECT 1")


def test_closing_a_connection_frees_its_statements_first(dsn):
    c = dbmgmt.Connection(dsn)
    stmt = c.prepare("SELECT 1")
    c.close()
    assert stmt.closed and c.closed


def test_unreferenced_handles_are_freed_by_the_finalizer(dsn):
    c = dbmgmt.Connection(dsn)
    fin = c._finalizer
    stmt = c.prepare("SELECT 1")
    sfin = stmt._finalizer
    del c, stmt
    gc.collect()
    assert not fin.alive and not sfin.alive


def test_schema_lists_a_new_table(conn, table):
    conn.exec(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(20))")
    names = {t["name"] for t in conn.schema()["tables"]}
    assert table in names


def test_lock_is_held_until_unlocked(dsn, conn):
    conn.lock("py-test-lock", 1000)
    if ENGINE != "sqlite":
        with dbmgmt.Connection(dsn) as other:
            with pytest.raises(dbmgmt.Timeout) as info:
                other.lock("py-test-lock", 0)
            assert isinstance(info.value, TimeoutError)
    conn.unlock("py-test-lock")


def test_native_handle_is_an_address(conn):
    assert conn.native_handle != 0


def test_parameters_must_fit_and_be_a_sequence(conn):
    with pytest.raises(OverflowError):
        conn.query("SELECT ?", [2 ** 64])
    with pytest.raises(dbmgmt.InvalidArgument):
        conn.query("SELECT ?", "x")
