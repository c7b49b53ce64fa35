#!/usr/bin/env python3
"""The sample host with the real k8s backend on kubesim, as a user runs it.

Usage: host_k8s_e2e.py HOST_EXE PLUGIN_DIR KUBESIM_PY

1. invoke: the Pod's init container fetches code and layers from the host's
   artifact server (FAKECLOUD_K8S_SELF_URL answered by the host), the RIE
   stand-in echoes the code and layer files, the Pod is deleted afterwards;
2. launch in one process, terminate HANDLE in another (the Pod outlives the
   launching host and is gone after terminate);
3. a Pod left by a launch is removed by `reap` from a new process;
4. an invoke still succeeds while 1000 idle connections sit on the host's
   artifact server (they must not starve the init container's download);
5. invoke with FAKECLOUD_K8S_ENDPOINT=api-proxy goes through the backend's invoke op
   and kubesim's pods/proxy;
6. SIGINT during a slow launch cancels it through the launch's token (the k8s
   backend declares cancel): exit 130 within 1 s, no Pod left;
7. SIGTERM 300 ms into invoke, reap, terminate or prepull against an API
   server that accepts connections and never answers: exit 130 within 1 s.
kubesim runs in a temporary directory and is stopped at the end, pass or fail.
"""
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile


def fail(msg):
    raise SystemExit("FAIL: " + msg)


