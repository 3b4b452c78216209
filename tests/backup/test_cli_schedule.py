#!/usr/bin/env python3
"""CLI test for `dbmgmt schedule next` and `dbmgmt retention` (issue 8):
output lines, --json shape with times exactly as given, exit codes 0/1/2.
Usage: test_cli_schedule.py PATH/TO/dbmgmt"""
import json
import subprocess
import sys

DBMGMT = sys.argv[1]
failures = []


def run(args, stdin=b""):
    p = subprocess.run([DBMGMT] + args, input=stdin, capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


def check(name, cond, detail=""):
    if not cond:
        failures.append("%s %s" % (name, detail))


def test_schedule_next_prints_times_in_the_offset():
    rc, out, err = run(["schedule", "next", "0 9 * * mon-fri", "--from", "2024-01-05T10:00:00Z",
                        "--count", "3", "--utc-offset", "+01:00"])
    check("next exit", rc == 0, err)
    check("next lines", out == "2024-01-08T09:00:00+01:00\n2024-01-09T09:00:00+01:00\n"
          "2024-01-10T09:00:00+01:00\n", out)
    rc, out, err = run(["schedule", "next", "@monthly", "--from", "2024-01-31T23:59:59Z",
                        "--count", "2"])
    check("utc lines", out == "2024-02-01T00:00:00Z\n2024-03-01T00:00:00Z\n", out)
    rc, out, err = run(["schedule", "next", "0 0 29 2 *", "--from", "2024-03-01T00:00:00-05:30"])
    check("leap", out == "2028-02-29T00:00:00Z\n", out)


def test_schedule_errors():
    rc, out, err = run(["schedule", "next", "0 25 * * *"])
    check("parse exit", rc == 1, str(rc))
    check("parse message", err == 'dbmgmt: cron expression "0 25 * * *": field 2 (hour) at '
          'character 3: 25 is out of range 0-23\n', err)
    rc, out, err = run(["schedule", "next", "0 0 30 2 *", "--from", "2024-01-01T00:00:00Z"])
    check("never exit", rc == 1 and out == "", str(rc))
    check("never message", "never fires" in err, err)
    for args in (["schedule"], ["schedule", "next"], ["schedule", "next", "* * * * *", "--count", "0"],
                 ["schedule", "next", "* * * * *", "--from", "yesterday"],
                 ["schedule", "next", "* * * * *", "--utc-offset", "+1"],
                 ["schedule", "next", "* * * * *", "--bogus"]):
        rc, out, err = run(args)
        check("usage %s" % args, rc == 2, str(rc))


TIMES = (b"2024-12-31T10:30:00Z\n"
         b"2024-12-31T10:00:00+00:00\n"
         b"\n"
         b"2024-11-01T00:00:00.250Z\n"
         b"2024-11-01T00:00:00.750Z\n"
         b"2023-01-01T00:00:00Z\n"
         b"2023-01-01T09:30:00Z\n")


def test_retention_json_keeps_times_as_given_with_reasons():
    rc, out, err = run(["retention", "--keep-last", "1", "--keep-daily", "2", "--keep-yearly",
                        "unlimited", "--json"], TIMES)
    check("json exit", rc == 0, err)
    doc = json.loads(out)
    check("json keep", doc["keep"] == [
        {"time": "2024-12-31T10:30:00Z",
         "reasons": ["last snapshot", "daily snapshot", "yearly snapshot"]},
        # the .750 snapshot is the newer of the sub-second pair
        {"time": "2024-11-01T00:00:00.750Z", "reasons": ["daily snapshot"]},
        {"time": "2023-01-01T00:00:00Z", "reasons": ["oldest yearly snapshot"]},
        {"time": "2023-01-01T09:30:00Z", "reasons": ["yearly snapshot"]},
    ], out)
    check("json remove", doc["remove"] == [{"time": "2024-12-31T10:00:00+00:00"},
                                           {"time": "2024-11-01T00:00:00.250Z"}], out)


def test_retention_text_and_global_json():
    rc, out, err = run(["retention", "--keep-within", "1d"], TIMES)
    check("text exit", rc == 0, err)
    check("text", out.splitlines()[:3] == ["keep   2024-12-31T10:30:00Z  within 1d",
                                           "keep   2024-12-31T10:00:00+00:00  within 1d",
                                           "remove 2024-11-01T00:00:00.250Z"], out)
    rc, out, err = run(["--json", "retention", "--keep-within-daily", "2y"], TIMES)
    doc = json.loads(out)
    check("within-daily", [k["reasons"] for k in doc["keep"]] ==
          [["daily within 2y"], ["daily within 2y"], ["oldest daily within 2y"],
           ["daily within 2y"]], out)


def test_retention_errors():
    rc, out, err = run(["retention", "--keep-daily", "1"], b"2024-01-01T00:00:00Z\nnot a time\n")
    check("bad time exit", rc == 1, str(rc))
    check("bad time message", err == 'dbmgmt: retention: line 2: "not a time" is not an RFC 3339 '
          'time (2024-01-02T03:04:05Z)\n', err)
    for args in (["retention", "--keep-daily", "x"], ["retention", "--keep-within", "1w"],
                 ["retention", "--keep-daily"], ["retention", "--frobnicate"]):
        rc, out, err = run(args)
        check("usage %s" % args, rc == 2, str(rc))


for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        fn()
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
