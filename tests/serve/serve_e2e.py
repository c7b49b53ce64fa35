#!/usr/bin/env python3
"""`fakecloud-lambda-host serve` driven by real clients: the AWS CLI and boto3.

Usage: serve_e2e.py HOST_EXE PLUGIN_DIR KUBESIM_PY

serve runs with the k8s backend on kubesim (a free loopback port), and:
1. aws lambda create-function (zip), invoke (sync with --log-type Tail, Event),
   update-function-code (the next invoke runs the new code),
   get-function-configuration, list-functions, delete-function; an unknown
   function is ResourceNotFoundException as botocore raises it (boto3) and
   exit 255 (CLI v1; 254 for v2);
2. update-function-code: the next invoke runs the new code (kubesim's RIE
   stand-in lists the code files it got); publish-version: f:1 keeps the old
   code after another update (never served by $LATEST's instances); an alias
   runs its version (X-Amz-Executed-Version), then $LATEST after update-alias;
3. one event per Pod at a time: 4 overlapping invokes whose handler sleeps
   (kubesim_sleep_ms) run on 4 Pods, each once; an error envelope (kubesim_error)
   is FunctionError Unhandled in the AWS CLI's output and in boto3's answer;
4. a dead instance (its Pod deleted behind serve's back) is evicted and the
   call answered by a new one; the handler ran once (the Pod's invocations);
5. publish-layer-version, a function with Layers (the Pod's init container gets
   them), tag-resource / untag-resource / list-tags, an unknown layer refused;
6. reserved concurrency 0 -> TooManyRequestsException (429) with its Reason;
   Event invocation -> 202; DryRun -> 204;
7. delete-function, then SIGTERM: exit 0 and no Pod left.
Exit 77 (skipped) when neither the AWS CLI nor boto3 is installed.
"""
import base64
import io
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:
    boto3 = None


def fail(msg):
    raise SystemExit("FAIL: " + msg)


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


