"""Migrations: migrate on boot, the migrator, plans, lint (include/dbmgmt/migrate.h)."""
from __future__ import annotations

import json
import os
import weakref
from ctypes import byref, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Sequence, Union

from . import _lib
from ._core import CallbackErrors, Engine, Handle, check, thread_error
from .connection import Connection
from .errors import DbmgmtError, Unsupported, error_for

UP = 1
DOWN = -1

ALLOW_OUT_OF_ORDER = 0x1
ALLOW_MISSING_APPLIED = 0x2
ALLOW_DOWN_IN_PRODUCTION = 0x4
ALLOW_LINT_ERRORS = 0x8

LINT_INFO, LINT_WARNING, LINT_ERROR = 0, 1, 2

# The lint's Galera rules in a migrator's plans (dbmgmt_migrator_set_galera):
# AUTO asks the server (wsrep_on), ON always (MySQL/MariaDB only), OFF never.
GALERA_AUTO, GALERA_ON, GALERA_OFF = 0, 1, 2
LINT_GALERA = 0x1  # DBMGMT_LINT_GALERA
LINT_SEEDS = 0x2  # DBMGMT_LINT_SEEDS
_SEED_OUTCOME = {0: "unchanged", 1: "applied", 2: "re-applied"}
_SEVERITY = {LINT_INFO: "info", LINT_WARNING: "warning", LINT_ERROR: "error"}

NO_TRANSACTION = 0x1  # DBMGMT_MIGRATION_NO_TRANSACTION

PathLike = Union[str, "os.PathLike[str]"]


def _require_galera(L) -> None:
    if not hasattr(L, "dbmgmt_migrator_set_galera"):
        raise Unsupported(-11, f"the loaded libdbmgmt ({_lib.loaded_path()}) has no Galera lint")
# progress(version, name, direction (UP/DOWN), done (False before a step,
# True after), elapsed_ms) -> truthy to stop before the step
ProgressFn = Callable[[str, str, int, bool, int], Any]


@dataclass(frozen=True)
class SeedResult:
    """What Migrator.seed() did with one seed file: outcome is "applied",
    "unchanged" (same checksum as recorded: skipped) or "re-applied"."""
    version: str
    name: str
    file: str
    outcome: str
    elapsed_ms: int


@dataclass(frozen=True)
class MigrationDef:
    """One compiled-in migration (dbmgmt_migration_def)."""
    version: str
    name: str
    up_sql: str
    down_sql: Optional[str] = None
    checksum: Optional[str] = None   # SHA-256 hex of the normalised up section
    source: Optional[str] = None     # the file it came from, for messages
    no_transaction: bool = False


def _defs_table(defs: Sequence[MigrationDef]):
    """A C table of defs ending with a zero entry. The bytes it points to are
    kept alive by the array itself (ctypes keeps them in _objects)."""
    arr = (_lib.MigrationDefC * (len(defs) + 1))()
    for i, d in enumerate(defs):
        e = arr[i]
        e.struct_version = 1
        e.flags = NO_TRANSACTION if d.no_transaction else 0
        e.version = _lib.encode(d.version)
        e.name = _lib.encode(d.name)
        e.up_sql = _lib.encode(d.up_sql)
        e.down_sql = _lib.encode(d.down_sql)
        e.checksum = _lib.encode(d.checksum)
        e.source = _lib.encode(d.source)
    return arr


def migrate_on_boot(dsn: Optional[str], dir: Optional[PathLike] = None,
                    defs: Optional[Sequence[MigrationDef]] = None,
                    environment: Optional[str] = None) -> None:
    """The one call a service makes at start-up (dbmgmt_migrate_on_boot):
    connect to dsn (None: $DATABASE_URL), take the migrations from dir (or
    the compiled-in defs; neither: "migrations"), check the environment and
    apply what is pending under the engine's lock. Returns when the schema is
    current; otherwise raises the refusal's or failure's exception
    (ChecksumMismatch, DirtyDatabase, PolicyRefused, SQLError, ...) and
    leaves nothing half-applied. The wait for the lock releases the GIL."""
    L = _lib.lib()
    table = _defs_table(defs) if defs else None
    status = L.dbmgmt_migrate_on_boot(_lib.encode(dsn), _lib.encode(dir), table,
                                      _lib.encode(environment))
    if status < 0:
        raise thread_error(status)


