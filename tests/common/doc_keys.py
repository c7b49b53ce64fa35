#!/usr/bin/env python3
"""Check that a doc's configuration key table lists exactly a backend's keys.

Usage: doc_keys.py --prefix FAKECLOUD_DOCKER_ --doc docs/docker.md
                   [--subset README.md] (--keys-from PROGRAM | -- KEY [KEY ...])

The backend's key table is the output of PROGRAM (one key a line; e.g.
tests/docker/dock_config_keys, which prints dock_config_keys) or the keys
after "--". A doc "lists" a key when a
Markdown table row starts with the key in backticks: "| `KEY` | ...".
--doc must list exactly those keys among the keys that start with --prefix
or are in the table (other rows, e.g. the host's keys, are ignored); given
several times (a backend documented in two files, e.g. docs/k8s.md and
docs/k8s-client.md), the docs together must list exactly those keys;
every --subset doc may list only keys of the table. Exit 0 when they agree,
1 with one line per difference.
"""
import argparse
import re
import subprocess
import sys

ROW = re.compile(r"^\s*\|\s*`([A-Z][A-Z0-9_]*)`\s*\|")


def doc_keys(path, wanted):
    found = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line)
            if m and wanted(m.group(1)):
                found.add(m.group(1))
    return found


def main(argv):
    split = argv.index("--") if "--" in argv else len(argv)
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys-from")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--doc", action="append", required=True)
    ap.add_argument("--subset", action="append", default=[])
    args = ap.parse_args(argv[:split])
    table = set(argv[split + 1:])
    if args.keys_from:
        out = subprocess.run([args.keys_from], check=True, capture_output=True, text=True)
        table |= {line.strip() for line in out.stdout.splitlines() if line.strip()}
    if not table:
        print("doc_keys.py: the backend's key table is empty", file=sys.stderr)
        return 2

    def wanted(key):
        return key.startswith(args.prefix) or key in table

    problems = []
    docs = " + ".join(args.doc)
    listed = set()
    for doc in args.doc:
        listed |= doc_keys(doc, wanted)
    for key in sorted(table - listed):
        problems.append(f"{docs}: key {key} of the backend's table is not documented")
    for key in sorted(listed - table):
        problems.append(f"{docs}: documents {key}, which the backend's table does not have")
    for sub in args.subset:
        for key in sorted(doc_keys(sub, wanted) - table):
            problems.append(f"{sub}: lists {key}, which the backend's table does not have")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
