"""Validation of Pods, Secrets and Leases the way kube-apiserver words it, plus
unknown-field detection for fieldValidation (Strict/Warn/Ignore)."""
import base64
import calendar
import datetime
import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
QUANTITY = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")

MSG_DNS_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                     "characters, '-' or '.', and must start and end with an alphanumeric "
                     "character (e.g. 'example.com', regex used for validation is "
                     "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
MSG_DNS_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                 "characters or '-', and must start and end with an alphanumeric character "
                 "(e.g. 'my-name',  or '123-abc', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
MSG_QUALIFIED = ("name part must consist of alphanumeric characters, '-', '_' or '.', and "
                 "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                 "'my.name',  or '123-abc', regex used for validation is "
                 "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
MSG_LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric "
                   "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                   "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
                   "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
MSG_ENV = ("a valid environment variable name must consist of alphabetic characters, "
           "digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  "
           "or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is "
           "'[-._a-zA-Z][-._a-zA-Z0-9]*')")
MSG_QUANTITY = "must match the regex " + QUANTITY.pattern


def _fmt(v):
    if isinstance(v, str):
        return '"%s"' % v
    if v is None:
        return "null"
    return str(v)


class Causes:
    def __init__(self):
        self.items = []

    def invalid(self, field, value, detail):
        self.items.append({"reason": "FieldValueInvalid",
                           "message": "Invalid value: %s: %s" % (_fmt(value), detail),
                           "field": field})

    def required(self, field, detail=""):
        self.items.append({"reason": "FieldValueRequired",
                           "message": "Required value" + (": " + detail if detail else ""),
                           "field": field})

    def duplicate(self, field, value):
        self.items.append({"reason": "FieldValueDuplicate",
                           "message": "Duplicate value: %s" % _fmt(value), "field": field})

    def unsupported(self, field, value, allowed):
        self.items.append({"reason": "FieldValueNotSupported",
                           "message": "Unsupported value: %s: supported values: %s"
                                      % (_fmt(value), ", ".join('"%s"' % a for a in allowed)),
                           "field": field})

    def not_found(self, field, value):
        self.items.append({"reason": "FieldValueNotFound",
                           "message": "Not found: %s" % _fmt(value), "field": field})

    def forbidden(self, field, detail):
        self.items.append({"reason": "FieldValueForbidden", "message": "Forbidden: " + detail,
                           "field": field})

    def typ(self, field, value, want):
        self.items.append({"reason": "FieldValueTypeInvalid",
                           "message": "Invalid value: %s: must be %s" % (_fmt(value), want),
                           "field": field})


# Volume sources in the order kube-apiserver's validateVolumeSource checks them: a
# second one is refused on its own field.
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret",
    "nfs", "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs",
    "quobyte", "downwardAPI", "fc", "azureFile", "vsphereVolume", "photonPersistentDisk",
    "portworxVolume", "azureDisk", "storageos", "configMap", "scaleIO", "projected", "csi",
    "ephemeral", "image")


def check_dns_label(c, field, value):
    """ValidateDNS1123Label: one cause per rule broken, as IsDNS1123Label lists them."""
    if len(value) > 63:
        c.invalid(field, value, "must be no more than 63 characters")
    if not DNS1123_LABEL.match(value):
        if DNS1123_SUBDOMAIN.match(value):
            c.invalid(field, value, "must not contain dots")
        else:
            c.invalid(field, value, MSG_DNS_LABEL)


def check_qualified_name(c, field, key):
    if not isinstance(key, str) or key == "":
        c.invalid(field, key, "name part must be non-empty")
        return
    name = key
    if "/" in key:
        prefix, name = key.split("/", 1)
        if "/" in name:
            c.invalid(field, key, "a qualified name must consist of alphanumeric characters")
            return
        if not prefix:
            c.invalid(field, key, "prefix part must be non-empty")
        elif len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix):
            c.invalid(field, key, "prefix part " + MSG_DNS_SUBDOMAIN)
    if name == "":
        c.invalid(field, key, "name part must be non-empty")
    elif len(name) > 63:
        c.invalid(field, key, "name part must be no more than 63 characters")
    elif not QUALIFIED_NAME.match(name):
        c.invalid(field, key, MSG_QUALIFIED)