@dataclass(frozen=True)
class Step:
    """One step of a plan, in the order it would run."""
    version: str
    name: str
    source: Optional[str]
    direction: int           # UP (1) or DOWN (-1)
    transactional: bool      # runs in one transaction with its history row
    statement_count: int


@dataclass(frozen=True)
class Problem:
    """A reason a plan refuses: the status and a sentence naming version and file."""
    status: int
    message: str

    def exception(self) -> DbmgmtError:
        return error_for(self.status, self.message)


@dataclass(frozen=True)
class Finding:
    """A lint finding (docs/lint.md)."""
    rule: str
    severity: str            # "info", "warning", "error"
    file: Optional[str]
    line: int
    message: str
    advice: str
    step: Optional[int] = None     # index of the plan step (plans)
    version: Optional[str] = None  # the migration's version (lint reports)


def _free_plan(L, _migrator, ptr: int) -> None:
    L.dbmgmt_plan_free(ptr)


class Plan(Handle):
    """What bringing the database to a target would do (dbmgmt_plan):
    iterable over its Steps, with ``problems`` (why it refuses; empty when it
    may be applied), ``findings`` (lint) and ``to_json()``."""

    def __init__(self, migrator: "Migrator", ptr: int) -> None:
        L = self._L = migrator._L
        self.migrator = migrator
        self._own(ptr, _free_plan, L, migrator)
        migrator._children.add(self)
        h = ptr
        S = _lib.text
        self.status: int = L.dbmgmt_plan_status(h)
        self.problems: List[Problem] = [
            Problem(L.dbmgmt_plan_problem_status(h, i), S(L.dbmgmt_plan_problem_at(h, i)) or "")
            for i in range(L.dbmgmt_plan_problem_count(h))]
        self.steps: List[Step] = [
            Step(S(L.dbmgmt_plan_step_version(h, i)) or "", S(L.dbmgmt_plan_step_name(h, i)) or "",
                 S(L.dbmgmt_plan_step_source(h, i)), int(L.dbmgmt_plan_step_direction(h, i)),
                 bool(L.dbmgmt_plan_step_transactional(h, i)),
                 int(L.dbmgmt_plan_step_statement_count(h, i)))
            for i in range(L.dbmgmt_plan_count(h))]
        self.findings: List[Finding] = [
            Finding(S(L.dbmgmt_plan_finding_rule(h, k)) or "",
                    _SEVERITY.get(L.dbmgmt_plan_finding_severity(h, k), "?"),
                    S(L.dbmgmt_plan_finding_file(h, k)), int(L.dbmgmt_plan_finding_line(h, k)),
                    S(L.dbmgmt_plan_finding_message(h, k)) or "",
                    S(L.dbmgmt_plan_finding_advice(h, k)) or "",
                    step=int(L.dbmgmt_plan_finding_step(h, k)))
            for k in range(L.dbmgmt_plan_finding_count(h))]

    @property
    def ok(self) -> bool:
        """Whether the plan may be applied."""
        return self.status == 0

    def raise_for_status(self) -> None:
        """Raise the first problem's exception (all problems in the message)."""
        if self.problems:
            msg = "; ".join(p.message for p in self.problems)
            raise error_for(self.problems[0].status, msg)
        if self.status < 0:
            raise error_for(self.status, "the plan is refused")

    def to_json(self) -> str:
        ptr = self._L.dbmgmt_plan_to_json(self._handle())
        if not ptr:
            raise thread_error(self._L.dbmgmt_errcode() or -2)
        return _lib.take_string(ptr) or ""

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: int) -> Step:
        return self.steps[i]

    def __repr__(self) -> str:
        return f"<dbmgmt.Plan {len(self.steps)} step(s), {'ok' if self.ok else 'refused'}>"


def _free_migrator(L, _conn, _progress, _table, _backup, owned_conn, ptr: int) -> None:
    L.dbmgmt_migrator_free(ptr)
    if owned_conn is not None:
        owned_conn.close()