class Sim:
    def __init__(self, kubesim, tmp, args=()):
        self.proc = subprocess.Popen([sys.executable, kubesim, "--dir", os.path.join(tmp, "ks"),
                                      "--exit-with-parent", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line:
            fail("kubesim did not start")
        self.ready = json.loads(line)

    def get(self, path, method="GET"):
        ctx = ssl.create_default_context(cafile=self.ready["ca"])
        ctx.load_cert_chain(self.ready["client_cert"], self.ready["client_key"])
        req = urllib.request.Request(self.ready["url"] + path, method=method)
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.load(r)

    def pods(self):
        items = self.get("/api/v1/namespaces/default/pods")["items"]
        return sorted(p["metadata"]["name"] for p in items
                      if not p["metadata"].get("deletionTimestamp"))

    def pod_stats(self):
        return self.get("/_sim/stats")["pods"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_serve(host, env, tmp):
    p = subprocess.Popen([host, "serve", "--listen", "127.0.0.1:0"], env=env, cwd=tmp,
                         stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "serve.log"), "w"),
                         text=True)
    line = p.stdout.readline()
    if not line.startswith("serving http://"):
        p.kill()
        fail(f"serve did not start: {line!r}\n" + open(os.path.join(tmp, "serve.log")).read())
    return p, line.split()[1]


def aws(url, tmp, *args, expect=0):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
               AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
    p = subprocess.run(["aws", "--endpoint-url", url, "lambda"] + list(args), env=env, cwd=tmp,
                       capture_output=True, text=True, timeout=120)
    if p.returncode != expect:
        fail(f"aws lambda {' '.join(args)} exited {p.returncode} (wanted {expect})\n"
             f"{p.stdout}\n{p.stderr}")
    return json.loads(p.stdout) if p.stdout.strip() else {}


def cli_part(url, tmp, zips, version_of, tail_needle, error_event=None):
    """The AWS CLI: create, invoke (sync with a log tail, async), update-function-code
    (the next invoke runs the new code), get, list, an unknown function, delete.
    ZIPS: the code before and after the update; VERSION_OF(answer) says which ran.
    ERROR_EVENT (optional): an event the handler answers with the error envelope whose
    errorMessage is "cli boom": the CLI must print FunctionError Unhandled."""
    for i, z in enumerate(zips):
        with open(os.path.join(tmp, f"cli{i + 1}.zip"), "wb") as f:
            f.write(z)
    conf = aws(url, tmp, "create-function", "--function-name", "cli-fn", "--runtime",
               "python3.12", "--handler", "app.handler", "--role",
               "arn:aws:iam::000000000000:role/r", "--zip-file", "fileb://cli1.zip")
    if conf.get("FunctionArn") != "arn:aws:lambda:us-east-1:000000000000:function:cli-fn":
        fail(f"create-function answered {conf}")
    with open(os.path.join(tmp, "event.json"), "w") as f:
        f.write('{"k":"v"}')  # fileb:// is raw bytes for AWS CLI v1 and v2 alike
    out = aws(url, tmp, "invoke", "--function-name", "cli-fn", "--payload", "fileb://event.json",
              "--log-type", "Tail", "answer.json")
    body = json.load(open(os.path.join(tmp, "answer.json")))
    if out.get("StatusCode") != 200 or body.get("event") != {"k": "v"} or version_of(body) != 1:
        fail(f"invoke: {out} {body}")
    if out.get("ExecutedVersion") != "$LATEST" or "FunctionError" in out:
        fail(f"invoke headers: {out}")
    tail = base64.b64decode(out.get("LogResult", "")).decode()
    if tail_needle not in tail:
        fail(f"LogType=Tail without {tail_needle!r}: {tail!r}")
    if error_event is not None:
        with open(os.path.join(tmp, "error-event.json"), "w") as f:
            f.write(error_event)
        out = aws(url, tmp, "invoke", "--function-name", "cli-fn", "--payload",
                  "fileb://error-event.json", "error-answer.json")
        body = json.load(open(os.path.join(tmp, "error-answer.json")))
        if out.get("FunctionError") != "Unhandled" or body.get("errorMessage") != "cli boom":
            fail(f"invoke of a handler that raised: {out} {body}")
    out = aws(url, tmp, "invoke", "--function-name", "cli-fn", "--invocation-type", "Event",
              "--payload", "fileb://event.json", "event-answer.json")
    if out.get("StatusCode") != 202:
        fail(f"invoke --invocation-type Event: {out}")
    aws(url, tmp, "update-function-code", "--function-name", "cli-fn", "--zip-file",
        "fileb://cli2.zip")
    aws(url, tmp, "invoke", "--function-name", "cli-fn", "--payload", "fileb://event.json",
        "answer.json")
    body = json.load(open(os.path.join(tmp, "answer.json")))
    if version_of(body) != 2:
        fail(f"invoke after update-function-code ran the old code: {body}")
    if aws(url, tmp, "get-function-configuration", "--function-name", "cli-fn")["Handler"] \
            != "app.handler":
        fail("get-function-configuration")
    names = [f["FunctionName"] for f in aws(url, tmp, "list-functions")["Functions"]]
    if "cli-fn" not in names:
        fail(f"list-functions: {names}")
    p = subprocess.run(["aws", "--endpoint-url", url, "lambda", "get-function",
                        "--function-name", "no-such-fn"],
                       env=dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
                                AWS_DEFAULT_REGION="us-east-1"),
                       capture_output=True, text=True, timeout=60)
    if p.returncode not in (254, 255) or "ResourceNotFoundException" not in p.stderr:  # v2, v1
        fail(f"unknown function: exit {p.returncode}: {p.stderr}")
    aws(url, tmp, "delete-function", "--function-name", "cli-fn")
    print("aws cli: create, invoke (sync + tail, Event), update-function-code, get, list, "
          "not found, delete: ok")


def client(url):
    return boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=botocore.config.Config(retries={"max_attempts": 1,
                                                               "mode": "standard"},
                                                      read_timeout=120))


