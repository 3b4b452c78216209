"""No handle is leaked: 100,000 open/query/close cycles and 10,000 pool
acquire/query/release cycles keep the process's RSS flat (within 5 % after a
warm-up), and no finalizer is left registered.

Opening 100,000 connections is what SQLite does in seconds; a server engine
forks a backend or a thread per connection, so there the 100,000 cycles are
query cycles on one connection plus 500 open/query/close cycles.
Skipped in sanitizer builds, where ASan's quarantine makes RSS meaningless.
"""
import gc
import os
import time
import weakref

import pytest

import dbmgmt
from conftest import ENGINE, SANITIZED

pytestmark = pytest.mark.skipif(SANITIZED, reason="RSS is not meaningful under sanitizers")

PAGE = os.sysconf("SC_PAGE_SIZE")
TOLERANCE = 1.05


def rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def flat(cycle, total, warmup):
    """Run cycle() total times; RSS after the warm-up vs at the end."""
    for _ in range(warmup):
        cycle()
    base, finalizers = rss(), len(weakref.finalize._registry)
    t0 = time.monotonic()
    for _ in range(total - warmup):
        cycle()
    elapsed = time.monotonic() - t0
    end = rss()
    print(f"\n{ENGINE}: {total} cycles, RSS {base / 1024:.0f} KiB -> {end / 1024:.0f} KiB "
          f"({(end / base - 1) * 100:+.2f} %), {elapsed:.1f} s")
    assert len(weakref.finalize._registry) == finalizers
    assert end <= base * TOLERANCE, f"RSS grew from {base} to {end} bytes"


def test_open_query_close_cycles_keep_rss_flat(dsn):
    target = "sqlite::memory:" if ENGINE == "sqlite" else dsn
    total = 100_000 if ENGINE == "sqlite" else 500

    def cycle():
        conn = dbmgmt.Connection(target)
        assert conn.query("SELECT ?, 2", ["x"]) == [("x", 2)]
        conn.close()

    flat(cycle, total, warmup=total // 10)


def test_query_cycles_on_one_connection_keep_rss_flat(dsn, conn):
    if ENGINE == "sqlite":
        pytest.skip("covered by the 100,000 open/query/close cycles")
    flat(lambda: conn.query("SELECT ?, 2", ["x"]), 100_000, warmup=10_000)


def test_failed_query_cycles_keep_rss_flat(conn):
    def cycle():
        try:
            conn.query("SELECT * FROM py_no_such_table_for_leaks")
        except dbmgmt.SQLError:
            pass
    flat(cycle, 20_000, warmup=2_000)


def test_pool_acquire_release_cycles_keep_rss_flat(dsn):
    with dbmgmt.Pool(dsn, max_size=2, min_idle=1) as pool:
        def cycle():
            with pool.acquire() as conn:
                conn.query("SELECT 1")
        flat(cycle, 10_000, warmup=1_000)
