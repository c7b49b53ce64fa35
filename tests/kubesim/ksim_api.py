"""HTTP handler of kubesim: authentication, fault injection, discovery, the core/v1
pods + secrets and coordination.k8s.io/v1 leases REST API (CRUD, watch, patch, status,
log) and the /_sim control API."""
import base64
import copy
import gc
import json
import queue
import re
import socket
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

import ksim_podsub
import ksim_proto
import ksim_validate as V
from ksim_store import (API_VERSIONS, CUT_WATCH, GROUPS, RESOURCES, ApiError, already_exists,
                        metadata_bytes, bad_request, compile_selector,
                        conflict, encode, qualified, jclone, not_found, now_rfc3339,
                        parse_field_selector, parse_label_selector, parse_rfc3339)

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-kubesim",
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
           "platform": "linux/amd64"}

_VERBS_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
API_RESOURCES = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
    "resources": [
        {"name": "namespaces", "singularName": "namespace", "namespaced": False,
         "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]},
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
         "verbs": _VERBS_ALL, "shortNames": ["po"], "categories": ["all"]},
        {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
         "verbs": ["get"]},
        {"name": "pods/proxy", "singularName": "", "namespaced": True, "kind": "PodProxyOptions",
         "verbs": ["create", "delete", "get", "patch", "update"]},
        {"name": "pods/status", "singularName": "", "namespaced": True, "kind": "Pod",
         "verbs": ["get", "patch", "update"]},
        {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
         "verbs": _VERBS_ALL},
    ]}

LEASE_GV = "coordination.k8s.io/v1"
LEASE_RESOURCES = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": LEASE_GV,
    "resources": [{"name": "leases", "singularName": "lease", "namespaced": True,
                   "kind": "Lease", "verbs": _VERBS_ALL}]}
LEASE_GROUP = {"kind": "APIGroup", "apiVersion": "v1", "name": "coordination.k8s.io",
               "versions": [{"groupVersion": LEASE_GV, "version": "v1"}],
               "preferredVersion": {"groupVersion": LEASE_GV, "version": "v1"}}


def _routes(prefix, names, subs=True):
    p, n = re.escape(prefix), names
    out = [(re.compile(r"^%s/namespaces/([^/]+)/(%s)$" % (p, n)), "coll", prefix),
           (re.compile(r"^%s/namespaces/([^/]+)/(%s)/([^/]+)$" % (p, n)), "item", prefix)]
    if subs:
        out.append((re.compile(r"^%s/namespaces/([^/]+)/(pods)/([^/]+)/(status|log)$" % p),
                    "sub", prefix))
    return out + [
        (re.compile(r"^%s/(%s)$" % (p, n)), "all", prefix),
        (re.compile(r"^%s/watch/namespaces/([^/]+)/(%s)$" % (p, n)), "wcoll", prefix),
        (re.compile(r"^%s/watch/namespaces/([^/]+)/(%s)/([^/]+)$" % (p, n)), "witem", prefix),
        (re.compile(r"^%s/watch/(%s)$" % (p, n)), "wall", prefix)]


# (path regex, kind of route, API prefix): /api/v1 for the core group, /apis/<group>/v1.
ROUTES = _routes("/api/v1", "pods|secrets") + _routes("/apis/" + LEASE_GV, "leases", False) + [
    (re.compile(r"^/api/v1/namespaces$"), "nslist", "/api/v1"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)$"), "ns", "/api/v1"),
]
TEMPLATES = {"coll": "/namespaces/{ns}/%s", "item": "/namespaces/{ns}/%s/{name}",
             "sub": "/namespaces/{ns}/%s/{name}/%s", "all": "/%s",
             "wcoll": "/watch/namespaces/{ns}/%s",
             "witem": "/watch/namespaces/{ns}/%s/{name}", "wall": "/watch/%s",
             "nslist": "/namespaces", "ns": "/namespaces/{name}"}
NONRESOURCE = {"/version", "/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz",
               "/openapi/v2", "/openapi/v3", "/swagger-2.0.0.pb-v1",
               "/apis/coordination.k8s.io", "/apis/" + LEASE_GV}
OPENAPI_HASH = "6B1E1F0A9C4D2E3F5A7B8C9D0E1F2A3B4C5D6E7F8091A2B3C4D5E6F708192A3B"


def openapi_v3(gv="v1"):
    """Just enough OpenAPI v3 for kubectl to see that POST pods/secrets/leases support the
    fieldValidation query parameter (so it uses server-side validation)."""
    paths = {}
    if gv == LEASE_GV:
        kinds, prefix, group, tag = (("leases", "Lease"),), "/apis/" + LEASE_GV, \
            "coordination.k8s.io", "CoordinationV1"
    else:
        kinds, prefix, group, tag = (("pods", "Pod"), ("secrets", "Secret")), "/api/v1", "", \
            "CoreV1"
    params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for n in ("dryRun", "fieldManager", "fieldValidation", "pretty")]
    for res, kind in kinds:
        gvk = {"group": group, "version": "v1", "kind": kind}
        paths[prefix + "/namespaces/{namespace}/%s" % res] = {
            "post": {"operationId": "create%sNamespaced%s" % (tag, kind),
                     "tags": [tag.lower()],
                     "parameters": params,
                     "responses": {"201": {"description": "Created"}},
                     "x-kubernetes-action": "post",
                     "x-kubernetes-group-version-kind": gvk},
            "parameters": [{"name": "namespace", "in": "path", "required": True,
                            "schema": {"type": "string", "uniqueItems": True}}]}
        paths[prefix + "/namespaces/{namespace}/%s/{name}" % res] = {
            "patch": {"operationId": "patch%sNamespaced%s" % (tag, kind),
                      "tags": [tag.lower()],
                      "parameters": params + [{"name": "force", "in": "query",
                                               "schema": {"type": "boolean"}}],
                      "responses": {"200": {"description": "OK"}},
                      "x-kubernetes-action": "patch",
                      "x-kubernetes-group-version-kind": gvk},
            "parameters": [{"name": n, "in": "path", "required": True,
                            "schema": {"type": "string", "uniqueItems": True}}
                           for n in ("name", "namespace")]}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": {}}}


PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/json-patch+json")


def _truthy(v):
    return v is not None and v.lower() in ("1", "true")


class WatchCut(Exception):
    pass