def invoke(lam, name, payload, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
    return r, json.loads(r["Payload"].read() or b"null")


def boto_part(url, sim):  # noqa: C901 (one story, told in order)
    lam = client(url)
    v1_zip = zip_bytes({"v1.py": "x = 1\n"})
    lam.create_function(FunctionName="b-fn", Runtime="python3.12", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": v1_zip})
    location = lam.get_function(FunctionName="b-fn")["Code"]["Location"]
    if urllib.request.urlopen(location, timeout=10).read() != v1_zip:
        fail(f"Code.Location {location} did not give the uploaded zip")
    r, body = invoke(lam, "b-fn", {"n": 1})
    if body.get("code_files") != ["v1.py"]:
        fail(f"first invoke: {body}")
    v1 = lam.publish_version(FunctionName="b-fn")["Version"]
    lam.update_function_code(FunctionName="b-fn", ZipFile=zip_bytes({"v2.py": "x = 2\n"}))
    r, body = invoke(lam, "b-fn", {"n": 2})
    if body.get("code_files") != ["v2.py"]:
        fail(f"invoke after update-function-code still ran old code: {body}")
    r, body = invoke(lam, "b-fn", {"n": 3}, Qualifier=v1)
    if body.get("code_files") != ["v1.py"] or r.get("ExecutedVersion") != v1:
        fail(f"f:{v1} served by another deploy: {r.get('ExecutedVersion')} {body}")
    alias = lam.create_alias(FunctionName="b-fn", Name="live", FunctionVersion=v1)
    if not alias["AliasArn"].endswith(":function:b-fn:live"):
        fail(f"create_alias: {alias}")
    r, body = invoke(lam, "b-fn", {"n": 4}, Qualifier="live")
    if body.get("code_files") != ["v1.py"] or r.get("ExecutedVersion") != v1:
        fail(f"b-fn:live (-> {v1}) ran {r.get('ExecutedVersion')} {body}")
    lam.update_alias(FunctionName="b-fn", Name="live", FunctionVersion="$LATEST")
    r, body = invoke(lam, "b-fn:live", {"n": 5})
    if body.get("code_files") != ["v2.py"] or r.get("ExecutedVersion") != "$LATEST":
        fail(f"b-fn:live (-> $LATEST) ran {r.get('ExecutedVersion')} {body}")
    lam.delete_alias(FunctionName="b-fn", Name="live")
    try:
        lam.get_function(FunctionName="nope")
        fail("get_function of an unknown function succeeded")
    except lam.exceptions.ResourceNotFoundException as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] != 404:
            fail(f"not found: {e.response}")
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    if 'fakecloud_lambda_init_duration_seconds_count{function="b-fn"} 0' in text or \
            'fakecloud_lambda_cold_starts_total{function="b-fn"} 3' not in text:
        fail("metrics: cold starts or the RIE's Init Duration missing\n" + text)
    print("boto3: update-function-code seen, f:1 kept apart, ResourceNotFoundException, "
          "cold starts and Init Duration in /metrics: ok")
    return lam


def layers_and_tags_part(lam):
    """PublishLayerVersion, a function with Layers (the Pod gets them), tags."""
    layer = lam.publish_layer_version(LayerName="util", Content={
        "ZipFile": zip_bytes({"python/util.py": "U = 1\n"})},
        CompatibleRuntimes=["python3.12"])
    if layer["Version"] != 1 or not layer["LayerVersionArn"].endswith(":layer:util:1"):
        fail(f"publish_layer_version: {layer}")
    conf = lam.create_function(FunctionName="l-fn", Runtime="python3.12", Handler="app.handler",
                               Role="arn:aws:iam::000000000000:role/r",
                               Code={"ZipFile": zip_bytes({"app.py": "x = 1\n"})},
                               Layers=[layer["LayerVersionArn"]], Tags={"team": "blue"})
    if conf["Layers"][0]["Arn"] != layer["LayerVersionArn"] or not conf["Layers"][0]["CodeSize"]:
        fail(f"Layers in the configuration: {conf.get('Layers')}")
    r, body = invoke(lam, "l-fn", {})
    if "python/util.py" not in body.get("layer_files", []):
        fail(f"the Pod did not get the layer: {body}")
    arn = conf["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"env": "dev"})
    if lam.list_tags(Resource=arn)["Tags"] != {"team": "blue", "env": "dev"}:
        fail(f"list_tags after tag_resource: {lam.list_tags(Resource=arn)}")
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    if lam.list_tags(Resource=arn)["Tags"] != {"env": "dev"}:
        fail(f"list_tags after untag_resource: {lam.list_tags(Resource=arn)}")
    try:
        lam.create_function(FunctionName="bad-layer", Runtime="python3.12", Handler="a.h",
                            Role="r", Code={"ZipFile": zip_bytes({"a.py": ""})},
                            Layers=[layer["LayerVersionArn"][:-1] + "9"])
        fail("a function with an unknown layer version was created")
    except lam.exceptions.InvalidParameterValueException as e:
        if "does not exist" not in str(e):
            fail(f"unknown layer: {e}")
    lam.delete_function(FunctionName="l-fn")
    print("layers (the Pod got the layer), tags, unknown layer refused: ok")


def concurrency_part(lam, sim):
    """One event per Pod at a time: with one warm instance, 4 calls whose handler holds
    its Pod 500 ms (kubesim_sleep_ms) all overlap, so each must run on its own Pod (an
    RIE given two events at once would answer both: a pool that did so reuses a Pod);
    each answered and run once."""
    invoke(lam, "b-fn", {"warm": 1})
    before = {k: v["invocations"] for k, v in sim.pod_stats().items()}
    results, lock = [], threading.Lock()
    start = threading.Barrier(4)

    def one(i):
        start.wait()
        body = invoke(lam, "b-fn", {"i": i, "kubesim_sleep_ms": 500})[1]
        with lock:
            results.append(body.get("pod"))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(results) != 4 or None in results or len(set(results)) != 4:
        fail(f"4 overlapping invokes ran on Pods {results}: two events on one Pod at once")
    after = sim.pod_stats()
    grew = {k: v["invocations"] - before.get(k, 0) for k, v in after.items()}
    if sum(grew.values()) != 4:
        fail(f"4 invokes, {grew} invocations counted")
    r, body = invoke(lam, "b-fn", {"kubesim_error": "boom"})
    if r.get("FunctionError") != "Unhandled" or r["StatusCode"] != 200 or \
            body.get("errorMessage") != "boom":
        fail(f"an error envelope: FunctionError {r.get('FunctionError')!r}, {body}")
    print(f"concurrent: 4 overlapping calls on 4 Pods {sorted(results)}; "
          "error envelope -> FunctionError Unhandled")


def dead_instance_part(lam, sim):
    """A Pod deleted behind serve's back: evicted, the call answered by a new one, once."""
    r, body = invoke(lam, "b-fn", {"before": 1})
    pod = body["pod"]
    sim.get(f"/api/v1/namespaces/default/pods/{pod}", method="DELETE")
    deadline = time.time() + 10
    while pod in sim.pods() and time.time() < deadline:
        time.sleep(0.05)
    before = sum(v["invocations"] for v in sim.pod_stats().values())
    r, body = invoke(lam, "b-fn", {"after": 1})
    if r["StatusCode"] != 200 or body.get("pod") == pod or "FunctionError" in r:
        fail(f"after the Pod died: {r.get('FunctionError')} {body}")
    after = sum(v["invocations"] for v in sim.pod_stats().values())
    if after - before != 1:
        fail(f"the handler ran {after - before} times for one call")
    print("dead instance: evicted, answered by a new one, handler ran once")


def limits_part(lam):
    lam.put_function_concurrency(FunctionName="b-fn", ReservedConcurrentExecutions=0)
    try:
        invoke(lam, "b-fn", {})
        fail("reserved concurrency 0 did not throttle")
    except lam.exceptions.TooManyRequestsException as e:
        if e.response["Error"].get("Reason") != \
                "ReservedFunctionConcurrentInvocationLimitExceeded" and \
                e.response.get("Reason") != "ReservedFunctionConcurrentInvocationLimitExceeded":
            fail(f"429 without its Reason: {e.response}")
    lam.delete_function_concurrency(FunctionName="b-fn")
    r = lam.invoke(FunctionName="b-fn", InvocationType="Event", Payload=b"{}")
    if r["StatusCode"] != 202:
        fail(f"Event: {r['StatusCode']}")
    r = lam.invoke(FunctionName="b-fn", InvocationType="DryRun", Payload=b"{}")
    if r["StatusCode"] != 204:
        fail(f"DryRun: {r['StatusCode']}")
    print("reserved 0 -> 429 with Reason, Event 202, DryRun 204: ok")


def main(host, plugin_dir, kubesim):
    have_cli = shutil.which("aws") is not None
    if not have_cli and boto3 is None:
        print("SKIP: neither the AWS CLI nor boto3 is installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="fcb-serve-")
    sim = serve = None
    try:
        sim = Sim(kubesim, tmp)
        env = {"PATH": "/usr/bin:/bin", "FAKECLOUD_BACKEND_PATH": plugin_dir,
               "FAKECLOUD_LAMBDA_BACKEND": "k8s", "KUBECONFIG": sim.ready["kubeconfig"],
               "FAKECLOUD_LOG_LEVEL": "info"}
        if "ASAN_OPTIONS" in os.environ:
            env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"]
            env["LSAN_OPTIONS"] = os.environ.get("LSAN_OPTIONS", "")
        serve, url = start_serve(host, env, tmp)
        if have_cli:
            cli_part(url, tmp, [zip_bytes({"v1.py": ""}), zip_bytes({"v2.py": ""})],
                     lambda body: {"v1.py": 1, "v2.py": 2}.get((body.get("code_files") or [""])[0]),
                     "REPORT RequestId", error_event='{"kubesim_error":"cli boom"}')
        if boto3 is not None:
            lam = boto_part(url, sim)
            layers_and_tags_part(lam)
            concurrency_part(lam, sim)
            dead_instance_part(lam, sim)
            limits_part(lam)
            lam.delete_function(FunctionName="b-fn")
        serve.send_signal(signal.SIGTERM)
        rc = serve.wait(timeout=30)
        if rc != 0:
            fail(f"serve exited {rc} after SIGTERM\n" + open(os.path.join(tmp, "serve.log")).read())
        deadline = time.time() + 10
        while sim.pods() and time.time() < deadline:
            time.sleep(0.1)
        if sim.pods():
            fail(f"serve left Pods: {sim.pods()}")
        print("ok: serve with the AWS CLI and boto3 on kubesim; nothing left after SIGTERM")
        return 0
    except BaseException:
        if os.path.exists(os.path.join(tmp, "serve.log")):
            sys.stderr.write(open(os.path.join(tmp, "serve.log")).read()[-6000:])
        raise
    finally:
        if serve is not None and serve.poll() is None:
            serve.kill()
            serve.wait()
        if sim is not None:
            sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
