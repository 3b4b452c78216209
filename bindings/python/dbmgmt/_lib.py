"""Finding and loading libdbmgmt.so.1, and the C prototypes.

Every function the binding calls is declared here with its argument and
result types, so no call ever goes through ctypes' int-sized guesses.
Functions return through CDLL, which releases the GIL for the duration of
each call: a thread blocked in dbmgmt_pool_acquire() or a slow query does not
hold up the other Python threads.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, c_char_p, c_double, c_int, c_int32, c_int64,
                    c_size_t, c_uint32, c_void_p)
from typing import List, Optional, Sequence, Tuple

SONAME = "libdbmgmt.so.1"
ENV_VAR = "DBMGMT_LIBRARY"

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_path: Optional[str] = None

# Callback types (DESIGN §2: a void *userdata first on every callback).
PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, c_int32, c_int32, c_int64)
POOL_EVENT_FN = CFUNCTYPE(None, c_void_p, c_int32, c_char_p)
SEED_PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, c_char_p, c_int32, c_int64)
LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p)


class MigrationDefC(ctypes.Structure):
    """dbmgmt_migration_def, layout version 1 (include/dbmgmt/migrate.h)."""

    _fields_ = [
        ("struct_version", c_uint32),
        ("flags", c_uint32),
        ("version", c_char_p),
        ("name", c_char_p),
        ("up_sql", c_char_p),
        ("down_sql", c_char_p),
        ("checksum", c_char_p),
        ("source", c_char_p),
    ]


P = c_void_p
PP = POINTER(c_void_p)
STR = c_char_p
# restype c_void_p for every `char *` the caller owns: the pointer is kept,
# read with string_at() and handed back to dbmgmt_free().
OWNED_STR = c_void_p

# name: (restype, argtypes). Functions absent from an older library are
# listed in OPTIONAL and simply not bound.
PROTOTYPES = {
    # common.h
    "dbmgmt_status_name": (STR, [c_int]),
    "dbmgmt_errmsg": (STR, []),
    "dbmgmt_errcode": (c_int, []),
    "dbmgmt_sqlstate": (STR, []),
    "dbmgmt_error_clear": (None, []),
    "dbmgmt_free": (None, [P]),
    "dbmgmt_set_logger": (c_int, [LOG_FN, P, c_int]),
    "dbmgmt_engine_name": (STR, [c_int]),
    "dbmgmt_engine_available": (c_int, [c_int]),
    "dbmgmt_dsn_redact": (OWNED_STR, [STR]),
    "dbmgmt_version": (STR, []),
    "dbmgmt_version_number": (c_int32, []),
    # conn.h
    "dbmgmt_conn_open": (c_int, [PP, STR]),
    "dbmgmt_conn_close": (None, [P]),
    "dbmgmt_conn_engine": (c_int, [P]),
    "dbmgmt_conn_exec": (c_int, [P, STR]),
    "dbmgmt_conn_query": (c_int, [P, PP, STR, c_size_t, POINTER(c_char_p)]),
    "dbmgmt_conn_prepare": (c_int, [P, PP, STR]),
    "dbmgmt_stmt_bind_null": (c_int, [P, c_int32]),
    "dbmgmt_stmt_bind_int64": (c_int, [P, c_int32, c_int64]),
    "dbmgmt_stmt_bind_double": (c_int, [P, c_int32, c_double]),
    "dbmgmt_stmt_bind_text": (c_int, [P, c_int32, STR]),
    "dbmgmt_stmt_bind_blob": (c_int, [P, c_int32, c_char_p, c_size_t]),
    "dbmgmt_stmt_param_count": (c_int32, [P]),
    "dbmgmt_stmt_execute": (c_int, [P, PP]),
    "dbmgmt_stmt_free": (None, [P]),
    "dbmgmt_result_next": (c_int, [P]),
    "dbmgmt_result_column_count": (c_int32, [P]),
    "dbmgmt_result_column_name": (STR, [P, c_int32]),
    "dbmgmt_result_column_type": (c_int32, [P, c_int32]),
    "dbmgmt_result_is_null": (c_int, [P, c_int32]),
    "dbmgmt_result_text": (STR, [P, c_int32]),
    "dbmgmt_result_int64": (c_int64, [P, c_int32]),
    "dbmgmt_result_double": (c_double, [P, c_int32]),
    "dbmgmt_result_blob": (c_void_p, [P, c_int32, POINTER(c_size_t)]),
    "dbmgmt_result_affected_rows": (c_int64, [P]),
    "dbmgmt_result_free": (None, [P]),
    "dbmgmt_conn_begin": (c_int, [P]),
    "dbmgmt_conn_commit": (c_int, [P]),
    "dbmgmt_conn_rollback": (c_int, [P]),
    "dbmgmt_conn_in_transaction": (c_int, [P]),
    "dbmgmt_conn_ping": (c_int, [P]),
    "dbmgmt_conn_lock": (c_int, [P, STR, c_int32]),
    "dbmgmt_conn_unlock": (c_int, [P, STR]),
    "dbmgmt_conn_ddl_transactional": (c_int, [P]),
    "dbmgmt_conn_schema_json": (c_int, [P, PP]),
    "dbmgmt_conn_native": (c_void_p, [P]),
    "dbmgmt_conn_errmsg": (STR, [P]),
    "dbmgmt_conn_sqlstate": (STR, [P]),
    # sql.h
    "dbmgmt_split": (c_int, [c_int, c_char_p, c_size_t, PP]),
    "dbmgmt_statements_count": (c_size_t, [P]),
    "dbmgmt_statements_sql": (c_void_p, [P, c_size_t, POINTER(c_size_t)]),
    "dbmgmt_statements_line": (c_int32, [P, c_size_t]),
    "dbmgmt_statements_column": (c_int32, [P, c_size_t]),
    "dbmgmt_statements_offset": (c_size_t, [P, c_size_t]),
    "dbmgmt_statements_to_json": (OWNED_STR, [P]),
    "dbmgmt_statements_free": (None, [P]),
    # migrate.h
    "dbmgmt_migrator_new": (c_int, [PP, P]),
    "dbmgmt_migrator_free": (None, [P]),
    "dbmgmt_migrator_add_dir": (c_int, [P, STR]),
    "dbmgmt_migrator_add_table": (c_int, [P, POINTER(MigrationDefC)]),
    "dbmgmt_migrator_set_table_name": (c_int, [P, STR]),
    "dbmgmt_migrator_set_environment": (c_int, [P, STR]),
    "dbmgmt_migrator_set_lock_timeout_ms": (c_int, [P, c_int32]),
    "dbmgmt_migrator_set_progress": (c_int, [P, PROGRESS_FN, P]),
    "dbmgmt_migrator_allow": (c_int, [P, c_uint32]),
    "dbmgmt_migrator_require_backup": (c_int, [P, P]),
    "dbmgmt_migrator_plan": (c_int, [P, STR, PP]),
    "dbmgmt_migrator_plan_down": (c_int, [P, STR, PP]),
    "dbmgmt_plan_free": (None, [P]),
    "dbmgmt_plan_status": (c_int, [P]),
    "dbmgmt_plan_problem_count": (c_size_t, [P]),
    "dbmgmt_plan_problem_at": (STR, [P, c_size_t]),
    "dbmgmt_plan_problem_status": (c_int, [P, c_size_t]),
    "dbmgmt_plan_count": (c_size_t, [P]),
    "dbmgmt_plan_step_version": (STR, [P, c_size_t]),
    "dbmgmt_plan_step_name": (STR, [P, c_size_t]),
    "dbmgmt_plan_step_source": (STR, [P, c_size_t]),
    "dbmgmt_plan_step_direction": (c_int32, [P, c_size_t]),
    "dbmgmt_plan_step_transactional": (c_int32, [P, c_size_t]),
    "dbmgmt_plan_step_statement_count": (c_int32, [P, c_size_t]),
    "dbmgmt_plan_to_json": (OWNED_STR, [P]),
    "dbmgmt_plan_finding_count": (c_size_t, [P]),
    "dbmgmt_plan_finding_rule": (STR, [P, c_size_t]),
    "dbmgmt_plan_finding_severity": (c_int32, [P, c_size_t]),
    "dbmgmt_plan_finding_step": (c_size_t, [P, c_size_t]),
    "dbmgmt_plan_finding_file": (STR, [P, c_size_t]),
    "dbmgmt_plan_finding_line": (c_int32, [P, c_size_t]),
    "dbmgmt_plan_finding_message": (STR, [P, c_size_t]),
    "dbmgmt_plan_finding_advice": (STR, [P, c_size_t]),
    "dbmgmt_migrator_apply": (c_int, [P, P]),
    "dbmgmt_migrator_up": (c_int, [P]),
    "dbmgmt_migrator_down": (c_int, [P, STR]),
    "dbmgmt_migrator_baseline": (c_int, [P, STR]),
    "dbmgmt_migrator_repair": (c_int, [P]),
    "dbmgmt_migrator_resume": (c_int, [P]),
    "dbmgmt_migrator_validate": (c_int, [P]),
    "dbmgmt_migrator_status_json": (c_int, [P, PP]),
    "dbmgmt_migrator_errmsg": (STR, [P]),
    "dbmgmt_migrate_on_boot": (c_int, [STR, STR, POINTER(MigrationDefC), STR]),
    "dbmgmt_lint_dir": (c_int, [PP, c_int, STR]),
    "dbmgmt_lint_files": (c_int, [PP, c_int, POINTER(c_char_p), c_size_t]),
    "dbmgmt_lint_report_free": (None, [P]),
    "dbmgmt_lint_report_migration_count": (c_size_t, [P]),
    "dbmgmt_lint_report_count": (c_size_t, [P]),
    "dbmgmt_lint_report_rule": (STR, [P, c_size_t]),
    "dbmgmt_lint_report_severity": (c_int32, [P, c_size_t]),
    "dbmgmt_lint_report_version": (STR, [P, c_size_t]),
    "dbmgmt_lint_report_file": (STR, [P, c_size_t]),
    "dbmgmt_lint_report_line": (c_int32, [P, c_size_t]),
    "dbmgmt_lint_report_message": (STR, [P, c_size_t]),
    "dbmgmt_lint_report_advice": (STR, [P, c_size_t]),
    "dbmgmt_lint_report_to_json": (OWNED_STR, [P]),
    "dbmgmt_migrations_embed_c": (c_int, [STR, STR, PP]),
    # pool.h
    "dbmgmt_pool_config_new": (c_int, [PP]),
    "dbmgmt_pool_config_free": (None, [P]),
    "dbmgmt_pool_config_set_min_idle": (c_int, [P, c_int32]),
    "dbmgmt_pool_config_set_max_size": (c_int, [P, c_int32]),
    "dbmgmt_pool_config_set_acquire_timeout_ms": (c_int, [P, c_int32]),
    "dbmgmt_pool_config_set_idle_timeout_ms": (c_int, [P, c_int32]),
    "dbmgmt_pool_config_set_max_lifetime_ms": (c_int, [P, c_int32]),
    "dbmgmt_pool_config_set_validation_interval_ms": (c_int, [P, c_int32]),
    "dbmgmt_pool_config_set_leak_threshold_ms": (c_int, [P, c_int32]),
    "dbmgmt_pool_config_set_init_sql": (c_int, [P, STR]),
    "dbmgmt_pool_config_set_background_thread": (c_int, [P, c_int32]),
    "dbmgmt_pool_config_add_replica": (c_int, [P, STR]),
    "dbmgmt_pool_config_set_event_callback": (c_int, [P, POOL_EVENT_FN, P]),
    "dbmgmt_pool_open": (c_int, [PP, STR, P]),
    "dbmgmt_pool_acquire": (c_int, [P, PP, c_int32]),
    "dbmgmt_pool_acquire_read": (c_int, [P, PP, c_int32]),
    "dbmgmt_pool_release": (c_int, [P, P]),
    "dbmgmt_pool_metric": (c_int64, [P, c_int32]),
    "dbmgmt_pool_stats_json": (OWNED_STR, [P]),
    "dbmgmt_pool_maintain": (c_int32, [P]),
    "dbmgmt_pool_close": (c_int, [P, c_int32]),
}

BACKUP_HOOK_FN = CFUNCTYPE(c_int, c_void_p, c_int, c_char_p, c_char_p, c_char_p)

# backup.h (issue 8): bound when the library has it.
BACKUP_PROTOTYPES = {
    "dbmgmt_schedule_parse": (c_int, [PP, STR]),
    "dbmgmt_schedule_free": (None, [P]),
    "dbmgmt_schedule_next": (c_int64, [P, c_int64, c_int32]),
    "dbmgmt_retention_new": (c_int, [PP]),
    "dbmgmt_retention_free": (None, [P]),
    "dbmgmt_retention_set_keep": (c_int, [P, c_int, c_int32]),
    "dbmgmt_retention_set_within": (c_int, [P, c_int32, STR]),
    "dbmgmt_retention_apply": (c_int, [P, POINTER(c_int64), c_size_t, POINTER(ctypes.c_uint8)]),
    "dbmgmt_retention_reasons": (STR, [P, c_size_t]),
    "dbmgmt_backup_new": (c_int, [PP, STR, STR]),
    "dbmgmt_backup_free": (None, [P]),
    "dbmgmt_backup_add_schedule": (c_int, [P, STR, STR, STR]),
    "dbmgmt_backup_set_retention": (c_int, [P, P]),
    "dbmgmt_backup_set_hook": (c_int, [P, c_int, BACKUP_HOOK_FN, P]),
    "dbmgmt_backup_set_rpo_bound": (c_int, [P, c_int64]),
    "dbmgmt_backup_set_utc_offset": (c_int, [P, c_int32]),
    "dbmgmt_backup_tick": (c_int32, [P, c_int64]),
    "dbmgmt_backup_start": (c_int, [P]),
    "dbmgmt_backup_stop": (c_int, [P]),
    "dbmgmt_backup_run_now": (c_int, [P, PP]),
    "dbmgmt_backup_verify": (c_int, [P, STR]),
    "dbmgmt_backup_restore": (c_int, [P, STR, STR]),
    "dbmgmt_backup_prune": (c_int32, [P, c_int32]),
    "dbmgmt_backup_list_json": (OWNED_STR, [P]),
    "dbmgmt_backup_metric": (c_int64, [P, c_int32]),
    "dbmgmt_backup_errmsg": (STR, [P]),
    # encryption at rest (issue 21)
    "dbmgmt_backup_set_key": (c_int, [P, c_void_p, c_size_t]),
    "dbmgmt_backup_set_key_file": (c_int, [P, STR]),
}
PROTOTYPES.update(BACKUP_PROTOTYPES)

# backup.h, off-site copies (issue 21): bound when present.
OFFSITE_PROTOTYPES = {
    "dbmgmt_backup_set_offsite": (c_int, [P, STR]),
}
PROTOTYPES.update(OFFSITE_PROTOTYPES)

# backup.h, engines and point-in-time restore (issue 21): bound when present.
PITR_PROTOTYPES = {
    "dbmgmt_backup_set_engine": (c_int, [P, STR]),
    "dbmgmt_backup_restore_to_time": (c_int, [P, STR, c_int64]),
    "dbmgmt_backup_restore_info": (STR, [P]),
}
PROTOTYPES.update(PITR_PROTOTYPES)

# Added after the first release of the binding's C API: bound when present.
# advise.h
ADVISE_PROTOTYPES = {
    "dbmgmt_advisor_new": (c_int, [PP, P]),
    "dbmgmt_advisor_free": (None, [P]),
    "dbmgmt_advisor_add_query": (c_int, [P, STR, c_double]),
    "dbmgmt_advisor_add_file": (c_int, [P, STR]),
    "dbmgmt_advisor_use_engine_stats": (c_int, [P]),
    "dbmgmt_advisor_set_min_saving": (c_int, [P, c_double]),
    "dbmgmt_advisor_set_max_indexes": (c_int, [P, c_int32]),
    "dbmgmt_advisor_run": (c_int, [P, PP]),
    "dbmgmt_advisor_errmsg": (STR, [P]),
    "dbmgmt_advice_free": (None, [P]),
    "dbmgmt_advice_count": (c_size_t, [P]),
    "dbmgmt_advice_kind": (c_int32, [P, c_size_t]),
    "dbmgmt_advice_kind_name": (STR, [c_int32]),
    "dbmgmt_advice_table": (STR, [P, c_size_t]),
    "dbmgmt_advice_columns": (STR, [P, c_size_t]),
    "dbmgmt_advice_index": (STR, [P, c_size_t]),
    "dbmgmt_advice_ddl": (STR, [P, c_size_t]),
    "dbmgmt_advice_reason": (STR, [P, c_size_t]),
    "dbmgmt_advice_confirmed": (c_int32, [P, c_size_t]),
    "dbmgmt_advice_cost_before": (c_double, [P, c_size_t]),
    "dbmgmt_advice_cost_after": (c_double, [P, c_size_t]),
    "dbmgmt_advice_queries": (c_size_t, [P, c_size_t]),
    "dbmgmt_advice_query_at": (STR, [P, c_size_t, c_size_t]),
    "dbmgmt_advice_note": (STR, [P]),
    "dbmgmt_advice_skipped": (c_size_t, [P]),
    "dbmgmt_advice_to_json": (OWNED_STR, [P]),
}
PROTOTYPES.update(ADVISE_PROTOTYPES)

# Galera-aware lint (issue 19)
GALERA_PROTOTYPES = {
    "dbmgmt_lint_dir_with": (c_int, [PP, c_int, STR, c_uint32]),
    "dbmgmt_lint_files_with": (c_int, [PP, c_int, POINTER(c_char_p), c_size_t, c_uint32]),
    "dbmgmt_migrator_set_galera": (c_int, [P, c_int]),
}
PROTOTYPES.update(GALERA_PROTOTYPES)

# health.h (issue 20): snapshots, the sampler, alert rules, Prometheus
ALERT_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_int32, c_int32, c_double, c_char_p)
HEALTH_PROTOTYPES = {
    "dbmgmt_health_collect": (c_int, [P, PP]),
    "dbmgmt_health_collect_pool": (c_int, [P, PP]),
    "dbmgmt_health_free": (None, [P]),
    "dbmgmt_health_engine": (c_int, [P]),
    "dbmgmt_health_collected_at_ms": (c_int64, [P]),
    "dbmgmt_health_get": (c_int, [P, c_int32, POINTER(c_double)]),
    "dbmgmt_health_metric_name": (STR, [c_int32]),
    "dbmgmt_health_table_count": (c_size_t, [P]),
    "dbmgmt_health_table_name": (STR, [P, c_size_t]),
    "dbmgmt_health_table_bytes": (c_int64, [P, c_size_t]),
    "dbmgmt_health_replica_count": (c_size_t, [P]),
    "dbmgmt_health_replica_name": (STR, [P, c_size_t]),
    "dbmgmt_health_replica_lag_seconds": (c_double, [P, c_size_t]),
    "dbmgmt_health_to_json": (OWNED_STR, [P]),
    "dbmgmt_health_sampler_new": (c_int, [PP]),
    "dbmgmt_health_sampler_free": (None, [P]),
    "dbmgmt_health_sample": (c_int, [P, P, P, PP]),
    "dbmgmt_health_sample_at": (c_int, [P, P, P, c_int64, PP]),
    "dbmgmt_alerts_new": (c_int, [PP]),
    "dbmgmt_alerts_free": (None, [P]),
    "dbmgmt_alerts_set_rule": (c_int, [P, STR, c_int32, c_double, c_int32, c_int64, c_double]),
    "dbmgmt_alerts_remove_rule": (c_int, [P, STR]),
    "dbmgmt_alerts_set_callback": (c_int, [P, ALERT_FN, P]),
    "dbmgmt_alerts_evaluate": (c_int32, [P, P]),
    "dbmgmt_alerts_observe": (c_int32, [P, c_int32, c_double, c_int64]),
    "dbmgmt_alerts_to_json": (OWNED_STR, [P]),
    "dbmgmt_metrics_to_prometheus": (c_int, [P, P, P, P, P, POINTER(c_void_p)]),
}
PROTOTYPES.update(HEALTH_PROTOTYPES)

# Seed data (issue 22).
SEED_PROTOTYPES = {
    "dbmgmt_migrator_seed": (c_int, [P, STR]),
    "dbmgmt_migrator_set_seed_progress": (c_int, [P, SEED_PROGRESS_FN, P]),
}
PROTOTYPES.update(SEED_PROTOTYPES)

OPTIONAL = ({"dbmgmt_sqlstate", "dbmgmt_result_column_type"} | set(BACKUP_PROTOTYPES) |
            set(ADVISE_PROTOTYPES) | set(GALERA_PROTOTYPES) |
            set(HEALTH_PROTOTYPES) | set(OFFSITE_PROTOTYPES) | set(SEED_PROTOTYPES))


class LibraryNotFound(OSError):
    """libdbmgmt.so.1 could not be loaded; the message lists every place tried."""


def _candidates(path: Optional[str]) -> List[Tuple[str, str]]:
    """(how, what to dlopen) in the order they are tried."""
    out: List[Tuple[str, str]] = []
    if path:
        out.append(("the path given to dbmgmt.load()", path))
    env = os.environ.get(ENV_VAR)
    if env:
        out.append((f"${ENV_VAR}", env))
    if path or env:
        # An explicit choice that fails is an error, not a reason to pick up
        # some other copy of the library behind the caller's back.
        return out
    out.append(("the system loader (LD_LIBRARY_PATH, ld.so.cache, /usr/lib...)", SONAME))
    found = ctypes.util.find_library("dbmgmt")
    if found and found != SONAME:
        out.append(("ctypes.util.find_library('dbmgmt')", found))
    return out


def _bind(lib: ctypes.CDLL) -> None:
    missing = []
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            if name not in OPTIONAL:
                missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise LibraryNotFound(
            "the libdbmgmt that was loaded lacks " + ", ".join(missing[:5]) +
            (" ..." if len(missing) > 5 else "") + ": it is older than this binding")


def load(path: Optional[str] = None) -> ctypes.CDLL:
    """Load libdbmgmt and return the ctypes handle (once per process).

    Looks, in order, at ``path``, then ``$DBMGMT_LIBRARY``; when neither is
    given, at ``libdbmgmt.so.1`` through the system loader and at what
    ``ctypes.util.find_library("dbmgmt")`` finds. Raises LibraryNotFound naming
    every place tried and why each failed. Calling it again with another path
    after the library is loaded raises RuntimeError.
    """
    global _lib, _path
    with _lock:
        if _lib is not None:
            if path and os.path.realpath(path) != os.path.realpath(_path or ""):
                raise RuntimeError(f"libdbmgmt is already loaded from {_path}")
            return _lib
        tried = []
        for how, target in _candidates(path):
            try:
                lib = ctypes.CDLL(target)
            except OSError as exc:
                tried.append(f"  {how}: {target}: {exc}")
                continue
            _bind(lib)
            _lib, _path = lib, target
            return lib
        raise LibraryNotFound(
            "cannot load libdbmgmt; tried:\n" + "\n".join(tried) +
            f"\nInstall the library (meson install), or set {ENV_VAR} to the path of "
            f"{SONAME} (in a build tree: BUILD_DIR/{SONAME}), or call dbmgmt.load(PATH).")


def lib() -> ctypes.CDLL:
    """The loaded library, loading it on first use."""
    return _lib if _lib is not None else load()


def loaded_path() -> Optional[str]:
    """What the library was loaded from, or None before the first use."""
    return _path


def has(name: str) -> bool:
    """Whether the loaded library exports the function."""
    return hasattr(lib(), name)


def take_string(ptr: Optional[int]) -> Optional[str]:
    """Decode a `char *` the caller owns and free it with dbmgmt_free()."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib().dbmgmt_free(ptr)


def text(ptr: Optional[bytes]) -> Optional[str]:
    """Decode a `const char *` the library owns (or NULL)."""
    return None if ptr is None else ptr.decode("utf-8", "replace")


def encode(s: Optional[str]) -> Optional[bytes]:
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return os.fspath(s).encode("utf-8") if isinstance(s, os.PathLike) else str(s).encode("utf-8")


def string_array(items: Sequence[Optional[bytes]]):
    """A `const char *const *` over already-encoded items (None is NULL)."""
    arr = (c_char_p * max(len(items), 1))()
    for i, item in enumerate(items):
        arr[i] = item
    return arr
