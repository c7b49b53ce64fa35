"""Object store for kubesim: objects, the global resourceVersion counter, bounded event
history, watcher fan-out, label/field selectors and continue tokens."""
import base64
import collections
import datetime
import json
import queue
import random
import re
import threading
import time
import uuid

RESOURCES = {"pods": ("Pod", "PodList"), "secrets": ("Secret", "SecretList"),
             "leases": ("Lease", "LeaseList")}
# API group of each resource ("" = core); apiVersion of its objects and lists.
GROUPS = {"pods": "", "secrets": "", "leases": "coordination.k8s.io"}
API_VERSIONS = {r: (g + "/v1" if g else "v1") for r, g in GROUPS.items()}


def qualified(res):
    """The resource as kube-apiserver names it in messages: `pods`,
    `leases.coordination.k8s.io`."""
    g = GROUPS.get(res, "")
    return "%s.%s" % (res, g) if g else res


def _details(res, name):
    d = {"name": name}
    if GROUPS.get(res):
        d["group"] = GROUPS[res]
    d["kind"] = res
    return d
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
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(res), name),
                    _details(res, name))


def already_exists(res, name, terminating=False):
    msg = '%s "%s" already exists' % (qualified(res), name)
    if terminating:
        msg = "object is being deleted: " + msg
    return ApiError(409, "AlreadyExists", msg, _details(res, name))


def conflict(res, name, msg):
    return ApiError(409, "Conflict", msg, _details(res, name))


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


_MISSING = object()


def _label_check(key, op, vals):
    """One requirement as a predicate on a labels dict (never None)."""
    if op == "exists":
        return lambda lb: key in lb
    if op == "!exists":
        return lambda lb: key not in lb
    if op == "=":
        v0 = vals[0]
        return lambda lb: lb.get(key, _MISSING) == v0
    if op == "!=":
        v0 = vals[0]
        return lambda lb: lb.get(key, _MISSING) != v0
    sv = frozenset(vals)
    if op == "in":
        return lambda lb: lb.get(key, _MISSING) in sv
    return lambda lb: lb.get(key, _MISSING) not in sv  # notin


def compile_selector(res, lsel, fsel):
    """(label reqs, field reqs) -> predicate obj -> bool, or None when it matches all.
    Same semantics as label_match + field_match, without re-interpreting the
    requirements for every object (lists and watches test thousands)."""
    if not lsel and not fsel:
        return None
    lchecks = [_label_check(k, op, vals) for k, op, vals in lsel]
    fchecks = [(FIELDS[res][k], op == "=", val) for k, op, val in fsel]
    empty = {}

    def match(o):
        if lchecks:
            lb = o["metadata"].get("labels") or empty
            for c in lchecks:
                if not c(lb):
                    return False
        for getter, eq, val in fchecks:
            if (getter(o) == val) != eq:
                return False
        return True
    return match


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
LEASE_FIELDS = {
    "metadata.name": POD_FIELDS["metadata.name"],
    "metadata.namespace": POD_FIELDS["metadata.namespace"],
}
FIELDS = {"pods": POD_FIELDS, "secrets": SECRET_FIELDS, "leases": LEASE_FIELDS}


def _split_field_terms(s):
    """Terms split at commas not escaped with a backslash (apimachinery's splitTerms)."""
    terms, start, in_slash = [], 0, False
    for i, c in enumerate(s):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _unescape_field_value(v):
    r"""apimachinery's fields.UnescapeValue: \\ \, \= only; bare , or = refused."""
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\":
            if i + 1 >= len(v) or v[i + 1] not in "\\,=":
                raise bad_request("invalid field selector: invalid escape sequence in value "
                                  "'%s'" % v)
            out.append(v[i + 1])
            i += 2
            continue
        if c in ",=":
            raise bad_request("invalid field selector: unescaped reserved character '%s' in "
                              "value '%s'" % (c, v))
        out.append(c)
        i += 1
    return "".join(out)


def parse_field_selector(res, s):
    """A field selector parsed as kube-apiserver does (fields.ParseSelector, then the
    resource's field label conversion): terms split at unescaped commas, operators
    != == = (first found), no whitespace trimming, values unescaped, and only the
    fields the resource supports (400 "field label not supported" otherwise)."""
    if s is None or s == "":
        return []
    out = []
    for part in _split_field_terms(s):
        if part == "":
            continue
        for i in range(len(part)):
            op = next((o for o in ("!=", "==", "=") if part.startswith(o, i)), None)
            if op is not None:
                key, val = part[:i], part[i + len(op):]
                break
        else:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (s, part))
        val = _unescape_field_value(val)
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