_EVENT_PREFIX = {t: b'{"type":"%s","object":' % t.encode()
                 for t in ("ADDED", "MODIFIED", "DELETED")}


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _ptr(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902 (add, remove, replace, test, copy, move)."""
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list")

    def walk(parts):
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur, parts[-1]

    def get(parts):
        cur = doc
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def add(parts, val):
        par, last = walk(parts)
        if isinstance(par, list):
            par.insert(len(par) if last == "-" else int(last), val)
        else:
            par[last] = val

    def remove(parts):
        par, last = walk(parts)
        return par.pop(int(last)) if isinstance(par, list) else par.pop(last)

    try:
        for op in ops[:10000]:
            kind, parts = op.get("op"), _ptr(op.get("path", ""))
            if kind == "add":
                add(parts, copy.deepcopy(op.get("value")))
            elif kind == "remove":
                remove(parts)
            elif kind == "replace":
                remove(parts)
                add(parts, copy.deepcopy(op.get("value")))
            elif kind == "test":
                if get(parts) != op.get("value"):
                    raise ApiError(422, "Invalid", "the server rejected our request due to an "
                                   "error in our request")
            elif kind in ("copy", "move"):
                src = _ptr(op.get("from", ""))
                val = copy.deepcopy(get(src))
                if kind == "move":
                    remove(src)
                add(parts, val)
            else:
                raise bad_request("unknown json patch op %r" % kind)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as e:
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in "
                       "our request: %s" % e)
    return doc


def _age(ts):
    d = max(0, int(time.time() - parse_rfc3339(ts)))
    if d < 120:
        return "%ds" % d
    if d < 600:
        return "%dm%ds" % (d // 60, d % 60) if d % 60 else "%dm" % (d // 60)
    if d < 3 * 3600:
        return "%dm" % (d // 60)
    if d < 48 * 3600:
        return "%dh" % (d // 3600)
    return "%dd" % (d // 86400)


def pod_status_text(pod):
    """kubectl's STATUS column logic (printPod), simplified."""
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Unknown"
    inits = (pod.get("spec") or {}).get("initContainers") or []
    initializing = False
    for i, c in enumerate(st.get("initContainerStatuses") or []):
        s = c.get("state") or {}
        if "terminated" in s and s["terminated"].get("exitCode") == 0:
            continue
        if "terminated" in s:
            t = s["terminated"]
            reason = "Init:" + (t.get("reason") or ("Signal:%d" % t.get("signal", 0))
                                if t.get("reason") or t.get("signal")
                                else "ExitCode:%d" % t.get("exitCode", 0))
        elif "waiting" in s and s["waiting"].get("reason") and \
                s["waiting"]["reason"] != "PodInitializing":
            reason = "Init:" + s["waiting"]["reason"]
        else:
            reason = "Init:%d/%d" % (i, len(inits))
        initializing = True
        break
    if not initializing:
        has_running = False
        for c in reversed(st.get("containerStatuses") or []):
            s = c.get("state") or {}
            if s.get("waiting", {}).get("reason"):
                reason = s["waiting"]["reason"]
            elif "terminated" in s:
                reason = s["terminated"].get("reason") or "ExitCode:%d" % s["terminated"].get(
                    "exitCode", 0)
            elif "running" in s and c.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def table_columns(res):
    d = lambda n, t, desc, pr=0, fmt="": {"name": n, "type": t, "format": fmt,
                                          "description": desc, "priority": pr}
    if res == "pods":
        return [d("Name", "string", "Name must be unique within a namespace.", 0, "name"),
                d("Ready", "string", "The aggregate readiness state of this pod for accepting "
                  "traffic."),
                d("Status", "string", "The aggregate status of the containers in this pod."),
                d("Restarts", "string", "The number of times the containers in this pod have "
                  "been restarted and when the last container in this pod has restarted."),
                d("Age", "string", "CreationTimestamp is a timestamp representing the server "
                  "time when this object was created."),
                d("IP", "string", "IP address allocated to the pod. Routable at least within "
                  "the cluster. Empty if not yet allocated.", 1),
                d("Node", "string", "NodeName indicates in which node this pod is scheduled.", 1),
                d("Nominated Node", "string", "nominatedNodeName is set when this pod preempts "
                  "other pods on the node.", 1),
                d("Readiness Gates", "string", "If specified, all readiness gates will be "
                  "evaluated for pod readiness.", 1)]
    if res == "leases":
        return [d("Name", "string", "Name must be unique within a namespace.", 0, "name"),
                d("Holder", "string", "holderIdentity contains the identity of the holder of "
                  "a current lease."),
                d("Age", "string", "CreationTimestamp is a timestamp representing the server "
                  "time when this object was created.")]
    return [d("Name", "string", "Name must be unique within a namespace.", 0, "name"),
            d("Type", "string", "Used to facilitate programmatic handling of secret data."),
            d("Data", "string", "Data contains the secret data."),
            d("Age", "string", "CreationTimestamp is a timestamp representing the server time "
              "when this object was created.")]


def table_row(res, o, include):
    m = o["metadata"]
    if res == "pods":
        st = o.get("status") or {}
        cs = st.get("containerStatuses") or []
        total = len((o.get("spec") or {}).get("containers") or [])
        ready = sum(1 for c in cs if c.get("ready"))
        restarts = sum(c.get("restartCount", 0) for c in cs)
        cells = [m["name"], "%d/%d" % (ready, total), pod_status_text(o), str(restarts),
                 _age(m.get("creationTimestamp", "")), st.get("podIP") or "<none>",
                 (o.get("spec") or {}).get("nodeName") or "<none>",
                 st.get("nominatedNodeName") or "<none>", "<none>"]
    elif res == "leases":
        cells = [m["name"], (o.get("spec") or {}).get("holderIdentity", ""),
                 _age(m.get("creationTimestamp", ""))]
    else:
        cells = [m["name"], o.get("type", "Opaque"), len(o.get("data") or {}),
                 _age(m.get("creationTimestamp", ""))]
    row = {"cells": cells}
    if include == "Object":
        row["object"] = o
    elif include != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": m}
    return row


def wants_as(accept, kind):
    """The meta.k8s.io version of `as=KIND` if Accept asks for it before plain JSON
    (content negotiation takes the first type it can produce), else None."""
    if not accept:
        return None
    for part in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == kind and params.get("g") == "meta.k8s.io" and \
                params.get("v") in ("v1", "v1beta1"):
            return params["v"]
        if part.split(";")[0].strip() in ("application/json", "*/*", "application/*") and \
                "as" not in params:
            return None
    return None


def wants_table(accept):
    return wants_as(accept, "Table")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim/1"
    sys_version = ""
    timeout = 300
    # Headers and body would otherwise wait for the peer's delayed ACK (Nagle): real API
    # servers (Go net/http) disable Nagle too.
    disable_nagle_algorithm = True

    # ---------------------------------------------------------------- plumbing
    def setup(self):
        sim = self.server.sim
        self.sim = sim
        self.raw_sock = self.request
        self.peer_cert = None
        self.counted_conn = False
        with sim.stats.lock:
            sim.stats.conn_current += 1
        self.counted_conn = True
        if sim.tls:
            self.request.settimeout(10)
            try:
                self.request = sim.ctx.wrap_socket(self.request, server_side=True)
            except (ssl_errors() + (OSError,)):
                sim.stats.add("tls_failed")
                raise
            sim.stats.add("tls_total")
            self.peer_cert = self.request.getpeercert()
        self.request.settimeout(self.timeout)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.forget(self.raw_sock)
            if self.counted_conn:
                with self.sim.stats.lock:
                    self.sim.stats.conn_current -= 1

    def log_message(self, fmt, *args):
        if self.sim.args.verbose:
            super().log_message(fmt, *args)

    def parse_request(self):
        # when the request line arrived: `handler_seconds` include header parsing
        self._t_request = time.monotonic()
        return super().parse_request()

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def send_response(self, code, message=None):
        super().send_response(code, message)
        if self._entry is not None:
            self._entry["status"] = code
            self.sim.stats.record(self._entry)
            self._entry = None

    def send_json(self, code, obj, headers=None):
        self.send_encoded(code, encode(obj) + b"\n", headers)

    def send_list(self, res, meta, items):
        """A PodList/SecretList built from the items' cached encodings, or, when Accept
        asks for `as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`, that list: each item's
        metadata only (sliced from the same encodings)."""
        mv = wants_as(self.headers.get("Accept"), "PartialObjectMetadataList")
        if mv:
            head = encode({"kind": "PartialObjectMetadataList",
                           "apiVersion": "meta.k8s.io/%s" % mv, "metadata": meta})
            pre = b'{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/%s","metadata":' \
                % mv.encode()
            self.send_encoded(200, head[:-1] + b',"items":[' +
                              b",".join([pre + metadata_bytes(o) + b"}" for o in items]) +
                              b"]}\n",
                              content_type="application/json;as=PartialObjectMetadataList;"
                              "g=meta.k8s.io;v=%s" % mv)
            return
        head = encode({"kind": RESOURCES[res][1], "apiVersion": API_VERSIONS[res],
                       "metadata": meta})
        self.send_encoded(200, head[:-1] + b',"items":[' +
                          b",".join([encode(o) for o in items]) + b"]}\n")

    def send_encoded(self, code, body, headers=None, content_type="application/json"):
        """Answer with an already encoded JSON body (bytes, newline included)."""
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for x in v:
                    self.send_header(k, x)
            else:
                self.send_header(k, v)
        self.end_with_body(body)

    def end_with_body(self, body):
        """end_headers() + body in one write (one TLS record, one segment when small)."""
        # The handler's time is counted before the answer leaves: a client that asks
        # /_sim/stats right after this answer must find it (not race the finally below).
        self.record_handler_time()
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def send_text(self, code, text, ctype="text/plain"):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_with_body(body)

    def send_error_status(self, e):
        self.send_json(e.code, e.status(), e.headers)

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            data = b""
            for _ in range(100000):
                sz = int(self.rfile.readline(100).split(b";")[0].strip() or b"0", 16)
                if sz == 0:
                    self.rfile.readline(100)
                    break
                data += self.rfile.read(sz)
                self.rfile.readline(100)
                if len(data) > 32 << 20:
                    raise ApiError(413, "RequestEntityTooLarge", "request entity too large")
            return data
        n = int(self.headers.get("Content-Length") or 0)
        if n > 32 << 20:
            raise ApiError(413, "RequestEntityTooLarge", "request entity too large")
        return self.rfile.read(n) if n > 0 else b""

    def json_body(self, required=True):
        if not self.body:
            if required:
                raise bad_request("the body of the request was in an unknown format - "
                                  "accepted media types include: application/json")
            return None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return ksim_proto.decode(self.body, "")
            except (ValueError, IndexError, UnicodeDecodeError) as e:
                raise ApiError(415, "UnsupportedMediaType", "kubesim: cannot decode protobuf "
                               "body (%s); send application/json" % e)
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request("couldn't get version/kind; json parse error: %s" % e)

    # ---------------------------------------------------------------- auth
    def authenticate(self):
        """Returns (method, user) or None."""
        sim = self.sim
        if self.peer_cert:
            cn = None
            for rdn in self.peer_cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
            if cn:
                return ("x509", cn)
        auth = self.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            tok = auth[7:].strip()
            if tok and tok in sim.valid_tokens():
                return ("token", "kubesim-token-user")
            return None
        if not sim.tls and not sim.args.require_token:
            return ("anonymous", "system:anonymous")
        return None

    # ---------------------------------------------------------------- dispatch
    def classify(self, method, path, q):
        """(kind, groups, verbkey, pathkey)."""
        m = ksim_podsub.PROXY_RX.match(path)
        if m:
            return ("proxy", m.groups(), "%s pods/proxy" % ksim_podsub.proxy_route_key(method),
                    "%s /api/v1/namespaces/{ns}/pods/{name}/proxy/{path}" % method)
        for rx, kind, prefix in ROUTES:
            m = rx.match(path)
            if not m:
                continue
            g = m.groups()
            if kind in ("coll", "wcoll", "item", "witem"):
                res, tmpl = g[1], prefix + TEMPLATES[kind] % g[1]
            elif kind == "sub":
                res, tmpl = "%s/%s" % (g[1], g[3]), prefix + TEMPLATES[kind] % (g[1], g[3])
            elif kind in ("all", "wall"):
                res, tmpl = g[0], prefix + TEMPLATES[kind] % g[0]
            else:
                res, tmpl = "namespaces", prefix + TEMPLATES[kind]
            watch = kind.startswith("w") or _truthy(q.get("watch"))
            collection = kind in ("coll", "all", "wcoll", "wall", "nslist")
            verb = {"GET": ("watch" if watch else "list") if collection else
                    ("watch" if watch else "get"),
                    "POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "deletecollection" if collection else "delete"}.get(method,
                                                                                 method.lower())
            return kind, g, "%s %s" % (verb, res), "%s %s" % (method, tmpl)
        if path in NONRESOURCE or path.startswith("/openapi/"):
            key = path if not path.startswith("/openapi/") else path.split("?")[0]
            return "nonres", (), "%s %s" % (method.lower(), key), "%s %s" % (method, key)
        return "unknown", (), "%s other" % method.lower(), "%s other" % method

    def record_handler_time(self):
        """Add this request's handler time to the stats, once (see dispatch)."""
        timing, self._timing = getattr(self, "_timing", None), None
        if timing is not None:
            self.sim.stats.add_time(timing[0], time.monotonic() - timing[1])

    def dispatch(self, method):
        self._entry = None
        self._timing = None
        t0 = getattr(self, "_t_request", None) or time.monotonic()
        u = urllib.parse.urlsplit(self.path)
        path = u.path.rstrip("/") or "/"
        self.q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query,
                                                             keep_blank_values=True).items()}
        try:
            self.body = self.read_body()
        except ApiError as e:
            self.close_connection = True
            self.body = b""
            self.send_error_status(e)
            return
        except (ValueError, OSError):
            self.close_connection = True
            return
        who = self.authenticate()
        is_sim = path == "/_sim" or path.startswith("/_sim/")
        kind, groups, verbkey, pathkey = ("sim", (), "", "") if is_sim else \
            self.classify(method, path, self.q)
        self._entry = {"verb": verbkey or ("%s %s" % (method.lower(), path)),
                       "method": method, "path": path, "query": u.query,
                       "user": who[1] if who else None, "auth": who[0] if who else None,
                       "time": t0, "sim": is_sim, "accept": self.headers.get("Accept")}
        if is_sim:
            self._entry = None
        else:
            self.sim.stats.count(verbkey, pathkey)
            self._timing = (verbkey, t0)
        try:
            if who is None:
                self.sim.stats.add("auth_failures")
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if is_sim:
                self.handle_sim(method, path)
                return
            self.check_forbidden(verbkey, path, who[1])
            self.apply_faults(method, path, verbkey)
            self.route(method, path, kind, groups)
        except ApiError as e:
            try:
                self.send_error_status(e)
            except OSError:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception as e:  # a kubesim bug: answer 500 instead of hanging the client
            import traceback
            traceback.print_exc()
            try:
                self.send_error_status(ApiError(500, "InternalError",
                                                "kubesim internal error: %s" % e))
            except OSError:
                self.close_connection = True
        finally:
            if self._entry is not None:
                self._entry["status"] = 0
                self.sim.stats.record(self._entry)
                self._entry = None
            # from the request line parsed to the answer written (a plain answer: just
            # before its one write; a stream: its end)
            self.record_handler_time()

    def check_forbidden(self, verbkey, path, user):
        """Fault forbid: 403 like kube-apiserver's RBAC authorizer for a verb the
        (simulated) Role lacks."""
        if not self.sim.faults.forbids(verbkey):
            return
        verb, _, resource = verbkey.partition(" ")
        m = re.match(r"^/apis?/(?:([^/]+)/)?v1/(?:namespaces/([^/]+)/)?([^/]+)(?:/([^/]+))?",
                     path)
        group = m.group(1) if m and m.group(1) and not m.group(1).startswith("v") else ""
        ns, name = (m.group(2), m.group(4)) if m else (None, None)
        what = '%s "%s"' % (resource.split("/")[0], name) if name else resource.split("/")[0]
        where = ' in the namespace "%s"' % ns if ns else " at the cluster scope"
        self.sim.stats.add("faults_injected")
        raise ApiError(403, "Forbidden",
                       '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s"%s'
                       % (what, user, verb, resource, group, where),
                       {"name": name or "", "kind": resource.split("/")[0]})

    def apply_faults(self, method, path, verbkey):
        f = self.sim.faults
        if not f.applies(method, path, verbkey):
            return
        lat = f.get("latency_ms")
        if lat > 0:
            self.sim.stop_event.wait(lat / 1000.0)
        if f.take("throttle_next") or f.roll("throttle_rate"):
            self.sim.stats.add("faults_injected")
            ra = f.get("throttle_retry_after")
            raise ApiError(429, "TooManyRequests", "the server has received too many requests "
                           "and has asked us to try again later (kubesim fault)",
                           {"retryAfterSeconds": ra}, {"Retry-After": str(ra)})
        if f.roll("error_rate"):
            self.sim.stats.add("faults_injected")
            raise ApiError(500, "InternalError", "an error on the server (\"kubesim injected "
                           "fault\") has prevented the request from succeeding",
                           {"causes": [{"reason": "UnexpectedServerResponse",
                                        "message": "kubesim injected fault"}]})

    def route(self, method, path, kind, g):
        if kind == "nonres":
            return self.nonresource(method, path)
        if kind == "unknown":
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        if kind == "proxy":
            if len(g[0]) > 63 or not V.DNS1123_LABEL.match(g[0]):
                raise not_found("namespaces", g[0])
            return ksim_podsub.pod_proxy(self, method)
        if kind in ("nslist", "ns"):
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this "
                               "method on the requested resource")
            return self.namespaces(g[0] if kind == "ns" else None)
        if kind in ("coll", "wcoll"):
            ns, res, name, sub = g[0], g[1], None, None
        elif kind in ("item", "witem"):
            ns, res, name, sub = g[0], g[1], g[2], None
        elif kind == "sub":
            ns, res, name, sub = g
        else:
            ns, res, name, sub = None, g[0], None, None
        if ns is not None and (len(ns) > 63 or not V.DNS1123_LABEL.match(ns)):
            raise not_found("namespaces", ns)
        watch = kind.startswith("w") or _truthy(self.q.get("watch"))
        if kind == "witem":
            self.q["fieldSelector"] = "metadata.name=%s" % name
            name = None
        if sub == "log":
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this "
                               "method on the requested resource")
            return self.pod_log(ns, name)
        if name is None:
            if method == "GET":
                return self.watch(res, ns) if watch else self.list(res, ns)
            if method == "POST" and ns is not None:
                return self.create(res, ns)
            if method == "DELETE" and ns is not None:
                return self.delete_collection(res, ns)
        else:
            if method == "GET":
                if watch:
                    self.q["fieldSelector"] = "metadata.name=%s" % name
                    return self.watch(res, ns)
                return self.get(res, ns, name)
            if method == "PUT":
                return self.update(res, ns, name, sub == "status")
            if method == "PATCH":
                return self.patch(res, ns, name, sub == "status")
            if method == "DELETE" and sub is None:
                return self.delete(res, ns, name)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on "
                       "the requested resource")

    # ---------------------------------------------------------------- non-resource
    def nonresource(self, method, path):
        if method != "GET":
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
        if path == "/version":
            return self.send_json(200, VERSION)
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [
                                            {"clientCIDR": "0.0.0.0/0",
                                             "serverAddress": "127.0.0.1:%d" % self.sim.port}]})
        if path == "/api/v1":
            return self.send_json(200, API_RESOURCES)
        if path == "/apis":
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                        "groups": [dict((k, v) for k, v in LEASE_GROUP.items()
                                                        if k not in ("kind", "apiVersion"))]})
        if path == "/apis/coordination.k8s.io":
            return self.send_json(200, LEASE_GROUP)
        if path == "/apis/" + LEASE_GV:
            return self.send_json(200, LEASE_RESOURCES)
        if path == "/openapi/v3":
            return self.send_json(200, {"paths": {
                gv: {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (gv, OPENAPI_HASH)}
                for gv in ("api/v1", "apis/" + LEASE_GV)}})
        if path == "/openapi/v3/api/v1":
            return self.send_json(200, openapi_v3())
        if path == "/openapi/v3/apis/" + LEASE_GV:
            return self.send_json(200, openapi_v3(LEASE_GV))
        if path in ("/openapi/v2", "/swagger-2.0.0.pb-v1"):
            body = ksim_proto.openapi_v2_pb([("pods", "Pod"), ("secrets", "Secret")])
            self.send_response(200)
            self.send_header("Content-Type",
                             "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_text(200, "ok")
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})

    def namespaces(self, name):
        counts = self.sim.store.counts()
        names = {"default", "kube-system", "kube-public"}
        for per in counts.values():
            names.update(per)

        def nsobj(n):
            return {"kind": "Namespace", "apiVersion": "v1",
                    "metadata": {"name": n, "uid": "00000000-0000-0000-0000-%012x"
                                 % (abs(hash(n)) % (1 << 48)),
                                 "resourceVersion": "1", "creationTimestamp":
                                 "2025-01-01T00:00:00Z",
                                 "labels": {"kubernetes.io/metadata.name": n}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        if name is not None:
            if len(name) > 63 or not V.DNS1123_LABEL.match(name):
                raise not_found("namespaces", name)
            return self.send_json(200, nsobj(name))
        return self.send_json(200, {"kind": "NamespaceList", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": self.sim.store.current_rv()},
                                    "items": [nsobj(n) for n in sorted(names)]})

    # ---------------------------------------------------------------- reads
    def selectors(self, res):
        return (parse_label_selector(self.q.get("labelSelector")),
                parse_field_selector(res, self.q.get("fieldSelector")))

    def respond_obj(self, res, obj, code=200, headers=None):
        tv = wants_table(self.headers.get("Accept"))
        if tv:
            obj = {"kind": "Table", "apiVersion": "meta.k8s.io/%s" % tv,
                   "metadata": {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                   "columnDefinitions": table_columns(res),
                   "rows": [table_row(res, obj, self.q.get("includeObject", "Metadata"))]}
        self.send_json(code, obj, headers)

    def get(self, res, ns, name):
        self.respond_obj(res, self.sim.store.get(res, ns, name))

    def list(self, res, ns):
        lsel, fsel = self.selectors(res)
        try:
            limit = int(self.q.get("limit") or 0)
        except ValueError:
            raise bad_request("limit must be an integer")
        items, rv, token, remaining = self.sim.store.list(res, ns, lsel, fsel, max(0, limit),
                                                          self.q.get("continue") or None)
        meta = {"resourceVersion": rv}
        if token:
            meta["continue"] = token
            if not lsel and not fsel:
                meta["remainingItemCount"] = remaining
        tv = wants_table(self.headers.get("Accept"))
        if tv:
            inc = self.q.get("includeObject", "Metadata")
            doc = {"kind": "Table", "apiVersion": "meta.k8s.io/%s" % tv, "metadata": meta,
                   "columnDefinitions": table_columns(res),
                   "rows": [table_row(res, o, inc) for o in items]}
            return self.send_json(200, doc)
        self.send_list(res, meta, items)

    def pod_log(self, ns, name):
        ksim_podsub.pod_log(self, ns, name)

    # ---------------------------------------------------------------- watch
    def watch(self, res, ns):
        sim, store = self.sim, self.sim.store
        lsel, fsel = self.selectors(res)
        try:
            timeout = float(self.q["timeoutSeconds"]) if self.q.get("timeoutSeconds") \
                else sim.args.max_watch_seconds
        except ValueError:
            raise bad_request("timeoutSeconds must be an integer")
        bookmarks = _truthy(self.q.get("allowWatchBookmarks"))
        tv = wants_table(self.headers.get("Accept"))
        inc = self.q.get("includeObject", "Metadata")
        cut = sim.faults.get("watch_cut_after")
        rv = self.q.get("resourceVersion")
        w = None
        try:
            w, init = store.watch_open(res, ns, rv)
            err = None
        except ApiError as e:
            if e.code != 410:
                raise
            err = e
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        with sim.stats.lock:
            sim.stats.watch_current += 1
            sim.stats.watch_total += 1
        sent = [0]
        first_table = [True]
        match = compile_selector(res, lsel, fsel)
        out = []  # encoded chunks not yet written
        out_size = [0]

        def flush():
            if out:
                data = b"".join(out)
                out.clear()
                out_size[0] = 0
                self.wfile.write(data)

        def put(line):
            """Queue one event line (bytes ending in a newline) as its own chunk."""
            out.append(b"%x\r\n%s\r\n" % (len(line), line))
            out_size[0] += len(line)
            if out_size[0] >= 256 << 10:
                flush()

        def write(ev):
            put(encode(ev) + b"\n")

        def deliver(typ, obj, old):
            newm = match is None or match(obj)
            if old is not None and typ == "MODIFIED":
                oldm = match is None or match(old)
                if newm and not oldm:
                    typ = "ADDED"
                elif oldm and not newm:
                    typ, newm = "DELETED", True
            elif typ == "DELETED" and old is not None:
                newm = match is None or match(old)
            if not newm:
                return
            if tv:
                o = {"kind": "Table", "apiVersion": "meta.k8s.io/%s" % tv,
                     "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                     "columnDefinitions": table_columns(res) if first_table[0] else [],
                     "rows": [table_row(res, obj, inc)]}
                first_table[0] = False
                write({"type": typ, "object": o})
            else:
                # The object's encoding is cached on it: computed once for every stream
                # (and list or deletecollection answer) that sends it.
                put(_EVENT_PREFIX[typ] + encode(obj) + b"}\n")
            sent[0] += 1
            if cut and sent[0] >= cut:
                raise WatchCut()

        def deliver_all(evs):
            if evs is CUT_WATCH:
                flush()
                raise WatchCut()
            n0 = sent[0]
            try:
                for (_rv, typ, obj, old) in evs:
                    deliver(typ, obj, old)
            finally:
                if sent[0] != n0:
                    sim.stats.add("watch_events", sent[0] - n0)

        try:
            if err is not None:
                write({"type": "ERROR", "object": err.status()})
            else:
                deliver_all(init)
                flush()
                deadline = time.monotonic() + timeout
                interval = max(0.05, sim.args.bookmark_interval)
                next_bm = time.monotonic() + interval
                while not sim.stop_event.is_set():
                    now = time.monotonic()
                    if now >= deadline:
                        break
                    wait = min(deadline - now, 0.5)
                    if bookmarks:
                        wait = min(wait, max(0.0, next_bm - now))
                    try:
                        deliver_all(w.q.get(timeout=max(wait, 0.001)))
                        # Everything already queued goes out in the same write.
                        for _ in range(10000):
                            deliver_all(w.q.get_nowait())
                    except queue.Empty:
                        pass
                    flush()
                    if bookmarks and time.monotonic() >= next_bm:
                        brv = store.watcher_idle_rv(w)
                        if brv is not None:
                            write({"type": "BOOKMARK", "object": {
                                "kind": RESOURCES[res][0], "apiVersion": API_VERSIONS[res],
                                "metadata": {"resourceVersion": brv}}})
                            flush()
                        next_bm = time.monotonic() + interval
            flush()
            self.wfile.write(b"0\r\n\r\n")
        except WatchCut:
            try:
                flush()
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            self.close_connection = True
        except OSError:
            self.close_connection = True
        finally:
            if w is not None:
                store.watch_close(w)
            with sim.stats.lock:
                sim.stats.watch_current -= 1
        if sim.stop_event.is_set():
            self.close_connection = True

    # ---------------------------------------------------------------- writes
    def field_validation(self, obj, schema):
        mode = self.q.get("fieldValidation") or "Warn"
        if mode not in ("Strict", "Warn", "Ignore"):
            raise bad_request('fieldValidation parameter unsupported: "%s"' % mode)
        unknown = V.unknown_fields(obj, schema)
        if not unknown or mode == "Ignore":
            return {}
        if mode == "Strict":
            raise bad_request("strict decoding error: " +
                              ", ".join('unknown field "%s"' % u for u in unknown))
        return {"Warning": ['299 - "unknown field \\"%s\\""' % u for u in unknown]}

    def decode_object(self, res, ns):
        obj = self.json_body()
        kind, av = RESOURCES[res][0], API_VERSIONS[res]
        if not isinstance(obj, dict):
            raise bad_request("Object 'Kind' is missing in '%s'" % self.body[:200].decode(
                "utf-8", "replace"))
        if obj.get("kind") and obj["kind"] != kind:
            raise bad_request('%s in version "%s" cannot be handled as a %s: no kind "%s" is '
                              'registered for version "%s"' % (
                                  obj["kind"], obj.get("apiVersion", av), kind, obj["kind"],
                                  obj.get("apiVersion", av)))
        if obj.get("apiVersion") not in (None, av):
            raise bad_request('%s in version "%s" cannot be handled as a %s'
                              % (kind, obj["apiVersion"], kind))
        meta = obj.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        meta = obj.setdefault("metadata", {})
        if ns is not None and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        obj["kind"], obj["apiVersion"] = kind, av
        return obj

    def invalid(self, res, name, causes):
        kind, group = RESOURCES[res][0], GROUPS[res]
        parts = ["%s: %s" % (c["field"], c["message"]) for c in causes]
        msg = '%s "%s" is invalid: %s' % (kind + ("." + group if group else ""), name or "",
                                         parts[0] if len(parts) == 1
                                         else "[" + ", ".join(parts) + "]")
        details = {"name": name or ""}
        if group:
            details["group"] = group
        details.update({"kind": kind, "causes": causes})
        return ApiError(422, "Invalid", msg, details)

    def checked(self, res, obj):
        """Unknown-field handling, type decoding (400), validation (422) and defaulting
        of a Pod/Secret/Lease about to be created; returns the warning headers."""
        schema, validate, default = KINDS[res]
        headers = self.field_validation(obj, schema)
        strip_unknown(obj, schema)
        if res == "leases":
            err = V.lease_decode_error(obj)
            if err:
                raise bad_request('Lease in version "v1" cannot be handled as a Lease: %s'
                                  % err)
        causes = validate(obj)
        name = obj["metadata"].get("name") or obj["metadata"].get("generateName", "")
        if causes:
            raise self.invalid(res, name, causes)
        default(obj)
        return headers

    def create(self, res, ns):
        obj = self.decode_object(res, ns)
        headers = self.checked(res, obj)
        name = obj["metadata"].get("name") or obj["metadata"].get("generateName", "")
        if self.create_fault_applies() and self.sim.faults.take_conflict():
            self.sim.stats.add("faults_injected")
            raise already_exists(res, obj["metadata"].get("name") or name)
        if self.q.get("dryRun") == "All":
            obj["metadata"]["namespace"] = ns
            return self.respond_obj(res, obj, 201, headers)
        created = self.sim.store.create(res, ns, obj)
        if self.bad_create_answer(created):
            return
        self.respond_obj(res, created, 201, headers)

    def create_fault_applies(self):
        e = self._entry
        return self.sim.faults.applies("POST", e["path"] if e else "", e["verb"] if e else "")

    def bad_create_answer(self, created):
        """Faults create_garbage / create_oversize (requests matching fail_paths): the
        object is stored, but the 201 answer is not JSON, or is the object padded to
        more than 1 MiB (over a client's response limit). True when one was sent."""
        f = self.sim.faults
        if not self.create_fault_applies():
            return False
        if f.take("create_garbage"):
            body = b"<html>not json: kubesim create_garbage fault</html>\n"
        elif f.take("create_oversize"):
            body = encode(created) + b" " * (1 << 20) + b"\n"
        else:
            return False
        self.sim.stats.add("faults_injected")
        try:
            self.send_encoded(201, body)
        except OSError:  # a client with a response limit hangs up mid-answer (TLS EOF)
            self.close_connection = True
        return True

    def _check_update_rv(self, res, name, new, cur):
        rv = new["metadata"].get("resourceVersion")
        if rv and rv != cur["metadata"]["resourceVersion"]:
            raise conflict(res, name, 'Operation cannot be fulfilled on %s "%s": the object has '
                           'been modified; please apply your changes to the latest version and '
                           'try again' % (qualified(res), name))
        uid = new["metadata"].get("uid")
        if uid and uid != cur["metadata"]["uid"]:
            raise conflict(res, name, 'Operation cannot be fulfilled on %s "%s": Precondition '
                           'failed: UID in precondition: %s, UID in object meta: %s'
                           % (qualified(res), name, cur["metadata"]["uid"], uid))

    def _store_update(self, res, ns, name, new, status_only, headers):
        store = self.sim.store
        with store.lock:
            cur = store.get(res, ns, name)
            if new["metadata"].get("name") not in (None, name):
                raise bad_request("the name of the object (%s) does not match the name on the "
                                  "URL (%s)" % (new["metadata"].get("name"), name))
            self._check_update_rv(res, name, new, cur)
            if status_only:
                result = jclone(cur)
                result["status"] = new.get("status") or {}
            else:
                result = new
                m, cm = result["metadata"], cur["metadata"]
                for k in ("uid", "creationTimestamp", "namespace", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generateName"):
                    if k in cm:
                        m[k] = cm[k]
                    else:
                        m.pop(k, None)
                m["name"] = name
                if res == "pods":
                    result["status"] = cur.get("status")
                    causes = V.validate_pod(result)
                    if not causes:
                        causes = pod_update_forbidden(cur, result)
                    if causes:
                        raise self.invalid(res, name, causes)
                    default_pod(result, keep_status=True)
                elif res == "leases":
                    self.checked(res, result)
                else:
                    causes = V.validate_secret(result)
                    if causes:
                        raise self.invalid(res, name, causes)
                    if cur.get("immutable") and (result.get("data") != cur.get("data")):
                        raise self.invalid(res, name, [{
                            "reason": "FieldValueForbidden", "field": "data",
                            "message": "Forbidden: field is immutable when `immutable` is set"}])
                    default_secret(result)
            result["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            out = store.replace(res, result, cur["metadata"]["uid"])
        self.respond_obj(res, out, 200, headers)

    def update(self, res, ns, name, status_only):
        new = self.decode_object(res, ns)
        schema = KINDS[res][0]
        headers = self.field_validation(new, schema)
        strip_unknown(new, schema)
        if not new["metadata"].get("resourceVersion"):
            cur = self.sim.store.get(res, ns, name)
            if res == "pods":
                raise self.invalid(res, name, [{
                    "reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
                    "message": "Invalid value: 0x0: must be specified for an update"}])
            new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        self._store_update(res, ns, name, new, status_only, headers)

    def patch(self, res, ns, name, status_only):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType", 'the body of the request was in an '
                           'unknown format - accepted media types include: %s'
                           % ", ".join(PATCH_TYPES))
        p = self.json_body()
        cur = self.sim.store.get(res, ns, name)
        base = jclone(cur)
        if ctype == "application/json-patch+json":
            new = json_patch(base, p)
        else:
            if not isinstance(p, dict):
                raise bad_request("patch body must be a JSON object")
            new = merge_patch(base, p)
        if not isinstance(new, dict):
            raise bad_request("patch produced a non-object")
        new.setdefault("metadata", {})
        if not (isinstance(p, dict) and "resourceVersion" in (p.get("metadata") or {})) and \
                not (isinstance(p, list) and any(
                    o.get("path") == "/metadata/resourceVersion" for o in p
                    if isinstance(o, dict))):
            new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        schema = KINDS[res][0]
        headers = self.field_validation(new, schema)
        strip_unknown(new, schema)
        new["kind"], new["apiVersion"] = RESOURCES[res][0], API_VERSIONS[res]
        self._store_update(res, ns, name, new, status_only, headers)

    # ---------------------------------------------------------------- delete
    def delete_options(self):
        opts = {}
        body = self.json_body(required=False)
        if isinstance(body, dict):
            opts = body
        elif body is not None:
            raise bad_request("DeleteOptions must be a JSON object")
        if "gracePeriodSeconds" in self.q:
            try:
                opts["gracePeriodSeconds"] = int(self.q["gracePeriodSeconds"])
            except ValueError:
                raise bad_request("gracePeriodSeconds must be an integer")
        if "propagationPolicy" in self.q:
            opts["propagationPolicy"] = self.q["propagationPolicy"]
        pre = dict(opts.get("preconditions") or {})
        for k in ("uid", "resourceVersion"):
            if "preconditions." + k in self.q:
                pre[k] = self.q["preconditions." + k]
        opts["preconditions"] = pre
        pp = opts.get("propagationPolicy")
        if pp not in (None, "Orphan", "Background", "Foreground"):
            raise self.invalid_delete(pp)
        g = opts.get("gracePeriodSeconds")
        if g is not None and (not isinstance(g, int) or isinstance(g, bool)):
            raise bad_request("gracePeriodSeconds must be an integer")
        return opts

    def invalid_delete(self, pp):
        return ApiError(422, "Invalid", 'DeleteOptions.meta.k8s.io "" is invalid: '
                        'propagationPolicy: Unsupported value: "%s": supported values: '
                        '"Foreground", "Background", "Orphan", "nil"' % pp,
                        {"kind": "DeleteOptions", "group": "meta.k8s.io", "causes": [{
                            "reason": "FieldValueNotSupported", "field": "propagationPolicy",
                            "message": 'Unsupported value: "%s"' % pp}]})

    def _check_delete_preconditions(self, res, cur, pre):
        m = cur["metadata"]
        name = m["name"]
        if pre.get("uid") and pre["uid"] != m["uid"]:
            raise conflict(res, name, "Precondition failed: UID in precondition: %s, UID in "
                           "object meta: %s" % (pre["uid"], m["uid"]))
        if pre.get("resourceVersion") and pre["resourceVersion"] != m["resourceVersion"]:
            raise conflict(res, name, "Precondition failed: ResourceVersion in precondition: "
                           "%s, ResourceVersion in object meta: %s"
                           % (pre["resourceVersion"], m["resourceVersion"]))

    def _delete_one(self, res, cur, opts):
        """Returns the object to answer with; raises ApiError."""
        store, sim = self.sim.store, self.sim
        m = cur["metadata"]
        name = m["name"]
        self._check_delete_preconditions(res, cur, opts.get("preconditions") or {})
        g = opts.get("gracePeriodSeconds")
        term = sim.faults.get("terminating_seconds")
        if res != "pods" or g == 0 or term <= 0:
            out = store.remove(res, m["namespace"], name, uid=m["uid"])
            if out is None:
                raise not_found(res, name)
            return out
        if m.get("deletionTimestamp"):
            return cur
        grace = g if g is not None else cur["spec"].get("terminationGracePeriodSeconds", 30)

        def mark(p):
            p["metadata"]["deletionTimestamp"] = now_rfc3339()
            p["metadata"]["deletionGracePeriodSeconds"] = grace
        out = store.mutate(res, m["namespace"], name, mark, uid=m["uid"])
        if out is None:
            raise not_found(res, name)
        sim.kubelet.sched.at(term, store.remove, res, m["namespace"], name, m["uid"])
        return out

    def delete(self, res, ns, name):
        opts = self.delete_options()
        cur = self.sim.store.get(res, ns, name)
        if self.q.get("dryRun") == "All":
            return self.respond_obj(res, cur)
        out = self._delete_one(res, cur, opts)
        if res == "leases":  # no ReturnDeletedObject in its registry: a Success Status
            m = out["metadata"]
            return self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                        "status": "Success", "details": {
                                            "name": m["name"], "group": GROUPS[res],
                                            "kind": res, "uid": m["uid"]}})
        self.respond_obj(res, out)

    def delete_collection(self, res, ns):
        opts = self.delete_options()
        lsel, fsel = self.selectors(res)
        store = self.sim.store
        items, _rv, _t, _r = store.list(res, ns, lsel, fsel)
        items = items[:100000]
        g = opts.get("gracePeriodSeconds")
        if res != "pods" or g == 0 or self.sim.faults.get("terminating_seconds") <= 0:
            # Immediate removal: the same checks and events as one _delete_one per item
            # (preconditions in order: items before a mismatch are deleted, then the
            # Conflict is answered), under one store lock, one watch batch.
            failed = None
            pre = opts.get("preconditions") or {}
            if pre.get("uid") or pre.get("resourceVersion"):
                for i, o in enumerate(items):
                    try:
                        self._check_delete_preconditions(res, o, pre)
                    except ApiError as e:
                        items, failed = items[:i], e
                        break
            out = store.remove_many(res, items)
            if failed is not None:
                raise failed
        else:
            out = []
            for o in items:
                try:
                    out.append(self._delete_one(res, o, opts))
                except ApiError as e:
                    if e.code != 404:
                        raise
        self.send_list(res, {"resourceVersion": store.current_rv()}, out)

    # ---------------------------------------------------------------- /_sim
    def handle_sim(self, method, path):
        sim = self.sim
        if path == "/_sim/stats" and method == "GET":
            return self.send_json(200, sim.stats_doc())
        if path == "/_sim/requests" and method == "GET":
            with sim.stats.lock:
                log = list(sim.stats.log)
                dropped = sim.stats.log_dropped
            return self.send_json(200, {"requests": log, "dropped": dropped})
        if path == "/_sim/reset" and method == "POST":
            sim.stats.reset()
            return self.send_json(200, {"ok": True})
        if path == "/_sim/faults":
            if method == "GET":
                return self.send_json(200, sim.faults.snapshot())
            if method == "POST":
                return self.send_json(200, sim.faults.update(self.json_body()))
        if path == "/_sim/cut-watches" and method == "POST":
            return self.send_json(200, {"cut": sim.store.cut_watches()})
        if path == "/_sim/compact" and method == "POST":
            sim.store.compact()
            return self.send_json(200, {"compacted_rv": sim.store.current_rv()})
        if path == "/_sim/bulk" and method == "POST":
            return self.sim_bulk(self.json_body())
        raise ApiError(404, "NotFound", "unknown /_sim endpoint %s %s" % (method, path), {})

    def sim_bulk(self, b):
        if not isinstance(b, dict):
            raise bad_request("bulk body must be a JSON object")
        ns = b.get("namespace", "default")
        count = b.get("count", 1)
        prefix = b.get("name_prefix", "bulk")
        labels = b.get("labels") or {}
        phase = b.get("phase", "Running")
        image = b.get("image", "kubesim/bulk:latest")
        age = b.get("age_seconds", 0)
        if not isinstance(age, int) or not 0 <= age <= 10 ** 9:
            raise bad_request("age_seconds must be an integer in [0, 1000000000]")
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age)) \
            if age else None
        if not isinstance(count, int) or not 0 <= count <= 200000:
            raise bad_request("count must be an integer in [0, 200000]")
        if not V.DNS1123_LABEL.match(ns or ""):
            raise bad_request("bad namespace")
        c = V.Causes()
        V.check_labels(c, "labels", labels)
        if c.items or not V.DNS1123_SUBDOMAIN.match(prefix + "-0"):
            raise bad_request("bad labels or name_prefix")
        if phase not in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            raise bad_request("bad phase")
        width = max(5, len(str(count)))
        n_created = skipped = 0
        ready = "True" if phase == "Running" else "False"
        ts = now_rfc3339()
        for i in range(count):
            name = "%s-%0*d" % (prefix, width, i)
            pod = {"kind": "Pod", "apiVersion": "v1",
                   "metadata": {"name": name, "labels": dict(labels),
                                "annotations": {"kubesim/bulk": "true"}},
                   "spec": {"containers": [{"name": "main", "image": image}],
                            "restartPolicy": "Never", "nodeName": "kubesim-node",
                            "terminationGracePeriodSeconds": 30},
                   "status": {"phase": phase, "hostIP": "127.0.0.1", "startTime": ts,
                              "conditions": [{"type": t, "status": "True" if t ==
                                              "PodScheduled" else ready,
                                              "lastProbeTime": None,
                                              "lastTransitionTime": ts}
                                             for t in ("PodScheduled", "Initialized", "Ready",
                                                       "ContainersReady")],
                              "containerStatuses": [{
                                  "name": "main", "image": image, "imageID": "",
                                  "ready": phase == "Running", "restartCount": 0,
                                  "started": phase == "Running", "lastState": {},
                                  "state": {"running": {"startedAt": ts}} if phase == "Running"
                                  else {"waiting": {"reason": "ContainerCreating"}}}]}}
            try:
                self.sim.store.create("pods", ns, pod, created=created)
                n_created += 1
            except ApiError:
                skipped += 1
        if count >= 1000:
            # Bulk-loaded Pods live long: move them (and everything else alive now) out
            # of the collector's generations, so that later collections, triggered by
            # ordinary requests, do not traverse them again and again.
            gc.collect()
            gc.freeze()
        self.send_json(200, {"created": n_created, "skipped": skipped,
                             "resourceVersion": self.sim.store.current_rv()})


