"""The Pod subresources that reach the simulated kubelet: `pods/log` (with the query
options kube-apiserver accepts, including follow=true streaming) and `pods/proxy` (a
bounded HTTP forwarder to the Pod's RIE stand-in). Called from ksim_api's handler `h`."""
import calendar
import datetime
import http.client
import re
import select
import socket
import time

from ksim_store import ApiError, bad_request

# Bounds of the proxy: what a Lambda invoke carries (6 MiB) with room to spare.
PROXY_MAX_BODY = 8 << 20
PROXY_CONNECT_TIMEOUT = 5.0
PROXY_READ_TIMEOUT = 30.0
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
               "trailer", "upgrade", "proxy-authorization", "proxy-authenticate",
               "content-length", "host"}


def _truthy(v):
    return v is not None and v.lower() in ("1", "true", "t", "yes", "y")


# ---------------------------------------------------------------- pods/log
def _int_opt(q, key):
    v = q.get(key)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise bad_request("%s must be an integer" % key)


def _rfc3339_to_ns(s):
    """RFC 3339 (optional fraction, Z or offset) to unix ns; None when malformed."""
    m = re.match(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,9})?"
                 r"(Z|z|[+-]\d{2}:\d{2})$", s or "")
    if not m:
        return None
    try:
        base = datetime.datetime.strptime(m.group(1) + "T" + m.group(2), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    secs = calendar.timegm(base.timetuple())
    if m.group(4) not in ("Z", "z"):
        sign = 1 if m.group(4)[0] == "+" else -1
        secs -= sign * (int(m.group(4)[1:3]) * 3600 + int(m.group(4)[4:6]) * 60)
    frac = (m.group(3) or ".")[1:].ljust(9, "0")
    return secs * 10 ** 9 + int(frac)


def log_options(q, name):
    """The PodLogOptions of the query, validated like kube-apiserver (422 Invalid)."""
    opts = {"tail": _int_opt(q, "tailLines"), "since_s": _int_opt(q, "sinceSeconds"),
            "limit": _int_opt(q, "limitBytes"), "timestamps": _truthy(q.get("timestamps")),
            "follow": _truthy(q.get("follow")), "previous": _truthy(q.get("previous")),
            "since_ns": None}
    causes = []
    if q.get("sinceTime"):
        opts["since_ns"] = _rfc3339_to_ns(q["sinceTime"])
        if opts["since_ns"] is None:
            raise bad_request('parsing time "%s" as "2006-01-02T15:04:05Z07:00": cannot parse'
                              % q["sinceTime"])
    if opts["tail"] is not None and opts["tail"] < 0:
        causes.append(("tailLines", opts["tail"], "must be greater than or equal to 0"))
    if opts["limit"] is not None and opts["limit"] < 1:
        causes.append(("limitBytes", opts["limit"], "must be greater than 0"))
    if opts["since_s"] is not None and opts["since_s"] < 1:
        causes.append(("sinceSeconds", opts["since_s"], "must be greater than 0"))
    msgs = ["%s: Invalid value: %d: %s" % c for c in causes]
    if opts["since_s"] is not None and opts["since_ns"] is not None:
        msgs.append("sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` "
                    "may be specified")
        causes.append(("sinceSeconds", None, "at most one of `sinceTime` or `sinceSeconds` "
                       "may be specified"))
    if msgs:
        raise ApiError(422, "Invalid", 'PodLogOptions "%s" is invalid: %s'
                       % (name, ", ".join(msgs) if len(msgs) == 1 else
                          "[" + ", ".join(msgs) + "]"),
                       {"name": name, "kind": "PodLogOptions",
                        "causes": [{"reason": "FieldValueInvalid", "message": c[2],
                                    "field": c[0]} for c in causes]})
    if opts["since_s"] is not None:
        opts["since_ns"] = time.time_ns() - opts["since_s"] * 10 ** 9
    return opts


def _stamp(ns):
    """The kubelet's RFC3339NanoFixed timestamp."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10 ** 9)) + \
        ".%09dZ" % (ns % 10 ** 9)


def _render(entries, opts):
    return b"".join(((_stamp(ts) + " " if opts["timestamps"] else "") + line + "\n").encode()
                    for ts, line in entries)


def _select(entries, opts):
    if opts["since_ns"] is not None:
        entries = [e for e in entries if e[0] >= opts["since_ns"]]
    if opts["tail"] is not None:
        entries = entries[-opts["tail"]:] if opts["tail"] > 0 else []
    return entries


def _container(pod, name, q):
    conts = [c["name"] for c in (pod["spec"].get("containers") or [])]
    inits = [c["name"] for c in (pod["spec"].get("initContainers") or [])]
    cname = q.get("container")
    if not cname:
        if len(conts) != 1:
            raise bad_request("a container name must be specified for pod %s, choose one "
                              "of: [%s] or one of the init containers: [%s]"
                              % (name, " ".join(conts), " ".join(inits)))
        cname = conts[0]
    if cname not in conts + inits:
        raise bad_request("container %s is not valid for pod %s" % (cname, name))
    return cname


def pod_log(h, ns, name):
    pod = h.sim.store.get("pods", ns, name)
    cname = _container(pod, name, h.q)
    opts = log_options(h.q, name)
    if opts["previous"]:
        raise bad_request('previous terminated container "%s" in pod "%s" not found'
                          % (cname, name))
    run = h.sim.kubelet.run_for(pod["metadata"]["uid"])
    entries, pos = [], 0
    if run is not None:
        with run.lock:
            buf = run.logs.get(cname)
            if buf is not None:
                entries, pos = list(buf.lines), buf.end()
    st = pod.get("status") or {}
    statuses = (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or [])
    cst = next((c for c in statuses if c["name"] == cname), None)
    if not entries and (cst is None or "waiting" in (cst.get("state") or {})):
        reason = ((cst or {}).get("state", {}).get("waiting", {}) or {}).get(
            "reason", "ContainerCreating")
        raise bad_request('container "%s" in pod "%s" is waiting to start: %s'
                          % (cname, name, reason))
    body = _render(_select(entries, opts), opts)
    if opts["limit"] is not None:
        body = body[:opts["limit"]]
    if not opts["follow"] or run is None:
        return h.send_text(200, body.decode("utf-8", "replace"))
    _follow(h, run, cname, opts, body, pos)


def _client_gone(h):
    """True when the client closed the stream (EOF or anything it sends: a log stream
    expects nothing, and a TLS close_notify is bytes too)."""
    try:
        fd = h.request.fileno()
        r, _, _ = select.select([fd], [], [], 0)
        return bool(r)
    except (OSError, ValueError):
        return True


def _chunk(h, data):
    if data:
        h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        h.wfile.flush()


def _follow(h, run, cname, opts, first, pos):
    """Stream the log: what is there, then each new line as the kubelet writes it, until
    the container ends, the Pod goes, the client leaves, limitBytes is reached, the
    simulator stops or --max-watch-seconds passes."""
    sim = h.sim
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Transfer-Encoding", "chunked")
    h.send_header("Cache-Control", "no-cache, private")
    h.end_headers()
    sim.stats.add("log_follow_current")
    sim.stats.add("log_follow_total")
    left = None if opts["limit"] is None else opts["limit"] - len(first)
    deadline = time.monotonic() + sim.args.max_watch_seconds
    try:
        _chunk(h, first)
        while (left is None or left > 0) and not sim.stop_event.is_set() \
                and time.monotonic() < deadline:
            with run.cv:
                buf = run.logs.get(cname)
                if (buf is None or buf.end() <= pos) and not run.gone and \
                        not (buf is not None and buf.ended):
                    run.cv.wait(0.2)
                    buf = run.logs.get(cname)
                new = buf.since(pos) if buf is not None else []
                pos = buf.end() if buf is not None else pos
                done = run.gone or (buf is not None and buf.ended)
            data = _render([e for e in new if opts["since_ns"] is None
                            or e[0] >= opts["since_ns"]], opts)
            if left is not None:
                data = data[:left]
                left -= len(data)
            _chunk(h, data)
            if (done and not new) or _client_gone(h):
                break
        h.wfile.write(b"0\r\n\r\n")
    except OSError:
        pass
    finally:
        h.close_connection = True
        sim.stats.add("log_follow_current", -1)


# ---------------------------------------------------------------- pods/proxy
PROXY_RX = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/proxy(/.*)?$")


def split_scheme_name_port(ident):
    """kube's SplitSchemeNamePort: name, name:port, scheme:name:port -> (scheme, name,
    port) or None when malformed."""
    parts = ident.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
        if scheme not in ("", "http", "https"):  # kube's validSchemes include ""
            return None
    else:
        return None
    if not name:
        return None
    return scheme, name, port


def _unavailable(msg):
    return ApiError(503, "ServiceUnavailable", "error trying to reach service: %s" % msg)


def _proxy_target(h, ns, ident):
    """(scheme, podIP, port) of the Pod the request names, or an ApiError like
    kube-apiserver's ResourceLocation answers."""
    ssp = split_scheme_name_port(ident)
    if ssp is None:
        raise bad_request('invalid pod request "%s"' % ident)
    scheme, name, port = ssp
    pod = h.sim.store.get("pods", ns, name)
    if not port:
        for ct in pod["spec"].get("containers") or []:
            if ct.get("ports"):
                port = str(ct["ports"][0].get("containerPort", ""))
                break
    ip = (pod.get("status") or {}).get("podIP") or ""
    if not ip:
        # kube-apiserver's proxyutil.IsProxyableIP on an empty podIP
        raise bad_request("address not allowed")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise _unavailable("dial tcp: address %s:%s: invalid port" % (ip, port))
    return scheme or "http", ip, int(port or 80)


