#!/usr/bin/env python3
"""The sample host with the real k8s backend on kubesim, as a user runs it.

Usage: host_k8s_e2e.py HOST_EXE PLUGIN_DIR KUBESIM_PY

1. invoke: the Pod's init container fetches code and layers from the host's
   artifact server (FAKECLOUD_K8S_SELF_URL answered by the host), the RIE
   stand-in echoes the code and layer files, the Pod is deleted afterwards;
2. launch in one process, terminate HANDLE in another (the Pod outlives the
   launching host and is gone after terminate);
3. a Pod left by a launch is removed by `reap` from a new process.
kubesim runs in a temporary directory and is stopped at the end, pass or fail.
"""
import json
import os
import shutil
import signal
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


def pods(ready):
    ctx = ssl.create_default_context(cafile=ready["ca"])
    ctx.load_cert_chain(ready["client_cert"], ready["client_key"])
    url = ready["url"] + "/api/v1/namespaces/default/pods"
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        items = json.load(r)["items"]
    return sorted(p["metadata"]["name"] for p in items
                  if not p["metadata"].get("deletionTimestamp"))


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

        # 3. a Pod left by a previous host is reaped by a new one
        run([host, "launch"] + common, env, tmp)
        p = run([host, "reap", "--json"], env, tmp)
        if json.loads(p.stdout).get("reaped", 0) < 1:
            fail(f"reap: {p.stdout}")
        deadline = time.time() + 10
        while pods(ready) and time.time() < deadline:
            time.sleep(0.1)
        if pods(ready):
            fail(f"reap left {pods(ready)}")
        print("ok: invoke, launch/terminate across processes and reap on kubesim")
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
