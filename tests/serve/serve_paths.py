#!/usr/bin/env python3
"""`serve` with the in-process test plugin: the paths a real cluster rarely takes.

Usage: serve_paths.py HOST_EXE TEST_PLUGINS_DIR ABI10_PLUGIN

Plain HTTP (urllib), so every status, header and body is checked as sent:
1. usage errors: a bad --listen, a bad FAKECLOUD_LAMBDA_* value, --json,
   a port in use: exit 2 with the reason;
2. error shapes: unknown path 404, wrong method 405, a body that is not JSON
   400 InvalidRequestContentException, a bad InvocationType 400, a payload
   over 6 MB 413 RequestTooLargeException (each with X-Amzn-ErrorType);
3. LogType=Tail through the plugin's logs op (X-Amz-Log-Result); --aws-endpoint-url
   and --role-credentials reach every launch (and test2, without the
   credentials capability, is refused with exit 2);
4. a launch that fails: 502 ServiceException (backend error) and 400
   InvalidParameterValueException (the plugin refused the function);
5. an Event invocation whose launches fail is tried 3 times (AWS: 2 retries),
   then no more;
6. FAKECLOUD_LAMBDA_KEEPALIVE_MS=0: a launch per call, nothing kept;
7. SIGTERM while a call is launching: the call answers 503 at once, serve
   exits 0 (the plugin's memory balanced: else 4) within 5 s;
8. an ABI 1.0 plugin (no invoke, status or logs op) whose runtime refuses
   connections: 502 ServiceException after 3 instances (the event reached no
   handler, so it is not the function's error), no log tail, nothing left.
"""
import base64
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile


def fail(msg):
    raise SystemExit("FAIL: " + msg)


def zip_b64():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(e, c):\n    return e\n")
    return base64.b64encode(buf.getvalue()).decode()


