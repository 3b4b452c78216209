#!/usr/bin/env python3
"""The SQLite advice corpus (issue 9), run through `dbmgmt advise --json`.

  test_corpus.py corpus DBMGMT CORPUS          every case proposes its expected index
                                               (confirmed) or, for "none", nothing
  test_corpus.py expert DBMGMT CORPUS SQLITE3  parity with sqlite3's .expert: wherever
                                               .expert proposes an index for a case's
                                               query, dbmgmt proposes one that EXPLAIN
                                               QUERY PLAN uses for that query
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile


def read_corpus(path):
    cases, case = [], {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("#"):
            continue
        if not line.strip():
            if case:
                cases.append(case)
            case = {}
            continue
        key, _, value = line.partition(": ")
        case[key] = value
    if case:
        cases.append(case)
    return cases


def build_db(folder, case):
    path = os.path.join(folder, case["name"] + ".db")
    db = sqlite3.connect(path)
    db.executescript(case["schema"])
    db.close()
    return path


def advise(dbmgmt, db, query, folder):
    qfile = os.path.join(folder, "q.sql")
    with open(qfile, "w", encoding="utf-8") as f:
        f.write(query + ";\n")
    out = subprocess.run([dbmgmt, "--url", "sqlite://" + db, "advise", "--queries", qfile, "--json"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError("dbmgmt advise failed: " + out.stderr)
    return [f for f in json.loads(out.stdout)["findings"] if f["kind"] == "missing"]


def plan_uses(db, ddls, names, query):
    """The indexes among names that EXPLAIN QUERY PLAN uses in a scratch copy of db with
    every statement of ddls applied (as .expert applies all of its proposals)."""
    scratch = sqlite3.connect(":memory:")
    src = sqlite3.connect(db)
    src.backup(scratch)
    src.close()
    for ddl in ddls:
        scratch.execute(ddl)
    sql = "EXPLAIN QUERY PLAN " + query
    try:
        rows = scratch.execute(sql).fetchall()
    except sqlite3.ProgrammingError as e:  # placeholders: bind NULLs
        count = int(re.search(r"uses (\d+)", str(e)).group(1))
        rows = scratch.execute(sql, [None] * count).fetchall()
    plan = "\n".join(row[3] for row in rows)
    scratch.close()
    return [n for n in names
            if re.search(r"USING (COVERING )?INDEX " + re.escape(n) + r"\b", plan)], plan


def run_corpus(dbmgmt, corpus):
    failures = 0
    cases = read_corpus(corpus)
    with tempfile.TemporaryDirectory() as folder:
        for case in cases:
            db = build_db(folder, case)
            found = advise(dbmgmt, db, case["query"], folder)
            expect = case["expect"]
            if expect == "none":
                ok = not found
            else:
                table, cols = re.match(r"(.+)\((.*)\)$", expect).groups()
                ok = any(f["table"] == table and ",".join(f["columns"]) == cols and f["confirmed"]
                         for f in found)
            print(("ok    " if ok else "FAIL  ") + case["name"] + "  expect " + expect + "  got " +
                  ", ".join(f["table"] + "(" + ",".join(f["columns"]) + ")" for f in found))
            failures += not ok
    print(f"{len(cases) - failures}/{len(cases)} corpus cases pass")
    return failures == 0 and len(cases) >= 40


def expert_proposals(sqlite3_shell, db, query):
    out = subprocess.run([sqlite3_shell, db], input=".expert\n" + query + ";\n",
                         capture_output=True, text=True, check=False)
    return re.findall(r"^CREATE INDEX .*;$", out.stdout, re.M)


def run_expert(dbmgmt, corpus, sqlite3_shell):
    failures = compared = 0
    with tempfile.TemporaryDirectory() as folder:
        for case in read_corpus(corpus):
            db = build_db(folder, case)
            proposals = expert_proposals(sqlite3_shell, db, case["query"])
            if not proposals:
                print("skip  " + case["name"] + "  (.expert proposes nothing)")
                continue
            compared += 1
            found = advise(dbmgmt, db, case["query"], folder)
            names = plan_uses(db, [f["ddl"] for f in found], [f["index"] for f in found],
                              case["query"])[0]
            used = [f for f in found if f["index"] in names]
            ok = bool(used)
            print(("ok    " if ok else "FAIL  ") + case["name"] + "  .expert: " + " ".join(proposals) +
                  "  dbmgmt: " + " ".join(f["ddl"] for f in used or found))
            failures += not ok
    print(f"{compared - failures}/{compared} cases where .expert proposes an index: "
          "dbmgmt proposes one the planner uses")
    return failures == 0 and compared > 0


def main():
    mode = sys.argv[1]
    if mode == "corpus":
        return 0 if run_corpus(sys.argv[2], sys.argv[3]) else 1
    if mode == "expert":
        return 0 if run_expert(sys.argv[2], sys.argv[3], sys.argv[4]) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