class Migrator(Handle):
    """A migrator over a connection (dbmgmt_migrator).

    ``Migrator(conn_or_dsn, "migrations", environment="production",
    progress=fn)``; with a DSN (or None: $DATABASE_URL) it opens and owns its
    connection. Keywords: defs (compiled-in MigrationDefs instead of a
    folder), table, environment, lock_timeout_ms, allow (ALLOW_* flags),
    galera (GALERA_AUTO, _ON, _OFF: see set_galera), progress. Belongs to
    one thread at a time, like its connection.

    progress(version, name, direction, done, elapsed_ms) is called before
    (done False) and after (done True) each step; a truthy return before a
    step stops the run there (PolicyRefused). An exception raised inside it
    stops the run too and is re-raised by the call that ran it (up(),
    down(), apply()) — never lost.
    """

    def __init__(self, conn: Union[Connection, str, None] = None,
                 dir: Optional[PathLike] = None, *, defs: Optional[Sequence[MigrationDef]] = None,
                 table: Optional[str] = None, environment: Optional[str] = None,
                 lock_timeout_ms: Optional[int] = None, allow: int = 0,
                 galera: int = GALERA_AUTO, progress: Optional[ProgressFn] = None) -> None:
        owned = None
        if not isinstance(conn, Connection):
            conn = owned = Connection(conn)
        self.conn = conn
        L = self._L = conn._L
        self.callback_errors = CallbackErrors()
        self._progress_fn = _lib.PROGRESS_FN()  # NULL until set_progress
        self._table = None
        out = c_void_p()
        status = L.dbmgmt_migrator_new(byref(out), conn._handle())
        if status < 0:
            if owned is not None:
                owned.close()
            raise thread_error(status)
        # _progress_box keeps whichever callback C holds alive until the
        # migrator is freed; likewise the compiled-in table.
        self._progress_box: list = [self._progress_fn]
        self._table_box: list = []
        self._backup_box: list = []
        self._own(out.value, _free_migrator, L, conn, self._progress_box, self._table_box,
                  self._backup_box, owned)
        self._children: "weakref.WeakSet[Handle]" = weakref.WeakSet()
        conn._children.add(self)
        try:
            if dir is not None:
                self.add_dir(dir)
            if defs is not None:
                self.add_defs(defs)
            if table is not None:
                self._call(L.dbmgmt_migrator_set_table_name(self._h, _lib.encode(table)))
            if environment is not None:
                self._call(L.dbmgmt_migrator_set_environment(self._h, _lib.encode(environment)))
            if lock_timeout_ms is not None:
                self._call(L.dbmgmt_migrator_set_lock_timeout_ms(self._h, int(lock_timeout_ms)))
            if allow:
                self._call(L.dbmgmt_migrator_allow(self._h, int(allow)))
            if galera != GALERA_AUTO:
                self.set_galera(galera)
            if progress is not None:
                self.set_progress(progress)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Free the migrator (and its plans); a connection it opened itself
        is closed too. Idempotent."""
        for child in list(getattr(self, "_children", ())):
            child.close()
        self._release()

    # ---- errors -----------------------------------------------------------------
    def _error(self, status: int) -> DbmgmtError:
        L = self._L
        msg = _lib.text(L.dbmgmt_migrator_errmsg(self._h)) if self._h else ""
        state = _lib.text(L.dbmgmt_sqlstate()) if hasattr(L, "dbmgmt_sqlstate") else ""
        return error_for(status, msg or _lib.text(L.dbmgmt_errmsg()) or "", state or "")

    def _call(self, status: int, where: str = "") -> int:
        """After a C call that may have run the progress callback: re-raise an
        exception the callback raised, else raise for a failed status."""
        if self.callback_errors:
            self.callback_errors.raise_pending(f"Migrator.{where or 'call'}")
        if status < 0:
            raise self._error(status)
        return status

    @property
    def errmsg(self) -> str:
        return _lib.text(self._L.dbmgmt_migrator_errmsg(self._handle())) or ""

    # ---- sources and settings ---------------------------------------------------
    def add_dir(self, dir: PathLike) -> None:
        """Load every migration file of a folder (any layout)."""
        self._call(self._L.dbmgmt_migrator_add_dir(self._handle(), _lib.encode(os.fspath(dir))))

    def add_defs(self, defs: Sequence[MigrationDef]) -> None:
        """Register compiled-in migrations (kept alive as long as the migrator)."""
        table = _defs_table(defs)
        self._call(self._L.dbmgmt_migrator_add_table(self._handle(), table))
        self._table_box.append(table)

    def require_backup(self, backup) -> None:
        """In production, take backup.run_now() before a run changes the
        schema; a failed backup refuses the run (PolicyRefused) with nothing
        applied. None removes the requirement. The migrator keeps the Backup
        alive while it may use it."""
        self._call(self._L.dbmgmt_migrator_require_backup(
            self._h, backup._handle() if backup is not None else None))
        self._backup_box[:] = [backup] if backup is not None else []

    def set_galera(self, mode: int) -> None:
        """Whether plans are linted with the Galera rules: GALERA_AUTO (the
        default: when the server is a Galera node), GALERA_ON (e.g. planning
        on a plain server for a Galera cluster; MySQL/MariaDB only, else
        InvalidArgument), GALERA_OFF."""
        _require_galera(self._L)
        self._call(self._L.dbmgmt_migrator_set_galera(self._handle(), int(mode)))

    def set_progress(self, fn: Optional[ProgressFn]) -> None:
        """Set (or with None remove) the progress callback."""
        errors = self.callback_errors
        if fn is None:
            cb = _lib.PROGRESS_FN()
        else:
            def trampoline(_userdata, version, name, direction, done, elapsed_ms):
                if errors:
                    return 1  # an earlier call raised: stop before the next step
                try:
                    stop = fn(_lib.text(version) or "", _lib.text(name) or "", int(direction),
                              bool(done), int(elapsed_ms))
                except BaseException as exc:  # noqa: BLE001 — re-raised by the caller
                    errors.add(exc)
                    return 1
                return 1 if stop else 0
            cb = _lib.PROGRESS_FN(trampoline)
        self._call(self._L.dbmgmt_migrator_set_progress(self._handle(), cb, None))
        self._progress_box.append(cb)  # the old one stays alive too: harmless

    # ---- plans and runs -------------------------------------------------------------
    def plan(self, target: Optional[str] = None) -> Plan:
        """What bringing the database to target (None: the newest) would do,
        without changing anything. A refused plan is returned, not raised:
        see Plan.ok / Plan.problems / Plan.raise_for_status()."""
        out = c_void_p()
        self._call(self._L.dbmgmt_migrator_plan(self._handle(), _lib.encode(target), byref(out)),
                   "plan")
        return Plan(self, out.value)

    def plan_down(self, target: str) -> Plan:
        """A plan reverting applied versions newer than target."""
        out = c_void_p()
        self._call(self._L.dbmgmt_migrator_plan_down(self._handle(), _lib.encode(target),
                                                     byref(out)), "plan_down")
        return Plan(self, out.value)

    def apply(self, plan: Plan) -> None:
        """Run exactly this plan (re-checked under the lock)."""
        self._call(self._L.dbmgmt_migrator_apply(self._handle(), plan._handle()), "apply")

    def up(self) -> None:
        """Apply every pending migration. Raises the refusal's or the failed
        step's exception, or what the progress callback raised."""
        self._call(self._L.dbmgmt_migrator_up(self._handle()), "up")

    def down(self, target: str) -> None:
        """Revert applied versions newer than target."""
        self._call(self._L.dbmgmt_migrator_down(self._handle(), _lib.encode(target)), "down")

    def baseline(self, version: str) -> None:
        self._call(self._L.dbmgmt_migrator_baseline(self._handle(), _lib.encode(version)))

    def repair(self) -> None:
        self._call(self._L.dbmgmt_migrator_repair(self._handle()), "repair")

    def resume(self) -> None:
        self._call(self._L.dbmgmt_migrator_resume(self._handle()), "resume")

    def validate(self) -> None:
        """Raise the first problem of the source against the history, if any."""
        self._call(self._L.dbmgmt_migrator_validate(self._handle()), "validate")

    def seed(self, dir: Optional[PathLike] = None) -> List[SeedResult]:
        """Apply the seed data of a folder after migrating (docs/seeds.md):
        dir None is the folder "seeds" beside the migrations folder, else
        ./seeds. Returns one SeedResult per seed file, in order. Raises
        PolicyRefused in production (the migrator's environment or the
        database's stamp), with migrations pending, or when a seed has a lint
        error (seed-non-idempotent-insert, seed-ddl); DirtyDatabase when a
        migration failed halfway; nothing is applied then. A failing seed is
        rolled back; the ones before it stay applied."""
        L = self._L
        if not hasattr(L, "dbmgmt_migrator_seed"):
            raise Unsupported(-11, f"the loaded libdbmgmt ({_lib.loaded_path()}) has no seeds")
        done: List[SeedResult] = []

        def on_seed(_userdata, version, name, file, outcome, elapsed_ms):
            done.append(SeedResult(_lib.text(version) or "", _lib.text(name) or "",
                                   _lib.text(file) or "", _SEED_OUTCOME.get(int(outcome), "?"),
                                   int(elapsed_ms)))
            return 0
        cb = _lib.SEED_PROGRESS_FN(on_seed)
        h = self._handle()
        self._call(L.dbmgmt_migrator_set_seed_progress(h, cb, None))
        try:
            path = _lib.encode(os.fspath(dir)) if dir is not None else None
            self._call(L.dbmgmt_migrator_seed(h, path), "seed")
        finally:
            L.dbmgmt_migrator_set_seed_progress(h, _lib.SEED_PROGRESS_FN(), None)
        return done

    def status(self) -> dict:
        """Every known version with its state, as a dict: environment,
        current, dirty, migrations [{version, name, state, ...}]."""
        out = c_void_p()
        self._call(self._L.dbmgmt_migrator_status_json(self._handle(), byref(out)), "status")
        return json.loads(_lib.take_string(out.value) or "{}")


