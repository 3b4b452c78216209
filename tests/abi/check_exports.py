#!/usr/bin/env python3
"""Every dynamic symbol libdbmgmt.so.1 exports starts with dbmgmt_ and is
listed in lib/libdbmgmt.map; every symbol the map lists is exported; and
every function the public headers declare with DBMGMT_API is exported."""
import glob
import os
import re
import subprocess
import sys


def map_symbols(path):
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    names = set()
    for block in re.findall(r"global:(.*?)(?:local:|\})", text, flags=re.S):
        names.update(s.strip() for s in block.split(";") if s.strip())
    return names


def header_functions(include_dir):
    names = set()
    for path in glob.glob(os.path.join(include_dir, "**", "*.h"), recursive=True):
        text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
        for m in re.finditer(r"DBMGMT_API\b[^;{]*?\b(dbmgmt_\w+)\s*\(", text):
            names.add(m.group(1))
    return names


def exported_symbols(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRVWiu":
            names.add(parts[2].split("@")[0])
    return names


def main():
    lib, mapfile, include_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    listed = map_symbols(mapfile)
    exported = exported_symbols(lib)
    declared = header_functions(include_dir)
    problems = []
    for name in sorted(declared - exported):
        problems.append(f"declared DBMGMT_API in {include_dir} but not exported: {name}")
    for name in sorted(exported):
        if not name.startswith("dbmgmt_"):
            problems.append(f"exported without the dbmgmt_ prefix: {name}")
        elif name not in listed:
            problems.append(f"exported but not listed in {mapfile}: {name}")
    for name in sorted(listed - exported):
        problems.append(f"listed in {mapfile} but not exported (missing or hidden): {name}")
    for p in problems:
        print(p)
    print(f"{len(exported)} exported symbols, {len(listed)} listed, {len(declared)} declared")
    print(f"{1 if problems else 0} failed" if problems else "1 passed, 0 failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
