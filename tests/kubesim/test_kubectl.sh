#!/usr/bin/env bash
# kubectl against kubesim, with both kubeconfigs (client cert and bearer token file),
# using kubectl from PATH plus the 1.27 and 1.33 builds when installed. Exit 77 = skip.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBESIM_PY="${KUBESIM_PY:-$HERE/kubesim.py}"
KUBECTL_MAIN="$(command -v kubectl || true)"
if [[ -z "$KUBECTL_MAIN" ]]; then
  echo "SKIP: kubectl not found" >&2
  exit 77
fi
KUBECTLS=("$KUBECTL_MAIN")
for v in 1.27 1.33; do
  extra="/usr/lib/google-cloud-sdk/bin/kubectl.$v"
  if [[ -x "$extra" ]]; then KUBECTLS+=("$extra"); fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kubesim-kubectl-XXXXXX")"
SIM_PID=""
WATCH_PID=""
cleanup() {
  if [[ -n "$WATCH_PID" ]]; then kill "$WATCH_PID" 2>/dev/null || true; fi
  if [[ -n "$SIM_PID" ]]; then
    kill -TERM "$SIM_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SIM_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 "$KUBESIM_PY" --dir "$WORK/sim" --boot-ms 20 --exit-with-parent \
  >"$WORK/ready.line" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 100); do
  [[ -s "$WORK/ready.line" ]] && break
  sleep 0.1
done
[[ -s "$WORK/ready.line" ]] || { echo "kubesim did not start"; cat "$WORK/sim.err"; exit 1; }

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
# stop_bg_when FILE REGEX: wait (10 s at most) for REGEX in FILE written by the background
# kubectl in WATCH_PID, then stop it; fails the test when REGEX never shows.
stop_bg_when() {
  local ok=""
  for _ in $(seq 100); do
    if grep -q "$2" "$1"; then ok=1; break; fi
    sleep 0.1
  done
  kill "$WATCH_PID" 2>/dev/null || true
  wait "$WATCH_PID" 2>/dev/null || true
  WATCH_PID=""
  [[ -n "$ok" ]] || fail "never saw '$2' in $(basename "$1"): $(cat "$1")"
}
rie_invoke() {
  python3 -c 'import http.client,sys; c=http.client.HTTPConnection(sys.argv[1],8080,timeout=5); c.request("POST","/2015-03-31/functions/function/invocations",body=sys.argv[2]); assert c.getresponse().status==200' "$1" "$2" ||
    fail "invoke $1"
}

cat >"$WORK/pod.json" <<'JSON'
{"apiVersion":"v1","kind":"Pod",
 "metadata":{"name":"NAME","labels":{"app":"y"}},
 "spec":{"restartPolicy":"Never",
         "containers":[{"name":"main","image":"public.ecr.aws/lambda/python:3.12",
                        "args":["app.handler"]}]}}
JSON

cat >"$WORK/lease.yaml" <<'YAML'
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: NAME
  labels:
    app: fakecloud
spec:
  holderIdentity: HOLDER
  leaseDurationSeconds: 30
  renewTime: "2026-01-02T03:04:05.123456Z"
YAML

n=0
for K in "${KUBECTLS[@]}"; do
  for KC in "$WORK/sim/kubeconfig-cert.yaml" "$WORK/sim/kubeconfig-token.yaml"; do
    n=$((n + 1))
    export KUBECONFIG="$KC"
    kc() { timeout 20 "$K" --request-timeout=15s "$@"; }
    ver="$("$K" version --client 2>/dev/null | head -1 || true)"
    step "[$n] $ver with $(basename "$KC")"
    ns="k$n"
    pod="p$n"
    sed "s/NAME/$pod/" "$WORK/pod.json" >"$WORK/pod-$n.json"

    kc get pods -n "$ns" >"$WORK/out" 2>&1 || fail "get pods: $(cat "$WORK/out")"
    grep -q "No resources found" "$WORK/out" || fail "empty get pods: $(cat "$WORK/out")"

    # get -w in the background, then create a pod and see it appear
    timeout 15 "$K" get pods -n "$ns" -w >"$WORK/watch-$n" 2>&1 &
    WATCH_PID=$!
    sleep 1
    kc create -n "$ns" -f "$WORK/pod-$n.json" | grep -q "pod/$pod created" || fail "create -f"
    stop_bg_when "$WORK/watch-$n" "^$pod .*Running"
    grep -q "^NAME .*READY .*STATUS" "$WORK/watch-$n" || fail "watch table header missing"

    kc get pods -n "$ns" -o wide >"$WORK/out"
    grep -Eq "^$pod +1/1 +Running .*127\.[0-9.]+ +kubesim-node" "$WORK/out" ||
      fail "get -o wide: $(cat "$WORK/out")"
    kc get pod "$pod" -n "$ns" -o jsonpath='{.status.phase}' | grep -qx Running ||
      fail "jsonpath phase"

    # pods/proxy through the API server, then the invocation's lines through pods/log
    kc get --raw "/api/v1/namespaces/$ns/pods/$pod:8080/proxy/no-such-path" >"$WORK/out" 2>&1 &&
      fail "proxy to a missing RIE path succeeded: $(cat "$WORK/out")"
    grep -q "(NotFound)" "$WORK/out" || fail "proxy 404: $(cat "$WORK/out")"
    kc get --raw "/api/v1/namespaces/$ns/pods/nopod-$n:8080/proxy/x" >"$WORK/out" 2>&1 &&
      fail "proxy to a missing pod succeeded"
    grep -q "pods \"nopod-$n\" not found" "$WORK/out" || fail "proxy pod 404: $(cat "$WORK/out")"
    ip="$(kc get pod "$pod" -n "$ns" -o jsonpath='{.status.podIP}')"
    rie_invoke "$ip" '{}'
    kc logs "$pod" -n "$ns" --tail 2 >"$WORK/out" || fail "logs --tail: $(cat "$WORK/out")"
    [[ "$(wc -l <"$WORK/out")" -eq 2 ]] || fail "logs --tail 2: $(cat "$WORK/out")"
    head -1 "$WORK/out" | grep -q "^END RequestId: " || fail "logs END: $(cat "$WORK/out")"
    grep -Eq "^REPORT RequestId: .*Billed Duration: [0-9]+ ms" "$WORK/out" || fail "logs REPORT"
    timeout 15 "$K" logs -f "$pod" -n "$ns" --tail 0 >"$WORK/follow-$n" 2>&1 &
    WATCH_PID=$!
    sleep 1
    rie_invoke "$ip" '{"kubesim_log":["followed-line"]}'
    stop_bg_when "$WORK/follow-$n" "^REPORT RequestId: "
    grep -qx "followed-line" "$WORK/follow-$n" || fail "logs -f line: $(cat "$WORK/follow-$n")"
    grep -q "START RIE" "$WORK/follow-$n" && fail "logs -f --tail 0 showed old lines"

    # --validate=false path too, and delete by name
    sed "s/NAME/$pod-nv/" "$WORK/pod.json" >"$WORK/pod-nv-$n.json"
    kc create --validate=false -n "$ns" -f "$WORK/pod-nv-$n.json" >/dev/null
    kc delete pod "$pod-nv" -n "$ns" | grep -q "pod \"$pod-nv\" deleted" || fail "delete pod"

    # unknown field: kubectl >= 1.25 asks for server-side strict validation
    # (fieldValidation=Strict) and the server rejects it; older kubectl (Debian
    # 12's is 1.20) validates against the OpenAPI schema itself, which kubesim
    # serves only minimally, so the server's default (Warn) answers: created,
    # with the warning shown.
    sed 's/"restartPolicy"/"bogusField":1,"restartPolicy"/; s/NAME/'"$pod"'-bad/' \
      "$WORK/pod.json" >"$WORK/bad-$n.json"
    minor="$("$K" version --client -o json 2>/dev/null |
      python3 -c 'import json,sys; print(int("".join(c for c in json.load(sys.stdin)["clientVersion"]["minor"] if c.isdigit())))' ||
      echo 0)"
    if [[ "$minor" -ge 25 ]]; then
      if kc create -n "$ns" -f "$WORK/bad-$n.json" >"$WORK/out" 2>&1; then
        fail "unknown field accepted: $(cat "$WORK/out")"
      fi
      grep -q 'unknown field "spec.bogusField"' "$WORK/out" || fail "strict: $(cat "$WORK/out")"
    else
      kc create -n "$ns" -f "$WORK/bad-$n.json" >"$WORK/out" 2>&1 ||
        fail "kubectl 1.$minor: create with an unknown field failed: $(cat "$WORK/out")"
      grep -q 'unknown field "spec.bogusField"' "$WORK/out" || fail "warn: $(cat "$WORK/out")"
      kc delete pod "$pod-bad" -n "$ns" --wait=false >/dev/null || fail "delete $pod-bad"
    fi

    kc delete pods -l app=y -n "$ns" | grep -q "pod \"$pod\" deleted" || fail "delete -l"
    kc get pods -n "$ns" 2>&1 | grep -q "No resources found" || fail "pods left"

    kc create secret generic "s$n" -n "$ns" --from-literal=token=abc | grep -q "secret/s$n created" ||
      fail "create secret"
    kc get secret -n "$ns" >"$WORK/out"
    grep -Eq "^s$n +Opaque +1 " "$WORK/out" || fail "get secret: $(cat "$WORK/out")"
    kc get secret "s$n" -n "$ns" -o jsonpath='{.data.token}' | base64 -d | grep -qx abc ||
      fail "secret data"
    kc delete secret "s$n" -n "$ns" >/dev/null

    # coordination.k8s.io/v1 Leases: discovery, apply (create, then a patch), get, delete
    sed "s/NAME/l$n/; s/HOLDER/inst-$n/" "$WORK/lease.yaml" >"$WORK/lease-$n.yaml"
    kc apply -n "$ns" -f "$WORK/lease-$n.yaml" >"$WORK/out" 2>&1 ||
      fail "apply lease: $(cat "$WORK/out")"
    grep -q "lease.coordination.k8s.io/l$n created" "$WORK/out" || fail "apply: $(cat "$WORK/out")"
    kc get leases -n "$ns" >"$WORK/out"
    grep -Eq "^NAME +HOLDER +AGE" "$WORK/out" || fail "get leases header: $(cat "$WORK/out")"
    grep -Eq "^l$n +inst-$n +" "$WORK/out" || fail "get leases: $(cat "$WORK/out")"
    sed -i "s/inst-$n/moved-$n/" "$WORK/lease-$n.yaml"
    kc apply -n "$ns" -f "$WORK/lease-$n.yaml" >"$WORK/out" 2>&1 ||
      fail "re-apply lease: $(cat "$WORK/out")"
    grep -q "lease.coordination.k8s.io/l$n configured" "$WORK/out" ||
      fail "re-apply: $(cat "$WORK/out")"
    kc get lease "l$n" -n "$ns" -o jsonpath='{.spec.holderIdentity} {.spec.renewTime}' |
      grep -qx "moved-$n 2026-01-02T03:04:05.123456Z" || fail "lease jsonpath"
    kc get leases -n "$ns" -l app=fakecloud -o name | grep -qx "lease.coordination.k8s.io/l$n" ||
      fail "get leases -l"
    sed 's/leaseDurationSeconds: 30/leaseDurationSeconds: 0/; s/NAME/bad/' "$WORK/lease.yaml" \
      >"$WORK/lease-bad.yaml"
    if kc apply -n "$ns" -f "$WORK/lease-bad.yaml" >"$WORK/out" 2>&1; then
      fail "lease with leaseDurationSeconds 0 accepted: $(cat "$WORK/out")"
    fi
    grep -q "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0" "$WORK/out" ||
      fail "invalid lease: $(cat "$WORK/out")"
    kc delete lease "l$n" -n "$ns" | grep -q "lease.coordination.k8s.io \"l$n\" deleted" ||
      fail "delete lease"
    kc get leases -n "$ns" 2>&1 | grep -q "No resources found" || fail "leases left"
  done
done
echo "PASS: $n kubectl/kubeconfig combinations"