def check_labels(c, field, labels):
    if labels is None:
        return
    if not isinstance(labels, dict):
        c.typ(field, labels, "of type object")
        return
    for k, v in labels.items():
        check_qualified_name(c, field, k)
        if not isinstance(v, str):
            c.typ("%s[%s]" % (field, k), v, "of type string")
        elif len(v) > 63:
            c.invalid("%s[%s]" % (field, k), v, "must be no more than 63 characters")
        elif v and not QUALIFIED_NAME.match(v):
            c.invalid("%s[%s]" % (field, k), v, MSG_LABEL_VALUE)


ANNOTATIONS_MAX = 256 * 1024  # TotalAnnotationSizeLimitB


def check_annotations(c, field, ann):
    if ann is None:
        return
    if not isinstance(ann, dict):
        c.typ(field, ann, "of type object")
        return
    total = 0
    for k, v in ann.items():
        check_qualified_name(c, field, k)
        if not isinstance(v, str):
            c.typ("%s[%s]" % (field, k), v, "of type string")
        else:
            total += len(k) + len(v)
    if total > ANNOTATIONS_MAX:
        c.items.append({"reason": "FieldValueTooLong", "field": field,
                        "message": "Too long: may not be more than %d bytes" % ANNOTATIONS_MAX})


def check_metadata(c, meta, name_required=True):
    name = meta.get("name")
    if not name and not meta.get("generateName"):
        if name_required:
            c.required("metadata.name", "name or generateName is required")
    elif name:
        if not isinstance(name, str):
            c.typ("metadata.name", name, "of type string")
        elif len(name) > 253:
            c.invalid("metadata.name", name, "must be no more than 253 characters")
        elif not DNS1123_SUBDOMAIN.match(name):
            c.invalid("metadata.name", name, MSG_DNS_SUBDOMAIN)
    gn = meta.get("generateName")
    if gn and not name:
        base = gn.rstrip("-.") or "a"
        if not DNS1123_SUBDOMAIN.match(base) or len(gn) > 248:
            c.invalid("metadata.generateName", gn, MSG_DNS_SUBDOMAIN)
    check_labels(c, "metadata.labels", meta.get("labels"))
    check_annotations(c, "metadata.annotations", meta.get("annotations"))


def _check_resources(c, field, res):
    if res is None:
        return
    if not isinstance(res, dict):
        c.typ(field, res, "of type object")
        return
    for part in ("limits", "requests"):
        vals = res.get(part)
        if vals is None:
            continue
        if not isinstance(vals, dict):
            c.typ("%s.%s" % (field, part), vals, "of type object")
            continue
        for rname, q in vals.items():
            f = "%s.%s[%s]" % (field, part, rname)
            if isinstance(q, (int, float)) and not isinstance(q, bool):
                q = str(q)
            if not isinstance(q, str) or not QUANTITY.match(q):
                c.invalid(f, q, MSG_QUANTITY)


def _check_local_descending_path(c, field, path):
    if path.startswith("/"):
        c.invalid(field, path, "must be a relative path")
    if ".." in path.split("/"):
        c.invalid(field, path, "must not contain '..'")


