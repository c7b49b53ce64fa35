#!/usr/bin/env python3
"""kubesim: a simulated kube-apiserver + kubelet that real Kubernetes clients accept.

One command starts it:  python3 tests/kubesim/kubesim.py --dir DIR [options]
When ready it prints one JSON line (url, kubeconfig paths, CA, token file, pid) to stdout
and writes the same to DIR/ready.json. See docs/kubesim.md.
"""
import argparse
import json
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ksim_certs  # noqa: E402
from ksim_kubelet import Kubelet  # noqa: E402
from ksim_store import Store, bad_request  # noqa: E402
import ksim_api  # noqa: E402

FAULT_KEYS = {
    "error_rate": float, "throttle_rate": float, "throttle_retry_after": int,
    "latency_ms": float, "watch_cut_after": int, "conflict_on_create": int,
    "boot_ms": float, "rie_delay_ms": float, "terminating_seconds": float,
    "fail_paths": str, "throttle_next": int, "create_garbage": int, "create_oversize": int,
    "forbid": str,
}


class Faults:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.v = {"error_rate": args.error_rate, "throttle_rate": args.throttle_rate,
                  "throttle_retry_after": args.throttle_retry_after,
                  "latency_ms": args.latency_ms, "watch_cut_after": args.watch_cut_after,
                  "conflict_on_create": args.conflict_on_create, "boot_ms": args.boot_ms,
                  "rie_delay_ms": args.rie_delay_ms,
                  "terminating_seconds": args.terminating_seconds,
                  "fail_paths": args.fail_paths or "",
                  "throttle_next": 0, "create_garbage": 0, "create_oversize": 0,
                  "forbid": ""}
        self.rng = random.Random(args.seed)
        self.re = re.compile(self.v["fail_paths"]) if self.v["fail_paths"] else None

    def get(self, k):
        with self.lock:
            return self.v[k]

    def snapshot(self):
        with self.lock:
            return dict(self.v)

    def update(self, d):
        if not isinstance(d, dict):
            raise bad_request("faults body must be a JSON object")
        new = {}
        for k, val in d.items():
            if k not in FAULT_KEYS:
                raise bad_request("unknown fault %r; known: %s" % (k, ", ".join(sorted(FAULT_KEYS))))
            if val is None:
                val = "" if FAULT_KEYS[k] is str else 0
            try:
                new[k] = FAULT_KEYS[k](val)
            except (TypeError, ValueError):
                raise bad_request("fault %s: bad value %r" % (k, val))
        if "fail_paths" in new:
            try:
                rx = re.compile(new["fail_paths"]) if new["fail_paths"] else None
            except re.error as e:
                raise bad_request("fail_paths: %s" % e)
        with self.lock:
            self.v.update(new)
            if "fail_paths" in new:
                self.re = rx
            return dict(self.v)

    def applies(self, method, path, verbkey):
        with self.lock:
            rx = self.re
        return rx is None or bool(rx.search("%s %s" % (method, path)) or rx.search(verbkey))

    def forbids(self, verbkey):
        """Whether RBAC verb VERBKEY ("create pods/proxy") is in the forbid list (comma
        separated: a Role that lacks them)."""
        with self.lock:
            denied = self.v["forbid"]
        return bool(verbkey) and verbkey in [v.strip() for v in denied.split(",")]

    def roll(self, key):
        with self.lock:
            rate = self.v[key]
            return rate > 0 and self.rng.random() < rate

    def take(self, key):
        """True (and one fewer left) while the counted fault KEY has requests left."""
        with self.lock:
            if self.v[key] > 0:
                self.v[key] -= 1
                return True
            return False

    def take_conflict(self):
        with self.lock:
            if self.v["conflict_on_create"] > 0:
                self.v["conflict_on_create"] -= 1
                return True
            return False


