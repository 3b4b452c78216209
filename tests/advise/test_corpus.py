#!/usr/bin/env python3
"""The SQLite advice corpus (issue 9), run through `dbmgmt advise --json`.

  test_corpus.py corpus DBMGMT CORPUS          every case proposes its expected index
                                               (confirmed) or, for "none", nothing
  test_corpus.py expert DBMGMT CORPUS SQLITE3  parity with sqlite3's .expert: wherever
                                               .expert proposes an index for a case's
                                               query, dbmgmt proposes one that EXPLAIN
                                               QUERY PLAN uses for that query
  test_corpus.py exact DBMGMT CORPUS           SQLite's expert1.test cases (issue 23): the
                                               proposed indexes are exactly the expected
                                               ones (table, key order, collation, ASC/DESC
                                               as PRAGMA index_xinfo reports them), none
                                               for "none", and the plan uses each of them

An expectation is "none" or indexes separated by "; ", each table(key,...), a key being a
column with an optional "COLLATE name" and "ASC"/"DESC"; names may be "double-quoted".
"""
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import tempfile

# A cross build's target binary runs under qemu: meson test names it in MESON_EXE_WRAPPER.
WRAPPER = shlex.split(os.environ.get("MESON_EXE_WRAPPER", ""))


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


EXPECT_TOKEN = re.compile(r'\s*(?:"((?:[^"]|"")*)"|([^\s(),;"]+)|([(),;]))')


def expect_tokens(text):
    pos, out = 0, []
    while pos < len(text.rstrip()):
        m = EXPECT_TOKEN.match(text, pos)
        if not m:
            raise ValueError("bad expectation: " + text)
        if m.group(1) is not None:
            out.append(("name", m.group(1).replace('""', '"')))
        elif m.group(2) is not None:
            out.append(("word", m.group(2)))
        else:
            out.append(("punct", m.group(3)))
        pos = m.end()
    return out


def parse_expect(text):
    """[] for "none", else [(table, [(column, collation or None, desc), ...]), ...]."""
    if text.strip() == "none":
        return []
    toks, i, indexes = expect_tokens(text), 0, []

    def take(kind=None, value=None):
        nonlocal i
        if i >= len(toks) or (kind and toks[i][0] != kind) or (value and toks[i][1] != value):
            raise ValueError("bad expectation: " + text)
        i += 1
        return toks[i - 1][1]

    while i < len(toks):
        table = take()
        while toks[i][0] == "word":  # an unquoted name with a space: Order Lines(...)
            table += " " + take()
        take("punct", "(")
        keys = []
        while True:
            column, coll, desc = toks[i][1], None, False
            i += 1
            while toks[i][0] == "word":
                word = toks[i][1].upper()
                i += 1
                if word == "COLLATE":
                    coll = take()
                elif word in ("ASC", "DESC"):
                    desc = word == "DESC"
                else:
                    column += " " + toks[i - 1][1]  # an unquoted name with a space
            keys.append((column, coll, desc))
            if take("punct") == ")":
                break
        indexes.append((table, keys))
        if i < len(toks):
            take("punct", ";")
    return indexes


