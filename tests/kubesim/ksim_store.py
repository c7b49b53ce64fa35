"""Object store for kubesim: objects, the global resourceVersion counter, bounded event
history, watcher fan-out, label/field selectors and continue tokens."""
import base64
import collections
import copy
import datetime
import json
import queue
import random
import re
import threading
import time
import uuid

RESOURCES = {"pods": ("Pod", "PodList"), "secrets": ("Secret", "SecretList")}
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


_TS_CACHE = [0, ""]


def now_rfc3339():
    """UTC RFC 3339 with second precision (cached per second: strftime is slow)."""
    t = int(time.time())
    cached = _TS_CACHE
    if cached[0] != t:
        cached = [t, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))]
        _TS_CACHE[:] = cached
    return cached[1]


def parse_rfc3339(s):
    try:
        return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except Exception:
        return time.time()


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details, self.headers = details, headers or {}

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            s["details"] = self.details
        return s


def not_found(res, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (res, name),
                    {"name": name, "kind": res})


def already_exists(res, name, terminating=False):
    msg = '%s "%s" already exists' % (res, name)
    if terminating:
        msg = "object is being deleted: " + msg
    return ApiError(409, "AlreadyExists", msg, {"name": name, "kind": res})


def conflict(res, name, msg):
    return ApiError(409, "Conflict", msg, {"name": name, "kind": res})


def bad_request(msg):
    return ApiError(400, "BadRequest", msg)


# ---------------------------------------------------------------- selectors
_LS_TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s=!(),]+)")
_IDENT_OK = re.compile(r"^[A-Za-z0-9_./-]+$")


def parse_label_selector(s):
    """Parse a label selector into [(key, op, values)]; op in = != in notin exists !exists."""
    if s is None or s.strip() == "":
        return []
    toks, pos = [], 0
    while pos < len(s):
        m = _LS_TOKEN.match(s, pos)
        if not m:
            break
        if m.group(1):
            toks.append(m.group(1))
        pos = m.end()
        if s[pos:].strip() == "":
            break
    reqs, i, n = [], 0, len(toks)

    def err(msg):
        return bad_request("unable to parse requirement: " + msg)

    while i < n:
        if toks[i] == "!":
            if i + 1 >= n or not _IDENT_OK.match(toks[i + 1]):
                raise err("invalid label selector %r" % s)
            reqs.append((toks[i + 1], "!exists", []))
            i += 2
        else:
            key = toks[i]
            if not _IDENT_OK.match(key):
                raise err("found '%s', expected: identifier" % key)
            i += 1
            if i >= n or toks[i] == ",":
                reqs.append((key, "exists", []))
            elif toks[i] in ("=", "==", "!="):
                op = "!=" if toks[i] == "!=" else "="
                i += 1
                val = ""
                if i < n and toks[i] not in (",", "(", ")", "=", "==", "!=", "!"):
                    val = toks[i]
                    i += 1
                reqs.append((key, op, [val]))
            elif toks[i] in ("in", "notin"):
                op = toks[i]
                i += 1
                if i >= n or toks[i] != "(":
                    raise err("found '%s', expected: '('" % (toks[i] if i < n else ""))
                i += 1
                vals = []
                while i < n and toks[i] != ")":
                    if toks[i] != ",":
                        vals.append(toks[i])
                    i += 1
                if i >= n:
                    raise err("found '', expected: ')'")
                i += 1
                reqs.append((key, op, vals))
            else:
                raise err("found '%s', expected: in, notin, =, ==, !=, gt, lt" % toks[i])
        if i < n:
            if toks[i] != ",":
                raise err("found '%s', expected: ','" % toks[i])
            i += 1
    return reqs