# ---------------------------------------------------------------- encoding
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_KEY_BYTES = {}


class SObj(dict):
    """A stored object: a dict that is never mutated once stored, with its compact JSON
    encoding cached (computed once, shared by every watch stream, list, get and
    deletecollection answer that sends it). `_rvspan` is where the quoted
    metadata.resourceVersion sits in that encoding, so the DELETED version of an object
    (the same object with the next resourceVersion) is encoded by splicing, not by
    serializing it again. Copies (copy.deepcopy, jclone, dict()) are plain dicts without
    the caches."""
    __slots__ = ("_enc", "_rvspan", "_spans", "_base", "_mdspan")

    def __deepcopy__(self, memo):
        return jclone(self)

    def __copy__(self):
        return dict(self)

    def __reduce_ex__(self, proto):
        return (dict, (dict(self),))


def _sobj(d, base=None):
    """d as a stored object. base: the stored version d was derived from by
    Store.mutate; top-level values d shares with it (by identity) are not encoded
    again, their bytes are sliced from base's encoding."""
    o = SObj(d)
    o._enc = None
    o._rvspan = None
    o._spans = None
    o._base = base
    o._mdspan = None
    return o


def _key_bytes(k):
    b = _KEY_BYTES.get(k)
    if b is None:
        b = _ENCODER.encode(k).encode() + b":"
        if len(_KEY_BYTES) < 4096:
            _KEY_BYTES[k] = b
    return b


def _encode_keyed(d, pos, want):
    """Encode dict d key by key (same bytes as the encoder). Returns (bytes, span of the
    value of key `want` as absolute offsets when the result starts at pos, or None)."""
    chunks, span = [], None
    p = pos + 1
    for k, v in d.items():
        if chunks:
            p += 1
        kb = _key_bytes(k)
        vb = _ENCODER.encode(v).encode()
        if k == want:
            span = (p + len(kb), p + len(kb) + len(vb))
        chunks.append(kb + vb)
        p += len(kb) + len(vb)
    return b"{" + b",".join(chunks) + b"}", span


def encode(obj):
    """Compact JSON bytes of obj (no newline), identical to
    json.dumps(obj, separators=(",", ":")).encode(); cached for stored objects.
    Races are benign: two threads may both compute the same bytes."""
    if type(obj) is not SObj:
        return _ENCODER.encode(obj).encode()
    e = obj._enc
    if e is not None:
        return e
    base = obj._base
    reuse = base._spans if base is not None and base._enc is not None else None
    chunks, span, spans = [], None, {}
    p = 1
    for k, v in obj.items():
        if chunks:
            p += 1
        kb = _key_bytes(k)
        if k == "metadata" and type(v) is dict and span is None:
            vb, span = _encode_keyed(v, p + len(kb), "resourceVersion")
            obj._mdspan = (p + len(kb), p + len(kb) + len(vb))
        elif reuse is not None and k in reuse and base.get(k) is v:
            a, b = reuse[k]
            vb = base._enc[a:b]
        else:
            vb = _ENCODER.encode(v).encode()
        if k == "spec" or k == "status":
            spans[k] = (p + len(kb), p + len(kb) + len(vb))
        chunks.append(kb + vb)
        p += len(kb) + len(vb)
    e = b"{" + b",".join(chunks) + b"}"
    obj._rvspan = span
    obj._spans = spans or None
    obj._enc = e
    obj._base = None  # no chain of old versions kept alive
    return e


def metadata_bytes(obj):
    """Compact JSON of obj["metadata"], sliced from obj's cached encoding when it has one."""
    if type(obj) is SObj:
        e = encode(obj)
        md = obj._mdspan
        if md is not None:
            return e[md[0]:md[1]]
    return _ENCODER.encode(obj["metadata"]).encode()


def jclone(o):
    """Deep copy of JSON-shaped data (dicts, lists, scalars) into plain dicts/lists;
    several times faster than copy.deepcopy (no memo, no reduce protocol)."""
    if isinstance(o, dict):
        return {k: (jclone(v) if isinstance(v, (dict, list)) else v) for k, v in o.items()}
    if isinstance(o, list):
        return [jclone(v) if isinstance(v, (dict, list)) else v for v in o]
    return o


# ---------------------------------------------------------------- store
# Put on a watcher's queue (instead of a list of events) to end its stream now.
CUT_WATCH = object()


class Watcher:
    """A watch stream's registration. Its queue carries lists of events
    (rv, type, obj, old): every change made under one store lock acquisition arrives
    as one item, so a stream can write a burst in one go; CUT_WATCH ends the stream."""

    def __init__(self, res, ns):
        self.res, self.ns = res, ns
        self.q = queue.SimpleQueue()


