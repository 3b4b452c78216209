"""Connections, prepared statements and result rows (include/dbmgmt/conn.h)."""
from __future__ import annotations

import contextlib
import ctypes
import json
import weakref
from ctypes import byref, c_size_t, c_void_p
from typing import Any, Iterator, Optional, Sequence, Tuple

from . import _lib
from ._core import Engine, Handle, check
from .errors import DbmgmtError, InvalidArgument, error_for

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

Value = Any  # None, int, float, str or bytes


class Rows(list):
    """The rows of a query: a list of tuples, one value per column (None,
    int, float, str or bytes), with ``columns`` (the column names) and
    ``affected_rows`` (rows changed by an INSERT, UPDATE or DELETE)."""

    columns: Tuple[str, ...] = ()
    affected_rows: int = 0

    def scalar(self) -> Value:
        """The first column of the first row, or None when there is no row."""
        return self[0][0] if self and self[0] else None

    def dicts(self) -> list:
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row)) for row in self]


def _close_conn(L, ptr: int) -> None:
    L.dbmgmt_conn_close(ptr)


class Connection(Handle):
    """One database connection (dbmgmt_conn).

    ``Connection(dsn)`` opens one (``sqlite:app.db``, ``sqlite::memory:``,
    ``postgres://user:pass@host/db``, ``mysql://...``; None means
    $DATABASE_URL); a pool's ``acquire()`` lends one. Either way it is a
    context manager: leaving the block closes it, or gives a pooled one back
    to its pool (an open transaction is rolled back). A connection belongs to
    one thread at a time. A failed call raises the status's exception with
    the connection's message and SQLSTATE and leaves the connection usable.
    """

    def __init__(self, dsn: Optional[str] = None) -> None:
        L = _lib.lib()
        out = c_void_p()
        check(L.dbmgmt_conn_open(byref(out), _lib.encode(dsn)))
        self._init(out.value, _close_conn, L)

    @classmethod
    def _borrowed(cls, ptr: int, pool: Any) -> "Connection":
        conn = cls.__new__(cls)
        # The finalizer holds the pool, so the pool outlives its connections.
        conn._init(ptr, pool._release_ptr)
        conn.pool = pool
        return conn

    def _init(self, ptr: int, free, *args) -> None:
        self._L = _lib.lib()
        self._children: "weakref.WeakSet[Handle]" = weakref.WeakSet()
        self.pool = None
        self._own(ptr, free, *args)

    # ---- errors ---------------------------------------------------------------
    def _error(self, status: int, cls=None) -> DbmgmtError:
        h = self._h
        L = self._L
        msg = _lib.text(L.dbmgmt_conn_errmsg(h)) if h else ""
        state = _lib.text(L.dbmgmt_conn_sqlstate(h)) if h else ""
        if not msg:  # a failure recorded only on the thread (misuse)
            msg = _lib.text(L.dbmgmt_errmsg()) or ""
        return error_for(status, msg, state or "", cls)

    def _check(self, status: int) -> int:
        if status < 0:
            raise self._error(status)
        return status

    @property
    def errmsg(self) -> str:
        """The message of the last failure on this connection ("" if none)."""
        return _lib.text(self._L.dbmgmt_conn_errmsg(self._handle())) or ""

    @property
    def sqlstate(self) -> str:
        """The SQLSTATE of the last failure on this connection ("" if none)."""
        return _lib.text(self._L.dbmgmt_conn_sqlstate(self._handle())) or ""

    # ---- life cycle -----------------------------------------------------------
    def close(self) -> None:
        """Close the connection (a pooled one goes back to its pool). Frees
        its prepared statements and migrators first. Idempotent."""
        for child in list(getattr(self, "_children", ())):
            child.close()
        self._release()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.engine.label
        return f"<dbmgmt.Connection {state}{' pooled' if self.pool is not None else ''}>"

    # ---- properties -----------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return Engine(self._L.dbmgmt_conn_engine(self._handle()))

    @property
    def in_transaction(self) -> bool:
        return bool(self._check(self._L.dbmgmt_conn_in_transaction(self._handle())))

    @property
    def ddl_transactional(self) -> bool:
        """Whether DDL takes part in transactions (PostgreSQL, SQLite)."""
        return bool(self._L.dbmgmt_conn_ddl_transactional(self._handle()))

    @property
    def native_handle(self) -> int:
        """The engine's own handle (sqlite3 *, PGconn *, MYSQL *) as an
        address, for code that speaks the engine's C API directly."""
        return self._L.dbmgmt_conn_native(self._handle()) or 0

    # ---- statements -------------------------------------------------------------
    def exec(self, script: str) -> None:
        """Run a script of one or more statements, discarding rows. Stops at
        the first failing statement (the message names its number and line)."""
        self._check(self._L.dbmgmt_conn_exec(self._handle(), _lib.encode(script)))

    def query(self, sql: str, params: Sequence[Value] = ()) -> Rows:
        """Run one statement with ``?`` placeholders and return its rows.

        Parameters may be None, str, int, float, bool or bytes: all-text
        parameters go through dbmgmt_conn_query in one call; others through
        a prepared statement with typed binds.
        """
        h = self._handle()
        if params is None:
            params = ()
        if isinstance(params, (str, bytes)):
            raise InvalidArgument(-1, "params must be a sequence of values, not a string")
        if all(p is None or isinstance(p, str) for p in params):
            encoded = [_lib.encode(p) for p in params]
            res = c_void_p()
            status = self._L.dbmgmt_conn_query(h, byref(res), _lib.encode(sql), len(encoded),
                                               _lib.string_array(encoded) if encoded else None)
            if status < 0:
                raise self._error(status)
            return self._read(res.value)
        with self.prepare(sql) as stmt:
            return stmt.execute(params)

    def scalar(self, sql: str, params: Sequence[Value] = ()) -> Value:
        """The first column of the first row of query(sql, params), or None."""
        return self.query(sql, params).scalar()

    def prepare(self, sql: str) -> "Statement":
        """A prepared statement with typed binds; close it (or use ``with``)."""
        return Statement(self, sql)

    def _read(self, res: int) -> Rows:
        L = self._L
        try:
            ncols = L.dbmgmt_result_column_count(res)
            rows = Rows()
            rows.columns = tuple(_lib.text(L.dbmgmt_result_column_name(res, i)) or ""
                                 for i in range(ncols))
            read = _value_reader(L)
            while True:
                rc = L.dbmgmt_result_next(res)
                if rc == 1:
                    rows.append(tuple([read(res, i) for i in range(ncols)]))
                elif rc == 0:
                    break
                else:
                    raise self._error(rc)
            rows.affected_rows = int(L.dbmgmt_result_affected_rows(res))
            return rows
        finally:
            L.dbmgmt_result_free(res)

    # ---- transactions -------------------------------------------------------------
    def begin(self) -> None:
        self._check(self._L.dbmgmt_conn_begin(self._handle()))

    def commit(self) -> None:
        self._check(self._L.dbmgmt_conn_commit(self._handle()))

    def rollback(self) -> None:
        self._check(self._L.dbmgmt_conn_rollback(self._handle()))

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Connection"]:
        """``with conn.transaction():`` — commit at the end of the block, roll
        back when it raises (and re-raise)."""
        self.begin()
        try:
            yield self
        except BaseException:
            if not self.closed and self.in_transaction:
                self.rollback()
            raise
        else:
            self.commit()

    def ping(self) -> None:
        """A round trip; raises Closed when the connection no longer works."""
        self._check(self._L.dbmgmt_conn_ping(self._handle()))

    def lock(self, name: str, timeout_ms: int = 0) -> None:
        """A named lock between sessions (advisory lock, GET_LOCK, SQLite's
        write lock); raises dbmgmt.Timeout when not free within timeout_ms."""
        self._check(self._L.dbmgmt_conn_lock(self._handle(), _lib.encode(name), timeout_ms))

    def unlock(self, name: str) -> None:
        self._check(self._L.dbmgmt_conn_unlock(self._handle(), _lib.encode(name)))

    def schema(self) -> dict:
        """The schema as a dict (docs/schema-json.md)."""
        out = c_void_p()
        self._check(self._L.dbmgmt_conn_schema_json(self._handle(), byref(out)))
        return json.loads(_lib.take_string(out.value) or "{}")


