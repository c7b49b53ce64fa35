#!/usr/bin/env python3
"""Figures of `fakecloud-lambda-host serve` on kubesim (k8s backend), with the
baselines measured in the same run, printed as one table (docs/bench.md, "serve").

Usage: bench_serve.py HOST_EXE PLUGIN_DIR KUBESIM_PY [--smoke] [--n N]
                      [--k8s-json FILE] [--out FILE.json] [--md FILE.md]

1. Warm invoke: p50/p99 of N calls through serve (one keep-alive connection) and of N
   calls straight to the same instance's RIE (the baseline: no host at all); the
   overhead serve adds and the ratio.
2. Cold vs warm: the first call (a Pod launch included) against the following calls,
   and keep-alive 0 (FAKECLOUD_LAMBDA_KEEPALIVE_MS=0: a launch per invoke). With
   --k8s-json (bench-k8s figure 1 of the same run, same --boot-ms) also the reference's
   launch-per-cold-start: our first call with our launch overhead replaced by the
   reference algorithm's (baseline_k8s.c: 1 s polling, 500 ms pre-probe sleep).
3. Throughput: invokes/s with 10 warm instances of one function, 10 client
   connections; errors counted.
4. N concurrent invokes (1000; --smoke 100) of one function with
   FAKECLOUD_LAMBDA_MAX_CONCURRENCY=50 (--smoke 10): all answered, at most the
   maximum of instances (serve's pool gauge and kubesim's Pods, sampled every 20 ms),
   no handler run twice (kubesim counts each Pod's invocations: the total must equal
   the number of calls, and every answer has its own request id), no Pod left after
   SIGTERM.

Exit 1 when a correctness check fails (an error, an unanswered call, too many
instances, a handler run twice, a Pod left, serve's exit status); times are printed,
never asserted. --smoke (small N, a few seconds) is the meson test
`bench_serve_smoke`; scripts/bench.sh runs the full figures.
"""
import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "serve"))
import serve_e2e as e  # noqa: E402  (kubesim and serve process helpers, shared with the tests)

INVOKE = "/2015-03-31/functions/%s/invocations"
RIE = "/2015-03-31/functions/function/invocations"
BOOT_MS = "300"  # as bench-k8s (scripts/bench.sh --boot-ms 300)


class Bench:
    def __init__(self):
        self.rows, self.raw, self.failures = [], {}, []

    def row(self, figure, value):
        self.rows.append((figure, value))

    def check(self, ok, what):
        if not ok:
            self.failures.append(what)


def post(conn, path, body=b'{"x":1}'):
    """(status, body) of one POST on CONN."""
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def series(host, port, path, n):
    """N sequential calls on one connection: latencies in ms, errors."""
    c = http.client.HTTPConnection(host, port, timeout=60)
    out, errors = [], 0
    for _ in range(n):
        t = time.perf_counter()
        status, _ = post(c, path)
        out.append((time.perf_counter() - t) * 1e3)
        errors += status != 200
    c.close()
    return out, errors


def fan_out(port, path, n, threads, body=b'{"x":1}'):
    """N calls over THREADS connections: seconds, answers (JSON), errors."""
    answers, errors, lock = [], [0, None], threading.Lock()
    start = threading.Barrier(threads)

    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start.wait()
        for _ in range(k):
            try:
                status, data = post(c, path, body)
                ok, why = status == 200, f"{status} {data[:200]!r}"
            except (OSError, http.client.HTTPException) as x:
                ok, why = False, f"{type(x).__name__}: {x}"
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                if ok:
                    answers.append(json.loads(data))
                else:
                    errors[0] += 1
                    errors[1] = errors[1] or why
        c.close()
    per = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    ts = [threading.Thread(target=worker, args=(k,)) for k in per]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors[1] is not None:
        print(f"bench_serve: {errors[0]} of {n} calls failed; the first: {errors[1]}",
              file=sys.stderr)
    return time.perf_counter() - t0, answers, errors[0]


