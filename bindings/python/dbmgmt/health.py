"""Database health: snapshots, the sampler's rates, alert rules and the
Prometheus text exposition (include/dbmgmt/health.h, docs/health.md,
docs/alerts.md, docs/prometheus.md).

    h = dbmgmt.health("sqlite:app.db")          # or collect(conn), collect_pool(pool)
    h.get("database_size_bytes")                 # None when the engine cannot give it
    alerts = dbmgmt.Alerts()                     # the default rules
    alerts.evaluate(h)
    text = dbmgmt.metrics_to_prometheus(h, alerts=alerts)

Bound only when the loaded library has the health module; otherwise every
entry point raises Unsupported.
"""
from __future__ import annotations

import ctypes
import enum
import json
from ctypes import byref, c_double, c_void_p
from typing import Callable, Dict, List, Optional, Tuple, Union

from . import _lib
from ._core import CallbackErrors, Handle, check, thread_error
from .errors import Unsupported


def _require() -> ctypes.CDLL:
    L = _lib.lib()
    if not hasattr(L, "dbmgmt_health_collect"):
        raise Unsupported(-11, f"the loaded libdbmgmt ({_lib.loaded_path()}) has no health module")
    return L


class HealthMetric(enum.IntEnum):
    """dbmgmt_health_metric."""
    DATABASE_SIZE_BYTES = 0
    CACHE_HIT_RATIO = 1
    CACHE_HITS_TOTAL = 2
    CACHE_READS_TOTAL = 3
    CONNECTIONS_ACTIVE = 4
    CONNECTIONS_IDLE = 5
    CONNECTIONS_WAITING = 6
    CONNECTIONS_TOTAL = 7
    CONNECTIONS_MAX = 8
    DEADLOCKS_TOTAL = 9
    LOCK_WAITS = 10
    SLOW_QUERIES_TOTAL = 11
    QUERIES_TOTAL = 12
    TRANSACTIONS_TOTAL = 13
    REPLICATION_LAG_SECONDS = 14
    MEAN_QUERY_SECONDS = 15
    DISK_USED_RATIO = 16
    UNUSED_INDEXES = 17
    SQLITE_PAGE_SIZE = 18
    SQLITE_PAGE_COUNT = 19
    SQLITE_FREELIST_PAGES = 20
    QUERIES_PER_SECOND = 21
    TRANSACTIONS_PER_SECOND = 22
    SLOW_QUERIES_PER_MINUTE = 23
    DEADLOCKS_PER_HOUR = 24
    GROWTH_BYTES_PER_DAY = 25
    POOL_ACTIVE = 26
    POOL_IDLE = 27
    POOL_WAITING = 28
    POOL_MAX = 29
    POOL_USAGE_RATIO = 30
    POOL_REPLICA_LAG_SECONDS = 31


class AlertSeverity(enum.IntEnum):
    """dbmgmt_alert_severity."""
    WARNING = 1
    CRITICAL = 2


class AlertState(enum.IntEnum):
    """dbmgmt_alert_state."""
    FIRING = 1
    RESOLVED = 2


_NOT_FOUND = -12  # DBMGMT_ERR_NOTFOUND: the figure is absent

MetricRef = Union[HealthMetric, int, str]


def _metric(which: MetricRef) -> int:
    """A HealthMetric, its value, or its snake_case name ("database_size_bytes")."""
    if isinstance(which, str):
        L = _require()
        for i in range(len(HealthMetric) + 64):
            name = _lib.text(L.dbmgmt_health_metric_name(i))
            if name is None:
                break
            if name == which:
                return i
        raise KeyError(f"no health figure named {which!r}")
    return int(which)


def _free_health(L, ptr):
    L.dbmgmt_health_free(ptr)


