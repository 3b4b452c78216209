#!/usr/bin/env python3
"""CLI test for `dbmgmt split` (output lines, exit codes 0/1/2 and the
FILE:LINE:COLUMN error format) and for what every command shares: `--help`
and `-h` after any command, usage errors. Usage: test_cli.py PATH/TO/dbmgmt"""
import json
import os
import re
import subprocess
import sys
import tempfile

DBMGMT = os.path.abspath(sys.argv[1])
failures = []


def run(args, stdin=b"", cwd=None):
    p = subprocess.run([DBMGMT] + args, input=stdin, capture_output=True, timeout=30, cwd=cwd)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


def check(name, cond, detail=""):
    if not cond:
        failures.append("%s %s" % (name, detail))


def test_split_file_prints_one_json_object_per_statement():
    with tempfile.NamedTemporaryFile("wb", suffix=".sql", delete=False) as f:
        f.write(b"CREATE TABLE t (a);\n  INSERT INTO t VALUES ('x;y');\nSELECT 1")
        path = f.name
    try:
        rc, out, err = run(["split", "--engine", "sqlite", path])
        check("file exit", rc == 0, err)
        rows = [json.loads(line) for line in out.splitlines()]
        check("file rows", [r["sql"] for r in rows] ==
              ["CREATE TABLE t (a)", "INSERT INTO t VALUES ('x;y')", "SELECT 1"], out)
        check("file positions", [(r["index"], r["line"], r["column"]) for r in rows] ==
              [(0, 1, 1), (1, 2, 3), (2, 3, 1)], out)
        check("file offsets", [r["offset"] for r in rows] == [0, 22, 52], out)
    finally:
        os.unlink(path)


def test_split_reads_stdin_with_dash_or_no_file():
    for args in (["split", "--engine", "postgres", "-"], ["split", "--engine=postgres"]):
        rc, out, err = run(args, b"SELECT $$a;b$$; SELECT 2;")
        check("stdin exit %s" % args, rc == 0, err)
        check("stdin rows %s" % args, out ==
              '{"index":0,"line":1,"column":1,"offset":0,"sql":"SELECT $$a;b$$"}\n'
              '{"index":1,"line":1,"column":17,"offset":16,"sql":"SELECT 2"}\n', out)


def test_split_mysql_delimiter():
    rc, out, err = run(["split", "-e", "mysql"],
                       b"DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\nDELIMITER ;\n")
    check("mysql exit", rc == 0, err)
    check("mysql rows", [json.loads(l)["sql"] for l in out.splitlines()] ==
          ["CREATE PROCEDURE p() BEGIN SELECT 1; END"], out)


def test_split_parse_error_names_file_line_column():
    with tempfile.NamedTemporaryFile("wb", suffix=".sql", delete=False) as f:
        f.write(b"SELECT 1;\n\n  CREATE FUNCTION f() AS $body$ BEGIN")
        path = f.name
    try:
        rc, out, err = run(["split", "--engine", "postgres", path])
        check("parse exit", rc == 1, str(rc))
        check("parse message", err == "%s:3:26: unterminated dollar-quoted string $body$\n" % path, err)
    finally:
        os.unlink(path)
    rc, out, err = run(["split", "--engine", "sqlite"], b"SELECT 'abc")
    check("stdin parse exit", rc == 1, str(rc))
    check("stdin parse message", err == "<stdin>:1:8: unterminated string literal\n", err)


def test_missing_file_is_failure():
    rc, out, err = run(["split", "--engine", "sqlite", "/nonexistent/x.sql"])
    check("missing file exit", rc == 1, str(rc))
    check("missing file message", "/nonexistent/x.sql" in err, err)


def test_usage_errors_exit_2():
    for args in ([], ["frobnicate"], ["split"], ["split", "--engine", "oracle"],
                 ["split", "--engine"], ["split", "--engine", "sqlite", "--bogus"],
                 ["split", "--engine", "sqlite", "a.sql", "b.sql"]):
        rc, out, err = run(args)
        check("usage exit %s" % args, rc == 2, str(rc))
        check("usage text %s" % args, "usage: dbmgmt" in err, err)
        check("usage no stdout %s" % args, out == "", out)


