"""The connection pool (include/dbmgmt/pool.h, docs/pool.md)."""
from __future__ import annotations

import enum
import json
from ctypes import byref, c_void_p
from typing import Any, Callable, Dict, Iterable, Optional

from . import _lib
from ._core import CallbackErrors, Handle, check, thread_error
from .connection import Connection
from .errors import AcquireTimeout, InvalidArgument


class PoolMetric(enum.IntEnum):
    """dbmgmt_pool_metric_id."""
    TOTAL = 0
    IDLE = 1
    ACTIVE = 2
    WAITING = 3
    MAX = 4
    ACQUIRES = 5
    TIMEOUTS = 6
    CREATED = 7
    DESTROYED = 8
    VALIDATION_FAILURES = 9
    LEAKS = 10
    WAIT_P50_US = 11
    WAIT_P99_US = 12
    UTILISATION_PCT = 13


class PoolEvent(enum.IntEnum):
    """dbmgmt_pool_event."""
    EXHAUSTED = 1
    LEAK = 2
    LEAK_RETURNED = 3
    BROKEN = 4
    RECOVERED = 5
    CONNECT_FAILED = 6
    RETIRED = 7
    IDLE_CLOSED = 8


# keyword -> (setter, how the Python value becomes the C argument)
_SETTERS = {
    "min_idle": ("dbmgmt_pool_config_set_min_idle", int),
    "max_size": ("dbmgmt_pool_config_set_max_size", int),
    "acquire_timeout_ms": ("dbmgmt_pool_config_set_acquire_timeout_ms", int),
    "idle_timeout_ms": ("dbmgmt_pool_config_set_idle_timeout_ms", int),
    "max_lifetime_ms": ("dbmgmt_pool_config_set_max_lifetime_ms", int),
    "validation_interval_ms": ("dbmgmt_pool_config_set_validation_interval_ms", int),
    "leak_threshold_ms": ("dbmgmt_pool_config_set_leak_threshold_ms", int),
    "init_sql": ("dbmgmt_pool_config_set_init_sql", _lib.encode),
    "background_thread": ("dbmgmt_pool_config_set_background_thread", lambda v: 1 if v else 0),
}


def _close_pool(L, drain_ms_box, ptr: int) -> None:
    L.dbmgmt_pool_close(ptr, drain_ms_box[0])