def _check_volume_mounts(c, field, vms, volume_names):
    """ValidateVolumeMounts: every mount names a (valid) volume of the Pod, no mountPath
    twice in one container, subPath(Expr) relative and descending. Note that, as in
    kube-apiserver, subPath causes carry the list's path, not the element's."""
    if vms is None:
        return
    if not isinstance(vms, list):
        c.typ(field, vms, "of type array")
        return
    paths = set()
    for i, vm in enumerate(vms):
        vf = "%s[%d]" % (field, i)
        if not isinstance(vm, dict):
            c.typ(vf, vm, "of type object")
            continue
        vn = vm.get("name") if vm.get("name") is not None else ""
        if not isinstance(vn, str):
            c.typ(vf + ".name", vn, "of type string")
        else:
            if vn == "":
                c.required(vf + ".name")
            if vn not in volume_names:
                c.not_found(vf + ".name", vn)
        mp = vm.get("mountPath") if vm.get("mountPath") is not None else ""
        if not isinstance(mp, str):
            c.typ(vf + ".mountPath", mp, "of type string")
            continue
        if mp == "":
            c.required(vf + ".mountPath")
        if mp in paths:
            c.invalid(vf + ".mountPath", mp, "must be unique")
        paths.add(mp)
        sub, expr = vm.get("subPath") or "", vm.get("subPathExpr") or ""
        if isinstance(sub, str) and sub:
            _check_local_descending_path(c, field + ".subPath", sub)
        if isinstance(expr, str) and expr:
            if sub:
                c.invalid(vf + ".subPathExpr", expr,
                          "subPathExpr and subPath are mutually exclusive")
            _check_local_descending_path(c, field + ".subPathExpr", expr)


def _check_volumes(c, vols):
    """ValidateVolumes: returns the names of the volumes that may be mounted (only
    volumes without errors, as in kube-apiserver)."""
    volume_names = set()
    if not isinstance(vols, list):
        c.typ("spec.volumes", vols, "of type array")
        return volume_names
    for i, v in enumerate(vols):
        f = "spec.volumes[%d]" % i
        if not isinstance(v, dict):
            c.typ(f, v, "of type object")
            continue
        before = len(c.items)
        kinds = [k for k in VOLUME_SOURCES if v.get(k) is not None]
        for k in kinds[1:]:
            c.forbidden("%s.%s" % (f, k), "may not specify more than 1 volume type")
        if not kinds:
            c.required(f, "must specify a volume type")
        vn = v.get("name")
        if not vn:
            c.required(f + ".name")
        elif not isinstance(vn, str):
            c.typ(f + ".name", vn, "of type string")
        else:
            check_dns_label(c, f + ".name", vn)
            if vn in volume_names:
                c.duplicate(f + ".name", vn)
        if len(c.items) == before:
            volume_names.add(vn)
    return volume_names


def _check_container_list(c, field, conts, volume_names, names, skip_empty):
    """Containers of one list; a name already in NAMES (the regular containers' when
    checking init containers) is a duplicate, reported after the container's own causes."""
    for i, ct in enumerate(conts):
        f = "%s[%d]" % (field, i)
        _check_container(c, f, ct, volume_names)
        name = ct.get("name") if isinstance(ct, dict) else None
        name = name if isinstance(name, str) else ""
        if name in names:
            c.duplicate(f + ".name", name)
        elif name or not skip_empty:
            names.add(name)


