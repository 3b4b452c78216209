"""Backup scheduling through the binding (when the library has backup.h's
module): schedules, retention, a SQLite backup with hooks whose exceptions
reach the caller, off-site copies."""
import datetime
import hashlib
import os
import time

import pytest

import dbmgmt
from dbmgmt import _lib
from conftest import ENGINE

pytestmark = [
    pytest.mark.skipif(not _lib.has("dbmgmt_backup_new"), reason="library built without backups"),
    pytest.mark.skipif(ENGINE != "sqlite", reason="the binding's backup tests use SQLite files"),
]


def test_schedule_next_fire_time():
    assert dbmgmt.Schedule("@daily").next(0) == 86400
    assert dbmgmt.Schedule("30 2 * * *").next(0) == 2 * 3600 + 30 * 60
    with pytest.raises(dbmgmt.ParseError):
        dbmgmt.Schedule("61 * * * *")


def test_retention_keeps_daily_and_last():
    kept = dbmgmt.Retention(last=1, daily=2).apply([0, 3600, 86400, 2 * 86400])
    assert [k for _, k, _ in kept] == [False, False, True, True]
    assert "last snapshot" in kept[-1][2]


def test_backup_runs_hooks_and_reraises_their_exceptions(tmp_path):
    db = tmp_path / "app.db"
    with dbmgmt.Connection(f"sqlite://{db}") as c:
        c.exec("CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1);")
    with dbmgmt.Backup(f"sqlite://{db}", str(tmp_path / "backups")) as b:
        uploads = []
        b.set_hook(dbmgmt.Hook.UPLOAD, lambda hook, id, path, detail: uploads.append(path))
        backup_id = b.run_now()
        assert uploads and os.path.exists(uploads[0])
        b.verify(backup_id)
        assert b.metrics()["count"] == 1 and b.list()[0]["id"] == backup_id

        def refuse(hook, id, path, detail):
            raise PermissionError("no off-site copy today")
        b.set_hook(dbmgmt.Hook.UPLOAD, refuse)
        with pytest.raises(PermissionError, match="off-site"):
            b.run_now()


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.skipif(not _lib.has("dbmgmt_backup_set_offsite"), reason="no off-site copies")
def test_offsite_copy_listed_verified_and_pruned(tmp_path):
    db = tmp_path / "app.db"
    off = tmp_path / "off"
    off.mkdir()
    with dbmgmt.Connection(f"sqlite://{db}") as c:
        c.exec("CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1), (2);")
    with pytest.raises(dbmgmt.DbmgmtError, match="no-such"):
        dbmgmt.Backup(f"sqlite://{db}", str(tmp_path / "backups"),
                      offsite=str(tmp_path / "no-such"))
    with dbmgmt.Backup(f"sqlite://{db}", str(tmp_path / "backups"), offsite=str(off)) as b:
        first = b.run_now()
        entry = b.list()[0]
        copy = off / entry["file"]
        assert _sha256(copy) == entry["sha256"]
        assert entry["copies"] == [{"location": os.path.realpath(off), "file": entry["file"],
                                    "size": entry["size"], "sha256": entry["sha256"],
                                    "copied_at": entry["copies"][0]["copied_at"]}]
        with open(copy, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
        with pytest.raises(dbmgmt.ChecksumMismatch, match="off-site copy in"):
            b.verify(first)
        assert b.list()[0]["copies"] == [] and not copy.exists()
        b.tick(int(time.time()))
        assert _sha256(copy) == entry["sha256"]
        b.set_retention(dbmgmt.Retention(last=1))
        time.sleep(1)
        b.run_now()
        assert b.prune() == 1
        assert not copy.exists() and len(list(off.iterdir())) == 1
        b.set_offsite(None)


def test_restore_to_time_takes_the_nearest_backup_before_it(tmp_path):
    """SQLite: the nearest backup at or before the time (no log replay)."""
    db = tmp_path / "app.db"
    with dbmgmt.Connection(f"sqlite://{db}") as c:
        c.exec("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    t0 = 1893456000  # 2030-01-01T00:00:00Z, the injected clock
    with dbmgmt.Backup(f"sqlite://{db}", str(tmp_path / "backups"), engine="auto") as b:
        with pytest.raises(dbmgmt.DbmgmtError, match="'tape'"):
            b.set_engine("tape")
        with pytest.raises(dbmgmt.Unsupported, match="PostgreSQL"):
            b.set_engine("pgbackrest")
        b.add_schedule("hourly", "0 * * * *", "hourly")
        with pytest.raises(dbmgmt.NotFound):
            b.restore_to_time(str(tmp_path / "r0.db"), t0)
        b.tick(t0)
        for h in (1, 2, 3):
            with dbmgmt.Connection(f"sqlite://{db}") as c:
                c.exec("INSERT INTO t DEFAULT VALUES")
            assert b.tick(t0 + h * 3600) == 1
        target = tmp_path / "restored.db"
        info = b.restore_to_time(str(target), datetime.datetime.fromtimestamp(
            t0 + 2 * 3600 + 1800, datetime.timezone.utc))
        assert info["engine"] == "sqlite"
        assert info["backup_time"] == "2030-01-01T02:00:00Z"
        assert info["target_time"] == "2030-01-01T02:30:00Z"
        assert "no log replay" in info["method"]
        with dbmgmt.Connection(f"sqlite://{target}") as c:
            assert c.query("SELECT COUNT(*) FROM t")[0][0] == 2
        with pytest.raises(ValueError, match="aware datetime"):
            b.restore_to_time(str(target), datetime.datetime(2030, 1, 1, 2, 30))