# ---- standalone lint and embedding ----------------------------------------------

class LintReport(list):
    """The findings of lint(): a list of Finding, with migration_count and
    the library's JSON rendering in ``json``."""
    migration_count: int = 0
    json: str = ""

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self if f.severity == "error"]


def lint(paths: Union[PathLike, Sequence[PathLike]], engine: Union[Engine, int, str] = "sqlite",
         *, galera: bool = False, seeds: bool = False) -> LintReport:
    """Lint the up sections of a migration folder (a path) or of some
    migration files (a list of paths) for engine's dialect. No database.
    galera: for a Galera cluster, with the galera-* rules (engine "mysql"
    only, else InvalidArgument). seeds: the files are seeds (docs/seeds.md),
    linted with the seed-* rules instead of the migration rules."""
    L = _lib.lib()
    out = c_void_p()
    eng = int(Engine.of(engine))
    flags = (LINT_GALERA if galera else 0) | (LINT_SEEDS if seeds else 0)
    if flags:
        _require_galera(L)
    if isinstance(paths, (str, os.PathLike)):
        path = _lib.encode(os.fspath(paths))
        check(L.dbmgmt_lint_dir_with(byref(out), eng, path, flags) if flags
              else L.dbmgmt_lint_dir(byref(out), eng, path))
    else:
        files = [_lib.encode(os.fspath(p)) for p in paths]
        array = _lib.string_array(files)
        check(L.dbmgmt_lint_files_with(byref(out), eng, array, len(files), flags) if flags
              else L.dbmgmt_lint_files(byref(out), eng, array, len(files)))
    h = out.value
    S = _lib.text
    try:
        report = LintReport(
            Finding(S(L.dbmgmt_lint_report_rule(h, k)) or "",
                    _SEVERITY.get(L.dbmgmt_lint_report_severity(h, k), "?"),
                    S(L.dbmgmt_lint_report_file(h, k)), int(L.dbmgmt_lint_report_line(h, k)),
                    S(L.dbmgmt_lint_report_message(h, k)) or "",
                    S(L.dbmgmt_lint_report_advice(h, k)) or "",
                    version=S(L.dbmgmt_lint_report_version(h, k)))
            for k in range(L.dbmgmt_lint_report_count(h)))
        report.migration_count = int(L.dbmgmt_lint_report_migration_count(h))
        report.json = _lib.take_string(L.dbmgmt_lint_report_to_json(h)) or ""
        return report
    finally:
        L.dbmgmt_lint_report_free(h)


def embed_c(dir: PathLike, symbol: str) -> str:
    """C source defining ``const dbmgmt_migration_def symbol[]`` for the
    migrations of a folder (what ``dbmgmt embed`` writes)."""
    L = _lib.lib()
    out = c_void_p()
    check(L.dbmgmt_migrations_embed_c(_lib.encode(os.fspath(dir)), _lib.encode(symbol), byref(out)))
    return _lib.take_string(out.value) or ""


__all__ = ["migrate_on_boot", "Migrator", "Plan", "Step", "Problem", "Finding", "MigrationDef",
           "SeedResult",
           "LintReport", "lint", "embed_c", "UP", "DOWN", "ALLOW_OUT_OF_ORDER",
           "ALLOW_MISSING_APPLIED", "ALLOW_DOWN_IN_PRODUCTION", "ALLOW_LINT_ERRORS",
           "GALERA_AUTO", "GALERA_ON", "GALERA_OFF"]
