#!/usr/bin/env python3
"""The build targets that the tests of the named suites need, for ninja.

Reads `meson introspect --tests --targets` on stdin (in the build folder); prints the
files, relative to the build folder, of the targets those tests depend on (their programs
and the built programs in their arguments), one a line. scripts/suites.sh builds only
these in its cross step.
"""
import json
import os
import sys

suites = set(sys.argv[1:])
info = json.load(sys.stdin)
files = {t["id"]: t["filename"] for t in info["targets"]}
wanted = set()
for test in info["tests"]:
    if suites & {s.split(":")[-1] for s in test["suite"]}:
        for dep in test["depends"]:
            wanted.update(os.path.relpath(f, os.getcwd()) for f in files.get(dep, []))
if not wanted:
    sys.exit("suite_targets.py: no test in the suites " + " ".join(sorted(suites)))
print("\n".join(sorted(wanted)))