def label_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
        if op == "=" and (not has or v != vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and (not has or v not in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
    return True


POD_FIELDS = {
    "metadata.name": lambda o: o["metadata"].get("name", ""),
    "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
    "status.phase": lambda o: (o.get("status") or {}).get("phase", ""),
    "spec.nodeName": lambda o: (o.get("spec") or {}).get("nodeName", ""),
    "spec.restartPolicy": lambda o: (o.get("spec") or {}).get("restartPolicy", ""),
    "spec.schedulerName": lambda o: (o.get("spec") or {}).get("schedulerName", ""),
    "spec.serviceAccountName": lambda o: (o.get("spec") or {}).get("serviceAccountName", ""),
    "status.podIP": lambda o: (o.get("status") or {}).get("podIP", ""),
    "status.nominatedNodeName": lambda o: (o.get("status") or {}).get("nominatedNodeName", ""),
}
SECRET_FIELDS = {
    "metadata.name": POD_FIELDS["metadata.name"],
    "metadata.namespace": POD_FIELDS["metadata.namespace"],
    "type": lambda o: o.get("type", ""),
}
FIELDS = {"pods": POD_FIELDS, "secrets": SECRET_FIELDS}


def parse_field_selector(res, s):
    if s is None or s.strip() == "":
        return []
    out = []
    for part in s.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", part)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (s, part))
        key, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        if key not in FIELDS[res]:
            raise bad_request('field label not supported: %s' % key)
        out.append((key, "!=" if op == "!=" else "=", val))
    return out


def field_match(res, reqs, obj):
    for key, op, val in reqs:
        v = FIELDS[res][key](obj)
        if (op == "=") != (v == val):
            return False
    return True


# ---------------------------------------------------------------- store
class Watcher:
    def __init__(self, res, ns):
        self.res, self.ns = res, ns
        self.q = queue.SimpleQueue()


class Store:
    """All objects live here. Stored objects are never mutated in place: every change
    makes a new dict, so references handed out (history, watch queues) stay valid."""

    def __init__(self, history=1000, continue_ttl=300.0):
        self.lock = threading.RLock()
        self.rv = 0
        self.objs = {r: {} for r in RESOURCES}
        self.history = collections.deque()
        self.history_max = max(1, history)
        self.compacted_rv = 0
        self.watchers = set()
        self.continue_ttl = continue_ttl
        self.hooks = []  # callables (event_type, res, obj, old) called outside the lock

    # -- events
    def _emit(self, res, typ, obj, old):
        rv = int(obj["metadata"]["resourceVersion"])
        self.history.append((rv, res, typ, obj, old))
        while len(self.history) > self.history_max:
            ev = self.history.popleft()
            self.compacted_rv = max(self.compacted_rv, ev[0])
        for w in list(self.watchers):
            if w.res == res and (w.ns is None or w.ns == obj["metadata"].get("namespace")):
                w.q.put((rv, typ, obj, old))

    def _run_hooks(self, evs):
        for ev in evs:
            for h in self.hooks:
                h(*ev)

    def compact(self):
        with self.lock:
            self.history.clear()
            self.compacted_rv = self.rv

    def _bump(self, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def current_rv(self):
        with self.lock:
            return str(self.rv)

    # -- reads
    def get(self, res, ns, name):
        with self.lock:
            o = self.objs[res].get((ns, name))
        if o is None:
            raise not_found(res, name)
        return o

    def find(self, res, ns, name):
        with self.lock:
            return self.objs[res].get((ns, name))

    def list(self, res, ns, lsel, fsel, limit=0, cont=None):
        """Returns (items, list_rv, continue_token, remaining)."""
        with self.lock:
            start, list_rv = None, self.rv
            if cont:
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont.encode()).decode())
                    start, list_rv, issued = tuple(tok["s"]), int(tok["rv"]), float(tok["t"])
                except Exception:
                    raise bad_request("continue key is not valid: incorrect encoded start "
                                      "resourceVersion (version meta.k8s.io/v1)")
                if (time.monotonic() - issued > self.continue_ttl
                        or list_rv < self.compacted_rv):
                    raise ApiError(410, "Expired",
                                   "The provided continue parameter is too old to display a "
                                   "consistent list result. You can start a new list without "
                                   "the continue parameter, or use the continue token in this "
                                   "response to retrieve the remainder of the results. "
                                   "Continuing with the provided token results in an "
                                   "inconsistent list - objects that were created, modified, "
                                   "or deleted between the time the first chunk was returned "
                                   "and now may show up in the list.")
            keys = sorted(k for k in self.objs[res] if ns is None or k[0] == ns)
            if start is not None:
                keys = [k for k in keys if k > start]
            items = []
            token, remaining = None, None
            matched_after = 0
            for idx, k in enumerate(keys):
                o = self.objs[res][k]
                if not label_match(lsel, o["metadata"].get("labels")) or \
                        not field_match(res, fsel, o):
                    continue
                if limit and len(items) >= limit:
                    matched_after = sum(
                        1 for k2 in keys[idx:]
                        if label_match(lsel, self.objs[res][k2]["metadata"].get("labels"))
                        and field_match(res, fsel, self.objs[res][k2]))
                    last = items[-1]["metadata"]
                    token = base64.urlsafe_b64encode(json.dumps(
                        {"rv": list_rv, "s": [last["namespace"], last["name"]],
                         "t": time.monotonic()}).encode()).decode()
                    remaining = matched_after
                    break
                items.append(o)
            return items, str(list_rv if cont else self.rv), token, remaining

    def counts(self):
        with self.lock:
            out = {}
            for res, objs in self.objs.items():
                per = {}
                for (ns, _n) in objs:
                    per[ns] = per.get(ns, 0) + 1
                out[res] = per
            return out

    # -- writes
    def create(self, res, ns, obj, exists_check=True):
        with self.lock:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                for _ in range(20):
                    cand = meta["generateName"] + "".join(
                        random.choice(NAME_CHARS) for _ in range(5))
                    if (ns, cand) not in self.objs[res]:
                        break
                meta["name"] = cand
            name = meta["name"]
            old = self.objs[res].get((ns, name))
            if old is not None:
                raise already_exists(res, name, bool(old["metadata"].get("deletionTimestamp")))
            meta["namespace"] = ns
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
                meta.pop(k, None)
            self._bump(obj)
            self.objs[res][(ns, name)] = obj
            self._emit(res, "ADDED", obj, None)
        self._run_hooks([("ADDED", res, obj, None)])
        return obj

    def replace(self, res, new, old_expected=None):
        """Store new (same ns/name) as a MODIFIED event; returns it or None if gone or the
        uid changed (when old_expected uid given)."""
        meta = new["metadata"]
        key = (meta["namespace"], meta["name"])
        with self.lock:
            cur = self.objs[res].get(key)
            if cur is None or (old_expected is not None and
                               cur["metadata"]["uid"] != old_expected):
                return None
            self._bump(new)
            self.objs[res][key] = new
            self._emit(res, "MODIFIED", new, cur)
        self._run_hooks([("MODIFIED", res, new, cur)])
        return new

    def mutate(self, res, ns, name, fn, uid=None):
        """Apply fn(copy) under the lock and store the result. fn returns False to skip."""
        with self.lock:
            cur = self.objs[res].get((ns, name))
            if cur is None or (uid is not None and cur["metadata"]["uid"] != uid):
                return None
            new = copy.deepcopy(cur)
            if fn(new) is False:
                return cur
            self._bump(new)
            self.objs[res][(ns, name)] = new
            self._emit(res, "MODIFIED", new, cur)
        self._run_hooks([("MODIFIED", res, new, cur)])
        return new

    def remove(self, res, ns, name, uid=None):
        with self.lock:
            cur = self.objs[res].get((ns, name))
            if cur is None or (uid is not None and cur["metadata"]["uid"] != uid):
                return None
            new = dict(cur)  # stored objects are immutable: a shallow copy is enough
            new["metadata"] = dict(cur["metadata"])
            self._bump(new)
            del self.objs[res][(ns, name)]
            self._emit(res, "DELETED", new, cur)
        self._run_hooks([("DELETED", res, new, cur)])
        return new

    # -- watch registration
    def watch_open(self, res, ns, rv):
        """Register a watcher; returns (watcher, initial_events) or raises ApiError 410
        (caller turns it into an ERROR event). rv None/''/'0' -> synthetic ADDED."""
        w = Watcher(res, ns)
        with self.lock:
            init = []
            if rv in (None, "", "0"):
                for k in sorted(self.objs[res]):
                    if ns is None or k[0] == ns:
                        o = self.objs[res][k]
                        init.append((int(o["metadata"]["resourceVersion"]), "ADDED", o, None))
            else:
                try:
                    r = int(rv)
                except ValueError:
                    raise bad_request('invalid resource version: %s' % rv)
                if r < self.compacted_rv:
                    raise ApiError(410, "Expired", "too old resource version: %d (%d)"
                                   % (r, self.compacted_rv + 1))
                for (erv, eres, typ, o, old) in self.history:
                    if erv > r and eres == res and (ns is None or
                                                   o["metadata"].get("namespace") == ns):
                        init.append((erv, typ, o, old))
            self.watchers.add(w)
        return w, init

    def watch_close(self, w):
        with self.lock:
            self.watchers.discard(w)

    def watcher_idle_rv(self, w):
        """Current rv if w has nothing pending (for bookmarks), else None."""
        with self.lock:
            return str(self.rv) if w.q.empty() else None
