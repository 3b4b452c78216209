"""dbmgmt — Python binding of libdbmgmt over ctypes (no compiler needed).

    import dbmgmt
    dbmgmt.migrate_on_boot(dsn, "migrations", environment="production")
    with dbmgmt.Pool(dsn, max_size=8) as pool:
        with pool.acquire() as conn:
            rows = conn.query("SELECT id, email FROM accounts WHERE id = ?", [1])

The shared library is found through dbmgmt.load(path), $DBMGMT_LIBRARY, or
the system loader (libdbmgmt.so.1), at the first call that needs it.
See docs/python.md.
"""
from __future__ import annotations

from ._core import (Engine, LogLevel, dsn_redact, engine_available, set_logger, status_name,
                    version, version_number)
from ._lib import LibraryNotFound, load, loaded_path
from .connection import Connection, Rows, Statement
from .errors import (AcquireTimeout, Busy, ChecksumMismatch, Closed, ConnectFailed, DbmgmtError,
                     DirtyDatabase, InternalError, InvalidArgument, IOFailure, NotFound,
                     OutOfMemory, ParseError, PolicyRefused, ReadOnlyServer, SQLError, Timeout,
                     Unsupported)
from .migrate import (ALLOW_DOWN_IN_PRODUCTION, ALLOW_LINT_ERRORS, ALLOW_MISSING_APPLIED,
                      ALLOW_OUT_OF_ORDER, DOWN, GALERA_AUTO, GALERA_OFF, GALERA_ON, UP, Finding,
                      LintReport, MigrationDef, Migrator, Plan, Problem, SeedResult, Step, embed_c,
                      lint,
                      migrate_on_boot)
from .pool import Pool, PoolEvent, PoolMetric
from .backup import Backup, BackupMetric, Hook, Keep, Retention, Schedule
from .sql import SqlStatement, split
from .advise import Advice, Advisor
from .health import (Alerts, AlertSeverity, AlertState, Health, HealthMetric, Sampler, collect,
                     collect_pool, health, metrics_to_prometheus)

__version__ = "0.1.0"

__all__ = [
    "load", "loaded_path", "LibraryNotFound", "version", "version_number", "status_name",
    "engine_available", "dsn_redact", "set_logger", "Engine", "LogLevel",
    "Connection", "Statement", "Rows", "Pool", "PoolMetric", "PoolEvent",
    "migrate_on_boot", "Migrator", "Plan", "Step", "Problem", "Finding", "MigrationDef",
    "SeedResult",
    "LintReport", "lint", "embed_c", "UP", "DOWN", "ALLOW_OUT_OF_ORDER",
    "ALLOW_MISSING_APPLIED", "ALLOW_DOWN_IN_PRODUCTION", "ALLOW_LINT_ERRORS",
    "GALERA_AUTO", "GALERA_ON", "GALERA_OFF",
    "split", "SqlStatement",
    "Backup", "BackupMetric", "Hook", "Keep", "Retention", "Schedule", "Advisor", "Advice",
    "Health", "HealthMetric", "Sampler", "Alerts", "AlertSeverity", "AlertState", "collect",
    "collect_pool", "health", "metrics_to_prometheus",
    "DbmgmtError", "InvalidArgument", "OutOfMemory", "IOFailure", "ConnectFailed", "SQLError",
    "Timeout", "AcquireTimeout", "Busy", "ChecksumMismatch", "DirtyDatabase", "PolicyRefused",
    "Unsupported", "NotFound", "Closed", "InternalError", "ParseError",
    "ReadOnlyServer",
]