class Health(Handle):
    """One snapshot (immutable). Made by collect(), collect_pool(), health()
    or Sampler.sample()."""

    def __init__(self, _ptr: int) -> None:
        L = self._L = _require()
        self._own(_ptr, _free_health, L)

    @property
    def engine(self) -> int:
        return int(self._L.dbmgmt_health_engine(self._handle()))

    @property
    def collected_at_ms(self) -> int:
        return int(self._L.dbmgmt_health_collected_at_ms(self._handle()))

    def get(self, which: MetricRef) -> Optional[float]:
        """The figure's value; None when it is absent (never 0 for absent).
        which: a HealthMetric, its value or its name."""
        v = c_double()
        status = self._L.dbmgmt_health_get(self._handle(), _metric(which), byref(v))
        if status == _NOT_FOUND:
            return None
        check(status)
        return float(v.value)

    def figures(self) -> Dict[str, float]:
        """Every figure present, by name."""
        out = {}
        for m in HealthMetric:
            v = self.get(m)
            if v is not None:
                out[_lib.text(self._L.dbmgmt_health_metric_name(int(m))) or m.name.lower()] = v
        return out

    def tables(self) -> List[Tuple[str, int]]:
        """The largest tables, largest first: (name, bytes)."""
        h = self._handle()
        return [(_lib.text(self._L.dbmgmt_health_table_name(h, i)) or "",
                 int(self._L.dbmgmt_health_table_bytes(h, i)))
                for i in range(self._L.dbmgmt_health_table_count(h))]

    def replicas(self) -> List[Tuple[str, Optional[float]]]:
        """(name, lag in seconds or None when unknown)."""
        h = self._handle()
        out = []
        for i in range(self._L.dbmgmt_health_replica_count(h)):
            lag = float(self._L.dbmgmt_health_replica_lag_seconds(h, i))
            out.append((_lib.text(self._L.dbmgmt_health_replica_name(h, i)) or "",
                        None if lag < 0 else lag))
        return out

    def to_json(self) -> str:
        ptr = self._L.dbmgmt_health_to_json(self._handle())
        if not ptr:
            raise thread_error(self._L.dbmgmt_errcode() or -2)
        return _lib.take_string(ptr) or ""

    def json(self) -> dict:
        return json.loads(self.to_json())


def _taken(out: c_void_p) -> Health:
    return Health(out.value)


def collect(conn) -> Health:
    """A snapshot of the database behind a Connection."""
    L = _require()
    out = c_void_p()
    check(L.dbmgmt_health_collect(conn._handle(), byref(out)))
    return _taken(out)


def collect_pool(pool) -> Health:
    """A snapshot on a connection of the pool's primary, plus the pool's figures."""
    L = _require()
    out = c_void_p()
    check(L.dbmgmt_health_collect_pool(pool._handle(), byref(out)))
    return _taken(out)


def health(dsn: Optional[str] = None) -> Health:
    """Open a connection to dsn (None: $DATABASE_URL), collect, close."""
    from .connection import Connection
    with Connection(dsn) as conn:
        return collect(conn)


def _free_sampler(L, ptr):
    L.dbmgmt_health_sampler_free(ptr)


class Sampler(Handle):
    """Keeps the previous snapshot so each new one carries rates since then."""

    def __init__(self) -> None:
        L = self._L = _require()
        out = c_void_p()
        check(L.dbmgmt_health_sampler_new(byref(out)))
        self._own(out.value, _free_sampler, L)

    def sample(self, conn=None, pool=None, now_ms: Optional[int] = None) -> Health:
        """From conn, or from pool when conn is None; now_ms injects the clock."""
        if conn is None and pool is None:
            raise ValueError("Sampler.sample needs a connection or a pool")
        c = conn._handle() if conn is not None else None
        p = pool._handle() if pool is not None else None
        out = c_void_p()
        if now_ms is None:
            check(self._L.dbmgmt_health_sample(self._handle(), c, p, byref(out)))
        else:
            check(self._L.dbmgmt_health_sample_at(self._handle(), c, p, int(now_ms), byref(out)))
        return _taken(out)