def _check_container(c, field, ct, volume_names):
    if not isinstance(ct, dict):
        c.typ(field, ct, "of type object")
        return
    name = ct.get("name")
    if not name:
        c.required(field + ".name")
    elif not isinstance(name, str):
        c.typ(field + ".name", name, "of type string")
    else:
        check_dns_label(c, field + ".name", name)
    img = ct.get("image")
    if not img:
        c.required(field + ".image")
    elif not isinstance(img, str):
        c.typ(field + ".image", img, "of type string")
    elif img != img.strip():
        c.invalid(field + ".image", img, "must not have leading or trailing whitespace")
    ipp = ct.get("imagePullPolicy")
    if ipp is not None and ipp not in PULL_POLICIES:
        c.unsupported(field + ".imagePullPolicy", ipp, PULL_POLICIES)
    for key in ("command", "args"):
        v = ct.get(key)
        if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            c.typ("%s.%s" % (field, key), v, "of type array of strings")
    env = ct.get("env")
    if env is not None:
        if not isinstance(env, list):
            c.typ(field + ".env", env, "of type array")
        else:
            for i, e in enumerate(env):
                ef = "%s.env[%d]" % (field, i)
                if not isinstance(e, dict):
                    c.typ(ef, e, "of type object")
                    continue
                en = e.get("name")
                if not en:
                    c.required(ef + ".name")
                elif not isinstance(en, str) or not ENV_NAME.match(en):
                    c.invalid(ef + ".name", en, MSG_ENV)
                vf = e.get("valueFrom")
                if vf is not None:
                    if e.get("value"):
                        c.invalid(ef + ".valueFrom", "",
                                  "may not be specified when `value` is not empty")
                    sources = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef",
                                           "secretKeyRef")
                               if isinstance(vf, dict) and vf.get(k) is not None]
                    if not isinstance(vf, dict) or not sources:
                        c.invalid(ef + ".valueFrom", "", "must specify one of: `fieldRef`, "
                                  "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")
                    elif len(sources) > 1:
                        c.invalid(ef + ".valueFrom", "",
                                  "may not have more than one field specified at a time")
                    else:
                        sk = vf.get("secretKeyRef")
                        if sk is not None:
                            if not isinstance(sk, dict):
                                c.typ(ef + ".valueFrom.secretKeyRef", sk, "of type object")
                            else:
                                if not sk.get("key"):
                                    c.required(ef + ".valueFrom.secretKeyRef.key")
                                elif not SECRET_KEY.match(str(sk["key"])):
                                    c.invalid(ef + ".valueFrom.secretKeyRef.key", sk["key"],
                                              "a valid config key must consist of alphanumeric "
                                              "characters, '-', '_' or '.'")
                                if not sk.get("name"):
                                    c.required(ef + ".valueFrom.secretKeyRef.name")
    _check_resources(c, field + ".resources", ct.get("resources"))
    _check_volume_mounts(c, field + ".volumeMounts", ct.get("volumeMounts"), volume_names)
    ports = ct.get("ports")
    if isinstance(ports, list):
        for i, p in enumerate(ports):
            if isinstance(p, dict):
                cp = p.get("containerPort")
                if not isinstance(cp, int) or isinstance(cp, bool) or not 0 < cp < 65536:
                    if cp is None:
                        c.required("%s.ports[%d].containerPort" % (field, i))
                    else:
                        c.invalid("%s.ports[%d].containerPort" % (field, i), cp,
                                  "must be between 1 and 65535, inclusive")


TOLERATION_OPS = ("Equal", "Exists")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _check_toleration(c, f, t):
    """kube-apiserver's ValidateTolerations, in its order."""
    if not isinstance(t, dict):
        c.typ(f, t, "of type object")
        return
    key, op = t.get("key") or "", t.get("operator") or ""
    value, effect = t.get("value") or "", t.get("effect") or ""
    if key:
        check_qualified_name(c, f + ".key", key)
    if not key and op != "Exists":
        c.invalid(f + ".operator", op, "operator must be Exists when `key` is empty, which "
                  "means \"match all values and all keys\"")
    if t.get("tolerationSeconds") is not None and effect != "NoExecute":
        c.invalid(f + ".effect", effect,
                  "effect must be 'NoExecute' when `tolerationSeconds` is set")
    if op in ("Equal", ""):
        if len(value) > 63 or (value and not QUALIFIED_NAME.match(value)):
            c.invalid(f + ".operator", value, MSG_LABEL_VALUE)
    elif op == "Exists":
        if value:
            c.invalid(f + ".operator", t, "value must be empty when `operator` is 'Exists'")
    else:
        c.unsupported(f + ".operator", op, TOLERATION_OPS)
    if effect and effect not in TAINT_EFFECTS:
        c.unsupported(f + ".effect", effect, TAINT_EFFECTS)


