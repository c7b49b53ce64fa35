#!/usr/bin/env python3
"""Run a Criterion test executable under valgrind and fail on any error.

Usage: valgrind_check.py VALGRIND TEST_EXE [TEST ARGS...]

Criterion runs every test in a re-executed worker process and ignores the
worker's exit status once the test has reported, so valgrind's
--error-exitcode alone cannot fail the run: a leak in a worker goes
unnoticed. Each process therefore logs to its own file (--log-file=...%p),
and this script fails when any log reports errors (memory errors or definite
leaks) or when the test executable itself fails.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile


def main(valgrind, exe, args):
    logs = tempfile.mkdtemp(prefix="fcb-valgrind-")
    try:
        cmd = [valgrind, "--trace-children=yes", "--leak-check=full",
               "--errors-for-leak-kinds=definite", "--num-callers=30", "--error-exitcode=99",
               f"--log-file={logs}/vg.%p.log", exe] + args
        rc = subprocess.run(cmd).returncode
        bad = []
        for path in sorted(glob.glob(os.path.join(logs, "vg.*.log"))):
            text = open(path, encoding="utf-8", errors="replace").read()
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            if m is None or int(m.group(1)) > 0:
                bad.append((path, text))
        for path, text in bad:
            print(f"==== {os.path.basename(path)}\n{text}")
        n = len(glob.glob(os.path.join(logs, "vg.*.log")))
        print(f"valgrind_check: {n} processes checked, {len(bad)} with errors; test exit {rc}")
        return 1 if bad or rc != 0 or n == 0 else 0
    finally:
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
