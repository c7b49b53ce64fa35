#!/usr/bin/env python3
"""Figures of `serve` on kubesim (k8s backend), one run, printed as a table.

Usage: serve_bench.py HOST_EXE PLUGIN_DIR KUBESIM_PY [N]

- warm invoke latency through serve vs straight to the instance's RIE, p50/p99
  over N calls (default 1000) on one keep-alive connection each;
- cold (first call: launch included) vs warm, and keep-alive 0 (a launch per call);
- throughput: invokes/s with 10 warm instances of one function (10 client threads);
- 1000 concurrent invokes of one function with FAKECLOUD_LAMBDA_MAX_CONCURRENCY=50:
  all answered, at most 50 Pods at any time (serve's own pool gauge sampled and
  kubesim's Pod list), each event run once (kubesim's per-Pod invocation counts),
  no Pod left after SIGTERM.
Not part of `meson test` (it takes about a minute); run it by hand.
"""
import http.client
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_e2e as e  # noqa: E402


def post(conn, path, body=b'{"x":1}'):
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit(f"FAIL: {path}: {r.status} {data[:200]!r}")
    return data


def latencies(host, port, path, n):
    c = http.client.HTTPConnection(host, port, timeout=60)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        post(c, path)
        out.append((time.perf_counter() - t) * 1e3)
    out.sort()
    return out[len(out) // 2], out[int(len(out) * 0.99)]


def create(url, name):
    lam = e.client(url)
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/r",
                        Code={"ZipFile": e.zip_bytes({"app.py": "x = 1\n"})})
    return lam


def fan_out(port, path, n, threads):
    """N calls over THREADS connections; seconds taken and answers."""
    answers, lock = [], threading.Lock()

    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(k):
            a = json.loads(post(c, path))
            with lock:
                answers.append(a)
    per = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    ts = [threading.Thread(target=worker, args=(k,)) for k in per]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0, answers


def run_serve(host, plugin_dir, sim, tmp, extra):
    env = {"PATH": "/usr/bin:/bin", "FAKECLOUD_BACKEND_PATH": plugin_dir,
           "FAKECLOUD_LAMBDA_BACKEND": "k8s", "KUBECONFIG": sim.ready["kubeconfig"],
           "FAKECLOUD_LOG_LEVEL": "warn", **extra}
    return e.start_serve(host, env, tmp)


def stop(srv, sim):
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(timeout=60)
    deadline = time.time() + 10
    while sim.pods() and time.time() < deadline:
        time.sleep(0.1)
    return rc, len(sim.pods())


def main(host, plugin_dir, kubesim, n="1000"):
    n = int(n)
    tmp = tempfile.mkdtemp(prefix="fcb-serve-bench-")
    sim = e.Sim(kubesim, tmp)
    rows = []
    try:
        srv, url = run_serve(host, plugin_dir, sim, tmp, {})
        port = int(url.rsplit(":", 1)[1])
        lam = create(url, "bench")
        path = "/2015-03-31/functions/bench/invocations"
        t0 = time.perf_counter()
        body = json.loads(post(http.client.HTTPConnection("127.0.0.1", port), path))
        rows.append(("first call (cold: Pod launch included)", f"{(time.perf_counter()-t0)*1e3:.1f} ms"))
        ip = sim.pod_stats()["default/" + body["pod"]]["pod_ip"]
        latencies("127.0.0.1", port, path, 20)
        sp = latencies("127.0.0.1", port, path, n)
        dp = latencies(ip, 8080, "/2015-03-31/functions/function/invocations", n)
        rows.append((f"warm through serve, p50 / p99 ({n} calls)", f"{sp[0]:.3f} / {sp[1]:.3f} ms"))
        rows.append((f"straight to the RIE, p50 / p99 ({n} calls)", f"{dp[0]:.3f} / {dp[1]:.3f} ms"))
        rows.append(("overhead of serve, p50", f"{sp[0]-dp[0]:.3f} ms"))
        fan_out(port, path, 10, 10)  # 10 warm instances
        took, answers = fan_out(port, path, 2000, 10)
        rows.append(("throughput, 10 warm instances, 10 clients, 2000 calls",
                     f"{2000/took:.0f} invokes/s, {len({a['pod'] for a in answers})} Pods"))
        rows.append(("stop", "exit %d, %d Pods left" % stop(srv, sim)))

        srv, url = run_serve(host, plugin_dir, sim, tmp, {"FAKECLOUD_LAMBDA_KEEPALIVE_MS": "0"})
        port = int(url.rsplit(":", 1)[1])
        create(url, "cold")
        cold = latencies("127.0.0.1", port, "/2015-03-31/functions/cold/invocations", 20)
        rows.append(("keep-alive 0 (launch per call), p50 / p99 (20 calls)",
                     f"{cold[0]:.1f} / {cold[1]:.1f} ms"))
        rows.append(("stop", "exit %d, %d Pods left" % stop(srv, sim)))

        srv, url = run_serve(host, plugin_dir, sim, tmp, {"FAKECLOUD_LAMBDA_MAX_CONCURRENCY": "50"})
        port = int(url.rsplit(":", 1)[1])
        create(url, "many")
        before = sum(v["invocations"] for v in sim.pod_stats().values())
        peak, done = [0], threading.Event()

        def sample():
            while not done.is_set():
                text = urllib.request.urlopen(url + "/metrics").read().decode()
                for line in text.splitlines():
                    if line.startswith("fakecloud_lambda_pool_instances_total "):
                        peak[0] = max(peak[0], int(line.split()[1]))
                peak.append(len(sim.pods()))
                time.sleep(0.05)
        s = threading.Thread(target=sample)
        s.start()
        took, answers = fan_out(port, "/2015-03-31/functions/many/invocations", 1000, 1000)
        done.set()
        s.join()
        ran = sum(v["invocations"] for v in sim.pod_stats().values()) - before
        rows.append(("1000 concurrent calls, max concurrency 50",
                     f"{len(answers)} answered in {took:.1f} s, peak {max(peak)} instances, "
                     f"{ran} handler runs"))
        rows.append(("stop", "exit %d, %d Pods left" % stop(srv, sim)))
    finally:
        sim.stop()
    for k, v in rows:
        print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
