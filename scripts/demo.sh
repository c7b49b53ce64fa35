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

# `serve` on the backend named by $1 (its settings in the environment), driven by
# the AWS CLI: create-function, two invokes (cold, then warm), delete, SIGTERM.
serve_demo() {
  local url serve_pid
  "$host" serve --listen 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.log" &
  serve_pid=$!
  for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
  url=$(sed -n 's/^serving //p' "$work/serve.out")
  if [ -z "$url" ]; then
    echo "demo: serve did not start" >&2; cat "$work/serve.log" >&2; return 1
  fi
  echo "serve ($1) listening on $url"
  export AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-east-1
  local lambda=(aws --endpoint-url "$url" lambda)
  echo "\$ aws --endpoint-url $url lambda create-function --function-name demo-hello ..."
  "${lambda[@]}" create-function --function-name demo-hello --runtime python3.12 \
    --handler app.handler --role arn:aws:iam::000000000000:role/demo \
    --zip-file "fileb://$work/code.zip" --query FunctionArn --output text
  echo "{\"name\":\"aws cli on $1\"}" > "$work/event.json"
  for call in cold warm; do
    echo "\$ aws --endpoint-url $url lambda invoke --function-name demo-hello --payload fileb://event.json out.json  # $call"
    "${lambda[@]}" invoke --function-name demo-hello --payload "fileb://$work/event.json" \
      "$work/out.json" --query '[StatusCode,ExecutedVersion]' --output text
    head -c 300 "$work/out.json"; echo
  done
  "${lambda[@]}" delete-function --function-name demo-hello >/dev/null
  kill -TERM "$serve_pid"; wait "$serve_pid"
  echo "serve stopped: $(grep -o 'every instance terminated.*' "$work/serve.log")"
}
export -f serve_demo
export host work

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

echo "== serve: the Lambda API on the same cluster, driven by the AWS CLI"
FAKECLOUD_LAMBDA_BACKEND=k8s KUBECONFIG=$kubeconfig serve_demo k8s
echo "Pods left in the cluster after serve stopped:"
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
if [ $rc -eq 0 ]; then
  echo "== serve on the private dockerd, driven by the AWS CLI"
  FAKECLOUD_LAMBDA_BACKEND=docker tests/docker/with-dockerd.sh bash -c 'serve_demo docker' || rc=$?
fi
if [ $rc -eq 77 ]; then
  echo "docker demo skipped (see the reason above)"
elif [ $rc -ne 0 ]; then
  echo "demo: docker invoke failed (exit $rc)" >&2
  exit $rc
fi
echo
echo "demo: done"
