"""What the exporter comparisons share (tests/exporters/test_exporters*.py): the
health calls over ctypes, the exporter's /metrics parsed, the bounded comparison, and
small helpers for sessions in threads. docs/health-exporters.md has the method.

    import exporters_common as xc
    lib = xc.load(LIBRARY)            # dbmgmt_ctypes.load + the health declarations
    snap = xc.Snapshot(conn)          # snap[xc.SIZE]: a value, or None when absent
"""
import ctypes
import os
import re
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import dbmgmt_ctypes as dc  # noqa: E402  (tests/support: the client and the checks)

# include/dbmgmt/health.h
SIZE, HIT_RATIO, HITS, READS = 0, 1, 2, 3
ACTIVE, IDLE, TOTAL, MAX = 4, 5, 7, 8
DEADLOCKS, REPL_LAG = 9, 14
NOTFOUND = -12  # DBMGMT_ERR_NOTFOUND, checked against the header below

lib = None
HAVE_PROM = False


def load(path):
    """The library with the health functions declared."""
    global lib, HAVE_PROM
    lib = dc.load(path)
    lib.dbmgmt_health_collect.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.dbmgmt_health_get.argtypes = [ctypes.c_void_p, ctypes.c_int32,
                                      ctypes.POINTER(ctypes.c_double)]
    lib.dbmgmt_health_free.argtypes = [ctypes.c_void_p]
    lib.dbmgmt_health_replica_count.argtypes = [ctypes.c_void_p]
    lib.dbmgmt_health_replica_count.restype = ctypes.c_size_t
    lib.dbmgmt_health_sampler_new.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.dbmgmt_health_sampler_free.argtypes = [ctypes.c_void_p]
    lib.dbmgmt_health_sample.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.POINTER(ctypes.c_void_p)]
    lib.dbmgmt_health_replica_name.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.dbmgmt_health_replica_name.restype = ctypes.c_char_p
    lib.dbmgmt_health_replica_lag_seconds.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.dbmgmt_health_replica_lag_seconds.restype = ctypes.c_double
    lib.dbmgmt_health_to_json.argtypes = [ctypes.c_void_p]
    lib.dbmgmt_health_to_json.restype = ctypes.c_void_p
    # The exposition comes with the `prom` work; until it is merged the check goes without.
    HAVE_PROM = hasattr(lib, "dbmgmt_metrics_to_prometheus")
    if HAVE_PROM:
        lib.dbmgmt_metrics_to_prometheus.argtypes = [ctypes.c_void_p] * 5 + [
            ctypes.POINTER(ctypes.c_void_p)]
    lib.dbmgmt_free.argtypes = [ctypes.c_void_p]
    return lib


def skip(msg):
    if os.environ.get("CI") in ("true", "1"):
        print(f"FAIL {msg} (CI=true: a failure, not a skip)")
        sys.exit(1)
    print(f"skipped: {msg}")
    sys.exit(77)


class Snapshot:
    """One dbmgmt_health_collect: figure -> value, None when absent."""

    def __init__(self, conn):
        h = ctypes.c_void_p()
        if lib.dbmgmt_health_collect(conn.h, ctypes.byref(h)) != 0:
            raise RuntimeError("dbmgmt_health_collect: " + lib.dbmgmt_errmsg().decode())
        self.values = {}
        v = ctypes.c_double()
        for m in range(32):
            rc = lib.dbmgmt_health_get(h, m, ctypes.byref(v))
            if rc not in (0, NOTFOUND):
                raise RuntimeError(f"dbmgmt_health_get({m}) returned {rc}")
            self.values[m] = v.value if rc == 0 else None
        self.replicas = lib.dbmgmt_health_replica_count(h)
        self.replica_lags = {   # name -> lag in seconds (-1 unknown)
            lib.dbmgmt_health_replica_name(h, i).decode():
            lib.dbmgmt_health_replica_lag_seconds(h, i) for i in range(self.replicas)}
        lib.dbmgmt_health_free(h)

    def __getitem__(self, m):
        return self.values[m]


# ---- the exporter's /metrics ------------------------------------------------------------
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def scrape(url):
    """name -> [(labels dict, value)]"""
    with urllib.request.urlopen(url, timeout=30) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise RuntimeError(f"unparsable exposition line: {line!r}")
        labels = {k: bytes(v, "utf-8").decode("unicode_escape")
                  for k, v in LABEL.findall(m.group(2) or "")}
        out.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return out


def one(metrics, name, **want):
    """The single value of name whose labels include want; an error if not one."""
    rows = [v for labels, v in metrics.get(name, [])
            if all(labels.get(k) == w for k, w in want.items())]
    if len(rows) != 1:
        raise RuntimeError(f"the exporter has {len(rows)} series {name}{want or ''}")
    return rows[0]


def within(name, exp, a, b, slack=0.0):
    """(name, ok, detail): exp lies in [min(a,b) - slack, max(a,b) + slack]."""
    if a is None or b is None:
        return (name, False, f"absent in our snapshot (exporter: {exp})")
    lo, hi = min(a, b) - slack, max(a, b) + slack
    return (name, lo <= exp <= hi,
            f"exporter {exp:g}, ours {a:g} .. {b:g}, tolerance ±{slack:g}")


def in_thread(fn):
    box = {}

    def run():
        try:
            fn()
        except RuntimeError as e:   # a deadlock victim, a cancelled statement
            box["error"] = str(e)
    t = threading.Thread(target=run)
    t.start()
    return t, box


def wait_for(what, fn, seconds=30):
    """Until fn() is true; a RuntimeError from fn (a table not replicated yet) counts
    as not yet."""
    deadline = time.monotonic() + seconds
    last = ""
    while True:
        try:
            if fn():
                return
        except RuntimeError as e:
            last = f" (last error: {e})"
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}{last}")
        time.sleep(0.1)


def header_notfound():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "include", "dbmgmt", "common.h")) as f:
        m = re.search(r"DBMGMT_ERR_NOTFOUND\s*=\s*(-?\d+)", f.read())
    return int(m.group(1)) if m else None