def validate_pod(pod):
    c = Causes()
    meta = pod.get("metadata") or {}
    check_metadata(c, meta)
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        c.required("spec.containers")
        return c.items
    volume_names = _check_volumes(c, spec.get("volumes") or [])
    # kube-apiserver checks the containers first, then the init containers against
    # the containers' names.
    names = set()
    conts = spec.get("containers")
    if not conts:
        c.required("spec.containers")
    elif not isinstance(conts, list):
        c.typ("spec.containers", conts, "of type array")
    else:
        _check_container_list(c, "spec.containers", conts, volume_names, names, False)
    inits = spec.get("initContainers") or []
    if not isinstance(inits, list):
        c.typ("spec.initContainers", inits, "of type array")
    else:
        _check_container_list(c, "spec.initContainers", inits, volume_names, names, True)
    rp = spec.get("restartPolicy")
    if rp is not None and rp not in RESTART_POLICIES:
        c.unsupported("spec.restartPolicy", rp, RESTART_POLICIES)
    tgp = spec.get("terminationGracePeriodSeconds")
    if tgp is not None and (not isinstance(tgp, int) or tgp < 0):
        c.invalid("spec.terminationGracePeriodSeconds", tgp,
                  "must be greater than or equal to 0")
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or ads <= 0):
        c.invalid("spec.activeDeadlineSeconds", ads, "must be between 1 and 2147483647, inclusive")
    ns = spec.get("nodeSelector")
    if ns is not None:
        check_labels(c, "spec.nodeSelector", ns)
    tols = spec.get("tolerations")
    if tols is not None:
        if not isinstance(tols, list):
            c.typ("spec.tolerations", tols, "of type array")
        else:
            for i, t in enumerate(tols):
                _check_toleration(c, "spec.tolerations[%d]" % i, t)
    ips = spec.get("imagePullSecrets")
    if ips is not None:
        if not isinstance(ips, list):
            c.typ("spec.imagePullSecrets", ips, "of type array")
    return c.items


def validate_secret(sec):
    c = Causes()
    check_metadata(c, sec.get("metadata") or {})
    data = sec.get("data")
    if data is not None:
        if not isinstance(data, dict):
            c.typ("data", data, "of type object")
        else:
            for k, v in data.items():
                if not SECRET_KEY.match(k):
                    c.invalid("data[%s]" % k, k, "a valid config key must consist of "
                              "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                              "'KEY_NAME',  or 'key-name', regex used for validation is "
                              "'[-._a-zA-Z0-9]+')")
                if not isinstance(v, str):
                    c.typ("data[%s]" % k, v, "of type string")
                else:
                    try:
                        base64.b64decode(v, validate=True)
                    except Exception:
                        c.invalid("data[%s]" % k, v, "illegal base64 data")
    sd = sec.get("stringData")
    if sd is not None:
        if not isinstance(sd, dict):
            c.typ("stringData", sd, "of type object")
        else:
            for k, v in sd.items():
                if not SECRET_KEY.match(k):
                    c.invalid("stringData[%s]" % k, k, "a valid config key must consist of "
                              "alphanumeric characters, '-', '_' or '.'")
    return c.items


# ---------------------------------------------------------------- unknown fields
# ---------------------------------------------------------------- Lease
# metav1.MicroTime (de)serialises with time.Parse/Format of this layout, always UTC out.
MICROTIME_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
_GO_JSON_TYPES = ((bool, "bool"), (str, "string"), (int, "number"), (float, "number"),
                  (dict, "object"), (list, "array"))


def _json_type(v):
    return next(n for t, n in _GO_JSON_TYPES if isinstance(v, t))


def _digits(v, i, n, optional_second=False):
    """(value, next index) of n digits at v[i:] (n=2 with optional_second: 1 or 2, as Go's
    getnum(_, false) for the hour); None when absent."""
    if i + 1 > len(v) or not v[i].isdigit():
        return None
    if optional_second and (i + 1 >= len(v) or not v[i + 1].isdigit()):
        return int(v[i]), i + 1
    if i + n > len(v) or not v[i:i + n].isdigit():
        return None
    return int(v[i:i + n]), i + n


