#!/usr/bin/env bash
# The one test command: installs what is missing, builds, runs every test
# suite (unit, integration, slow) in a normal build, again under ASan+UBSan
# (unit and integration, without the Podman runs of the docker suite: the same
# plugin code the dockerd runs cover, ~90 s of engine time), and the loader
# tests under valgrind. Exits non-zero when anything fails, and then ends with
# the failed tests' names and last output lines (scripts/failure-recap.py).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

werror=false
[ "${CI:-}" = "true" ] && werror=true
jobs=$(nproc)

failed_logs=()
run_suite() { # build-dir, log name, extra meson test args...
  local dir=$1 log=$2; shift 2
  if ! meson test -C "$dir" --logbase "$log" --num-processes "$jobs" --print-errorlogs "$@"; then
    echo "test.sh: FAILED in $dir: meson test $*" >&2
    failed_logs+=("$dir/meson-logs/$log.json")
    return 1
  fi
}

status=0
echo "== build (werror=$werror)"
meson setup build/test --wipe -Dwerror=$werror >/dev/null 2>&1 || meson setup build/test -Dwerror=$werror
meson compile -C build/test
run_suite build/test testlog --no-suite valgrind || status=1

echo "== build with -Db_sanitize=address,undefined"
meson setup build/asan --wipe -Dwerror=$werror -Db_sanitize=address,undefined -Db_lundef=false >/dev/null 2>&1 \
  || meson setup build/asan -Dwerror=$werror -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build/asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$(pwd)/tests/lsan.supp \
  run_suite build/asan testlog --suite unit --suite integration --no-suite no-c --no-suite podman || status=1

echo "== valgrind on the loader tests"
run_suite build/test valgrind --suite valgrind || status=1

if [ $status -ne 0 ]; then
  # The end of a CI log is often all that is kept: name the failures here.
  echo "== failed tests (last lines of each one's output)"
  for log in "${failed_logs[@]}"; do
    python3 scripts/failure-recap.py "$log" 40 || true
  done
  echo "test.sh: some tests FAILED" >&2
fi
exit $status
