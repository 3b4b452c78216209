"""Exceptions: one class per libdbmgmt status (include/dbmgmt/common.h).

Every exception raised for a failed C call is a DbmgmtError carrying the
status number, its symbolic name, the message of the object that failed
(``dbmgmt_conn_errmsg``, ``dbmgmt_migrator_errmsg``, or the calling
thread's ``dbmgmt_errmsg``) and the SQLSTATE ("" when there is none).
Where Python has a matching built-in, the class also derives from it, so
``except TimeoutError`` catches a pool acquire that timed out.
"""
from __future__ import annotations

import builtins
from typing import Dict, Type


class DbmgmtError(Exception):
    """A libdbmgmt call failed.

    Attributes: status (negative int), status_name ("DBMGMT_ERR_SQL"),
    message (the library's message: names the file:line, version, statement;
    never a password), sqlstate (5 characters or "").
    """

    status_name = "DBMGMT_UNKNOWN"

    # OSError-derived classes (TimeoutError, ConnectionError) interpret their
    # constructor arguments as (errno, strerror, filename): give them only
    # the message, and keep the rest as attributes.
    def __new__(cls, status: int = -14, message: str = "", sqlstate: str = ""):
        if issubclass(cls, OSError):
            return OSError.__new__(cls, message)
        return Exception.__new__(cls, message)  # MemoryError's own __new__ refuses subclasses

    def __init__(self, status: int = -14, message: str = "", sqlstate: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.sqlstate = sqlstate or ""

    def __str__(self) -> str:
        return self.message or self.status_name

    def __reduce__(self):
        return (type(self), (self.status, self.message, self.sqlstate))


class InvalidArgument(DbmgmtError, ValueError):
    """DBMGMT_ERR_INVALID: misuse — a NULL handle, a bad enum, a value out of range."""
    status_name = "DBMGMT_ERR_INVALID"


class OutOfMemory(DbmgmtError, MemoryError):
    """DBMGMT_ERR_NOMEM: an allocation failed."""
    status_name = "DBMGMT_ERR_NOMEM"


class IOFailure(DbmgmtError, OSError):
    """DBMGMT_ERR_IO: a file could not be read or written."""
    status_name = "DBMGMT_ERR_IO"


class ConnectFailed(DbmgmtError, builtins.ConnectionError):
    """DBMGMT_ERR_CONNECT: the database could not be opened or reached."""
    status_name = "DBMGMT_ERR_CONNECT"


class SQLError(DbmgmtError):
    """DBMGMT_ERR_SQL: the engine rejected a statement (see .sqlstate)."""
    status_name = "DBMGMT_ERR_SQL"


class Timeout(DbmgmtError, builtins.TimeoutError):
    """DBMGMT_ERR_TIMEOUT: a wait ran past its limit (a lock, ...)."""
    status_name = "DBMGMT_ERR_TIMEOUT"


class AcquireTimeout(Timeout):
    """A pool acquire found every connection busy until its timeout; the
    message has the pool's total, active, idle, waiting and max."""


class Busy(DbmgmtError):
    """DBMGMT_ERR_BUSY: in use — locked, a transaction already open, set too late."""
    status_name = "DBMGMT_ERR_BUSY"


class ChecksumMismatch(DbmgmtError):
    """DBMGMT_ERR_CHECKSUM: an applied migration was edited (or a table's
    recorded checksum is wrong)."""
    status_name = "DBMGMT_ERR_CHECKSUM"


class DirtyDatabase(DbmgmtError):
    """DBMGMT_ERR_DIRTY: a previous run left the database marked dirty;
    repair() or resume() after an operator has looked."""
    status_name = "DBMGMT_ERR_DIRTY"


class PolicyRefused(DbmgmtError):
    """DBMGMT_ERR_POLICY: refused by a policy (environment, production down,
    lint errors) or stopped by a progress callback."""
    status_name = "DBMGMT_ERR_POLICY"


class Unsupported(DbmgmtError, NotImplementedError):
    """DBMGMT_ERR_UNSUPPORTED: not built in (the message names the meson
    option) or not possible on this engine."""
    status_name = "DBMGMT_ERR_UNSUPPORTED"


class NotFound(DbmgmtError, LookupError):
    """DBMGMT_ERR_NOTFOUND: no such version, file, column, ..."""
    status_name = "DBMGMT_ERR_NOTFOUND"


class Closed(DbmgmtError):
    """DBMGMT_ERR_CLOSED: the connection or object is closed or broken."""
    status_name = "DBMGMT_ERR_CLOSED"


class InternalError(DbmgmtError):
    """DBMGMT_ERR_INTERNAL: a bug in libdbmgmt; please report it."""
    status_name = "DBMGMT_ERR_INTERNAL"


class ParseError(DbmgmtError, ValueError):
    """DBMGMT_ERR_PARSE: input could not be parsed (a DSN, a SQL script, a
    migration file name)."""
    status_name = "DBMGMT_ERR_PARSE"


class ReadOnlyServer(DbmgmtError):
    """DBMGMT_ERR_READ_ONLY: the server accepts no writes (a standby in
    recovery, or a read-only session); the message names the server and what
    DSN to give instead."""
    status_name = "DBMGMT_ERR_READ_ONLY"


BY_STATUS: Dict[int, Type[DbmgmtError]] = {
    -1: InvalidArgument, -2: OutOfMemory, -3: IOFailure, -4: ConnectFailed, -5: SQLError,
    -6: Timeout, -7: Busy, -8: ChecksumMismatch, -9: DirtyDatabase, -10: PolicyRefused,
    -11: Unsupported, -12: NotFound, -13: Closed, -14: InternalError, -15: ParseError,
    -16: ReadOnlyServer,
}


def error_for(status: int, message: str, sqlstate: str = "",
              cls: Type[DbmgmtError] = None) -> DbmgmtError:
    """The exception for a status; cls overrides the class (AcquireTimeout)."""
    klass = cls or BY_STATUS.get(status, DbmgmtError)
    err = klass(status, message, sqlstate)
    if klass is DbmgmtError:
        err.status_name = f"DBMGMT_UNKNOWN({status})"
    return err


__all__ = ["DbmgmtError", "InvalidArgument", "OutOfMemory", "IOFailure", "ConnectFailed",
           "SQLError", "Timeout", "AcquireTimeout", "Busy", "ChecksumMismatch", "DirtyDatabase",
           "PolicyRefused", "Unsupported", "NotFound", "Closed", "InternalError", "ParseError",
           "ReadOnlyServer", "error_for", "BY_STATUS"]
