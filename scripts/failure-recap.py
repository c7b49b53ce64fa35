#!/usr/bin/env python3
"""Print, for each test that did not pass in a meson testlog.json, its name,
result, duration and the last lines of its output.

scripts/test.sh calls it at the very end of a failed run so that the tail of a
CI log (often all that is kept) names the failing tests and shows why.
Usage: failure-recap.py TESTLOG_JSON [LINES]
"""
import json
import sys

GOOD = {"OK", "EXPECTEDFAIL", "SKIP"}


def main():
    if len(sys.argv) < 2:
        print("usage: failure-recap.py TESTLOG_JSON [LINES]", file=sys.stderr)
        return 2
    path = sys.argv[1]
    lines = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError as e:
        print(f"failure-recap: cannot read {path}: {e}")
        return 1
    bad = 0
    with f:
        for raw in f:
            try:
                t = json.loads(raw)
            except ValueError:
                continue
            if t.get("result") in GOOD:
                continue
            bad += 1
            print(f"--- {t.get('name')}: {t.get('result')} after "
                  f"{t.get('duration', 0):.1f} s (exit {t.get('returncode')})")
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            for line in out.splitlines()[-lines:]:
                print("    " + line[:300])
    if bad == 0:
        print(f"failure-recap: no failed test in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