def _value_reader(L):
    """A function (result, col) -> Python value for the loaded library."""
    size = c_size_t()
    string_at = ctypes.string_at

    def raw(res, col) -> bytes:
        ptr = L.dbmgmt_result_blob(res, col, byref(size))
        return string_at(ptr, size.value) if ptr else b""

    if not hasattr(L, "dbmgmt_result_column_type"):
        def read_untyped(res, col):
            if L.dbmgmt_result_is_null(res, col):
                return None
            return raw(res, col).decode("utf-8", "surrogateescape")
        return read_untyped

    column_type = L.dbmgmt_result_column_type
    int64 = L.dbmgmt_result_int64
    double = L.dbmgmt_result_double

    def read(res, col):
        t = column_type(res, col)
        if t == 0:
            return None
        if t == 1:
            return int64(res, col)
        if t == 2:
            return double(res, col)
        if t == 4:
            return raw(res, col)
        return raw(res, col).decode("utf-8", "surrogateescape")
    return read


class Statement(Handle):
    """A prepared statement (dbmgmt_stmt) of a connection; closed with it."""

    def __init__(self, conn: Connection, sql: str) -> None:
        self.conn = conn
        L = self._L = conn._L
        out = c_void_p()
        conn._check(L.dbmgmt_conn_prepare(conn._handle(), byref(out), _lib.encode(sql)))
        # The finalizer holds the connection: a statement never outlives it.
        self._own(out.value, _free_stmt_keep, L, conn)
        conn._children.add(self)

    @property
    def param_count(self) -> int:
        return int(self._L.dbmgmt_stmt_param_count(self._handle()))

    def bind(self, index: int, value: Value) -> None:
        """Bind the 1-based placeholder index to None, bool, int, float, str
        or bytes (other objects are bound as str(value))."""
        L, h, c = self._L, self._handle(), self.conn
        if value is None:
            status = L.dbmgmt_stmt_bind_null(h, index)
        elif isinstance(value, (bool, int)):
            if not INT64_MIN <= value <= INT64_MAX:
                raise OverflowError(f"parameter {index}: {value} does not fit in 64 bits")
            status = L.dbmgmt_stmt_bind_int64(h, index, int(value))
        elif isinstance(value, float):
            status = L.dbmgmt_stmt_bind_double(h, index, value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            status = L.dbmgmt_stmt_bind_blob(h, index, data, len(data))
        else:
            status = L.dbmgmt_stmt_bind_text(h, index, _lib.encode(str(value)))
        c._check(status)

    def execute(self, params: Optional[Sequence[Value]] = None) -> Rows:
        """Bind params (when given) to placeholders 1..n, run, return the rows."""
        h = self._handle()
        if params is not None:
            for i, value in enumerate(params, start=1):
                self.bind(i, value)
        res = c_void_p()
        self.conn._check(self._L.dbmgmt_stmt_execute(h, byref(res)))
        return self.conn._read(res.value)


def _free_stmt_keep(L, _conn, ptr: int) -> None:
    L.dbmgmt_stmt_free(ptr)


__all__ = ["Connection", "Statement", "Rows"]
