#!/usr/bin/env python3
"""Check that each plugin .so exports exactly the two versioned ABI symbols.

Usage: check_exports.py PLUGIN.so...
Reads `readelf --dyn-syms -W`; every defined dynamic symbol must be one of
backend_plugin_init@@FAKECLOUD_BACKEND_1, backend_plugin_descriptor@@FAKECLOUD_BACKEND_1
(or the version definition FAKECLOUD_BACKEND_1 itself), and both must be there.
Exit 0 when every file passes, 1 otherwise (naming the file and the symbols).
"""
import subprocess
import sys

VERSION = "FAKECLOUD_BACKEND_1"
REQUIRED = {f"backend_plugin_init@@{VERSION}", f"backend_plugin_descriptor@@{VERSION}"}


def defined_symbols(path):
    out = subprocess.run(["readelf", "--dyn-syms", "-W", path], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        cols = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(cols) < 8 or not cols[0].rstrip(":").isdigit():
            continue
        if cols[6] == "UND" or cols[3] in ("SECTION", "FILE"):
            continue
        names.add(cols[7])
    return names


def main(paths):
    if not paths:
        print("check_exports.py: no plugin given", file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        names = defined_symbols(path)
        extra = sorted(names - REQUIRED - {VERSION})
        missing = sorted(REQUIRED - names)
        if extra or missing:
            failed = True
            print(f"{path}: exports {extra} beyond the ABI; missing {missing}")
        else:
            print(f"{path}: ok ({', '.join(sorted(REQUIRED))})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
