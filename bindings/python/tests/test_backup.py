"""Backup scheduling through the binding (when the library has backup.h's
module): schedules, retention, a SQLite backup with hooks whose exceptions
reach the caller."""
import os

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
