"""The pool on every engine: the scenario of examples/pool_worker.c from 8
Python threads, waits in acquire that release the GIL (two threads waiting at
once), timeouts as TimeoutError, callbacks whose exceptions are not lost."""
import threading
import time

import pytest

import dbmgmt
from conftest import ENGINE

WORKERS = 8


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_pool_worker_example_in_python(example_db, example_migrations):
    """examples/pool_worker.c in Python: migrate on boot, a pool, 8 worker
    threads placing orders in transactions and reading, then the metrics."""
    dbmgmt.migrate_on_boot(example_db, example_migrations, environment="development")
    events = []
    per_worker = 25
    with dbmgmt.Pool(example_db, leak_threshold_ms=10000,
                     on_event=lambda ev, msg: events.append((ev, msg))) as pool:
        def number(sql):
            with pool.acquire() as conn:
                return conn.scalar(sql)

        before = number("SELECT COUNT(*) FROM orders")
        first_id = number("SELECT COALESCE(MAX(id), 0) FROM orders") + 1
        served, failed, lock = [0], [], threading.Lock()

        def place_order(order_id):
            with pool.acquire() as conn, conn.transaction():
                conn.query("INSERT INTO orders (id, account_id, total_cents, status) "
                           "VALUES (?, 1, 1999, 'new')", [order_id])

        def count_orders():
            with pool.acquire_read() as conn:
                return conn.scalar("SELECT COUNT(*) FROM orders")

        def worker(index):
            for i in range(per_worker):
                try:
                    place_order(first_id + index * per_worker + i)
                    if i % 4 == 0:
                        assert count_orders() >= 1
                    with lock:
                        served[0] += 1
                except Exception as exc:  # counted, like the C example
                    with lock:
                        failed.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = number("SELECT COUNT(*) FROM orders")
        metrics = pool.metrics()
    assert failed == []
    assert served[0] == WORKERS * per_worker
    assert after - before == WORKERS * per_worker
    assert metrics["acquires"] >= WORKERS * per_worker * 5 // 4
    assert metrics["active"] == 0 and metrics["timeouts"] == 0 and metrics["leaks"] == 0
    assert 1 <= metrics["total"] <= metrics["max"]
    assert set(metrics) == {m.name.lower() for m in dbmgmt.PoolMetric}


def test_two_threads_wait_in_acquire_at_once(dsn):
    """Pool of one: a holder keeps it, two threads wait in acquire, and a
    third (this one) sees DBMGMT_POOL_WAITING == 2 — the waits release the GIL."""
    with dbmgmt.Pool(dsn, max_size=1, min_idle=0, acquire_timeout_ms=20000) as pool:
        holder = pool.acquire()
        got, errors = [], []

        def waiter():
            try:
                with pool.acquire() as conn:
                    got.append(conn.scalar("SELECT 1"))
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=waiter) for _ in range(2)]
        for t in threads:
            t.start()
        assert wait_for(lambda: pool.metric(dbmgmt.PoolMetric.WAITING) == 2), pool.metrics()
        # while both wait inside C, Python code keeps running here
        spins = sum(1 for _ in range(100000))
        assert spins == 100000 and pool.metric(dbmgmt.PoolMetric.WAITING) == 2
        holder.close()
        for t in threads:
            t.join(30)
        assert errors == [] and got == [1, 1]
        assert pool.metric(dbmgmt.PoolMetric.WAITING) == 0


def test_acquire_timeout_is_a_timeout_error(dsn):
    with dbmgmt.Pool(dsn, max_size=1, min_idle=0) as pool:
        with pool.acquire():
            t0 = time.monotonic()
            with pytest.raises(TimeoutError) as info:
                pool.acquire(timeout_ms=100)
            assert time.monotonic() - t0 >= 0.09
            assert isinstance(info.value, dbmgmt.AcquireTimeout)
            assert info.value.status == -6 and "waiting" in info.value.message
        assert pool.metrics()["timeouts"] == 1


def test_exception_in_event_callback_is_reraised_by_the_pool_call(dsn):
    def on_event(event, message):
        if event == dbmgmt.PoolEvent.EXHAUSTED:
            raise RuntimeError(f"callback saw: {message}")

    with dbmgmt.Pool(dsn, max_size=1, min_idle=0, on_event=on_event) as pool:
        with pool.acquire():
            with pytest.raises(RuntimeError, match="callback saw"):
                pool.acquire(timeout_ms=50)
        with pool.acquire() as conn:  # nothing pending any more
            assert conn.scalar("SELECT 1") == 1


def test_pooled_connection_survives_a_failed_query_and_is_reset(dsn, table):
    with dbmgmt.Pool(dsn, max_size=1, min_idle=0) as pool:
        with pool.acquire() as conn:
            conn.exec(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
            with pytest.raises(dbmgmt.SQLError):
                conn.query("SELECT * FROM py_no_such_table")
            assert conn.scalar("SELECT 2") == 2
            conn.begin()
            conn.query(f"INSERT INTO {table} (id) VALUES (?)", [1])
        # released with a transaction open: rolled back, connection reused
        with pool.acquire() as conn:
            assert not conn.in_transaction
            assert conn.scalar(f"SELECT COUNT(*) FROM {table}") == 0
        assert pool.metrics()["created"] == 1


def test_close_with_a_borrowed_connection_drains_later(dsn):
    pool = dbmgmt.Pool(dsn, max_size=2, min_idle=0)
    conn = pool.acquire()
    assert pool.close(drain_timeout_ms=0) is False
    assert pool.closed and pool.close() is True  # idempotent
    assert conn.scalar("SELECT 3") == 3  # still valid until released
    conn.close()
    assert conn.closed


def test_release_is_close(dsn):
    with dbmgmt.Pool(dsn, max_size=1, min_idle=0) as pool:
        conn = pool.acquire()
        pool.release(conn)
        assert conn.closed and pool.metrics()["active"] == 0
        with dbmgmt.Connection(dsn) as plain, pytest.raises(dbmgmt.InvalidArgument):
            pool.release(plain)


def test_configuration_is_validated(dsn):
    with pytest.raises(dbmgmt.InvalidArgument, match="max_size"):
        dbmgmt.Pool(dsn, max_size=0)
    with pytest.raises(dbmgmt.InvalidArgument, match="unknown setting"):
        dbmgmt.Pool(dsn, maximum=3)


def test_unreachable_server_fails_at_open():
    dsn = {"sqlite": "sqlite:///nonexistent-dir/x.db?mode=rw",
           "postgres": "postgres://u:pw@127.0.0.1:1/db?connect_timeout=2",
           "mysql": "mysql://u:pw@127.0.0.1:1/db"}[ENGINE]
    with pytest.raises(dbmgmt.ConnectFailed) as info:
        dbmgmt.Pool(dsn, min_idle=0)
    assert isinstance(info.value, ConnectionError)
    assert ":pw@" not in info.value.message


def test_pool_without_background_thread_is_maintained_by_the_host(dsn):
    with dbmgmt.Pool(dsn, background_thread=False, min_idle=1, max_size=2,
                     init_sql="SELECT 1") as pool:
        assert pool.maintain() >= 0
        stats = pool.stats()
        assert stats["config"]["background_thread"] is False
        assert stats["servers"][0]["up"] is True and stats["total"] >= 1
