"""Minimal decoder for Kubernetes protobuf request bodies (k8s\\0 envelope).
kubectl >= 1.32 sends typed objects (e.g. `kubectl create secret`) as protobuf; kubesim
decodes Secret and the ObjectMeta inside it into the JSON shape. Pods are not decoded."""
import base64

MAGIC = b"k8s\x00"


def _varint(b, i):
    shift = result = 0
    for _ in range(10):
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, i
        shift += 7
    raise ValueError("varint too long")


def fields(b):
    """Parse one message into {field_number: [values]}; bytes for length-delimited."""
    out, i, n = {}, 0, len(b)
    for _ in range(1 << 20):
        if i >= n:
            break
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            ln, i = _varint(b, i)
            v = b[i:i + ln]
            if len(v) != ln:
                raise ValueError("truncated field")
            i += ln
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        elif wt == 5:
            v = b[i:i + 4]
            i += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def _s(f, k):
    return f[k][-1].decode("utf-8") if k in f else None


def _map(f, k, as_bytes=False):
    out = {}
    for entry in f.get(k, []):
        e = fields(entry)
        key = e.get(1, [b""])[-1].decode("utf-8")
        val = e.get(2, [b""])[-1]
        out[key] = base64.b64encode(val).decode() if as_bytes else val.decode("utf-8")
    return out


def object_meta(b):
    f = fields(b)
    m = {}
    for num, key in ((1, "name"), (2, "generateName"), (3, "namespace"), (5, "uid"),
                     (6, "resourceVersion")):
        v = _s(f, num)
        if v:
            m[key] = v
    if 11 in f:
        m["labels"] = _map(f, 11)
    if 12 in f:
        m["annotations"] = _map(f, 12)
    if 14 in f:
        m["finalizers"] = [x.decode() for x in f[14]]
    return m


def decode(body, expect_kind):
    """Decode a protobuf envelope into a JSON-shaped dict. Raises ValueError."""
    if not body.startswith(MAGIC):
        raise ValueError("missing k8s protobuf magic")
    env = fields(body[4:])
    tm = fields(env.get(1, [b""])[-1])
    api_version, kind = _s(tm, 1) or "v1", _s(tm, 2) or expect_kind
    raw = env.get(2, [b""])[-1]
    if kind != "Secret":
        raise ValueError("kubesim decodes only Secret from protobuf, got %s" % kind)
    f = fields(raw)
    obj = {"apiVersion": api_version, "kind": kind,
           "metadata": object_meta(f[1][-1]) if 1 in f else {}}
    if 2 in f:
        obj["data"] = _map(f, 2, as_bytes=True)
    if 3 in f:
        obj["type"] = _s(f, 3)
    if 4 in f:
        obj["stringData"] = _map(f, 4)
    if 5 in f:
        obj["immutable"] = bool(f[5][-1])
    return obj


# ---------------------------------------------------------------- encoding (openapi v2)
def _enc_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ld(num, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return _enc_varint(num << 3 | 2) + _enc_varint(len(payload)) + payload


def openapi_v2_pb(kinds):
    """A gnostic openapi_v2.Document (protobuf) holding, per (resource, kind), a PATCH
    operation with the x-kubernetes-group-version-kind extension and the fieldValidation
    query parameter: what kubectl <= 1.29 checks before using server-side validation."""
    paths = b""
    for res, kind in kinds:
        params = b""
        for pname in ("dryRun", "fieldManager", "fieldValidation", "force"):
            q = _ld(2, "query") + _ld(4, pname) + _ld(6, "string")
            nonbody = _ld(3, q)
            parameter = _ld(2, nonbody)
            params += _ld(8, _ld(1, parameter))
        ext_yaml = 'group: ""\nkind: %s\nversion: v1\n' % kind
        ext = _ld(13, _ld(1, "x-kubernetes-group-version-kind") + _ld(2, _ld(2, ext_yaml)))
        op = _ld(5, "patchCoreV1Namespaced%s" % kind) + params + ext
        item = _ld(8, op)
        paths += _ld(2, _ld(1, "/api/v1/namespaces/{namespace}/%s/{name}" % res) + _ld(2, item))
    return _ld(1, "2.0") + _ld(2, _ld(1, "Kubernetes") + _ld(2, "v1.32.0")) + _ld(8, paths)