def quote(name):
    return '"' + name.replace('"', '""') + '"'


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
    out = subprocess.run([*WRAPPER, dbmgmt, "--url", "sqlite://" + db, "advise",
                          "--queries", qfile, "--json"],
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


def finding_keys(f):
    """A finding's keys as (column, collation or None, desc); findings without "keys" are
    plain columns."""
    if "keys" not in f:
        return [(c, None, False) for c in f["columns"]]
    return [(k["column"], k["collation"], k["desc"]) for k in f["keys"]]


def key_matches(found, expected):
    """Keys equal by name; collation and direction too where the expectation gives any."""
    if [k[0] for k in found] != [k[0] for k in expected]:
        return False
    if all(k[1] is None and not k[2] for k in expected):
        return True
    return [(k[1] or "").upper() for k in found] == [(k[1] or "").upper() for k in expected] \
        and [k[2] for k in found] == [k[2] for k in expected]


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
                table, keys = parse_expect(expect)[0]
                ok = any(f["table"] == table and key_matches(finding_keys(f), keys) and
                         f["confirmed"] for f in found)
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


def stored_keys(db, ddls):
    """(table, ((column, collation, desc), ...)) of each index in ddls, as SQLite stores it
    (sqlite_schema, PRAGMA index_xinfo) once created in a scratch copy of db; collations
    upper-cased, so t1(b) on a NOCASE column equals t1(b COLLATE NOCASE)."""
    scratch = sqlite3.connect(":memory:")
    src = sqlite3.connect(db)
    src.backup(scratch)
    src.close()
    out = []
    for n, ddl in enumerate(ddls):
        name = "dbmgmt_check_%d" % n
        ddl = re.sub(r"^CREATE INDEX (\"(?:[^\"]|\"\")*\"|\S+) ON ", "CREATE INDEX " + name + " ON ",
                     ddl)
        scratch.execute(ddl)
        table = scratch.execute("SELECT tbl_name FROM sqlite_schema WHERE name = ?",
                                (name,)).fetchone()[0]
        keys = scratch.execute("SELECT name, upper(coll), \"desc\" FROM pragma_index_xinfo(?) "
                               "WHERE key = 1 ORDER BY seqno", (name,)).fetchall()
        out.append((table.lower(), tuple((k[0], k[1], bool(k[2])) for k in keys)))
    scratch.close()
    return sorted(out)


def expected_ddl(table, keys):
    cols = ", ".join(quote(c) + (" COLLATE " + coll if coll else "") + (" DESC" if desc else "")
                     for c, coll, desc in keys)
    return "CREATE INDEX x ON " + quote(table) + " (" + cols + ")"


def unmet_requirement(case):
    """Why a case cannot run against this SQLite ("requires: sqlite 3.43.0": a feature
    its schema uses, e.g. an fts5 option), or None. The library and Python's sqlite3
    module use the same system libsqlite3 on Debian."""
    need = case.get("requires")
    if not need:
        return None
    version = tuple(int(p) for p in need.split()[1].split("."))
    if sqlite3.sqlite_version_info >= version:
        return None
    return f"needs SQLite {need.split()[1]}, this one is {sqlite3.sqlite_version}"


def run_exact(dbmgmt, corpus):
    failures = 0
    cases = read_corpus(corpus)
    unmet = [c for c in cases if unmet_requirement(c)]
    for case in unmet:
        print("n/a   " + case["name"] + "  (" + unmet_requirement(case) + ")")
    cases = [c for c in cases if not unmet_requirement(c)]
    with tempfile.TemporaryDirectory() as folder:
        for case in cases:
            db = build_db(folder, case)
            try:
                found = advise(dbmgmt, db, case["query"], folder)
            except RuntimeError as e:
                print("FAIL  " + case["name"] + "  expect " + case["expect"] + "  (" +
                      str(e).strip() + ")")
                failures += 1
                continue
            expected = parse_expect(case["expect"])
            want = stored_keys(db, [expected_ddl(t, k) for t, k in expected])
            got = stored_keys(db, [f["ddl"] for f in found])
            problems = []
            if got != want:
                problems.append("not the expected indexes")
            if not all(f["confirmed"] for f in found):
                problems.append("unconfirmed")
            if found:
                used, plan = plan_uses(db, [f["ddl"] for f in found], [f["index"] for f in found],
                                       case.get("plan", case["query"]))
                unused = [f["index"] for f in found if f["index"] not in used]
                if unused:
                    problems.append("the plan does not use " + ", ".join(unused) + ": " +
                                    plan.replace("\n", " | "))
            print(("ok    " if not problems else "FAIL  ") + case["name"] + "  expect " +
                  case["expect"] + "  got " + ("; ".join(f["ddl"] for f in found) or "none") +
                  ("  (" + "; ".join(problems) + ")" if problems else ""))
            failures += bool(problems)
    print(f"{len(cases) - failures}/{len(cases)} expert1.test cases give .expert's advice"
          + (f" ({len(unmet)} not applicable to this SQLite)" if unmet else ""))
    return failures == 0 and len(cases) > 0


def main():
    mode = sys.argv[1]
    if mode == "corpus":
        return 0 if run_corpus(sys.argv[2], sys.argv[3]) else 1
    if mode == "exact":
        return 0 if run_exact(sys.argv[2], sys.argv[3]) else 1
    if mode == "expert":
        return 0 if run_expert(sys.argv[2], sys.argv[3], sys.argv[4]) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