def test_version_and_help():
    rc, out, err = run(["--version"])
    check("version", rc == 0 and out.startswith("dbmgmt "), out)
    for args in (["--help"], ["help"]):
        rc, out, err = run(args)
        check("help %s" % args, rc == 0 and "split --engine" in out, out)


def listed_commands():
    """(name, synopsis line) of every command `dbmgmt --help` lists."""
    rc, out, err = run(["--help"])
    section = out.split("\ncommands:\n", 1)[1]
    return [(line.split()[0], line.strip()) for line in section.splitlines()
            if line.startswith("  ") and not line.startswith("      ")]


def test_every_command_answers_help_with_its_own_usage():
    commands = listed_commands()
    check("commands listed", len(commands) == 21, str(commands))
    with tempfile.TemporaryDirectory() as work:
        for name, synopsis in commands:
            for flag in ("--help", "-h"):
                rc, out, err = run([name, flag], cwd=work)
                check("%s %s exit" % (name, flag), rc == 0, "%d %s" % (rc, err))
                check("%s %s stderr" % (name, flag), err == "", err)
                # the synopsis shown in the list, then one line per option or argument
                check("%s %s usage line" % (name, flag),
                      out.startswith("usage: dbmgmt [GLOBAL OPTIONS] %s\n" % synopsis), out)
                options = re.findall(r"^  (\S.*?)  +\S", out, re.M)
                check("%s %s options" % (name, flag),
                      options or "no options or arguments of its own" in out, out)
                # the whole tool's usage is not repeated
                check("%s %s only its own" % (name, flag), "\ncommands:\n" not in out, out)
        check("help ran nothing", os.listdir(work) == [], str(os.listdir(work)))
    rc, out, err = run(["help", "lint"])
    check("help COMMAND", rc == 0 and out == run(["lint", "--help"])[1], out)


def test_help_lists_each_option_on_one_line():
    rc, out, err = run(["embed", "--help"])
    for option in ("DIR", "-o FILE.c", "--symbol NAME"):
        check("embed option %s" % option, re.search(r"^  %s  +\S" % re.escape(option), out, re.M),
              out)
    rc, top, err = run(["--help"])
    check("top-level help does not repeat options", "--symbol NAME  " not in top, top)


def test_subcommands_answer_help():
    for args, name in ((["backup", "run", "--help"], "backup"),
                       (["backup", "--backup-dir", "/nonexistent", "prune", "-h"], "backup"),
                       (["schedule", "next", "--help"], "schedule"),
                       (["lint", "--dir", "/nonexistent", "--help"], "lint"),
                       (["--url", "sqlite::memory:", "up", "--help"], "up")):
        rc, out, err = run(args)
        check("help %s" % args, rc == 0 and err == "" and
              out.startswith("usage: dbmgmt [GLOBAL OPTIONS] %s " % name), "%d %s %s" % (rc, out, err))
    rc, out, err = run(["backup", "--help"])
    for action in ("run", "list", "verify ID", "restore ID --to DSN", "prune"):
        check("backup help names %s" % action, re.search(r"^  %s\b" % re.escape(action), out, re.M),
              out)


def test_usage_error_shows_the_commands_usage():
    rc, out, err = run(["lint", "--bogus"])
    check("lint usage error exit", rc == 2, str(rc))
    check("lint usage error text", err.startswith("dbmgmt: lint: unknown option '--bogus'\n"
                                                  "usage: dbmgmt [GLOBAL OPTIONS] lint "), err)
    rc, out, err = run(["help", "frobnicate"])
    check("help unknown command", rc == 2 and "unknown command 'frobnicate'" in err, err)


for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        fn()
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("all CLI checks passed")
