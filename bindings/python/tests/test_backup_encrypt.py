"""Encryption at rest through the binding (issue 21): set_key and
set_key_file on a SQLite backup; verify and restore with the key, clear
errors without it or with another, a key file others may read refused, a
flipped byte refused."""
import os

import pytest

import dbmgmt
from dbmgmt import _lib
from conftest import ENGINE

pytestmark = [
    pytest.mark.skipif(not _lib.has("dbmgmt_backup_set_key"),
                       reason="library without backup encryption"),
    pytest.mark.skipif(ENGINE != "sqlite", reason="the binding's backup tests use SQLite files"),
]


@pytest.fixture
def source(tmp_path):
    db = tmp_path / "app.db"
    with dbmgmt.Connection(f"sqlite://{db}") as c:
        c.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
               "INSERT INTO t (v) VALUES ('kestrel-secret'), ('b');")
    return f"sqlite://{db}"


def _encrypting_backup(source, backups):
    b = dbmgmt.Backup(source, str(backups))
    try:
        b.set_key(os.urandom(32))
    except dbmgmt.Unsupported as exc:
        b.close()
        assert "without libsodium" in str(exc)
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and the library was built without libsodium")
        pytest.skip("library built without libsodium")
    return b


def test_key_file_backup_verify_restore(tmp_path, source):
    key = os.urandom(32)
    key_file = tmp_path / "backup.key"
    key_file.write_text(key.hex() + "\n")
    key_file.chmod(0o600)
    _encrypting_backup(source, tmp_path / "probe").close()
    with dbmgmt.Backup(source, str(tmp_path / "backups")) as b:
        b.set_key_file(str(key_file))
        backup_id = b.run_now()
        entry = b.list()[0]
        assert entry["file"].endswith(".sqlite.enc")
        assert entry["attrs"]["encryption"] == "secretstream-xchacha20poly1305"
        data = (tmp_path / "backups" / entry["file"]).read_bytes()
        assert data[:8] == b"DBMGMTEN" and b"kestrel-secret" not in data
        assert key.hex().encode() not in data and key not in data
        b.verify(backup_id)
        target = tmp_path / "restored.db"
        b.restore(backup_id, f"sqlite://{target}")
        with dbmgmt.Connection(f"sqlite://{target}") as c:
            assert list(c.query("SELECT v FROM t ORDER BY id")) == [("kestrel-secret",), ("b",)]
    # Without the key, and with another: clear errors, nothing restored.
    with dbmgmt.Backup(source, str(tmp_path / "backups")) as b:
        with pytest.raises(dbmgmt.InvalidArgument,
                           match=f"backup {backup_id} is encrypted: no key"):
            b.verify(backup_id)
        b.set_key(os.urandom(32))
        with pytest.raises(dbmgmt.InvalidArgument, match="encrypted with another key"):
            b.restore(backup_id, f"sqlite://{tmp_path / 'other.db'}")
        assert not (tmp_path / "other.db").exists()
        b.set_key(bytearray(key))
        b.verify(backup_id)
        # One flipped byte: refused.
        path = tmp_path / "backups" / entry["file"]
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 1
        path.write_bytes(bytes(raw))
        with pytest.raises(dbmgmt.ChecksumMismatch, match=backup_id):
            b.verify(backup_id)


def test_key_rules(tmp_path, source):
    with _encrypting_backup(source, tmp_path / "backups") as b:
        with pytest.raises(dbmgmt.InvalidArgument, match="32 bytes"):
            b.set_key(b"short")
        key_file = tmp_path / "open.key"
        key_file.write_bytes(os.urandom(32))
        key_file.chmod(0o644)
        with pytest.raises(dbmgmt.PolicyRefused, match=str(key_file)):
            b.set_key_file(str(key_file))
        b.set_key(None)  # off: the next backup is a plain SQLite file
        b.run_now()
        entry = b.list()[0]
        assert entry["file"].endswith(".sqlite") and "encryption" not in entry.get("attrs", {})
        assert (tmp_path / "backups" / entry["file"]).read_bytes()[:15] == b"SQLite format 3"
