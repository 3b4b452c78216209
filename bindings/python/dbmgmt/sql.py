"""Splitting SQL scripts into statements (include/dbmgmt/sql.h)."""
from __future__ import annotations

import ctypes
from ctypes import byref, c_size_t, c_void_p
from dataclasses import dataclass
from typing import List, Union

from . import _lib
from ._core import Engine, check


@dataclass(frozen=True)
class SqlStatement:
    """One statement of a script: its text (from its first token to its last,
    without the terminator), where it starts (1-based line and column in code
    points) and its byte offset in the UTF-8 input."""
    sql: str
    line: int
    column: int
    offset: int


def split(sql: Union[str, bytes], dialect: Union[Engine, int, str] = "sqlite") -> List[SqlStatement]:
    """Split a script written in dialect's SQL (sqlite, postgres, mysql) into
    statements: strings, comments, dollar quotes, DELIMITER, BEGIN ... END
    bodies are understood. Raises ParseError naming LINE:COLUMN for an
    unterminated string, comment or body."""
    L = _lib.lib()
    data = sql.encode("utf-8") if isinstance(sql, str) else bytes(sql)
    out = c_void_p()
    check(L.dbmgmt_split(int(Engine.of(dialect)), data, len(data), byref(out)))
    h = out.value
    try:
        n = L.dbmgmt_statements_count(h)
        size = c_size_t()
        result = []
        for i in range(n):
            ptr = L.dbmgmt_statements_sql(h, i, byref(size))
            text = ctypes.string_at(ptr, size.value).decode("utf-8", "surrogateescape")
            result.append(SqlStatement(text, int(L.dbmgmt_statements_line(h, i)),
                                       int(L.dbmgmt_statements_column(h, i)),
                                       int(L.dbmgmt_statements_offset(h, i))))
        return result
    finally:
        L.dbmgmt_statements_free(h)


__all__ = ["split", "SqlStatement"]
