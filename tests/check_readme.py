#!/usr/bin/env python3
"""The README points at every page of docs/, and its status paragraph does
not call "next" what a page of docs/ already documents as done.
Usage: check_readme.py SOURCE_ROOT"""
import os
import re
import sys

root = sys.argv[1]
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
failures = []
for page in sorted(os.listdir(os.path.join(root, "docs"))):
    if page.endswith(".md") and "docs/" + page not in readme:
        failures.append("README.md does not link docs/%s" % page)
status = re.search(r"^Status:.*?(?:\n\n|\Z)", readme, re.M | re.S)
if not status:
    failures.append("README.md has no 'Status:' paragraph")
else:
    text = " ".join(status.group(0).split())
    # clauses that say what comes next, and the others: what is in place
    clauses = re.split(r"(?<=[.;])\s+", text)
    upcoming = " ".join(c for c in clauses if re.search(r"\bnext\b", c, re.I))
    done = " ".join(c for c in clauses if not re.search(r"\bnext\b", c, re.I))
    # each feature with a docs page, as the status paragraph names it
    for feature, pattern, page in (("migrations with lint", r"migrations with lint", "lint.md"),
                                   ("pool", r"\bpool\b", "pool.md"),
                                   ("backups", r"(?<!physical )\bbackups?\b", "backup.md"),
                                   ("index advice", r"index advice", "advise.md"),
                                   ("Python binding", r"Python binding", "python.md")):
        if not re.search(pattern, done):
            failures.append("status does not list %r (docs/%s) as in place" % (feature, page))
        if re.search(pattern, upcoming):
            failures.append("status calls %r (docs/%s) next" % (feature, page))
    if not upcoming:
        failures.append("status does not say what comes next")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("1 passed, 0 failed")