def parse_microtime(v):
    """Go's time.Parse(RFC3339Micro, v) -> (canonical UTC text, None) or (None, the Go
    error text). Exactly six fraction digits; Z or +hh:mm/-hh:mm."""
    steps = (("2006", 4), ("-", 0), ("01", 2), ("-", 0), ("02", 2), ("T", 0), ("15", 2),
             (":", 0), ("04", 2), (":", 0), ("05", 2), (".000000", 0), ("Z07:00", 0))
    bad = lambda rest, elem: (None, 'parsing time "%s" as "%s": cannot parse "%s" as "%s"'
                              % (v, MICROTIME_LAYOUT, rest, elem))
    rng = lambda what: (None, 'parsing time "%s": %s out of range' % (v, what))
    nums, i, off = {}, 0, 0
    for elem, n in steps:
        if n == 0 and elem not in (".000000", "Z07:00"):
            if not v.startswith(elem, i):
                return bad(v[i:], elem)
            i += 1
        elif elem == ".000000":
            if not (v.startswith(".", i) and v[i + 1:i + 7].isdigit() and len(v) >= i + 7):
                return bad(v[i:], elem)
            nums[elem], i = int(v[i + 1:i + 7]), i + 7
        elif elem == "Z07:00":
            if v.startswith("Z", i):
                i += 1
            elif (len(v) >= i + 6 and v[i] in "+-" and v[i + 3] == ":" and
                  v[i + 1:i + 3].isdigit() and v[i + 4:i + 6].isdigit()):
                off = (int(v[i + 1:i + 3]) * 60 + int(v[i + 4:i + 6])) * 60
                off, i = (off if v[i] == "+" else -off), i + 6
            else:
                return bad(v[i:], elem)
        else:
            got = _digits(v, i, n, optional_second=elem == "15")
            if got is None:
                return bad(v[i:], elem)
            nums[elem], i = got
    if i != len(v):
        return None, 'parsing time "%s": extra text: "%s"' % (v, v[i:])
    y, mo, d = nums["2006"], nums["01"], nums["02"]
    for key, what, hi in (("01", "month", 12), ("15", "hour", 23), ("04", "minute", 59),
                          ("05", "second", 59)):
        if nums[key] > hi or (key == "01" and nums[key] < 1):
            return rng(what)
    if d < 1 or d > calendar.monthrange(y, mo)[1] if y >= 1 else d > 31:
        return rng("day")
    t = datetime.datetime(max(y, 1), mo, d, nums["15"], nums["04"], nums["05"],
                          nums[".000000"]) - datetime.timedelta(seconds=off)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), None


_INT32 = (-(1 << 31), (1 << 31) - 1)
LEASE_SPEC_TYPES = {"holderIdentity": "string", "leaseDurationSeconds": "int32",
                    "acquireTime": "MicroTime", "renewTime": "MicroTime",
                    "leaseTransitions": "int32", "strategy": "string",
                    "preferredHolder": "string"}


def lease_decode_error(lease):
    """The error kube-apiserver's JSON decoder reports for a Lease whose spec fields have
    the wrong JSON type or a MicroTime that does not parse (answered 400), or None.
    Normalises MicroTimes in place to their canonical UTC text, as the server stores them."""
    spec = lease.get("spec")
    if spec is None:
        return None
    if not isinstance(spec, dict):
        return ("json: cannot unmarshal %s into Go struct field Lease.spec of type "
                "v1.LeaseSpec" % _json_type(spec))
    for k, want in LEASE_SPEC_TYPES.items():
        v = spec.get(k)
        if v is None:
            spec.pop(k, None)
            continue
        where = "Go struct field LeaseSpec.spec.%s of type %s" % (k, want)
        if want == "string" and not isinstance(v, str):
            return "json: cannot unmarshal %s into %s" % (_json_type(v), where)
        if want == "int32" and (isinstance(v, bool) or not isinstance(v, int) or
                                not _INT32[0] <= v <= _INT32[1]):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return "json: cannot unmarshal number %s into %s" % (json_number(v), where)
            return "json: cannot unmarshal %s into %s" % (_json_type(v), where)
        if want == "MicroTime":
            if not isinstance(v, str):
                return ("json: cannot unmarshal %s into Go value of type string"
                        % _json_type(v))
            canon, err = parse_microtime(v)
            if err:
                return err
            spec[k] = canon
    return None