def _forward_headers(h):
    out = {}
    for k, v in h.headers.items():
        lk = k.lower()
        if lk in _HOP_BY_HOP or lk == "authorization":
            continue
        out[k] = v
    return out


def pod_proxy(h, method):
    """Forward the request to the Pod (body, status, headers and body of the answer
    passed through, each bounded)."""
    raw = h.path.split("?", 1)
    m = PROXY_RX.match(raw[0])
    ns, ident, rest = m.group(1), m.group(2), m.group(3) or "/"
    scheme, ip, port = _proxy_target(h, ns, ident)
    if scheme == "https":
        raise _unavailable("tls: first record does not look like a TLS handshake")
    if len(h.body) > PROXY_MAX_BODY:
        raise ApiError(413, "RequestEntityTooLarge", "request entity too large")
    target = rest + ("?" + raw[1] if len(raw) > 1 else "")
    # the API server is inside the cluster: it reaches a podIP hidden from the host
    # (--hide-pod-ips); its messages name the podIP
    c = http.client.HTTPConnection(h.sim.kubelet.reachable_ip(ip), port,
                                   timeout=PROXY_CONNECT_TIMEOUT)
    try:
        try:
            c.connect()
        except ConnectionRefusedError:
            raise _unavailable("dial tcp %s:%d: connect: connection refused" % (ip, port))
        except OSError as e:
            raise _unavailable("dial tcp %s:%d: %s" % (ip, port, e))
        c.sock.settimeout(PROXY_READ_TIMEOUT)
        hdrs = _forward_headers(h)
        hdrs["Content-Length"] = str(len(h.body))
        try:
            c.request(method, target, body=h.body, headers=hdrs)
            r = c.getresponse()
            data = r.read(PROXY_MAX_BODY + 1)
        except (socket.timeout, TimeoutError):
            raise _unavailable("net/http: timeout awaiting response headers")
        except (OSError, http.client.HTTPException) as e:
            raise _unavailable("%s %s: %s" % (method, target, e))
        if len(data) > PROXY_MAX_BODY:
            raise _unavailable("answer of the Pod larger than kubesim's bound (%d bytes)"
                               % PROXY_MAX_BODY)
        h.sim.stats.add("proxy_requests")
        h.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in _HOP_BY_HOP:
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_with_body(data)
    finally:
        c.close()


def proxy_route_key(method):
    """The RBAC verb of a connect request to pods/proxy (RequestInfo's mapping)."""
    return {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update",
            "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())

