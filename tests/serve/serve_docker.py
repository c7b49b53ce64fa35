#!/usr/bin/env python3
"""`serve` with the docker backend on the private dockerd, driven by boto3.

Usage (under tests/docker/with-dockerd.sh, which sets DOCKER_HOST and fails the
run if a container is left): serve_docker.py HOST_EXE PLUGIN_DIR

The test image runs handlers as shell scripts (tests/docker/image), so the
handler here can tell what a cluster stand-in cannot:
1. two overlapping invokes never run in one container at once (the handler
   takes a lock directory; a second event arriving while it is held says
   "overlap"), and run in two containers;
2. an error envelope from the handler -> FunctionError Unhandled;
3. a handler that outlives its Timeout -> Unhandled Sandbox.Timedout, that
   container is dropped and the next call runs in another one;
4. an Event whose handler fails runs 3 times in all (AWS: 2 retries);
5. the AWS CLI story of serve_e2e.py (create, invoke sync with a log tail and
   Event, update-function-code seen by the next invoke, get, list, not
   found, delete) when the CLI is installed;
6. hot reload: a function whose code is a host directory (S3Bucket
   "hot-reload", S3Key the directory, inside FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS)
   answers from it; an edited file is seen by the next invoke on the same warm
   container (no new cold start); a directory outside the roots is refused at
   the invoke naming code_dir, and nothing is left;
7. SIGTERM: exit 0 and no container left.
Exit 77 (skip) without boto3 or DOCKER_HOST.
"""
import io
import json
import os
import shutil
import signal
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
except ImportError:
    boto3 = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_e2e  # noqa: E402  (the AWS CLI story, shared with the kubesim test)

HANDLER = r"""ev=$(cat)
if ! mkdir /tmp/busy 2>/dev/null; then echo '{"overlap":true}'; exit 0; fi
case "$ev" in *fail*)
  echo x >> /tmp/fails; rmdir /tmp/busy
  echo '{"errorMessage":"boom","errorType":"Boom"}'; exit 0;;
esac
case "$ev" in *slow*) sleep 0.5;; esac
case "$ev" in *hang*) sleep 30;; esac
fails=0; [ -f /tmp/fails ] && fails=$(wc -l < /tmp/fails)
rmdir /tmp/busy
echo "{\"overlap\":false,\"host\":\"$(hostname)\",\"fails\":$fails}"
"""


def fail(msg):
    raise SystemExit("FAIL: " + msg)


def code_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.sh", HANDLER)
    return buf.getvalue()


