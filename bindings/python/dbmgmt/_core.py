"""Shared plumbing: status checks, owned handles, engines, process-wide calls."""
from __future__ import annotations

import enum
import sys
import threading
import weakref
from typing import Callable, Optional, Type, Union

from . import _lib
from .errors import DbmgmtError, InvalidArgument, error_for


class Engine(enum.IntEnum):
    """dbmgmt_engine."""
    NONE = 0
    SQLITE = 1
    POSTGRES = 2
    MYSQL = 3

    @classmethod
    def of(cls, value: Union["Engine", int, str]) -> "Engine":
        """Engine.SQLITE from Engine.SQLITE, 1, "sqlite", "postgres", "postgresql",
        "mysql", "mariadb"."""
        if isinstance(value, str):
            key = value.strip().lower()
            key = {"postgresql": "postgres", "pg": "postgres", "mariadb": "mysql"}.get(key, key)
            try:
                return cls[key.upper()]
            except KeyError:
                raise InvalidArgument(-1, f"unknown engine {value!r}: sqlite, postgres or mysql")
        return cls(int(value))

    @property
    def label(self) -> str:
        return self.name.lower()


def thread_error(status: int, cls: Optional[Type[DbmgmtError]] = None) -> DbmgmtError:
    """The exception for a failure whose detail is on the calling thread
    (dbmgmt_errmsg / dbmgmt_sqlstate), read right after the failing call."""
    L = _lib.lib()
    message = _lib.text(L.dbmgmt_errmsg()) or ""
    sqlstate = ""
    if hasattr(L, "dbmgmt_sqlstate"):
        sqlstate = _lib.text(L.dbmgmt_sqlstate()) or ""
    if L.dbmgmt_errcode() != status or not message:
        message = message or status_name(status)
    return error_for(status, message, sqlstate, cls)


def check(status: int, cls: Optional[Type[DbmgmtError]] = None) -> int:
    """Raise the thread's error for a negative status; return it otherwise."""
    if status < 0:
        raise thread_error(status, cls)
    return status


def status_name(status: int) -> str:
    """"DBMGMT_ERR_SQL" for -5; "DBMGMT_UNKNOWN" for anything that is no status."""
    return _lib.text(_lib.lib().dbmgmt_status_name(status)) or "DBMGMT_UNKNOWN"


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _lib.text(_lib.lib().dbmgmt_version()) or ""


def version_number() -> int:
    """MAJOR*10000 + MINOR*100 + PATCH of the loaded library."""
    return int(_lib.lib().dbmgmt_version_number())


def engine_available(engine: Union[Engine, int, str]) -> bool:
    """Whether this build of the library has a driver for the engine."""
    return bool(_lib.lib().dbmgmt_engine_available(Engine.of(engine)))


def dsn_redact(dsn: Optional[str]) -> str:
    """The DSN with its password replaced by "***" (None: $DATABASE_URL)."""
    L = _lib.lib()
    ptr = L.dbmgmt_dsn_redact(_lib.encode(dsn))
    if not ptr:
        raise thread_error(L.dbmgmt_errcode() or -1)
    return _lib.take_string(ptr) or ""


class Handle:
    """Owns one C handle and frees it exactly once: close(), a context
    manager's exit, or — as a last resort — a weakref finalizer when the
    object is collected or the interpreter exits."""

    _h: Optional[int] = None
    _finalizer: Optional[weakref.finalize] = None

    def _own(self, ptr: Optional[int], free: Callable[..., object], *args: object) -> None:
        """Take ownership: free(*args, ptr) runs once, whichever way comes first."""
        self._h = ptr
        self._finalizer = weakref.finalize(self, free, *args, ptr)

    @property
    def closed(self) -> bool:
        return self._h is None

    def _handle(self) -> int:
        h = self._h
        if h is None:
            from .errors import Closed
            raise Closed(-13, f"{type(self).__name__} is closed")
        return h

    def _release(self) -> None:
        """Free the C handle now (no-op when already freed)."""
        fin = self._finalizer
        self._h = None
        if fin is not None:
            fin()

    def close(self) -> None:
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CallbackErrors:
    """Exceptions raised inside Python callbacks that C called: kept until
    the caller of the C function (or the next call on the object) re-raises
    them, so none is lost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list = []

    def add(self, exc: BaseException) -> None:
        with self._lock:
            self._pending.append(exc)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def raise_pending(self, where: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        first = pending[0]
        if hasattr(first, "add_note"):
            first.add_note(f"(raised inside a callback during {where})")
            if len(pending) > 1:
                first.add_note(f"({len(pending) - 1} more exception(s) in the same callback "
                               "were dropped)")
        raise first


# ---- the process-wide logger -------------------------------------------------

class LogLevel(enum.IntEnum):
    DEBUG = 0
    INFO = 1
    WARN = 2
    ERROR = 3


_logger_lock = threading.Lock()
_logger_keep: Optional[object] = None   # the CFUNCTYPE object the library holds


def set_logger(fn: Optional[Callable[[LogLevel, str], None]],
               min_level: Union[LogLevel, int] = LogLevel.INFO) -> None:
    """Route the library's log lines (already redacted) to fn(level, message),
    or stop with fn None. Process-wide; called from any thread, including
    the pool's background thread. An exception in fn cannot reach a caller
    (there is none); it goes to sys.unraisablehook. Without a logger the
    library logs nothing."""
    global _logger_keep
    L = _lib.lib()
    with _logger_lock:
        if fn is None:
            check(L.dbmgmt_set_logger(_lib.LOG_FN(), None, int(min_level)))
            _logger_keep = None
            return

        def trampoline(_userdata, level, message):
            try:
                fn(LogLevel(level), _lib.text(message) or "")
            except BaseException as exc:  # noqa: BLE001 — nowhere else to go
                sys.unraisablehook(_Unraisable(exc, fn))
            return None

        cb = _lib.LOG_FN(trampoline)
        check(L.dbmgmt_set_logger(cb, None, int(min_level)))
        _logger_keep = cb


class _Unraisable:
    def __init__(self, exc: BaseException, obj: object) -> None:
        self.exc_type, self.exc_value, self.exc_traceback = type(exc), exc, exc.__traceback__
        self.err_msg = "Exception in the dbmgmt logger"
        self.object = obj


def _remove_logger_at_exit() -> None:
    # The library's threads must not call into an interpreter that is gone.
    if _logger_keep is not None and _lib._lib is not None:
        _lib._lib.dbmgmt_set_logger(_lib.LOG_FN(), None, 0)


import atexit  # noqa: E402

atexit.register(_remove_logger_at_exit)

__all__ = ["Engine", "LogLevel", "check", "thread_error", "status_name", "version",
           "version_number", "engine_available", "dsn_redact", "set_logger", "Handle",
           "CallbackErrors"]
