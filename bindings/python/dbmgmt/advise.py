"""Index advice (include/dbmgmt/advise.h): missing indexes confirmed by the
engine's planner, and duplicate, redundant, unused and foreign-key findings.

Bound only when the loaded library has the advise module; otherwise the
constructor raises Unsupported.
"""
from __future__ import annotations

import json
from ctypes import byref, c_void_p
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import _lib
from ._core import Handle, check
from .connection import Connection
from .errors import Unsupported, error_for


@dataclass(frozen=True)
class Advice:
    """One finding: kind ("missing", "duplicate", "redundant", "unused",
    "fk_unindexed", "low_cardinality_lead", "over_indexed"), the table, its
    columns, the index concerned, the DDL to run, why, whether the planner
    confirmed it, the costs before/after (None when unknown) and the
    statements it concerns."""
    kind: str
    table: str
    columns: List[str]
    index: str
    ddl: str
    reason: str
    confirmed: bool
    cost_before: Optional[float]
    cost_after: Optional[float]
    queries: List[str] = field(default_factory=list)


class Advisor(Handle):
    """An advisor over a connection: add a workload, run, read findings.

        with dbmgmt.Advisor(conn) as a:
            a.add_query("SELECT * FROM orders WHERE customer_id = ?", weight=120)
            for finding in a.run():
                print(finding.ddl)
    """

    def __init__(self, conn: Connection, *, min_saving: Optional[float] = None,
                 max_indexes: Optional[int] = None) -> None:
        L = self._L = conn._L
        if not hasattr(L, "dbmgmt_advisor_new"):
            raise Unsupported(-11, f"the loaded libdbmgmt ({_lib.loaded_path()}) has no advise module")
        self.conn = conn  # the advisor borrows it: keep it alive
        out = c_void_p()
        check(L.dbmgmt_advisor_new(byref(out), conn._handle()))
        self._own(out.value, lambda lib, ptr: lib.dbmgmt_advisor_free(ptr), L)
        self.note = ""
        self.skipped = 0
        if min_saving is not None:
            self._check(L.dbmgmt_advisor_set_min_saving(self._handle(), float(min_saving)))
        if max_indexes is not None:
            self._check(L.dbmgmt_advisor_set_max_indexes(self._handle(), int(max_indexes)))

    def _check(self, status: int) -> int:
        """Raise with the advisor's own message on failure."""
        if status < 0:
            message = _lib.text(self._L.dbmgmt_advisor_errmsg(self._handle())) or ""
            raise error_for(status, message or _lib.text(self._L.dbmgmt_errmsg()) or "", "")
        return status

    def add_query(self, sql: str, weight: float = 1.0) -> None:
        """Add one statement with how often it runs."""
        self._check(self._L.dbmgmt_advisor_add_query(self._handle(), _lib.encode(sql), float(weight)))

    def add_file(self, path: str) -> None:
        """Add every statement of an SQL file (weight 1 each)."""
        self._check(self._L.dbmgmt_advisor_add_file(self._handle(), _lib.encode(str(path))))

    def use_engine_stats(self) -> None:
        """Add the workload the engine recorded (pg_stat_statements, ...)."""
        self._check(self._L.dbmgmt_advisor_use_engine_stats(self._handle()))

    def run(self) -> List[Advice]:
        """Analyse and return the findings (nothing in the database changes).
        self.note says why missing indexes are unconfirmed, if they are."""
        L = self._L
        out = c_void_p()
        self._check(L.dbmgmt_advisor_run(self._handle(), byref(out)))
        adv = out.value
        try:
            self.note = _lib.text(L.dbmgmt_advice_note(adv)) or ""
            self.skipped = int(L.dbmgmt_advice_skipped(adv))
            return [self._finding(adv, i) for i in range(L.dbmgmt_advice_count(adv))]
        finally:
            L.dbmgmt_advice_free(adv)

    def run_json(self) -> Dict[str, Any]:
        """The findings as the library's JSON (docs/advise.md), parsed."""
        L = self._L
        out = c_void_p()
        self._check(L.dbmgmt_advisor_run(self._handle(), byref(out)))
        try:
            return json.loads(_lib.take_string(L.dbmgmt_advice_to_json(out.value)) or "null")
        finally:
            L.dbmgmt_advice_free(out.value)

    def _finding(self, adv: int, i: int) -> Advice:
        L = self._L

        def cost(v: float) -> Optional[float]:
            return None if v < 0 else float(v)

        columns = _lib.text(L.dbmgmt_advice_columns(adv, i)) or ""
        return Advice(
            kind=_lib.text(L.dbmgmt_advice_kind_name(L.dbmgmt_advice_kind(adv, i))) or "",
            table=_lib.text(L.dbmgmt_advice_table(adv, i)) or "",
            columns=[c for c in columns.split(",") if c],
            index=_lib.text(L.dbmgmt_advice_index(adv, i)) or "",
            ddl=_lib.text(L.dbmgmt_advice_ddl(adv, i)) or "",
            reason=_lib.text(L.dbmgmt_advice_reason(adv, i)) or "",
            confirmed=bool(L.dbmgmt_advice_confirmed(adv, i)),
            cost_before=cost(L.dbmgmt_advice_cost_before(adv, i)),
            cost_after=cost(L.dbmgmt_advice_cost_after(adv, i)),
            queries=[_lib.text(L.dbmgmt_advice_query_at(adv, i, q)) or ""
                     for q in range(L.dbmgmt_advice_queries(adv, i))],
        )