def invoke(lam, name, payload, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
    return r, json.loads(r["Payload"].read() or b"null")


def metric(url, name):
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def wait_for(what, cond, seconds=20):
    deadline = time.time() + seconds
    while not cond():
        if time.time() > deadline:
            fail(f"still not true after {seconds} s: {what}")
        time.sleep(0.05)


def run(lam, url):
    t0 = time.time()
    for name, timeout in (("d-fn", 10), ("t-fn", 1), ("e-fn", 10)):
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                            Role="arn:aws:iam::000000000000:role/r", Timeout=timeout,
                            Code={"ZipFile": code_zip()})
    got = []
    threads = [threading.Thread(target=lambda: got.append(invoke(lam, "d-fn", {"slow": 1})[1]))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(got) != 2 or any(g.get("overlap") is not False for g in got) or \
            got[0]["host"] == got[1]["host"]:
        fail(f"two overlapping invokes: {got}")
    print(f"overlapping invokes ran in two containers, one event each: {got}")
    r, body = invoke(lam, "d-fn", {"fail": 1})
    if r.get("FunctionError") != "Unhandled" or body.get("errorType") != "Boom":
        fail(f"error envelope: {r.get('FunctionError')} {body}")
    t0 = time.time()
    r, body = invoke(lam, "t-fn", {"hang": 1})
    took = time.time() - t0
    if r.get("FunctionError") != "Unhandled" or body.get("errorType") != "Sandbox.Timedout" or \
            took > 10:
        fail(f"timeout: {r.get('FunctionError')} {body} after {took:.1f} s")
    r, body = invoke(lam, "t-fn", {})
    if body.get("overlap") is not False:
        fail(f"after a timeout the call reached the hung container: {body}")
    print(f"handler error -> Unhandled; timeout -> Sandbox.Timedout in {took:.1f} s, "
          "next call on a new container")
    r = lam.invoke(FunctionName="e-fn", InvocationType="Event", Payload=b'{"fail":1}')
    if r["StatusCode"] != 202:
        fail(f"Event: {r['StatusCode']}")
    wait_for("the event's 3 attempts",
             lambda: metric(url, 'fakecloud_lambda_errors_total{function="e-fn"}') >= 3 and
             metric(url, "fakecloud_lambda_events_in_flight") == 0)
    r, body = invoke(lam, "e-fn", {})
    if body.get("fails") != 3:
        fail(f"an Event whose handler fails ran {body.get('fails')} times (wanted 3)")
    print(f"Event with a failing handler: 3 attempts ({time.time() - t0:.1f} s in all)")


HOT_HANDLER = 'cat >/dev/null; echo "{\\"v\\":%d,\\"host\\":\\"$(hostname)\\"}"\n'


def hot_reload(lam, url, roots):
    """Hot reload: create from a directory, invoke, edit, invoke (same container)."""
    app = os.path.join(roots, "app")
    os.makedirs(app)
    with open(os.path.join(app, "app.sh"), "w") as f:
        f.write(HOT_HANDLER % 1)
    lam.create_function(FunctionName="hot-fn", Runtime="python3.12", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/r", Timeout=10,
                        Code={"S3Bucket": "hot-reload", "S3Key": app})
    loc = lam.get_function(FunctionName="hot-fn")["Code"].get("Location")
    if loc != "file://" + app:
        fail(f"GetFunction Code.Location of a hot-reload function: {loc}")
    _, first = invoke(lam, "hot-fn", {})
    cold = metric(url, 'fakecloud_lambda_cold_starts_total{function="hot-fn"}')
    with open(os.path.join(app, "app.sh"), "w") as f:
        f.write(HOT_HANDLER % 2)
    _, second = invoke(lam, "hot-fn", {})
    if first.get("v") != 1 or second.get("v") != 2:
        fail(f"hot reload: before the edit {first}, after it {second} (wanted v 1 then 2)")
    if second.get("host") != first.get("host") or \
            metric(url, 'fakecloud_lambda_cold_starts_total{function="hot-fn"}') != cold:
        fail(f"hot reload: the edit cost a new container: {first} then {second}")
    outside = tempfile.mkdtemp(prefix="fcb-outside-")
    try:
        lam.create_function(FunctionName="hot-out", Runtime="python3.12",
                            Handler="app.handler", Role="arn:aws:iam::000000000000:role/r",
                            Code={"S3Bucket": "hot-reload", "S3Key": outside})
        try:
            invoke(lam, "hot-out", {})
            fail("a directory outside FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS was mounted")
        except lam.exceptions.ClientError as e:
            msg = str(e)
        if "code_dir" not in msg or "outside the allowed roots" not in msg:
            fail(f"the refusal of a directory outside the roots: {msg}")
    finally:
        os.rmdir(outside)
    for name in ("hot-fn", "hot-out"):
        lam.delete_function(FunctionName=name)
    print(f"hot reload: v1 then v2 after an edit, same container {first['host']}; "
          f"a directory outside the roots refused: {msg[:160]}")


def cli_zip(version):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.sh", 'echo "{\\"v\\":%d,\\"event\\":$(cat)}"\n' % version)
    return buf.getvalue()


def main(host, plugin_dir):
    if boto3 is None or not os.environ.get("DOCKER_HOST"):
        print("SKIP: needs boto3 and DOCKER_HOST (run under with-dockerd.sh)")
        return 77
    tmp = tempfile.mkdtemp(prefix="fcb-serve-docker-")
    env = {"PATH": "/usr/bin:/bin", "FAKECLOUD_BACKEND_PATH": plugin_dir,
           "FAKECLOUD_LAMBDA_BACKEND": "docker", "DOCKER_HOST": os.environ["DOCKER_HOST"],
           "FAKECLOUD_LAMBDA_EVENT_RETRY_MS": "10", "FAKECLOUD_LOG_LEVEL": "info",
           "FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS": os.path.join(tmp, "hot")}
    os.makedirs(env["FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS"])
    for k in ("ASAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    log = os.path.join(tmp, "serve.log")
    p = subprocess.Popen([host, "serve", "--listen", "127.0.0.1:0"], env=env,
                         stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
    try:
        line = p.stdout.readline()
        if not line.startswith("serving http://"):
            fail(f"serve did not start: {open(log).read()}")
        url = line.split()[1]
        lam = boto3.client("lambda", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x",
                           config=botocore.config.Config(retries={"max_attempts": 1,
                                                                  "mode": "standard"},
                                                         read_timeout=60))
        if shutil.which("aws") is not None:
            tmpcli = os.path.join(tmp, "cli")
            os.makedirs(tmpcli)
            serve_e2e.cli_part(url, tmpcli, [cli_zip(1), cli_zip(2)],
                               lambda body: body.get("v"), "rie: listening")
        run(lam, url)
        hot_reload(lam, url, env["FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS"])
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        if rc != 0:
            fail(f"serve exited {rc} after SIGTERM")
        print(f"ok: serve on dockerd with boto3; exit 0 {time.time() - t0:.1f} s after SIGTERM")
        return 0
    except BaseException:
        sys.stderr.write(open(log).read()[-6000:])
        raise
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
