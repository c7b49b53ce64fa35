#!/usr/bin/env python3
"""Run a Criterion test executable under valgrind and fail on any error.

Usage: valgrind_check.py [--VALGRIND-OPTION...] VALGRIND TEST_EXE [TEST ARGS...]

Options before VALGRIND (e.g. --trace-children-skip=*python*, so that a
simulator the test spawns is not run under valgrind, or
--suppressions=FILE) are passed to valgrind.

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


def exec_into_untraced(text):
    """A log that ends after valgrind's preamble: a forked child that exec'd a
    program --trace-children-skip excludes (e.g. the simulator the test
    starts). Valgrind leaves it there without a summary. Anything else in a
    log without a summary (a crash, a signal, an error) is a failure."""
    body = [line for line in text.splitlines()
            if not re.fullmatch(r"==\d+== ?", line)
            and not re.match(r"==\d+== (Memcheck, a memory error detector|Copyright \(C\)|"
                             r"Using Valgrind-|Command: |Parent PID: )", line)]
    return text.startswith("==") and not body


def main(options, valgrind, exe, args):
    logs = tempfile.mkdtemp(prefix="fcb-valgrind-")
    try:
        cmd = [valgrind, "--trace-children=yes", "--leak-check=full",
               "--errors-for-leak-kinds=definite", "--num-callers=30", "--error-exitcode=99",
               f"--log-file={logs}/vg.%p.log"] + options + [exe] + args
        rc = subprocess.run(cmd).returncode
        bad = []
        untraced = 0
        for path in sorted(glob.glob(os.path.join(logs, "vg.*.log"))):
            text = open(path, encoding="utf-8", errors="replace").read()
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            if m is None and exec_into_untraced(text):
                untraced += 1
            elif m is None or int(m.group(1)) > 0:
                bad.append((path, text))
        for path, text in bad:
            print(f"==== {os.path.basename(path)}\n{text}")
        n = len(glob.glob(os.path.join(logs, "vg.*.log")))
        print(f"valgrind_check: {n} processes checked, {len(bad)} with errors, {untraced} forked "
              f"to exec an untraced program; test exit {rc}")
        return 1 if bad or rc != 0 or n == 0 else 0
    finally:
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    argv = sys.argv[1:]
    options = []
    while argv and argv[0].startswith("--"):
        options.append(argv.pop(0))
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(options, argv[0], argv[1], argv[2:]))