def ssl_errors():
    import ssl
    return (ssl.SSLError,)


def strip_unknown(obj, schema):
    """Drop unknown fields (what the apiserver does for Warn/Ignore)."""
    if schema is None:
        return
    if isinstance(schema, list):
        if isinstance(obj, list):
            for x in obj:
                strip_unknown(x, schema[0])
        return
    if isinstance(obj, dict):
        for k in list(obj):
            if k not in schema:
                del obj[k]
            else:
                strip_unknown(obj[k], schema[k])


def _qos(pod):
    conts = pod["spec"].get("containers") or []
    any_set, guaranteed = False, True
    for c in conts:
        r = c.get("resources") or {}
        req, lim = r.get("requests") or {}, r.get("limits") or {}
        if req or lim:
            any_set = True
        for k in ("cpu", "memory"):
            if k not in lim or (k in req and str(req[k]) != str(lim[k])):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod(pod, keep_status=False):
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        img = c.get("image", "")
        last = img.rsplit("/", 1)[-1]
        latest = "@" not in img and (":" not in last or last.endswith(":latest"))
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    if not keep_status:
        pod["status"] = {"phase": "Pending", "qosClass": _qos(pod)}


def default_secret(sec):
    if not sec.get("type"):
        sec["type"] = "Opaque"
    sd = sec.pop("stringData", None)
    if sd:
        data = sec.setdefault("data", {}) or {}
        sec["data"] = data
        for k, v in sd.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def default_lease(lease):
    """The CoordinatedLeaderElection gate is off (as on a default 1.32 apiserver): its
    fields are dropped, not stored."""
    spec = lease.setdefault("spec", {})
    spec.pop("strategy", None)
    spec.pop("preferredHolder", None)


# resource -> (unknown-field schema, validation, defaulting on create)
KINDS = {"pods": (V.POD_SCHEMA, V.validate_pod, default_pod),
         "secrets": (V.SECRET_SCHEMA, V.validate_secret, default_secret),
         "leases": (V.LEASE_SCHEMA, V.validate_lease, default_lease)}


def pod_update_forbidden(cur, new):
    def norm(spec):
        s = copy.deepcopy(spec or {})
        for key in ("containers", "initContainers"):
            for c in s.get(key) or []:
                c.pop("image", None)
        for k in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds",
                  "schedulingGates"):
            s.pop(k, None)
        return s
    a, b = copy.deepcopy(cur.get("spec") or {}), copy.deepcopy(new.get("spec") or {})
    default_pod({"spec": b}, keep_status=True)
    if norm(a) != norm(b):
        return [{"reason": "FieldValueForbidden", "field": "spec",
                 "message": "Forbidden: pod updates may not change fields other than "
                            "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                            "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                            "to existing tolerations),`spec.terminationGracePeriodSeconds` "
                            "(allow it to be set to 1 if it was previously negative)"}]
    return []
