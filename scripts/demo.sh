#!/usr/bin/env bash
# The main job: install what is missing, build, and run a Lambda function end
# to end through the sample host on the embedded default, the simulated
# Kubernetes cluster (kubesim) with the k8s backend; then the same host binary,
# unchanged, with the docker backend on a private dockerd (skipped with a
# message where dockerd cannot run). Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
./scripts/install-deps.sh

echo "== build"
[ -f build/demo/build.ninja ] || meson setup build/demo >/dev/null
meson compile -C build/demo >/dev/null
host=$top/build/demo/sample-host/fakecloud-lambda-host

work=$(mktemp -d /tmp/fakecloud-demo.XXXXXX)
ksim_pid=""
cleanup() {
  [ -n "$ksim_pid" ] && kill -TERM "$ksim_pid" 2>/dev/null && wait "$ksim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# A Python function: code zip + the JSON that `aws lambda get-function-configuration` prints.
mkdir -p "$work/code"
cat > "$work/code/app.py" <<'PY'
def handler(event, context):
    return {"hello": event.get("name", "world")}
PY
(cd "$work/code" && zip -q ../code.zip app.py)
cat > "$work/function.json" <<'JSON'
{
  "FunctionName": "demo-hello",
  "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:demo-hello",
  "Runtime": "python3.12",
  "Handler": "app.handler",
  "Timeout": 30,
  "MemorySize": 256,
  "PackageType": "Zip",
  "Environment": {"Variables": {"QUEUE_URL": "http://localhost:4566/000000000000/q"}},
  "EphemeralStorage": {"Size": 512},
  "Architectures": ["x86_64"]
}
JSON

echo "== backends this host finds"
"$host" backends

echo "== k8s backend on the simulated cluster"
python3 tests/kubesim/kubesim.py --dir "$work/kubesim" --boot-ms 300 > "$work/kubesim.ready" &
ksim_pid=$!
for _ in $(seq 100); do [ -s "$work/kubesim.ready" ] && break; sleep 0.1; done
[ -s "$work/kubesim.ready" ] || { echo "demo: kubesim did not start" >&2; exit 1; }
kubeconfig=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubeconfig"])' "$work/kubesim.ready")
echo "kubesim ready; kubeconfig: $kubeconfig"
FAKECLOUD_LAMBDA_BACKEND=k8s KUBECONFIG=$kubeconfig \
  "$host" invoke --function "$work/function.json" --code "$work/code.zip" \
  --payload '{"name":"kubesim"}'
echo
echo "Pods left in the cluster after invoke:"
KUBECONFIG=$kubeconfig kubectl get pods -A 2>&1 | sed 's/^/  /'
kill -TERM "$ksim_pid"; wait "$ksim_pid" 2>/dev/null || true; ksim_pid=""

echo "== docker backend on a private dockerd (same host binary)"
# No registry is reachable here: with-dockerd.sh tags a busybox image with a
# stand-in Runtime Interface Emulator as public.ecr.aws/lambda/python:3.12. It
# runs the handler module as a shell script (/var/task/app.sh), so the docker
# demo ships app.sh beside app.py.
cat > "$work/code/app.sh" <<'SH'
echo "{\"hello\": \"docker\", \"event\": $(cat), \"task_files\": \"$(ls /var/task | tr '\n' ' ')\"}"
SH
(cd "$work/code" && zip -q ../code.zip app.sh)
set +e
FAKECLOUD_LAMBDA_BACKEND=docker tests/docker/with-dockerd.sh \
  "$host" invoke --function "$work/function.json" --code "$work/code.zip" \
  --payload '{"name":"docker"}'
rc=$?
set -e
if [ $rc -eq 77 ]; then
  echo "docker demo skipped (see the reason above)"
elif [ $rc -ne 0 ]; then
  echo "demo: docker invoke failed (exit $rc)" >&2
  exit $rc
fi
echo
echo "demo: done"