class Pool(Handle):
    """A connection pool (dbmgmt_pool) over one DSN, with HikariCP's semantics.

    ``Pool(dsn, max_size=10, acquire_timeout_ms=2000, ...)`` — the keywords
    are the configuration setters of pool.h: min_idle, max_size,
    acquire_timeout_ms, idle_timeout_ms, max_lifetime_ms,
    validation_interval_ms, leak_threshold_ms, init_sql, background_thread
    (bool), replicas (a list of DSNs) and on_event(event: PoolEvent, message:
    str). Opening connects once, so a wrong DSN fails here.

    Thread-safe: any thread may acquire. Blocking waits release the GIL.
    ``with Pool(...) as pool:`` closes it at the end (waiting up to
    ``drain_timeout_ms``, default 5000, for borrowed connections).
    """

    def __init__(self, dsn: Optional[str] = None, *, replicas: Iterable[str] = (),
                 on_event: Optional[Callable[[PoolEvent, str], Any]] = None,
                 drain_timeout_ms: int = 5000, **config: Any) -> None:
        L = self._L = _lib.lib()
        self.callback_errors = CallbackErrors()
        self._event_fn = None
        self._drain = [int(drain_timeout_ms)]
        cfg = c_void_p()
        check(L.dbmgmt_pool_config_new(byref(cfg)))
        try:
            for key, value in config.items():
                if key not in _SETTERS:
                    raise InvalidArgument(-1, f"Pool: unknown setting {key!r}; known: "
                                          + ", ".join(sorted(_SETTERS)))
                name, convert = _SETTERS[key]
                check(getattr(L, name)(cfg, convert(value)))
            for replica in replicas:
                check(L.dbmgmt_pool_config_add_replica(cfg, _lib.encode(replica)))
            if on_event is not None:
                self._event_fn = self._make_event_trampoline(on_event)
                check(L.dbmgmt_pool_config_set_event_callback(cfg, self._event_fn, None))
            out = c_void_p()
            check(L.dbmgmt_pool_open(byref(out), _lib.encode(dsn), cfg))
        finally:
            L.dbmgmt_pool_config_free(cfg)
        self._raw = out.value  # stays valid for release() after close() (pool.h)
        # The finalizer keeps the event callback alive as long as C may call it.
        self._own(out.value, _close_pool_keep, L, self._drain, self._event_fn)

    def _make_event_trampoline(self, on_event):
        errors = self.callback_errors

        def trampoline(_userdata, event, message):
            try:
                try:
                    ev = PoolEvent(event)
                except ValueError:
                    ev = event
                on_event(ev, _lib.text(message) or "")
            except BaseException as exc:  # noqa: BLE001 — re-raised by the next pool call
                errors.add(exc)
        return _lib.POOL_EVENT_FN(trampoline)

    def _release_ptr(self, ptr: int) -> None:
        """A borrowed connection's finalizer: give it back (once)."""
        self._L.dbmgmt_pool_release(self._raw, ptr)

    def _raise_callback_errors(self, where: str) -> None:
        if self.callback_errors:
            self.callback_errors.raise_pending(f"Pool.{where} (the on_event callback)")

    def acquire(self, timeout_ms: int = -1) -> Connection:
        """Borrow a connection of the primary: a Connection that is also a
        context manager (``with pool.acquire() as conn:``) and goes back to
        the pool when closed. timeout_ms < 0: the configured timeout; 0: do
        not wait. Raises AcquireTimeout (a TimeoutError) when every
        connection stayed busy, ConnectFailed when the server is down, Closed
        when the pool is closing. The wait releases the GIL."""
        return self._acquire("dbmgmt_pool_acquire", timeout_ms)

    def acquire_read(self, timeout_ms: int = -1) -> Connection:
        """Borrow a connection of a read replica (round robin); the primary
        when there is none."""
        return self._acquire("dbmgmt_pool_acquire_read", timeout_ms)

    def _acquire(self, fn: str, timeout_ms: int) -> Connection:
        h = self._handle()
        self._raise_callback_errors("acquire")
        out = c_void_p()
        status = getattr(self._L, fn)(h, byref(out), int(timeout_ms))
        error = thread_error(status, AcquireTimeout if status == -6 else None) if status < 0 else None
        if self.callback_errors:  # on_event raised during this wait (or since the last call)
            if status == 0:
                self._L.dbmgmt_pool_release(h, out.value)
            try:
                self._raise_callback_errors("acquire")
            except BaseException as exc:
                exc.__context__ = error
                raise
        if error is not None:
            raise error
        return Connection._borrowed(out.value, self)

    def release(self, conn: Connection) -> None:
        """Give a borrowed connection back (the same as conn.close())."""
        if conn.pool is not self:
            raise InvalidArgument(-1, "Pool.release: the connection was not borrowed from this pool")
        conn.close()

    def metric(self, which: PoolMetric) -> int:
        """One metric (PoolMetric); a consistent snapshot."""
        return int(self._L.dbmgmt_pool_metric(self._handle(), int(which)))

    def metrics(self) -> Dict[str, int]:
        """Every metric by its lower-case name: total, idle, active, waiting,
        max, acquires, timeouts, created, destroyed, validation_failures,
        leaks, wait_p50_us, wait_p99_us, utilisation_pct."""
        h = self._handle()
        return {m.name.lower(): int(self._L.dbmgmt_pool_metric(h, int(m))) for m in PoolMetric}

    def stats(self) -> dict:
        """dbmgmt_pool_stats_json as a dict: metrics, configuration, and per
        server whether it is up and its last connect error."""
        ptr = self._L.dbmgmt_pool_stats_json(self._handle())
        if not ptr:
            raise thread_error(self._L.dbmgmt_errcode() or -2)
        return json.loads(_lib.take_string(ptr) or "{}")

    def maintain(self) -> int:
        """One round of maintenance (for pools opened with
        background_thread=False); returns the ms until the next is due."""
        status = check(self._L.dbmgmt_pool_maintain(self._handle()))
        self._raise_callback_errors("maintain")
        return status

    def close(self, drain_timeout_ms: Optional[int] = None) -> bool:
        """Close the pool: waiters fail with Closed, idle connections close,
        and up to drain_timeout_ms (default: the constructor's) is spent
        waiting for borrowed ones. Returns True when every borrowed
        connection came back (False: the rest close when released).
        Idempotent. Re-raises an exception an
        on_event callback raised and no call has reported yet."""
        if drain_timeout_ms is not None:
            self._drain[0] = int(drain_timeout_ms)
        fin, ptr = self._finalizer, self._h
        self._h = None
        all_back = True
        if fin is not None and fin.detach() is not None:  # None: already closed
            all_back = self._L.dbmgmt_pool_close(ptr, self._drain[0]) == 0
        self._raise_callback_errors("close")
        return all_back

    def __repr__(self) -> str:
        if self.closed:
            return "<dbmgmt.Pool closed>"
        m = self.metrics()
        return f"<dbmgmt.Pool total={m['total']} active={m['active']} max={m['max']}>"


def _close_pool_keep(L, drain_box, _event_fn, ptr: int) -> None:
    _close_pool(L, drain_box, ptr)


__all__ = ["Pool", "PoolMetric", "PoolEvent"]
