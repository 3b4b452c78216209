#!/usr/bin/env python3
"""Make libdbmgmt.a from the library's objects, defining only dbmgmt_ symbols.

    static_archive.py OUTPUT INTERNAL_ARCHIVE OBJCOPY AR -- CC...

The objects of INTERNAL_ARCHIVE (built with -fvisibility=hidden) are linked into
one relocatable object (CC -r), whose hidden symbols -- every internal dm_ name --
objcopy --localize-hidden then makes local, and AR archives it. A firmware that
also links libdevmapper (whose prefix is dm_ too) then sees no clash. CC, OBJCOPY
and AR are the build's own: in a cross build the cross file names them
(docs/footprint.md).
"""
import os
import subprocess
import sys


def run(cmd):
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, check=False)
    if result.returncode != 0:
        sys.exit('static_archive.py: %s failed:\n%s' % (' '.join(cmd), result.stdout))


def main():
    argv = sys.argv[1:]
    if len(argv) < 6 or argv[4] != '--':
        sys.exit(__doc__)
    output, internal, objcopy, ar = argv[:4]
    cc = argv[5:]
    merged = output + '.o'
    run(cc + ['-r', '-nostdlib', '-o', merged,
              '-Wl,--whole-archive', internal, '-Wl,--no-whole-archive'])
    run([objcopy, '--localize-hidden', merged])
    if os.path.exists(output):
        os.remove(output)
    run([ar, 'rcs', output, merged])
    os.remove(merged)


if __name__ == '__main__':
    main()