AlertFn = Callable[[str, AlertState, AlertSeverity, float, str], object]


def _free_alerts(L, _keep, ptr):
    L.dbmgmt_alerts_free(ptr)


class Alerts(Handle):
    """An alert rule set, starting with the default rules (docs/alerts.md).

    set_callback(fn) with fn(rule, state, severity, value, message) is called
    when a rule starts firing or resolves; an exception raised in it is
    re-raised by the evaluate() / observe() that ran it."""

    def __init__(self) -> None:
        L = self._L = _require()
        self.callback_errors = CallbackErrors()
        self._keep: List[object] = []
        out = c_void_p()
        check(L.dbmgmt_alerts_new(byref(out)))
        self._own(out.value, _free_alerts, L, self._keep)

    def set_rule(self, name: str, metric: MetricRef, threshold: float,
                 severity: AlertSeverity = AlertSeverity.WARNING, for_ms: int = 0,
                 hysteresis: float = 0.1) -> None:
        check(self._L.dbmgmt_alerts_set_rule(self._handle(), _lib.encode(name), _metric(metric),
                                             float(threshold), int(severity), int(for_ms),
                                             float(hysteresis)))

    def remove_rule(self, name: str) -> None:
        """Raises NotFound for an unknown rule."""
        check(self._L.dbmgmt_alerts_remove_rule(self._handle(), _lib.encode(name)))

    def set_callback(self, fn: Optional[AlertFn]) -> None:
        errors = self.callback_errors
        if fn is None:
            cb = _lib.ALERT_FN()
        else:
            def trampoline(_userdata, rule, state, severity, value, message):
                try:
                    fn(_lib.text(rule) or "", AlertState(state), AlertSeverity(severity),
                       float(value), _lib.text(message) or "")
                except BaseException as exc:  # noqa: BLE001 — re-raised by the caller
                    errors.add(exc)
            cb = _lib.ALERT_FN(trampoline)
        check(self._L.dbmgmt_alerts_set_callback(self._handle(), cb, None))
        self._keep.append(cb)  # alive until the set is freed

    def _firing(self, n: int, where: str) -> int:
        self.callback_errors.raise_pending(f"Alerts.{where}")
        return check(n)

    def evaluate(self, h: Health) -> int:
        """Every rule on the snapshot; the number of rules firing."""
        return self._firing(self._L.dbmgmt_alerts_evaluate(self._handle(), h._handle()),
                            "evaluate")

    def observe(self, metric: MetricRef, value: float, now_ms: int) -> int:
        """The rules on metric, on a value measured by the caller."""
        return self._firing(self._L.dbmgmt_alerts_observe(self._handle(), _metric(metric),
                                                          float(value), int(now_ms)), "observe")

    def to_json(self) -> str:
        ptr = self._L.dbmgmt_alerts_to_json(self._handle())
        if not ptr:
            raise thread_error(self._L.dbmgmt_errcode() or -2)
        return _lib.take_string(ptr) or ""

    def json(self):
        return json.loads(self.to_json())


def metrics_to_prometheus(health: Optional[Health] = None, pool=None, backup=None,
                          migrator=None, alerts: Optional[Alerts] = None) -> str:
    """The Prometheus text exposition (format 0.0.4) of whatever is given
    (docs/prometheus.md)."""
    L = _require()
    out = c_void_p()
    check(L.dbmgmt_metrics_to_prometheus(
        health._handle() if health is not None else None,
        pool._handle() if pool is not None else None,
        backup._handle() if backup is not None else None,
        migrator._handle() if migrator is not None else None,
        alerts._handle() if alerts is not None else None, byref(out)))
    return _lib.take_string(out.value) or ""


__all__ = ["Health", "HealthMetric", "Sampler", "Alerts", "AlertSeverity", "AlertState",
           "collect", "collect_pool", "health", "metrics_to_prometheus"]
