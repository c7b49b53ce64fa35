#!/usr/bin/env bash
# The one benchmark command: builds, then measures our backends against the
# reference's algorithms, side by side, and prints one table.
#
#   scripts/bench.sh [--quick|--full] [--no-docker] [--build-dir DIR]
#
# --quick (default, ~75 s on 2 cores): fewer launches and a smaller reap.
# --full (~10 min on 2 cores): 100 sequential launches per side, 200 concurrent
#        and 10 000 foreign Pods to reap (figures 3 and 4 five times per side,
#        interleaved, median reported), 30 docker launches per side, and figures
#        1-2 again with 50 Zip-function launches per side.
# Results: bench/results/latest.md and latest.json, and serve's figures in
# bench/results/serve.md and serve.json (commit them after a run).
# Loopback only: the simulated cluster (tests/kubesim) runs on 127.0.0.1 and
# the docker figure runs on a private, throw-away dockerd
# (tests/docker/with-dockerd.sh). Never part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=quick
docker=1
build=build/bench
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --no-docker) docker=0 ;;
    --build-dir) build=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$mode" = full ]; then
  k8s_args=(--launches 100 --concurrency 200 --reap-foreign 10000 --reap-ours 1000 --repeat 5)
  foot_args=(--instances 200)
  docker_launches=30
  zip_launches=50
else
  k8s_args=(--launches 10 --concurrency 200 --reap-foreign 2000 --reap-ours 200)
  foot_args=(--instances 200)
  docker_launches=3
  zip_launches=0
fi

if [ "$(id -u)" = 0 ] && [ -x scripts/install-deps.sh ]; then
  ./scripts/install-deps.sh >/dev/null
fi

echo "== build ($build)" >&2
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dbuildtype=debugoptimized >/dev/null
fi
meson compile -C "$build" >/dev/null

work=$(mktemp -d /tmp/fcb-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
bin=$build/bench
k8s_so=$root/$build/plugin/fakecloud-backend-k8s.so
docker_so=$root/$build/plugin/fakecloud-backend-docker.so
python=$(command -v python3)
t0=$(date +%s)

# The code of the benchmark's Zip functions: the RIE stand-ins run app.sh.
"$python" -c "
import zipfile, sys
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('app.sh', 'printf \'{\"ok\":true,\"event\":%s}\' \"\$(cat)\"\n')
" "$work/code.zip"

echo "== k8s figures 1-4 on kubesim ($mode)" >&2
"$bin/bench-k8s" --python "$python" --kubesim tests/kubesim/kubesim.py \
--plugin "$k8s_so" --workdir "$work" \
  --out "$work/k8s.json" --figures 1,2,3,4 --boot-ms 300 "${k8s_args[@]}" ||
  echo "bench.sh: bench-k8s failed (exit $?); the table shows what was measured" >&2

zip_json=""
if [ "$zip_launches" -gt 0 ]; then
  echo "== k8s figures 1-2 again with Zip functions (init container downloads the code)" >&2
  "$bin/bench-k8s" --python "$python" --kubesim tests/kubesim/kubesim.py \
    --plugin "$k8s_so" --workdir "$work" --out "$work/k8s-zip.json" --figures 1,2 \
    --boot-ms 300 --launches "$zip_launches" --package zip --code "$work/code.zip" &&
    zip_json=$work/k8s-zip.json || echo "bench.sh: bench-k8s --package zip failed (exit $?)" >&2
fi

echo "== footprint (figure 6), in a fresh process" >&2
"$bin/bench-k8s" --python "$python" --kubesim tests/kubesim/kubesim.py \
--plugin "$k8s_so" --workdir "$work" \
  --out "$work/footprint.json" --figures 6 --boot-ms 300 --only ours "${foot_args[@]}" ||
  echo "bench.sh: footprint failed (exit $?)" >&2

docker_json=""
if [ "$docker" = 1 ]; then
  echo "== docker figure 5 on a private dockerd" >&2
  set +e
  tests/docker/with-dockerd.sh "$bin/bench-docker" --plugin "$docker_so" \
    --code "$work/code.zip" --runtime python3.12 --handler app.handler \
    --image public.ecr.aws/lambda/python:3.12 --launches "$docker_launches" \
    --out "$work/docker.json"
  st=$?
  set -e
  if [ "$st" = 0 ]; then docker_json=$work/docker.json
  elif [ "$st" = 77 ]; then echo "bench.sh: docker figure skipped (no private dockerd here)" >&2
  else echo "bench.sh: bench-docker failed (exit $st)" >&2; [ -f "$work/docker.json" ] && docker_json=$work/docker.json
  fi
fi

echo "== serve figures on kubesim (bench/bench_serve.py; same boot time as figure 1)" >&2
serve_n=1000
"$python" bench/bench_serve.py "$root/$build/sample-host/fakecloud-lambda-host" \
  "$root/$build/plugin" tests/kubesim/kubesim.py --n "$serve_n" --k8s-json "$work/k8s.json" \
  --out bench/results/serve.json --md bench/results/serve.md ||
  echo "bench.sh: bench_serve.py failed a correctness check or broke (exit $?); see above" >&2

echo "== report ($(( $(date +%s) - t0 )) s of measurements)" >&2
"$python" bench/report.py --mode "$mode" --out-dir bench/results --k8s "$work/k8s.json" \
  --footprint "$work/footprint.json" ${docker_json:+--docker "$docker_json"} \
  ${zip_json:+--k8s-zip "$zip_json"}
