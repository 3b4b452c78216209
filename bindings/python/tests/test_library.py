"""Loading the library, version, statuses and exceptions, DSN redaction, split."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import dbmgmt
from dbmgmt import errors

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def run_python(code, env_extra, drop=("DBMGMT_LIBRARY",)):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra)
    env["PYTHONPATH"] = PACKAGE_ROOT
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_version_is_the_loaded_librarys():
    assert dbmgmt.version() == "0.1.0"
    assert dbmgmt.version_number() == 100
    assert dbmgmt.loaded_path()


def test_one_liner_prints_the_version():
    r = run_python("import dbmgmt; print(dbmgmt.version())",
                   {"DBMGMT_LIBRARY": os.environ["DBMGMT_LIBRARY"]}, drop=())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == dbmgmt.version()


def test_missing_library_error_names_every_place_tried():
    r = run_python("import dbmgmt; dbmgmt.version()",
                   {"DBMGMT_LIBRARY": "/nonexistent/libdbmgmt.so.1"})
    assert r.returncode != 0
    assert "LibraryNotFound" in r.stderr
    assert "$DBMGMT_LIBRARY: /nonexistent/libdbmgmt.so.1" in r.stderr
    r = run_python("import dbmgmt; dbmgmt.load('/also/missing.so')", {})
    assert "the path given to dbmgmt.load(): /also/missing.so" in r.stderr
    # nothing explicit: the system loader and find_library are what is tried
    r = run_python("import dbmgmt\ntry:\n dbmgmt.version()\nexcept dbmgmt.LibraryNotFound as e:\n"
                   " print(e)", {"LD_LIBRARY_PATH": "/nonexistent"})
    if r.stdout:  # when no libdbmgmt is installed on this machine
        assert "the system loader" in r.stdout and "libdbmgmt.so.1" in r.stdout


def test_load_with_an_explicit_path_is_the_loaded_one():
    r = run_python(f"import dbmgmt; dbmgmt.load({os.environ['DBMGMT_LIBRARY']!r}); "
                   "print(dbmgmt.loaded_path())", {})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.environ["DBMGMT_LIBRARY"]


def test_every_status_has_its_exception_class():
    for status, cls in errors.BY_STATUS.items():
        assert dbmgmt.status_name(status) == cls.status_name
        e = errors.error_for(status, "msg", "42000")
        assert isinstance(e, dbmgmt.DbmgmtError) and type(e) is cls
        assert (e.status, e.message, e.sqlstate, str(e)) == (status, "msg", "42000", "msg")
        clone = pickle.loads(pickle.dumps(e))
        assert (type(clone), clone.status, clone.message) == (cls, status, "msg")
    assert issubclass(dbmgmt.AcquireTimeout, TimeoutError)
    assert issubclass(dbmgmt.Timeout, TimeoutError)
    assert issubclass(dbmgmt.ConnectFailed, ConnectionError)
    assert dbmgmt.status_name(-99) == "DBMGMT_UNKNOWN"


def test_constructor_failure_reads_the_threads_message():
    with pytest.raises(dbmgmt.ParseError) as info:
        dbmgmt.Connection("nonsense-without-scheme")
    assert info.value.status == -15 and info.value.message


def test_dsn_redact_hides_the_password():
    red = dbmgmt.dsn_redact("postgres://app:s3cret@db:5432/app")
    assert "s3cret" not in red and "***" in red


def test_engine_names_and_availability():
    assert dbmgmt.engine_available("sqlite")
    assert dbmgmt.Engine.of("postgresql") is dbmgmt.Engine.POSTGRES
    with pytest.raises(dbmgmt.InvalidArgument):
        dbmgmt.Engine.of("oracle")


def test_split_postgres_dollar_quotes_and_positions():
    script = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n  SELECT 'a;b';"
    parts = dbmgmt.split(script, "postgres")
    assert [p.sql for p in parts] == [
        "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", "SELECT 'a;b'"]
    assert (parts[1].line, parts[1].column) == (2, 3)


def test_split_unterminated_string_is_a_parse_error_with_position():
    with pytest.raises(dbmgmt.ParseError) as info:
        dbmgmt.split("SELECT 1;\nSELECT 'oops", "sqlite")
    assert info.value.message.startswith("2:8:")


def test_lint_finds_dangerous_patterns(tmp_path):
    (tmp_path / "001_drop.sql").write_text(
        "-- migrate:up\nALTER TABLE accounts DROP COLUMN email;\n-- migrate:down\nSELECT 1;\n")
    report = dbmgmt.lint(str(tmp_path), "postgres")
    assert report.migration_count == 1
    assert "drop-column" in {f.rule for f in report}
    assert report.json.startswith("{")


def test_lint_galera_rules_only_when_asked_and_only_for_mysql(tmp_path):
    (tmp_path / "001_log.sql").write_text(
        "-- migrate:up\nCREATE TABLE IF NOT EXISTS log (line TEXT) ENGINE=MyISAM;\n"
        "-- migrate:down\nDROP TABLE IF EXISTS log;\n")
    assert not [f for f in dbmgmt.lint(str(tmp_path), "mysql") if f.rule.startswith("galera-")]
    report = dbmgmt.lint(str(tmp_path), "mysql", galera=True)
    assert sorted(f.rule for f in report.errors) == ["galera-no-primary-key",
                                                     "galera-non-transactional-engine"]
    assert all(f.line == 2 and "log" in f.message for f in report.errors)
    files = dbmgmt.lint([tmp_path / "001_log.sql"], "mysql", galera=True)
    assert len(files.errors) == 2
    with pytest.raises(dbmgmt.InvalidArgument) as info:
        dbmgmt.lint(str(tmp_path), "postgres", galera=True)
    assert "DBMGMT_LINT_GALERA needs the MySQL/MariaDB dialect" in info.value.message


def test_logger_receives_redacted_lines():
    lines = []
    dbmgmt.set_logger(lambda level, msg: lines.append((level, msg)), dbmgmt.LogLevel.DEBUG)
    try:
        with pytest.raises(dbmgmt.ConnectFailed):
            dbmgmt.Connection("postgres://u:topsecret@127.0.0.1:1/db?connect_timeout=1")
    except dbmgmt.Unsupported:
        pytest.skip("this build has no PostgreSQL driver")
    finally:
        dbmgmt.set_logger(None)
    assert all("topsecret" not in m for _, m in lines)
