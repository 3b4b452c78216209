"""Backup scheduling: cron schedules, retention, the scheduler (include/dbmgmt/backup.h).

Bound only when the loaded library has the backup module; otherwise every
constructor raises Unsupported.
"""
from __future__ import annotations

import ctypes
import enum
import json
from ctypes import byref, c_int64, c_uint8, c_void_p
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from . import _lib
from ._core import CallbackErrors, Handle, check, thread_error
from .errors import Unsupported, error_for


def _require() -> ctypes.CDLL:
    L = _lib.lib()
    if not hasattr(L, "dbmgmt_backup_new"):
        raise Unsupported(-11, f"the loaded libdbmgmt ({_lib.loaded_path()}) has no backup module")
    return L


class Keep(enum.IntEnum):
    """dbmgmt_keep."""
    LAST = 0
    HOURLY = 1
    DAILY = 2
    WEEKLY = 3
    MONTHLY = 4
    YEARLY = 5


class Hook(enum.IntEnum):
    """dbmgmt_hook."""
    BACKUP = 1
    VERIFY = 2
    PRUNE = 3
    UPLOAD = 4
    ALERT = 5


class BackupMetric(enum.IntEnum):
    """dbmgmt_backup_metric_id."""
    RPO_S = 0
    LAST_RESTORE_MS = 1
    LAST_SIZE = 2
    FAILURES = 3
    COUNT = 4


def _free_with(name: str):
    def free(L, ptr):
        getattr(L, name)(ptr)
    return free


class Schedule(Handle):
    """A cron expression (5 fields or @daily-style macros)."""

    def __init__(self, expr: str) -> None:
        L = self._L = _require()
        out = c_void_p()
        check(L.dbmgmt_schedule_parse(byref(out), _lib.encode(expr)))
        self.expr = expr
        self._own(out.value, _free_with("dbmgmt_schedule_free"), L)

    def next(self, after_unix_s: int, utc_offset_s: int = 0) -> Optional[int]:
        """The first fire time strictly after after_unix_s; None if never."""
        t = self._L.dbmgmt_schedule_next(self._handle(), int(after_unix_s), int(utc_offset_s))
        return None if t < 0 else int(t)


class Retention(Handle):
    """restic's forget policy: Retention(last=3, daily=7, within="2d", ...)."""

    def __init__(self, *, within: Optional[str] = None, **keep: int) -> None:
        L = self._L = _require()
        out = c_void_p()
        check(L.dbmgmt_retention_new(byref(out)))
        self._own(out.value, _free_with("dbmgmt_retention_free"), L)
        try:
            for name, count in keep.items():
                try:
                    which = Keep[name.upper()]
                except KeyError:
                    raise error_for(-1, f"Retention: unknown rule {name!r}; known: "
                                    + ", ".join(k.name.lower() for k in Keep))
                check(L.dbmgmt_retention_set_keep(self._h, int(which), int(count)))
            if within is not None:
                check(L.dbmgmt_retention_set_within(self._h, -1, _lib.encode(within)))
        except BaseException:
            self.close()
            raise

    def set_within(self, which: Optional[Keep], duration: Optional[str]) -> None:
        """--keep-within (which None) or --keep-within-hourly.. -yearly."""
        check(self._L.dbmgmt_retention_set_within(self._handle(), -1 if which is None else int(which),
                                                  _lib.encode(duration)))

    def apply(self, times: Sequence[int]) -> List[Tuple[int, bool, str]]:
        """For each snapshot time: (time, kept, reasons)."""
        n = len(times)
        arr = (c_int64 * max(n, 1))(*times)
        keep = (c_uint8 * max(n, 1))()
        check(self._L.dbmgmt_retention_apply(self._handle(), arr, n, keep))
        return [(int(times[i]), bool(keep[i]),
                 _lib.text(self._L.dbmgmt_retention_reasons(self._h, i)) or "") for i in range(n)]


HookFn = Callable[[Hook, str, str, Optional[str]], object]


def _free_backup(L, _keep, ptr):
    L.dbmgmt_backup_free(ptr)