def run(cmd, env, cwd, expect=0):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if p.returncode != expect:
        fail(f"{' '.join(cmd[1:])} exited {p.returncode} (wanted {expect})\n"
             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def sim_get(ready, path, body=None):
    """GET (or POST BODY to) kubesim with its client certificate; the JSON answer."""
    ctx = ssl.create_default_context(cafile=ready["ca"])
    ctx.load_cert_chain(ready["client_cert"], ready["client_key"])
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(ready["url"] + path, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.load(r)


def pods(ready):
    items = sim_get(ready, "/api/v1/namespaces/default/pods")["items"]
    return sorted(p["metadata"]["name"] for p in items
                  if not p["metadata"].get("deletionTimestamp"))


def signal_and_wait(p, sig):
    """Send SIG to P and wait for it (killed after 5 s): its stderr and the seconds taken."""
    t0 = time.time()
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return err, time.time() - t0


def sigint_cancels_one_k8s_launch(host, common, env, tmp, ready):
    """The k8s backend declares cancel: SIGINT cancels the launch through its token
    (the backend is not closed under it), exit 130 within 1 s, no Pod left."""
    sim_get(ready, "/_sim/faults", {"boot_ms": 20000})
    try:
        p = subprocess.Popen([host, "launch"] + common, env=env, cwd=tmp,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 10
        while not pods(ready) and time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
        if not pods(ready):
            p.kill()
            fail("the launch created no Pod: %s" % (p.communicate()[1],))
        err, took = signal_and_wait(p, signal.SIGINT)
        if p.returncode != 130 or took > 1.0 or "launch cancelled by the host" not in err:
            fail(f"SIGINT during a k8s launch: exit {p.returncode} after {took:.2f} s "
                 f"(want 130 within 1 s, cancelled through the token)\n{err}")
        deadline = time.time() + 5
        while pods(ready) and time.time() < deadline:
            time.sleep(0.05)
        if pods(ready):
            fail(f"the cancelled launch left {pods(ready)}")
        print(f"launch: SIGINT -> cancelled through the token, exit 130 in {took:.2f} s")
    finally:
        sim_get(ready, "/_sim/faults", {"boot_ms": 100})


def invoke_through_the_api_server(host, common, env, tmp, ready):
    """FAKECLOUD_K8S_ENDPOINT=api-proxy: the host invokes through the backend's op,
    which goes through kubesim's pods/proxy."""
    before = sim_get(ready, "/_sim/stats").get("proxy_requests", 0)
    penv = dict(env, FAKECLOUD_K8S_ENDPOINT="api-proxy")
    p = run([host, "invoke", "--json", "--payload", '{"via":"proxy"}'] + common, penv, tmp)
    doc = json.loads(p.stdout)
    if (doc.get("status") != 200 or doc.get("invoked_via") != "backend"
            or doc.get("response", {}).get("event") != {"via": "proxy"}):
        fail(f"invoke through the API server answered {doc}")
    after = sim_get(ready, "/_sim/stats").get("proxy_requests", 0)
    if after - before < 2:  # readiness and the invocation itself
        fail(f"kubesim forwarded {after - before} pods/proxy requests, wanted >= 2")
    if pods(ready):
        fail(f"invoke through the API server left Pods behind: {pods(ready)}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def invoke_timed(host, args, env, cwd, idle):
    """Run an invoke with IDLE idle connections open on its artifact server; seconds taken."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < idle + 256 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (idle + 256, hard))
    port = free_port()
    t0 = time.time()
    p = subprocess.Popen([host] + args + ["--artifact-listen", f"127.0.0.1:{port}"], env=env,
                         cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conns = []
    try:
        deadline = time.time() + 10
        while idle and not conns and time.time() < deadline and p.poll() is None:
            try:
                conns.append(socket.create_connection(("127.0.0.1", port), timeout=1))
            except OSError:
                time.sleep(0.005)
        for _ in range(idle - len(conns) if conns else 0):
            conns.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        if idle and len(conns) != idle:
            fail(f"opened {len(conns)} of {idle} idle connections")
        out, err = p.communicate(timeout=120)
    finally:
        for c in conns:
            c.close()
        if p.poll() is None:
            p.kill()
            p.wait()
    took = time.time() - t0
    if p.returncode != 0 or json.loads(out).get("status") != 200:
        fail(f"invoke with {idle} idle connections exited {p.returncode}: {out}\n{err}")
    return took


def signals_against_a_silent_server(host, env, tmp):
    """An API server that accepts and never answers; SIGTERM must still end each command."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    kubeconfig = os.path.join(tmp, "silent.kubeconfig")
    with open(kubeconfig, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: s\n"
                "clusters:\n- name: s\n  cluster:\n"
                f"    server: https://127.0.0.1:{silent.getsockname()[1]}\n"
                "    insecure-skip-tls-verify: true\n"
                "users:\n- name: u\n  user:\n    token: not-a-secret\n"
                "contexts:\n- name: s\n  context: {cluster: s, user: u, namespace: default}\n")
    senv = dict(env, KUBECONFIG=kubeconfig)
    try:
        for args in (["invoke", "--function", "fn.json", "--code", "code.zip"], ["reap"],
                     ["terminate", "pod/default/fakecloud-x"], ["prepull", "img:1"]):
            p = subprocess.Popen([host] + args, env=senv, cwd=tmp, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(0.3)
            err, took = signal_and_wait(p, signal.SIGTERM)
            if p.returncode != 130 or took > 1.0:
                fail(f"{args[0]}: SIGTERM gave exit {p.returncode} after {took:.2f} s "
                     f"(want 130 within 1 s)\n{err}")
            print(f"{args[0]}: SIGTERM -> exit 130 in {took:.2f} s")
    finally:
        silent.close()


def main(host, plugin_dir, kubesim):
    tmp = tempfile.mkdtemp(prefix="fcb-host-k8s-")
    sim = None
    try:
        sim = subprocess.Popen([sys.executable, kubesim, "--dir", os.path.join(tmp, "ks"),
                                "--exit-with-parent"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = sim.stdout.readline()
        if not line:
            fail("kubesim did not start")
        ready = json.loads(line)
        env = {"PATH": "/usr/bin:/bin", "FAKECLOUD_BACKEND_PATH": plugin_dir,
               "FAKECLOUD_LAMBDA_BACKEND": "k8s", "KUBECONFIG": ready["kubeconfig"],
               "FAKECLOUD_LOG_LEVEL": "warn"}
        if "ASAN_OPTIONS" in os.environ:
            env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"]
        with open(os.path.join(tmp, "fn.json"), "w") as f:
            json.dump({"FunctionName": "e2e-fn",
                       "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:e2e-fn",
                       "Runtime": "python3.12", "Handler": "app.handler", "Timeout": 5,
                       "PackageType": "Zip",
                       "Layers": [{"Arn": "arn:aws:lambda:us-east-1:123456789012:layer:l:1"}]}, f)
        with zipfile.ZipFile(os.path.join(tmp, "code.zip"), "w") as z:
            z.writestr("app.py", "def handler(e, c):\n    return e\n")
        with zipfile.ZipFile(os.path.join(tmp, "layer.zip"), "w") as z:
            z.writestr("python/lib.py", "X = 1\n")
        common = ["--function", "fn.json", "--code", "code.zip", "--layer", "layer.zip"]

        # 1. invoke end to end
        p = run([host, "invoke", "--json", "--payload", '{"k":"v"}'] + common, env, tmp)
        doc = json.loads(p.stdout)
        resp = doc.get("response", {})
        if doc.get("status") != 200 or resp.get("event") != {"k": "v"}:
            fail(f"invoke answered {doc}")
        if "app.py" not in resp.get("code_files", []):
            fail(f"the Pod did not get the code zip: {resp}")
        if "python/lib.py" not in resp.get("layer_files", []):
            fail(f"the Pod did not get the layers: {resp}")
        if pods(ready):
            fail(f"invoke left Pods behind: {pods(ready)}")

        # 2. launch here, terminate from another process
        p = run([host, "launch", "--json"] + common, env, tmp)
        handle = json.loads(p.stdout)["handle"]
        if len(pods(ready)) != 1:
            fail(f"launch should leave one Pod running: {pods(ready)}")
        p = run([host, "terminate", handle], env, tmp)
        if p.stdout.strip() != f"terminated {handle}":
            fail(f"terminate printed {p.stdout!r}")
        deadline = time.time() + 10
        while pods(ready) and time.time() < deadline:
            time.sleep(0.1)
        if pods(ready):
            fail(f"terminate left {pods(ready)}")

        # 3. a Pod left by a previous host is reaped by a new one: `launch` deletes its
        # Lease at exit, so the Pod goes once older than one lease duration (issue 16)
        lenv = dict(env, FAKECLOUD_K8S_LEASE_SECONDS="1")
        run([host, "launch"] + common, lenv, tmp)
        time.sleep(1.2)
        p = run([host, "reap", "--json"], lenv, tmp)
        if json.loads(p.stdout).get("reaped", 0) < 1:
            fail(f"reap: {p.stdout}")
        deadline = time.time() + 10
        while pods(ready) and time.time() < deadline:
            time.sleep(0.1)
        if pods(ready):
            fail(f"reap left {pods(ready)}")
        normal = invoke_timed(host, ["invoke", "--json"] + common, env, tmp, 0)
        loaded = invoke_timed(host, ["invoke", "--json"] + common, env, tmp, 1000)
        print(f"invoke: {normal:.2f} s; with 1000 idle artifact connections: {loaded:.2f} s")
        if loaded > normal + 20:
            fail(f"1000 idle connections slowed the invoke from {normal:.2f} s to {loaded:.2f} s")
        if pods(ready):
            fail(f"invokes left Pods behind: {pods(ready)}")

        invoke_through_the_api_server(host, common, env, tmp, ready)
        sigint_cancels_one_k8s_launch(host, common, env, tmp, ready)
        signals_against_a_silent_server(host, env, tmp)
        print("ok: invoke (pod-ip and api-proxy), launch/terminate across processes, reap, "
              "idle connections, SIGINT cancelling one launch and signals on kubesim")
        return 0
    finally:
        if sim is not None:
            sim.send_signal(signal.SIGTERM)
            try:
                sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
