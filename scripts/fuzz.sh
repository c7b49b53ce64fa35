#!/usr/bin/env bash
# Fuzz every target for a while and print executions per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default 60 s each, every target)
#
# Builds build/fuzz with clang, -Dfuzzers=true and the whole build
# instrumented (-fsanitize=fuzzer-no-link + ASan/UBSan), then runs each
# fuzz-<target> for SECONDS on fuzz/corpus/<target>/ (new inputs it finds are
# kept in build/fuzz/corpus-new/<target>/, the committed seeds stay small).
# A crash writes the reproducer to fuzz/regressions/<target>/ (replayed by the
# 'unit' test "fuzz regressions replay" from then on) and makes this script
# exit 1. Not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
case "$seconds" in (*[!0-9]*|'') echo "fuzz.sh: SECONDS must be a number, got '$seconds'" >&2; exit 2;; esac

# clang and its libFuzzer runtime (Debian: clang + libclang-rt-<ver>-dev).
missing=()
command -v clang >/dev/null 2>&1 || missing+=(clang)
if [ ${#missing[@]} -eq 0 ]; then
  probe=$(mktemp -d)
  trap 'rm -rf "$probe"' EXIT
  printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
  if ! clang -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
    ver=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
    missing+=("libclang-rt-${ver}-dev")
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build=build/fuzz
if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzzers=true -Dtests=false -Db_lundef=false \
    -Db_sanitize=address,undefined -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(meson introspect "$build" --targets |
    python3 -c 'import json,sys; print("\n".join(sorted(t["name"][5:] for t in json.load(sys.stdin) if t["name"].startswith("fuzz-"))))')
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets are built (is the code they exercise in the tree?)" >&2; exit 1; }
meson compile -C "$build" "${targets[@]/#/fuzz-}" >/dev/null

status=0
printf '%-16s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  exe="$build/fuzz/fuzz-$t"
  new="$build/corpus-new/$t"
  regress="fuzz/regressions/$t"
  mkdir -p "$new" "$regress"
  log="$build/fuzz-$t.log"
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
  result=ok
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$regress/" "${dict[@]}" \
      "$new" "fuzz/corpus/$t" >"$log" 2>&1; then
    result="CRASH (see $log; reproducer in $regress/)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$new" "fuzz/corpus/$t" -type f | wc -l)
  printf '%-16s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done
exit $status