def json_number(v):
    return repr(v) if isinstance(v, float) else str(v)


def validate_lease(lease):
    """ValidateLease of pkg/apis/coordination/validation (types already checked by
    lease_decode_error)."""
    c = Causes()
    check_metadata(c, lease.get("metadata") or {})
    spec = lease.get("spec") or {}
    d = spec.get("leaseDurationSeconds")
    if d is not None and d <= 0:
        c.invalid("spec.leaseDurationSeconds", d, "must be greater than 0")
    t = spec.get("leaseTransitions")
    if t is not None and t < 0:
        c.invalid("spec.leaseTransitions", t, "must be greater than or equal to 0")
    return c.items


ANY = None  # schema leaf: anything accepted below this point

_META = {k: ANY for k in (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields")}

_ENV = {"name": ANY, "value": ANY, "valueFrom": {
    "fieldRef": ANY, "resourceFieldRef": ANY, "configMapKeyRef": ANY,
    "secretKeyRef": {"name": ANY, "key": ANY, "optional": ANY}}}

_CONTAINER = {
    "name": ANY, "image": ANY, "command": ANY, "args": ANY, "workingDir": ANY, "ports": ANY,
    "envFrom": ANY, "env": [_ENV], "resources": {"limits": ANY, "requests": ANY, "claims": ANY},
    "resizePolicy": ANY, "restartPolicy": ANY,
    "volumeMounts": [{k: ANY for k in ("name", "readOnly", "recursiveReadOnly", "mountPath",
                                       "subPath", "mountPropagation", "subPathExpr")}],
    "volumeDevices": ANY, "livenessProbe": ANY, "readinessProbe": ANY, "startupProbe": ANY,
    "lifecycle": ANY, "terminationMessagePath": ANY, "terminationMessagePolicy": ANY,
    "imagePullPolicy": ANY, "securityContext": ANY, "stdin": ANY, "stdinOnce": ANY, "tty": ANY}

_POD_SPEC = {k: ANY for k in (
    "volumes", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds",
    "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName",
    "serviceAccount", "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID",
    "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
    "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases",
    "priorityClassName", "priority", "dnsConfig", "readinessGates", "runtimeClassName",
    "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints",
    "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims", "resources")}
_POD_SPEC["containers"] = [_CONTAINER]
_POD_SPEC["initContainers"] = [_CONTAINER]

POD_SCHEMA = {"apiVersion": ANY, "kind": ANY, "metadata": _META, "spec": _POD_SPEC,
              "status": ANY}
SECRET_SCHEMA = {"apiVersion": ANY, "kind": ANY, "metadata": _META, "data": ANY,
                 "stringData": ANY, "type": ANY, "immutable": ANY}
LEASE_SCHEMA = {"apiVersion": ANY, "kind": ANY, "metadata": _META,
                "spec": {k: ANY for k in LEASE_SPEC_TYPES}}
DELETE_OPTIONS_SCHEMA = ANY


def unknown_fields(obj, schema, path=""):
    """Return dotted paths of fields not in schema, like the apiserver's strict decoder."""
    out = []
    if schema is ANY:
        return out
    if isinstance(schema, list):
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                out += unknown_fields(item, schema[0], "%s[%d]" % (path, i))
        return out
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        p = "%s.%s" % (path, k) if path else k
        if k not in schema:
            out.append(p)
        else:
            out += unknown_fields(v, schema[k], p)
    return out
