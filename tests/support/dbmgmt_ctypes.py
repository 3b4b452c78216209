"""What the tests written in Python share: the smallest client over
libdbmgmt's C API (ctypes, no binding: the tests check the library as a C
program sees it) and the ok/FAIL lines with their counts.

    import dbmgmt_ctypes as dc
    lib = dc.load(LIBRARY)            # libdbmgmt.so.1 of the build under test
    c = dc.Conn("mysql://...")        # DBMGMT_OK or RuntimeError(the message)
    db = dc.ScratchDb(base, "mysql", "name", tmpdir)   # db.dsn; db.drop()
    checks = dc.Checks()              # checks.check(name, ok, detail)

A test finds this file with sys.path.insert(0, <tests/support>).
"""
import ctypes
import json

lib = None


def load(path):
    """Loads the library and declares what the tests call with non-int results."""
    global lib
    lib = ctypes.CDLL(path)
    for fn in ("dbmgmt_errmsg", "dbmgmt_conn_errmsg", "dbmgmt_result_text"):
        getattr(lib, fn).restype = ctypes.c_char_p
    lib.dbmgmt_conn_errmsg.argtypes = [ctypes.c_void_p]
    lib.dbmgmt_result_int64.restype = ctypes.c_int64
    for fn in ("dbmgmt_conn_exec", "dbmgmt_conn_lock", "dbmgmt_conn_unlock",
               "dbmgmt_conn_prepare"):
        getattr(lib, fn).restype = ctypes.c_int
    lib.dbmgmt_conn_schema_json.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p)]
    return lib


class Conn:
    """One connection; every failure raises RuntimeError with the library's message."""

    def __init__(self, dsn):
        self.h = ctypes.c_void_p()
        if lib.dbmgmt_conn_open(ctypes.byref(self.h), dsn.encode()) != 0:
            raise RuntimeError(lib.dbmgmt_errmsg().decode())

    def _fail(self):
        raise RuntimeError(lib.dbmgmt_conn_errmsg(self.h).decode())

    def exec(self, sql):
        if lib.dbmgmt_conn_exec(self.h, sql.encode()) != 0:
            self._fail()

    def rows(self, sql):
        """Every row, as tuples of text (None for NULL)."""
        r = ctypes.c_void_p()
        if lib.dbmgmt_conn_query(self.h, ctypes.byref(r), sql.encode(), ctypes.c_size_t(0),
                                 None) != 0:
            self._fail()
        out = []
        try:
            n = lib.dbmgmt_result_column_count(r)
            while lib.dbmgmt_result_next(r) == 1:
                row = []
                for i in range(n):
                    v = lib.dbmgmt_result_text(r, i)
                    row.append(None if v is None else v.decode())
                out.append(tuple(row))
        finally:
            lib.dbmgmt_result_free(r)
        return out

    def column(self, sql):
        return [row[0] for row in self.rows(sql)]

    def scalar(self, sql):
        rows = self.rows(sql)
        return rows[0][0] if rows else None

    def lock(self, name, timeout_ms):
        if lib.dbmgmt_conn_lock(self.h, name.encode(), ctypes.c_int32(timeout_ms)) != 0:
            self._fail()

    def tables(self):
        """The names of the tables dbmgmt_conn_schema_json lists."""
        out = ctypes.c_char_p()
        if lib.dbmgmt_conn_schema_json(self.h, ctypes.byref(out)) != 0:
            self._fail()
        return {t["name"] for t in json.loads(out.value.decode())["tables"]}

    def close(self):
        lib.dbmgmt_conn_close(self.h)


class ScratchDb:
    """A database of one test's own: on SQLite the file db.sqlite in
    sqlite_dir, on a server CREATE DATABASE name through base_dsn (whose
    database part is replaced in dsn); drop() removes it."""

    def __init__(self, base_dsn, engine, name, sqlite_dir):
        self.base, self.engine, self.name = base_dsn, engine, name
        if engine == "sqlite":
            self.dsn = f"sqlite://{sqlite_dir}/db.sqlite"
            return
        c = Conn(base_dsn)
        c.exec(f"CREATE DATABASE {name}")
        c.close()
        head, _, rest = base_dsn.partition("://")
        auth, _, path = rest.partition("/")
        query = ("?" + path.split("?", 1)[1]) if "?" in path else ""
        self.dsn = f"{head}://{auth}/{name}{query}"

    def drop(self):
        if self.engine == "sqlite":
            return
        c = Conn(self.base)
        if self.engine == "postgres":
            c.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   f"WHERE datname = '{self.name}'")
        c.exec(f"DROP DATABASE {self.name}")
        c.close()


class Checks:
    """ok/FAIL lines and their counts; what was said is kept in captured
    (with whatever else a test adds there) to search for passwords."""

    def __init__(self):
        self.passed = self.failed = 0
        self.captured = []

    def say(self, text):
        self.captured.append(text)
        print(text, flush=True)

    def check(self, name, condition, detail=""):
        if condition:
            self.passed += 1
            self.say(f"ok   {name}")
        else:
            self.failed += 1
            self.say(f"FAIL {name} {detail}")
        return bool(condition)