class Serve:
    """One serve process on the simulator, with one Zip function NAME."""

    def __init__(self, args, sim, tmp, name, extra):
        env = {"PATH": "/usr/bin:/bin", "FAKECLOUD_BACKEND_PATH": args.plugin_dir,
               "FAKECLOUD_LAMBDA_BACKEND": "k8s", "KUBECONFIG": sim.ready["kubeconfig"],
               "FAKECLOUD_LOG_LEVEL": "warn", **extra}
        for k in ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        self.sim, self.proc = sim, None
        self.proc, self.url = e.start_serve(args.host, env, tmp)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.path = INVOKE % name
        body = json.dumps({"FunctionName": name, "Runtime": "python3.12",
                           "Handler": "app.handler", "Role": "arn:aws:iam::000000000000:role/r",
                           "Code": {"ZipFile": base64.b64encode(
                               e.zip_bytes({"app.py": "x = 1\n"})).decode()}}).encode()
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            status, data = post(c, "/2015-03-31/functions", body)
            if status != 201:
                e.fail(f"CreateFunction {name}: {status} {data[:300]!r}")
        except BaseException:
            self.kill()
            raise

    def instances(self):
        text = urllib.request.urlopen(self.url + "/metrics", timeout=10).read().decode()
        for line in text.splitlines():
            if line.startswith("fakecloud_lambda_pool_instances_total "):
                return int(float(line.split()[1]))
        return 0

    def stop(self):
        """SIGTERM: (exit status, Pods left after up to 10 s)."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        deadline = time.time() + 10
        while self.sim.pods() and time.time() < deadline:
            time.sleep(0.1)
        return rc, len(self.sim.pods())

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def stopped(b, srv, label):
    rc, left = srv.stop()
    b.row(f"{label}: SIGTERM", f"exit {rc}, {left} Pods left")
    b.check(rc == 0 and left == 0, f"{label}: exit {rc}, {left} Pods left")


def warm_figures(b, args, sim, tmp):
    srv = Serve(args, sim, tmp, "bench", {})
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        t0 = time.perf_counter()
        status, data = post(c, srv.path)
        first = (time.perf_counter() - t0) * 1e3
        b.check(status == 200, f"first call: {status} {data[:200]!r}")
        pod = json.loads(data)["pod"]
        ip = sim.pod_stats()["default/" + pod]["pod_ip"]
        following, errs = series("127.0.0.1", srv.port, srv.path, 10)
        b.raw["cold"] = {"first_ms": first, "following_p50_ms": pct(following, 50)}
        series("127.0.0.1", srv.port, srv.path, 20)  # warm-up of both paths
        series(ip, 8080, RIE, 20)
        ours, e1 = series("127.0.0.1", srv.port, srv.path, args.n)
        rie, e2 = series(ip, 8080, RIE, args.n)
        b.check(errs + e1 + e2 == 0, f"warm series: {errs + e1 + e2} errors")
        w = {"n": args.n, "serve_p50_ms": pct(ours, 50), "serve_p99_ms": pct(ours, 99),
             "rie_p50_ms": pct(rie, 50), "rie_p99_ms": pct(rie, 99)}
        w["overhead_p50_ms"] = w["serve_p50_ms"] - w["rie_p50_ms"]
        w["overhead_p99_ms"] = w["serve_p99_ms"] - w["rie_p99_ms"]
        b.raw["warm"] = w
        b.row(f"1. warm invoke through serve, p50 / p99 ({args.n} calls)",
              f"{w['serve_p50_ms']:.3f} / {w['serve_p99_ms']:.3f} ms")
        b.row(f"1. baseline: straight to the instance's RIE, p50 / p99 ({args.n} calls)",
              f"{w['rie_p50_ms']:.3f} / {w['rie_p99_ms']:.3f} ms")
        b.row("1. overhead serve adds, p50 / p99 (target p50 ≤ 1 ms)",
              f"{w['overhead_p50_ms']:.3f} / {w['overhead_p99_ms']:.3f} ms "
              f"(serve/RIE p50 {w['serve_p50_ms'] / w['rie_p50_ms']:.2f}×)")
        b.row("2. first call (cold: Pod launch included) / following calls p50",
              f"{first:.1f} / {pct(following, 50):.3f} ms")
        throughput(b, args, srv)
    finally:
        stopped(b, srv, "warm serve")


def throughput(b, args, srv):
    """10 warm instances (10 overlapping sleeping calls launch them), then calls over 10
    connections."""
    fan_out(srv.port, srv.path, 10, 10, body=b'{"kubesim_sleep_ms": 300}')
    n = 2000 if not args.smoke else 100
    took, answers, errors = fan_out(srv.port, srv.path, n, 10)
    pods = len({a.get("pod") for a in answers})
    b.raw["throughput"] = {"calls": n, "seconds": took, "per_s": n / took, "errors": errors,
                           "pods": pods}
    b.row(f"3. throughput, 10 warm instances, 10 connections, {n} calls",
          f"{n / took:.0f} invokes/s, {pods} Pods, {errors} errors")
    b.check(errors == 0 and len(answers) == n, f"throughput: {errors} errors")


def cold_figures(b, args, sim, tmp):
    srv = Serve(args, sim, tmp, "cold", {"FAKECLOUD_LAMBDA_KEEPALIVE_MS": "0"})
    try:
        n = 20 if not args.smoke else 3
        lat, errors = series("127.0.0.1", srv.port, srv.path, n)
        b.check(errors == 0, f"keep-alive 0: {errors} errors")
        b.raw["launch_per_invoke"] = {"n": n, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}
        warm = b.raw.get("warm", {}).get("serve_p50_ms")
        b.row(f"2. baseline: launch per invoke (keep-alive 0), p50 / p99 ({n} calls)",
              f"{pct(lat, 50):.1f} / {pct(lat, 99):.1f} ms"
              + (f" ({pct(lat, 50) / warm:.0f}× warm p50)" if warm else ""))
    finally:
        stopped(b, srv, "keep-alive 0 serve")
    reference_cold(b, args)


def reference_cold(b, args):
    """The reference's launch-per-cold-start, from bench-k8s figure 1 of the same run."""
    if not args.k8s_json or "cold" not in b.raw:
        return
    try:
        seq = json.load(open(args.k8s_json))["sequential"]
        base = seq["baseline"]["launch_overhead"]["p50_ms"]
        ours = seq["ours"]["launch_overhead"]["p50_ms"]
    except (OSError, KeyError, ValueError) as x:
        b.row("2. baseline: the reference's cold start", f"not measured ({x})")
        return
    ref = b.raw["cold"]["first_ms"] - max(ours, 0.0) + base
    b.raw["cold"]["reference_first_ms"] = ref
    b.row("2. baseline: the reference's cold start (our first call with figure 1's launch "
          "overhead of the reference instead of ours)",
          f"{ref:.1f} ms ({ref / b.raw['cold']['first_ms']:.1f}× our first call)")