class Store:
    """All objects live here. Stored objects are never mutated in place: every change
    makes a new dict, so references handed out (history, watch queues) stay valid and
    their cached encodings (SObj) stay right.

    objs[res] maps (ns, name) -> object; by_ns[res][ns] maps name -> object (the same
    objects), so namespaced lists and deletecollections do not scan other namespaces."""

    def __init__(self, history=1000, continue_ttl=300.0, first_rv=0):
        self.lock = threading.RLock()
        self.rv = first_rv
        self.objs = {r: {} for r in RESOURCES}
        self.by_ns = {r: {} for r in RESOURCES}
        self.history = collections.deque()
        self.history_max = max(1, history)
        self.compacted_rv = 0
        self.watchers = set()
        self.continue_ttl = continue_ttl
        # callables (event_type, res, obj, old) called outside the lock; one with a
        # `many(event_type, res, [(obj, old)])` attribute gets batches that way
        self.hooks = []

    # -- index
    def _put(self, res, ns, name, obj):
        self.objs[res][(ns, name)] = obj
        per = self.by_ns[res].get(ns)
        if per is None:
            per = self.by_ns[res][ns] = {}
        per[name] = obj

    def _drop(self, res, ns, name):
        del self.objs[res][(ns, name)]
        per = self.by_ns[res].get(ns)
        if per is not None:
            per.pop(name, None)
            if not per:
                del self.by_ns[res][ns]

    # -- events
    def _emit(self, res, typ, obj, old):
        self._emit_batch(res, [(int(obj["metadata"]["resourceVersion"]), typ, obj, old)])

    def _emit_batch(self, res, evs):
        """evs: [(rv, type, obj, old)] of one resource, rv ascending. Under the lock."""
        if not evs:
            return
        hist = self.history
        if len(evs) >= self.history_max:
            if hist:
                self.compacted_rv = max(self.compacted_rv, hist[-1][0])
            hist.clear()
            keep = evs[len(evs) - self.history_max:]
            if len(evs) > len(keep):
                self.compacted_rv = max(self.compacted_rv, evs[len(evs) - len(keep) - 1][0])
            hist.extend((rv, res, typ, o, old) for rv, typ, o, old in keep)
        else:
            hist.extend((rv, res, typ, o, old) for rv, typ, o, old in evs)
            drop = len(hist) - self.history_max
            last = None
            for _ in range(max(0, drop)):
                last = hist.popleft()
            if last is not None:
                self.compacted_rv = max(self.compacted_rv, last[0])
        if not self.watchers:
            return
        per_ns = None
        for w in self.watchers:
            if w.res != res:
                continue
            if w.ns is None:
                w.q.put(evs)
                continue
            if per_ns is None:
                per_ns = {}
                for ev in evs:
                    per_ns.setdefault(ev[2]["metadata"].get("namespace"), []).append(ev)
            sel = per_ns.get(w.ns)
            if sel:
                w.q.put(sel)

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

    def _keys(self, res, ns):
        """Sorted (ns, name) keys of res in ns (None = all namespaces). Under the lock."""
        if ns is None:
            return sorted(self.objs[res])
        return [(ns, n) for n in sorted(self.by_ns[res].get(ns, ()))]

    def list(self, res, ns, lsel, fsel, limit=0, cont=None):
        """Returns (items, list_rv, continue_token, remaining)."""
        match = compile_selector(res, lsel, fsel)
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
            keys = self._keys(res, ns)
            if start is not None:
                keys = [k for k in keys if k > start]
            objs = self.objs[res]
            if match is None:
                cands = [objs[k] for k in keys]
            else:
                cands = [o for o in (objs[k] for k in keys) if match(o)]
            token, remaining = None, None
            if limit and len(cands) > limit:
                items = cands[:limit]
                last = items[-1]["metadata"]
                token = base64.urlsafe_b64encode(json.dumps(
                    {"rv": list_rv, "s": [last["namespace"], last["name"]],
                     "t": time.monotonic()}).encode()).decode()
                remaining = len(cands) - limit
            else:
                items = cands
            return items, str(list_rv if cont else self.rv), token, remaining

    def counts(self):
        with self.lock:
            return {res: {ns: len(per) for ns, per in by.items()}
                    for res, by in self.by_ns.items()}

    # -- writes
    def create(self, res, ns, obj, exists_check=True, created=None):
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
            meta["creationTimestamp"] = created or now_rfc3339()
            for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
                meta.pop(k, None)
            self._bump(obj)
            obj = _sobj(obj)
            encode(obj)  # stored serialized, as etcd holds it: every reader reuses it
            self._put(res, ns, name, obj)
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
            new = _sobj(new)
            self._put(res, key[0], key[1], new)
            self._emit(res, "MODIFIED", new, cur)
        self._run_hooks([("MODIFIED", res, new, cur)])
        return new

    def mutate(self, res, ns, name, fn, uid=None, parts=None):
        """Apply fn(copy) under the lock and store the result. fn returns False to skip.
        parts: the top-level keys fn may change (e.g. ("status",)); only those are deep
        copied, the others are shared with the stored version (never mutated) and keep
        their encoding. None = fn may change anything (everything is copied)."""
        with self.lock:
            cur = self.objs[res].get((ns, name))
            if cur is None or (uid is not None and cur["metadata"]["uid"] != uid):
                return None
            if parts is None:
                new, base = jclone(cur), None
            else:
                new, base = dict(cur), cur
                new["metadata"] = dict(cur["metadata"])  # the new resourceVersion
                for k in parts:
                    if k in cur:
                        new[k] = jclone(cur[k])
            if fn(new) is False:
                return cur
            self._bump(new)
            new = _sobj(new, base)
            encode(new)  # as create(): stored serialized; drops the link to base
            self._put(res, ns, name, new)
            self._emit(res, "MODIFIED", new, cur)
        self._run_hooks([("MODIFIED", res, new, cur)])
        return new

    def _removed_copy(self, cur):
        """The DELETED version of cur: a new metadata dict with the next resourceVersion,
        every other top-level value shared; its encoding is cur's with the new
        resourceVersion spliced in."""
        new = _sobj(cur)
        new["metadata"] = dict(cur["metadata"])
        self._bump(new)
        if type(cur) is SObj and cur._enc is not None and cur._rvspan is not None \
                and type(cur["metadata"].get("resourceVersion")) is str:
            s, t = cur._rvspan
            rvb = b'"%d"' % self.rv
            new._enc = cur._enc[:s] + rvb + cur._enc[t:]
            new._rvspan = (s, s + len(rvb))
            if cur._mdspan is not None:  # the resourceVersion is inside the metadata
                new._mdspan = (cur._mdspan[0], cur._mdspan[1] + len(rvb) - (t - s))
        return new

    def remove(self, res, ns, name, uid=None):
        with self.lock:
            cur = self.objs[res].get((ns, name))
            if cur is None or (uid is not None and cur["metadata"]["uid"] != uid):
                return None
            new = self._removed_copy(cur)
            self._drop(res, ns, name)
            self._emit(res, "DELETED", new, cur)
        self._run_hooks([("DELETED", res, new, cur)])
        return new

    def remove_many(self, res, objs):
        """Remove each of objs (stored objects, e.g. from list()) that is still stored
        with the same uid, in order, under one lock acquisition: one DELETED event and
        one resourceVersion per object, delivered to watchers as one batch. Returns the
        DELETED versions (objects already gone are skipped)."""
        out, evs = [], []
        with self.lock:
            table = self.objs[res]
            for cur in objs:
                m = cur["metadata"]
                ns, name = m["namespace"], m["name"]
                now = table.get((ns, name))
                if now is None or now["metadata"]["uid"] != m["uid"]:
                    continue
                new = self._removed_copy(now)
                self._drop(res, ns, name)
                out.append(new)
                evs.append((self.rv, "DELETED", new, now))
            self._emit_batch(res, evs)
        for h in self.hooks:
            many = getattr(h, "many", None)
            if many is not None:
                many("DELETED", res, [(new, cur) for _rv, _t, new, cur in evs])
            else:
                for _rv, _t, new, cur in evs:
                    h("DELETED", res, new, cur)
        return out

    # -- watch registration
    def watch_open(self, res, ns, rv):
        """Register a watcher; returns (watcher, initial_events) or raises ApiError 410
        (caller turns it into an ERROR event). rv None/''/'0' -> synthetic ADDED."""
        w = Watcher(res, ns)
        with self.lock:
            init = []
            if rv in (None, "", "0"):
                objs = self.objs[res]
                for k in self._keys(res, ns):
                    o = objs[k]
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

    def cut_watches(self):
        """End every open watch stream (as a lost connection would); returns how many."""
        with self.lock:
            for w in self.watchers:
                w.q.put(CUT_WATCH)
            return len(self.watchers)

    def watch_close(self, w):
        with self.lock:
            self.watchers.discard(w)

    def watcher_idle_rv(self, w):
        """Current rv if w has nothing pending (for bookmarks), else None."""
        with self.lock:
            return str(self.rv) if w.q.empty() else None