class Backup(Handle):
    """The scheduler, catalog and engine backups for one database.

    Hooks: set_hook(Hook.UPLOAD, fn) with fn(hook, id, path, detail); a
    truthy return marks the operation failed (keeps the file for PRUNE). An
    exception raised in a hook counts as a failure and is re-raised by the
    call that ran it (tick, run_now, verify, restore, prune) or, for the
    background thread, by the next call or stop()."""

    def __init__(self, dsn: Optional[str], backup_dir: str, *,
                 retention: Optional[Retention] = None, rpo_bound_s: int = 0,
                 utc_offset_s: int = 0, offsite: Optional[str] = None,
                 engine: Optional[str] = None) -> None:
        L = self._L = _require()
        self.callback_errors = CallbackErrors()
        self._hooks: Dict[int, object] = {}
        out = c_void_p()
        check(L.dbmgmt_backup_new(byref(out), _lib.encode(dsn), _lib.encode(backup_dir)))
        self._own(out.value, _free_backup, L, self._hooks)
        try:
            if retention is not None:
                self._call(L.dbmgmt_backup_set_retention(self._h, retention._handle()))
            if rpo_bound_s:
                self._call(L.dbmgmt_backup_set_rpo_bound(self._h, int(rpo_bound_s)))
            if utc_offset_s:
                self._call(L.dbmgmt_backup_set_utc_offset(self._h, int(utc_offset_s)))
            if offsite is not None:
                self.set_offsite(offsite)
            if engine is not None:
                self.set_engine(engine)
        except BaseException:
            self.close()
            raise

    def _call(self, status: int, where: str = "call") -> int:
        if self.callback_errors:
            self.callback_errors.raise_pending(f"Backup.{where}")
        if status < 0:
            msg = _lib.text(self._L.dbmgmt_backup_errmsg(self._h)) if self._h else ""
            raise error_for(status, msg or _lib.text(self._L.dbmgmt_errmsg()) or "")
        return status

    def add_schedule(self, name: str, expr: str, kind: str) -> None:
        self._call(self._L.dbmgmt_backup_add_schedule(self._handle(), _lib.encode(name),
                                                      _lib.encode(expr), _lib.encode(kind)))

    def set_retention(self, retention: Retention) -> None:
        self._call(self._L.dbmgmt_backup_set_retention(self._handle(), retention._handle()))

    def set_offsite(self, directory: Optional[str]) -> None:
        """Copy each verified backup to directory too (None: off); see
        docs/backup-offsite.md. The folder must exist and be writable."""
        if not hasattr(self._L, "dbmgmt_backup_set_offsite"):
            raise Unsupported(-11, f"the loaded libdbmgmt ({_lib.loaded_path()}) has no "
                              "off-site copies (dbmgmt_backup_set_offsite)")
        self._call(self._L.dbmgmt_backup_set_offsite(
            self._handle(), None if directory is None else _lib.encode(directory)))

    def set_engine(self, engine: str) -> None:
        """The engine taking this scheduler's backups: "auto" (SQLite copy,
        pg_dump, mysqldump by the DSN) or "pgbackrest" (PostgreSQL; see
        docs/backup-pgbackrest.md). Set a backup key first: pgBackRest fixes
        its repository's cipher when the engine is set up."""
        self._require_pitr_api()
        self._call(self._L.dbmgmt_backup_set_engine(self._handle(), _lib.encode(engine)),
                   "set_engine")

    def restore_to_time(self, target: str, when) -> dict:
        """Restore the database as it was at when (Unix seconds, or an aware
        datetime) into target: a new data directory for pgbackrest, else a
        DSN (or a SQLite path). Returns what was restored (engine,
        backup_id, backup_time, target_time, target, method, ...)."""
        self._require_pitr_api()
        if hasattr(when, "timestamp"):
            if getattr(when, "tzinfo", None) is None:
                raise ValueError("restore_to_time: give an aware datetime (UTC is assumed "
                                 "nowhere) or Unix seconds")
            when = when.timestamp()
        self._call(self._L.dbmgmt_backup_restore_to_time(self._handle(), _lib.encode(target),
                                                         int(when)), "restore_to_time")
        return json.loads(_lib.text(self._L.dbmgmt_backup_restore_info(self._handle())) or "{}")

    def _require_pitr_api(self) -> None:
        if not _lib.has("dbmgmt_backup_restore_to_time"):
            raise Unsupported(-11, f"the loaded libdbmgmt ({_lib.loaded_path()}) has no "
                                   "backup engines or point-in-time restore")

    def set_hook(self, hook: Hook, fn: Optional[HookFn]) -> None:
        errors = self.callback_errors
        if fn is None:
            cb = _lib.BACKUP_HOOK_FN()
        else:
            def trampoline(_userdata, which, id_, path, detail):
                try:
                    return 1 if fn(Hook(which), _lib.text(id_) or "", _lib.text(path) or "",
                                   _lib.text(detail)) else 0
                except BaseException as exc:  # noqa: BLE001 — re-raised by the caller
                    errors.add(exc)
                    return 1
            cb = _lib.BACKUP_HOOK_FN(trampoline)
        self._call(self._L.dbmgmt_backup_set_hook(self._handle(), int(hook), cb, None))
        self._hooks[int(hook)] = cb  # alive until the scheduler is freed

    def tick(self, now: int) -> int:
        return self._call(self._L.dbmgmt_backup_tick(self._handle(), int(now)), "tick")

    def start(self) -> None:
        self._call(self._L.dbmgmt_backup_start(self._handle()), "start")

    def stop(self) -> None:
        self._call(self._L.dbmgmt_backup_stop(self._handle()), "stop")

    def set_key(self, key: Optional[bytes]) -> None:
        """Encrypt new backups (and decrypt to verify and restore) with key,
        32 bytes; None turns encryption off for new backups. The library
        keeps its own wiped copy; a bytearray given here is the caller's to
        clear. Prefer set_key_file: Python cannot wipe a bytes object.
        Raises Unsupported when the library was built without libsodium."""
        self._require_key_api()
        if key is None:
            self._call(self._L.dbmgmt_backup_set_key(self._handle(), None, 0), "set_key")
            return
        buf = (ctypes.c_ubyte * len(key)).from_buffer_copy(key)
        try:
            self._call(self._L.dbmgmt_backup_set_key(self._handle(), buf, len(key)), "set_key")
        finally:
            ctypes.memset(buf, 0, len(key))

    def set_key_file(self, path: str) -> None:
        """The key from a file of 32 raw bytes or 64 hex characters (and a
        newline), which group and others must not be able to read."""
        self._require_key_api()
        self._call(self._L.dbmgmt_backup_set_key_file(self._handle(), _lib.encode(str(path))),
                   "set_key_file")

    def _require_key_api(self) -> None:
        if not _lib.has("dbmgmt_backup_set_key"):
            raise Unsupported(-11, f"the loaded libdbmgmt ({_lib.loaded_path()}) has no "
                                   "backup encryption")

    def run_now(self) -> str:
        out = c_void_p()
        self._call(self._L.dbmgmt_backup_run_now(self._handle(), byref(out)), "run_now")
        return _lib.take_string(out.value) or ""

    def verify(self, id: str) -> None:
        self._call(self._L.dbmgmt_backup_verify(self._handle(), _lib.encode(id)), "verify")

    def restore(self, id: str, target_dsn: str) -> None:
        self._call(self._L.dbmgmt_backup_restore(self._handle(), _lib.encode(id),
                                                 _lib.encode(target_dsn)), "restore")

    def prune(self, dry_run: bool = False) -> int:
        return self._call(self._L.dbmgmt_backup_prune(self._handle(), 1 if dry_run else 0), "prune")

    def list(self) -> list:
        ptr = self._L.dbmgmt_backup_list_json(self._handle())
        if not ptr:
            raise thread_error(self._L.dbmgmt_errcode() or -2)
        return json.loads(_lib.take_string(ptr) or "[]")

    def metric(self, which: BackupMetric) -> int:
        return int(self._L.dbmgmt_backup_metric(self._handle(), int(which)))

    def metrics(self) -> Dict[str, int]:
        return {m.name.lower(): self.metric(m) for m in BackupMetric}


__all__ = ["Schedule", "Retention", "Backup", "Keep", "Hook", "BackupMetric"]