class Serve:
    def __init__(self, host, plugins, tmp, extra=None, args=None):
        env = {"PATH": "/usr/bin:/bin", "FAKECLOUD_BACKEND_PATH": plugins,
               "FAKECLOUD_LAMBDA_BACKEND": "test", "FAKECLOUD_LOG_LEVEL": "info"}
        for k in ("ASAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        env.update(extra or {})
        self.log = os.path.join(tmp, "serve-%d.log" % time.monotonic_ns())
        self.proc = subprocess.Popen([host, "serve"] + (args or ["--listen", "127.0.0.1:0"]),
                                     env=env, stdout=subprocess.PIPE, stderr=open(self.log, "w"),
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("serving http://"):
            self.proc.wait(timeout=10)
            self.url = None
            return
        self.port = int(line.split(":")[-1])

    def logs(self):
        return open(self.log).read()

    def call(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        c.request(method, path, body=data, headers=headers or {})
        r = c.getresponse()
        payload = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, payload

    def create(self, name, **extra):
        doc = {"FunctionName": name, "Runtime": "python3.12", "Handler": "app.handler",
               "Role": "arn:aws:iam::000000000000:role/r", "Code": {"ZipFile": zip_b64()}}
        doc.update(extra)
        st, h, body = self.call("POST", "/2015-03-31/functions", doc)
        if st != 201:
            fail(f"create {name}: {st} {body}")

    def invoke(self, name, payload=b"{}", headers=None):
        return self.call("POST", f"/2015-03-31/functions/{name}/invocations", payload, headers)

    def metric(self, name):
        st, h, body = self.call("GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def stop(self, want=0):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        if rc != want:
            fail(f"serve exited {rc} (wanted {want})\n{self.logs()[-3000:]}")


def expect_error(res, status, err_type, needle=""):
    st, h, body = res
    if st != status or h.get("x-amzn-errortype") != err_type or needle not in body.decode():
        fail(f"wanted {status} {err_type} ({needle!r}), got {st} {h.get('x-amzn-errortype')} "
             f"{body[:300]!r}")


def wait_for(what, cond, seconds=10):
    deadline = time.time() + seconds
    while not cond():
        if time.time() > deadline:
            fail(f"still not true after {seconds} s: {what}")
        time.sleep(0.02)


def creds_file(tmp):
    path = os.path.join(tmp, "creds.json")
    with open(path, "w") as f:
        json.dump({"Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s3cr3t",
                                   "SessionToken": "t"}}, f)
    return path


def usage_errors(host, plugins, tmp):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    cases = [(["--listen", "nonsense"], {}, "--listen"),
             (["--listen", "127.0.0.1:0"], {"FAKECLOUD_LAMBDA_KEEPALIVE_MS": "soon"},
              "FAKECLOUD_LAMBDA_KEEPALIVE_MS"),
             (["--listen", "127.0.0.1:0", "--json"], {}, "--json"),
             (["--listen", "127.0.0.1:0", "--role-credentials", creds_file(tmp)],
              {"FAKECLOUD_LAMBDA_BACKEND": "test2"}, "credentials capability"),
             (["--listen", f"127.0.0.1:{busy.getsockname()[1]}"], {}, "cannot listen")]
    for args, extra, needle in cases:
        s = Serve(host, plugins, tmp, extra, args)
        if s.proc.returncode != 2 or needle not in s.logs():
            fail(f"serve {args} {extra}: exit {s.proc.returncode}: {s.logs()}")
    busy.close()
    print("usage errors: exit 2 with the reason")


def shapes_and_tail(s):
    expect_error(s.call("GET", "/2015-03-31/nothing"), 404, "UnknownOperationException")
    expect_error(s.call("PATCH", "/2015-03-31/functions/f"), 405, "MethodNotAllowedException")
    expect_error(s.call("POST", "/2015-03-31/functions", b"{nope"), 400,
                 "InvalidRequestContentException")
    s.create("f")
    expect_error(s.invoke("f", b"{}", {"X-Amz-Invocation-Type": "Sometime"}), 400,
                 "InvalidParameterValueException", "InvocationType")
    expect_error(s.invoke("f", b"not json"), 400, "InvalidRequestContentException")
    expect_error(s.invoke("f", b'"' + b"x" * (6 * 1024 * 1024) + b'"'), 413,
                 "RequestTooLargeException")
    expect_error(s.invoke("g"), 404, "ResourceNotFoundException", "function:g")
    st, h, body = s.invoke("f", b'{"k":1}', {"X-Amz-Log-Type": "Tail"})
    tail = base64.b64decode(h.get("x-amz-log-result", "")).decode()
    if st != 200 or json.loads(body)["event"] != {"k": 1} or "START RequestId" not in tail:
        fail(f"invoke with tail: {st} {body!r} {tail!r}")
    if h.get("x-amz-executed-version") != "$LATEST" or "x-amz-function-error" in h:
        fail(f"invoke headers: {h}")
    if json.loads(body).get("aws_endpoint_url") != "http://127.0.0.1:4566":
        fail(f"--aws-endpoint-url did not reach the launch: {body!r}")
    if json.loads(body).get("credentials") != "ASIA...(set)":
        fail(f"--role-credentials did not reach the launch: {body!r}")
    print("error shapes and LogType=Tail: ok")


def launch_failures(host, plugins, tmp):
    s = Serve(host, plugins, tmp, {"FAKECLOUD_TEST_FAIL_LAUNCH": "BACKEND",
                                   "FAKECLOUD_LAMBDA_EVENT_RETRY_MS": "10"})
    s.create("f")
    expect_error(s.invoke("f"), 502, "ServiceException", "FAKECLOUD_TEST_FAIL_LAUNCH")
    st, h, body = s.invoke("f", b"{}", {"X-Amz-Invocation-Type": "Event"})
    if st != 202:
        fail(f"Event: {st} {body}")
    errors = 'fakecloud_lambda_errors_total{function="f"}'
    wait_for("3 attempts of the event", lambda: s.metric(errors) >= 4)
    wait_for("the event done", lambda: s.metric("fakecloud_lambda_events_in_flight") == 0)
    if s.metric(errors) != 4:
        fail(f"1 call + an event tried {s.metric(errors) - 1:.0f} times (wanted 3)")
    s.stop()
    s = Serve(host, plugins, tmp, {"FAKECLOUD_TEST_FAIL_LAUNCH": "INVALID_ARGUMENT"})
    s.create("f")
    expect_error(s.invoke("f"), 400, "InvalidParameterValueException")
    s.stop()
    print("launch failures: 502 / 400; an Event tried 3 times: ok")


def keepalive_zero(host, plugins, tmp):
    s = Serve(host, plugins, tmp, {"FAKECLOUD_LAMBDA_KEEPALIVE_MS": "0"})
    s.create("f")
    for _ in range(2):
        if s.invoke("f")[0] != 200:
            fail("invoke with keep-alive 0")
    if s.metric('fakecloud_lambda_cold_starts_total{function="f"}') != 2 or \
            s.metric("fakecloud_lambda_pool_instances_total") != 0:
        fail("keep-alive 0 kept an instance")
    s.stop()
    print("keep-alive 0: a launch per call, nothing kept: ok")


def sigterm_in_flight(host, plugins, tmp):
    s = Serve(host, plugins, tmp, {"FAKECLOUD_TEST_LAUNCH_DELAY_MS": "20000"})
    s.create("f")
    got = []
    t = threading.Thread(target=lambda: got.append(s.invoke("f")))
    t.start()
    wait_for("a launch in flight", lambda: s.metric("fakecloud_lambda_pool_instances_total") == 1)
    t0 = time.time()
    s.stop()
    t.join(timeout=10)
    if not got:
        fail("the call in flight never answered")
    expect_error(got[0], 503, "ServiceException", "shutting down")
    if time.time() - t0 > 5:
        fail(f"SIGTERM took {time.time() - t0:.1f} s")
    print(f"SIGTERM during a launch: 503, exit 0 in {time.time() - t0:.2f} s")


def abi10(host, plugins, tmp, plugin):
    s = Serve(host, plugins, tmp, {"FAKECLOUD_LAMBDA_BACKEND": plugin})
    s.create("f")
    res = s.invoke("f", b"{}", {"X-Amz-Log-Type": "Tail"})
    expect_error(res, 502, "ServiceException", "Couldn")
    if "x-amz-log-result" in res[1]:
        fail("a log tail from a plugin without logs")
    if s.metric("fakecloud_lambda_pool_retries_total") != 2 or \
            s.metric("fakecloud_lambda_pool_instances_total") != 0:
        fail("3 instances tried, none kept")
    s.stop()
    print("ABI 1.0 plugin, runtime refusing connections: 502 after 3 instances: ok")


def beyond_fd_setsize(host, plugins, tmp):
    """Calls still answered while serve holds more than FD_SETSIZE (1024) sockets."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1300
    if hard != resource.RLIM_INFINITY and hard < 2 * want:
        print(f"beyond FD_SETSIZE: skipped (RLIMIT_NOFILE hard limit {hard})")
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2 * want), hard))
    s = Serve(host, plugins, tmp)
    idle = []
    try:
        for _ in range(want):  # idle keep-alive connections, as 1000 waiting callers hold
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            idle.append(c)
        st, h, body = s.call("GET", "/2015-03-31/functions")
        if st != 200:
            fail(f"ListFunctions with {want} connections open: {st} {body[:200]}")
    finally:
        for c in idle:
            c.close()
        s.stop()
    print(f"ListFunctions answered with {want} other connections open: ok")


def main(host, plugins, abi10_plugin):
    tmp = tempfile.mkdtemp(prefix="fcb-serve-paths-")
    try:
        usage_errors(host, plugins, tmp)
        creds = creds_file(tmp)
        s = Serve(host, plugins, tmp, args=["--listen", "127.0.0.1:0", "--aws-endpoint-url",
                                            "http://127.0.0.1:4566", "--role-credentials", creds])
        try:
            shapes_and_tail(s)
        finally:
            s.stop()
        launch_failures(host, plugins, tmp)
        keepalive_zero(host, plugins, tmp)
        sigterm_in_flight(host, plugins, tmp)
        abi10(host, plugins, tmp, abi10_plugin)
        beyond_fd_setsize(host, plugins, tmp)
        print("ok")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