class Stats:
    def __init__(self, log_max):
        self.lock = threading.Lock()
        self.log_max = log_max
        self.reset()
        self.watch_current = 0
        self.conn_current = 0
        self.log_follow_current = 0

    def reset(self):
        with getattr(self, "lock"):
            self.requests, self.by_path, self.log = {}, {}, []
            self.seconds = {}
            self.log_dropped = 0
            self.watch_total = self.conn_total = self.tls_total = self.tls_failed = 0
            self.auth_failures = self.watch_events = self.faults_injected = 0
            self.log_follow_total = self.proxy_requests = 0

    def count(self, verbkey, pathkey):
        with self.lock:
            self.requests[verbkey] = self.requests.get(verbkey, 0) + 1
            self.by_path[pathkey] = self.by_path.get(pathkey, 0) + 1

    def add_time(self, verbkey, seconds):
        with self.lock:
            self.seconds[verbkey] = self.seconds.get(verbkey, 0.0) + seconds

    def add(self, name, n=1):
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def record(self, entry):
        with self.lock:
            if len(self.log) >= self.log_max:
                self.log.pop(0)
                self.log_dropped += 1
            self.log.append(entry)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, sim):
        self.sim = sim
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        sim = self.sim
        with self.conns_lock:
            if len(self.conns) >= sim.args.max_connections:
                request.close()
                return
            self.conns.add(request)
        sim.stats.add("conn_total")
        super().process_request(request, client_address)

    def forget(self, request):
        with self.conns_lock:
            self.conns.discard(request)

    def handle_error(self, request, client_address):
        if self.sim.args.verbose:
            super().handle_error(request, client_address)

    def shutdown_conns(self):
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Sim:
    def __init__(self, args):
        self.args = args
        self.stop_event = threading.Event()
        # A real cluster's resourceVersion (etcd's revision) is never "0", even before
        # the first write: a list answered "0" would make a client's watch resume from
        # "0" ("any point", no 410) instead of from a real version.
        self.store = Store(args.history, args.continue_ttl, first_rv=1000)
        self.faults = Faults(args)
        self.stats = Stats(args.request_log)
        self.tls = not args.plain_http
        os.makedirs(args.dir, exist_ok=True)
        self.token_file = os.path.join(args.dir, "token")
        if not os.path.exists(self.token_file):
            tok = args.token or os.urandom(16).hex()
            with open(self.token_file, "w") as f:
                f.write(tok + "\n")
            os.chmod(self.token_file, 0o600)
        self.paths = None
        if self.tls:
            self.paths = ksim_certs.ensure_certs(args.dir)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(self.paths["server.crt"], self.paths["server.key"])
            ctx.load_verify_locations(self.paths["ca.crt"])
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.set_alpn_protocols(["http/1.1"])
            self.ctx = ctx
        self.kubelet = Kubelet(self)
        self.httpd = Server(("127.0.0.1", args.port), ksim_api.Handler, self)
        self.port = self.httpd.server_address[1]
        scheme = "https" if self.tls else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)
        self.kubeconfig, self.kubeconfig_token = ksim_certs.write_kubeconfigs(
            args.dir, self.url, self.paths or {}, self.token_file, plain_http=not self.tls)
        self.terminators = {}
        self.term_lock = threading.Lock()

    def valid_tokens(self):
        toks = set(t for t in self.args.extra_token if t)
        try:
            with open(self.token_file) as f:
                t = f.read(4096).strip()
            if t:
                toks.add(t)
        except OSError:
            pass
        return toks

    def stats_doc(self):
        s = self.stats
        with s.lock:
            doc = {"requests": dict(s.requests), "requests_by_path": dict(s.by_path),
                   "requests_total": sum(s.requests.values()),
                   "handler_seconds": {k: round(v, 6) for k, v in s.seconds.items()},
                   "watch_streams_current": s.watch_current,
                   "watch_streams_total": s.watch_total, "watch_events_sent": s.watch_events,
                   "connections_total": s.conn_total, "connections_current": s.conn_current,
                   "tls_handshakes_total": s.tls_total, "tls_handshake_failures": s.tls_failed,
                   "auth_failures": s.auth_failures, "faults_injected": s.faults_injected,
                   "log_follow_streams_current": s.log_follow_current,
                   "log_follow_streams_total": s.log_follow_total,
                   "proxy_requests": s.proxy_requests}
        doc["objects"] = self.store.counts()
        doc["resource_version"] = self.store.current_rv()
        doc["pods"] = self.kubelet.pod_stats()
        doc["faults"] = self.faults.snapshot()
        doc["now_monotonic"] = time.monotonic()
        return doc

    def serve(self):
        t = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                             name="kubesim-http", daemon=True)
        t.start()
        self.http_thread = t

    def stop(self):
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.kubelet.stop()
        deadline = time.monotonic() + 3
        while self.stats.watch_current > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.httpd.shutdown_conns()
        if self.args.stats_file:
            try:
                with open(self.args.stats_file, "w") as f:
                    json.dump(self.stats_doc(), f, indent=1, sort_keys=True)
            except OSError as e:
                print("kubesim: cannot write stats file: %s" % e, file=sys.stderr)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="kubesim.py",
        description="Simulated kube-apiserver + kubelet for tests (loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Faults can also be changed at run time with POST /_sim/faults; other "
               "control endpoints: GET /_sim/stats, GET /_sim/requests, POST /_sim/reset, "
               "POST /_sim/bulk, POST /_sim/compact. Image names select simulated "
               "behaviour (errimagepull, invalidimagename, crash, succeed, unschedulable, "
               "norie). SIGTERM/SIGINT stop it cleanly. Full reference: docs/kubesim.md")
    p.add_argument("--dir", required=True,
                   help="state directory: certs (reused if present), kubeconfigs, token, "
                        "ready.json")
    p.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0 = ephemeral)")
    p.add_argument("--plain-http", action="store_true",
                   help="serve plain HTTP without TLS; no auth unless --require-token")
    p.add_argument("--require-token", action="store_true",
                   help="with --plain-http: require the bearer token")
    p.add_argument("--token", default=None,
                   help="initial token written to DIR/token if absent (None = random hex)")
    p.add_argument("--extra-token", action="append", default=[],
                   help="additional accepted bearer token (repeatable)")
    p.add_argument("--history", type=int, default=1000,
                   help="watch event history kept for resourceVersion resume; older -> 410")
    p.add_argument("--continue-ttl", type=float, default=300.0,
                   help="seconds a list continue token stays valid (then 410 Expired)")
    p.add_argument("--bookmark-interval", type=float, default=1.0,
                   help="seconds between BOOKMARK events on watches with allowWatchBookmarks")
    p.add_argument("--max-watch-seconds", type=float, default=1800.0,
                   help="longest watch when the client sends no timeoutSeconds")
    p.add_argument("--terminating-seconds", type=float, default=0.0,
                   help="how long a gracefully deleted Pod stays Terminating (0 = removed at once)")
    p.add_argument("--boot-ms", type=float, default=100.0,
                   help="ms from init containers done to Running with podIP (container start)")
    p.add_argument("--rie-delay-ms", type=float, default=0.0,
                   help="ms from Running to the RIE stand-in listening (then Ready=True)")
    p.add_argument("--rie-port", type=int, default=8080, help="port of every Pod's RIE stand-in")
    p.add_argument("--hide-pod-ips", action="store_true",
                   help="report every podIP in 127.255.0.0/16, where nothing listens (a host "
                        "outside the cluster); pods/proxy still reaches the runtimes")
    p.add_argument("--config-retry-ms", type=float, default=1000.0,
                   help="retry interval while a container waits in CreateContainerConfigError")
    p.add_argument("--kubelet-workers", type=int, default=8,
                   help="kubelet worker threads (init downloads run here)")
    p.add_argument("--error-rate", type=float, default=0.0,
                   help="fault: fraction of API requests answered 500 InternalError")
    p.add_argument("--throttle-rate", type=float, default=0.0,
                   help="fault: fraction of API requests answered 429 TooManyRequests")
    p.add_argument("--throttle-retry-after", type=int, default=1,
                   help="fault: Retry-After seconds sent with 429")
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="fault: latency added to every API request")
    p.add_argument("--watch-cut-after", type=int, default=0,
                   help="fault: end each watch stream after N events (0 = never)")
    p.add_argument("--conflict-on-create", type=int, default=0,
                   help="fault: the next N creates answer 409 AlreadyExists without creating")
    p.add_argument("--fail-paths", default="",
                   help="fault: regex; error/throttle/latency faults only hit requests whose "
                        "'METHOD /path' or 'verb resource' matches (empty = all)")
    p.add_argument("--seed", type=int, default=1, help="seed of the fault RNG")
    p.add_argument("--max-connections", type=int, default=512,
                   help="concurrent connections; more are closed at accept")
    p.add_argument("--request-log", type=int, default=20000,
                   help="entries kept in /_sim/requests (oldest dropped)")
    p.add_argument("--stats-file", default=None, help="write /_sim/stats JSON here at shutdown")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="exit when the parent process goes away (for test harnesses)")
    p.add_argument("--verbose", action="store_true", help="log requests and errors to stderr")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    args.dir = os.path.abspath(args.dir)
    if args.stats_file:
        args.stats_file = os.path.abspath(args.stats_file)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    # Many threads (connections, watch streams, kubelet workers, the RIE loop) share
    # the GIL: a thread back from a syscall waits up to the switch interval for it
    # (5 ms by default), which queued request latencies behind each other.
    sys.setswitchinterval(0.0005)
    ppid = os.getppid()
    sim = Sim(args)
    sim.serve()
    ready = {"url": sim.url, "kubeconfig": sim.kubeconfig,
             "kubeconfig_token": sim.kubeconfig_token,
             "ca": sim.paths["ca.crt"] if sim.paths else None,
             "client_cert": sim.paths["client.crt"] if sim.paths else None,
             "client_key": sim.paths["client.key"] if sim.paths else None,
             "token_file": sim.token_file, "pid": os.getpid()}
    tmp = os.path.join(args.dir, "ready.json.tmp")
    with open(tmp, "w") as f:
        json.dump(ready, f)
    os.replace(tmp, os.path.join(args.dir, "ready.json"))
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    while True:
        sig = signal.sigtimedwait({signal.SIGTERM, signal.SIGINT}, 1.0)
        if sig is not None:
            break
        if args.exit_with_parent and os.getppid() != ppid:
            break
    sim.stop()
    sys.stdout.flush()
    sys.stderr.flush()
    # Kubelet workers may sit in a bounded (10 s) download; do not wait for them.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