def concurrent_figures(b, args, sim, tmp):
    n, cap = (1000, 50) if not args.smoke else (100, 10)
    srv = Serve(args, sim, tmp, "many", {"FAKECLOUD_LAMBDA_MAX_CONCURRENCY": str(cap)})
    try:
        before = sum(v["invocations"] for v in sim.pod_stats().values())
        peak, done = [0, 0], threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], srv.instances())
                peak[1] = max(peak[1], len(sim.pods()))
                done.wait(0.02)
        s = threading.Thread(target=sample)
        s.start()
        took, answers, errors = fan_out(srv.port, srv.path, n, n)
        done.set()
        s.join()
        ran = sum(v["invocations"] for v in sim.pod_stats().values()) - before
        ids = len({a.get("request_id") for a in answers})
        b.raw["concurrent"] = {"calls": n, "max_concurrency": cap, "answered": len(answers),
                               "errors": errors, "seconds": took, "peak_pool": peak[0],
                               "peak_pods": peak[1], "handler_runs": ran,
                               "distinct_request_ids": ids}
        b.row(f"4. {n} concurrent calls, max concurrency {cap}",
              f"{len(answers)} answered in {took:.1f} s, {errors} errors, peak {peak[0]} "
              f"instances ({peak[1]} Pods), {ran} handler runs, {ids} request ids")
        b.check(len(answers) == n and errors == 0, f"concurrent: {len(answers)}/{n} answered")
        b.check(max(peak) <= cap, f"concurrent: peak {peak} instances > {cap}")
        b.check(ran == n and ids == n, f"concurrent: {ran} handler runs, {ids} ids for {n} calls")
    finally:
        stopped(b, srv, "max-concurrency serve")


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("host")
    p.add_argument("plugin_dir")
    p.add_argument("kubesim")
    p.add_argument("--smoke", action="store_true", help="small N; correctness only")
    p.add_argument("--n", type=int, default=None, help="warm calls per side (1000; smoke 50)")
    p.add_argument("--k8s-json", help="bench-k8s output of the same run (figure 1)")
    p.add_argument("--figures", default="1,2,3,4",
                   help="which to run: 1 (and 2's first call) and 3 share one serve, 2, 4")
    p.add_argument("--out", help="write the raw figures as JSON here")
    p.add_argument("--md", help="write the table as Markdown here")
    a = p.parse_args(argv)
    a.host, a.plugin_dir = os.path.abspath(a.host), os.path.abspath(a.plugin_dir)
    if a.n is None:
        a.n = 50 if a.smoke else 1000
    return a


def report(b, args):
    lines = ["| serve figure (kubesim, k8s backend) | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in b.rows]
    load = os.getloadavg()
    lines.append(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
                 f"({os.cpu_count()} CPUs)")
    for f in b.failures:
        lines.append(f"FAILED: {f}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.md:
        open(args.md, "w").write(text)
    if args.out:
        json.dump({"rows": b.rows, "raw": b.raw, "failures": b.failures,
                   "loadavg": load, "smoke": args.smoke}, open(args.out, "w"), indent=1)


def main(argv):
    args = parse(argv)
    tmp = tempfile.mkdtemp(prefix="fcb-bench-serve-")
    b, sim = Bench(), None
    try:
        sim = e.Sim(args.kubesim, tmp, ["--boot-ms", BOOT_MS, "--rie-delay-ms", "0"])
        figures = set(args.figures.split(","))
        if figures & {"1", "2", "3"}:
            warm_figures(b, args, sim, tmp)
        if "2" in figures:
            cold_figures(b, args, sim, tmp)
        if "4" in figures:
            concurrent_figures(b, args, sim, tmp)
    except BaseException:
        log = os.path.join(tmp, "serve.log")
        if os.path.exists(log):
            sys.stderr.write(open(log).read()[-4000:])
        raise
    finally:
        if sim is not None:
            sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report(b, args)
    return 1 if b.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
