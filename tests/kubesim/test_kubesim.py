"""Integration tests of kubesim (python3 -m unittest test_kubesim, from tests/kubesim)."""
import base64
import http.client
import http.server
import io
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.environ.get("KUBESIM_PY") or os.path.join(HERE, "kubesim.py")


class Sim:
    """A running kubesim process plus an HTTPS client for it."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="kubesim-test-")
        self.proc = subprocess.Popen(
            [sys.executable, KUBESIM, "--dir", self.dir, "--exit-with-parent"] + list(args),
            stdout=subprocess.PIPE, stderr=None)
        line = b""
        deadline = time.monotonic() + 10
        os.set_blocking(self.proc.stdout.fileno(), False)
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            chunk = self.proc.stdout.read()
            if chunk:
                line += chunk
            else:
                time.sleep(0.01)
        if not line.endswith(b"\n"):
            self.stop()
            raise RuntimeError("kubesim did not start")
        self.ready = json.loads(line)
        self.url = self.ready["url"]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.plain = self.url.startswith("http:")
        if not self.plain:
            self.ctx = ssl.create_default_context(cafile=self.ready["ca"])
            self.ctx.load_cert_chain(self.ready["client_cert"], self.ready["client_key"])
            self.ctx_nocert = ssl.create_default_context(cafile=self.ready["ca"])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode

    def conn(self, cert=True, timeout=15):
        if self.plain:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.ctx if cert else self.ctx_nocert)

    def req(self, method, path, body=None, headers=None, cert=True, token=None,
            ctype="application/json"):
        c = self.conn(cert=cert and token is None)
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if body is not None:
            h.setdefault("Content-Type", ctype)
        if token is not None:
            h["Authorization"] = "Bearer " + token
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            try:
                doc = json.loads(data) if data else None
            except ValueError:
                doc = data.decode()
            return r.status, r, doc
        finally:
            c.close()

    def token(self):
        with open(self.ready["token_file"]) as f:
            return f.read().strip()

    def faults(self, **kw):
        st, _, doc = self.req("POST", "/_sim/faults", kw)
        assert st == 200, doc
        return doc

    def stats(self):
        return self.req("GET", "/_sim/stats")[2]

    def pod(self, ns, name):
        return self.req("GET", "/api/v1/namespaces/%s/pods/%s" % (ns, name))[2]

    def create_pod(self, ns, name, image="public.ecr.aws/lambda/python:3.12", **extra):
        spec = {"restartPolicy": "Never",
                "containers": [{"name": "main", "image": image, "args": ["app.handler"]}]}
        spec.update(extra.pop("spec", {}))
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": dict({"name": name}, **extra.pop("metadata", {})), "spec": spec}
        return self.req("POST", "/api/v1/namespaces/%s/pods" % ns, body)

    def wait_pod(self, ns, name, pred, timeout=8.0):
        deadline = time.monotonic() + timeout
        p = None
        while time.monotonic() < deadline:
            p = self.pod(ns, name)
            if p is not None and pred(p):
                return p
            time.sleep(0.03)
        raise AssertionError("pod %s/%s never matched; last: %s" % (ns, name, json.dumps(p)))


class Watch:
    """Streams watch events from kubesim."""

    def __init__(self, sim, path, timeout=10, headers=None):
        self.c = sim.conn(timeout=timeout)
        self.c.request("GET", path, headers=headers or {})
        self.r = self.c.getresponse()

    def next(self):
        line = self.r.readline()
        if not line:
            return None
        return json.loads(line)

    def take(self, n):
        return [self.next() for _ in range(n)]

    def close(self):
        self.c.close()


def pod_body(name, image="img:1", labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": image}]}}


def status_of(p):
    return (p or {}).get("status") or {}


def cond(p, typ):
    for c in status_of(p).get("conditions") or []:
        if c["type"] == typ:
            return c
    return {}


class Base(unittest.TestCase):
    sim = None
    ns_counter = 0

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim("--boot-ms", "20", "--bookmark-interval", "0.3")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        Base.ns_counter += 1
        self.ns = "t%d-%s" % (Base.ns_counter, self._testMethodName.replace("_", "-")[5:30]
                              .strip("-").lower())

    def tearDown(self):
        self.sim.faults(error_rate=0, throttle_rate=0, latency_ms=0, watch_cut_after=0,
                        conflict_on_create=0, fail_paths="", terminating_seconds=0,
                        boot_ms=20, rie_delay_ms=0)

    def pods_path(self, ns=None):
        return "/api/v1/namespaces/%s/pods" % (ns or self.ns)


# ======================================================================== auth
class AuthTest(Base):
    @classmethod
    def setUpClass(cls):
        cls.sim = Sim("--extra-token", "extra-secret")

    def test_no_credentials_is_401_status(self):
        st, r, doc = self.sim.req("GET", "/api/v1/namespaces/default/pods", cert=False)
        self.assertEqual(st, 401)
        self.assertEqual(doc["kind"], "Status")
        self.assertEqual(doc["reason"], "Unauthorized")
        self.assertEqual(doc["code"], 401)

    def test_wrong_token_is_401(self):
        st, _, doc = self.sim.req("GET", "/version", token="nope")
        self.assertEqual(st, 401)

    def test_token_rotation_rejects_old_token(self):
        old = self.sim.token()
        self.assertEqual(self.sim.req("GET", "/api/v1/namespaces/default/pods",
                                      token=old)[0], 200)
        tf = self.sim.ready["token_file"]
        with open(tf + ".tmp", "w") as f:
            f.write("new-token\n")
        os.replace(tf + ".tmp", tf)
        self.assertEqual(self.sim.req("GET", "/version", token=old)[0], 401)
        self.assertEqual(self.sim.req("GET", "/version", token="new-token")[0], 200)

    def test_extra_token_accepted(self):
        self.assertEqual(self.sim.req("GET", "/version", token="extra-secret")[0], 200)

    def test_client_cert_user_in_request_log(self):
        self.sim.req("POST", "/_sim/reset", {})
        self.sim.req("GET", "/api/v1/namespaces/default/pods")
        self.sim.req("GET", "/version", token="extra-secret")
        log = self.sim.req("GET", "/_sim/requests")[2]["requests"]
        self.assertEqual([(e["verb"], e["auth"], e["user"], e["status"]) for e in log],
                         [("list pods", "x509", "fakecloud-test", 200),
                          ("get /version", "token", "kubesim-token-user", 200)])

    def test_sim_endpoints_need_auth(self):
        self.assertEqual(self.sim.req("GET", "/_sim/stats", cert=False)[0], 401)

    def test_kubeconfigs_written(self):
        with open(self.sim.ready["kubeconfig"]) as f:
            kc = f.read()
        self.assertIn("client-certificate-data:", kc)
        self.assertIn("certificate-authority-data:", kc)
        self.assertIn("current-context: kubesim", kc)
        self.assertIn("namespace: default", kc)
        with open(self.sim.ready["kubeconfig_token"]) as f:
            kt = f.read()
        self.assertIn("tokenFile: " + self.sim.ready["token_file"], kt)
        self.assertIn("certificate-authority: " + self.sim.ready["ca"], kt)
        with open(os.path.join(self.sim.dir, "ready.json")) as f:
            self.assertEqual(json.load(f), self.sim.ready)


# ======================================================================== discovery
class DiscoveryTest(Base):
    def test_version_api_and_resources(self):
        self.assertIn("gitVersion", self.sim.req("GET", "/version")[2])
        self.assertEqual(self.sim.req("GET", "/api")[2]["versions"], ["v1"])
        res = {r["name"]: r for r in self.sim.req("GET", "/api/v1")[2]["resources"]}
        for verb in ("create", "delete", "deletecollection", "get", "list", "patch",
                     "update", "watch"):
            self.assertIn(verb, res["pods"]["verbs"])
            self.assertIn(verb, res["secrets"]["verbs"])
        self.assertIn("pods/log", res)
        self.assertIn("pods/status", res)
        self.assertEqual(self.sim.req("GET", "/apis")[2]["kind"], "APIGroupList")

    def test_unknown_path_404_status(self):
        st, _, doc = self.sim.req("GET", "/apis/apps/v1/deployments")
        self.assertEqual(st, 404)
        self.assertEqual(doc["reason"], "NotFound")


# ======================================================================== create/validate
class CreateTest(Base):
    def test_metadata_is_set(self):
        st, _, a = self.sim.req("POST", self.pods_path(), pod_body("a"))
        self.assertEqual(st, 201)
        st, _, b = self.sim.req("POST", self.pods_path(), pod_body("b"))
        m = a["metadata"]
        self.assertEqual(m["namespace"], self.ns)
        self.assertTrue(m["uid"])
        self.assertRegex(m["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertLess(int(m["resourceVersion"]), int(b["metadata"]["resourceVersion"]))
        self.assertEqual(a["status"]["phase"], "Pending")

    def test_generate_name(self):
        body = pod_body("x")
        body["metadata"] = {"generateName": "gen-"}
        st, _, doc = self.sim.req("POST", self.pods_path(), body)
        self.assertEqual(st, 201)
        self.assertRegex(doc["metadata"]["name"], r"^gen-[a-z0-9]{5}$")

    def test_duplicate_is_409_already_exists(self):
        self.sim.req("POST", self.pods_path(), pod_body("dup"))
        st, _, doc = self.sim.req("POST", self.pods_path(), pod_body("dup"))
        self.assertEqual(st, 409)
        self.assertEqual(doc["reason"], "AlreadyExists")
        self.assertEqual(doc["message"], 'pods "dup" already exists')
        self.assertEqual(doc["details"], {"name": "dup", "kind": "pods"})

    def assertInvalid(self, body, field, reason, res="pods"):
        st, _, doc = self.sim.req("POST", "/api/v1/namespaces/%s/%s" % (self.ns, res), body)
        self.assertEqual(st, 422, doc)
        self.assertEqual(doc["reason"], "Invalid")
        causes = [(c["field"], c["reason"]) for c in doc["details"]["causes"]]
        self.assertIn((field, reason), causes)
        return doc

    def test_422_missing_image(self):
        b = pod_body("noimg")
        del b["spec"]["containers"][0]["image"]
        doc = self.assertInvalid(b, "spec.containers[0].image", "FieldValueRequired")
        self.assertEqual(doc["message"],
                         'Pod "noimg" is invalid: spec.containers[0].image: Required value')
        self.assertEqual(doc["details"]["kind"], "Pod")

    def test_422_bad_name(self):
        self.assertInvalid(pod_body("Bad_Name"), "metadata.name", "FieldValueInvalid")

    def test_422_missing_container_name(self):
        b = pod_body("nocname")
        del b["spec"]["containers"][0]["name"]
        self.assertInvalid(b, "spec.containers[0].name", "FieldValueRequired")

    def test_422_label_key_and_value(self):
        self.assertInvalid(pod_body("lk", labels={"bad key": "v"}), "metadata.labels",
                           "FieldValueInvalid")
        self.assertInvalid(pod_body("lv", labels={"k": "-bad-"}), "metadata.labels[k]",
                           "FieldValueInvalid")
        self.assertInvalid(pod_body("lv2", labels={"k": "x" * 64}), "metadata.labels[k]",
                           "FieldValueInvalid")
        st, _, _ = self.sim.req("POST", self.pods_path(),
                                pod_body("lok", labels={"example.com/a_b.c": "", "x": "A-1"}))
        self.assertEqual(st, 201)

    def test_422_duplicate_container_names_across_init(self):
        b = pod_body("dupc")
        b["spec"]["initContainers"] = [{"name": "main", "image": "busybox"}]
        # kube-apiserver checks containers first, then init containers against them.
        self.assertInvalid(b, "spec.initContainers[0].name", "FieldValueDuplicate")

    def test_422_env_name(self):
        b = pod_body("envn")
        b["spec"]["containers"][0]["env"] = [{"name": "1BAD", "value": "x"}]
        self.assertInvalid(b, "spec.containers[0].env[0].name", "FieldValueInvalid")

    def test_422_env_value_from_like_kube_apiserver(self):
        b = pod_body("vf")
        env = b["spec"]["containers"][0]["env"] = [{"name": "A", "valueFrom": {
            "secretKeyRef": {"name": "s", "key": "k"},
            "fieldRef": {"fieldPath": "metadata.name"}}}]
        self.assertInvalid(b, "spec.containers[0].env[0].valueFrom", "FieldValueInvalid")
        env[0]["valueFrom"] = {"secretKeyRef": {"key": "k"}}
        self.assertInvalid(b, "spec.containers[0].env[0].valueFrom.secretKeyRef.name",
                           "FieldValueRequired")
        env[0]["valueFrom"] = {"secretKeyRef": {"name": "s", "key": "bad key"}}
        self.assertInvalid(b, "spec.containers[0].env[0].valueFrom.secretKeyRef.key",
                           "FieldValueInvalid")
        env[0]["valueFrom"] = {"secretKeyRef": {"name": "s", "key": "AWS_SECRET_ACCESS_KEY"}}
        self.assertEqual(self.sim.req("POST", self.pods_path(), b)[0], 201)

    def test_422_tolerations_like_kube_apiserver(self):
        cases = (
            ({"key": "a", "operator": "Exists", "value": "x"},
             "spec.tolerations[0].operator", "FieldValueInvalid",
             "value must be empty when `operator` is 'Exists'"),
            ({"value": "x"}, "spec.tolerations[0].operator", "FieldValueInvalid",
             "operator must be Exists when `key` is empty"),
            ({"key": "a", "tolerationSeconds": 5}, "spec.tolerations[0].effect",
             "FieldValueInvalid", "effect must be 'NoExecute' when `tolerationSeconds` is set"),
            ({"key": "a", "operator": "Maybe"}, "spec.tolerations[0].operator",
             "FieldValueNotSupported", "supported values"),
            ({"key": "a", "effect": "Never"}, "spec.tolerations[0].effect",
             "FieldValueNotSupported", "supported values"),
            ({"key": "bad key"}, "spec.tolerations[0].key", "FieldValueInvalid", "name part"),
            ({"key": "a", "value": "bad value"}, "spec.tolerations[0].operator",
             "FieldValueInvalid", "a valid label must be"),
        )
        for i, (tol, field, reason, text) in enumerate(cases):
            b = pod_body("tol%d" % i)
            b["spec"]["tolerations"] = [tol]
            doc = self.assertInvalid(b, field, reason)
            self.assertIn(text, doc["message"], tol)
        b = pod_body("tolok")
        b["spec"]["tolerations"] = [
            {"operator": "Exists"},
            {"key": "example.com/gpu", "operator": "Equal", "value": "a100",
             "effect": "NoExecute", "tolerationSeconds": 30},
            {"key": "k", "effect": "PreferNoSchedule"}]
        self.assertEqual(self.sim.req("POST", self.pods_path(), b)[0], 201)

    def test_422_annotations_over_256_kib(self):
        b = pod_body("big")
        b["metadata"]["annotations"] = {"a": "x" * (256 * 1024)}
        self.assertInvalid(b, "metadata.annotations", "FieldValueTooLong")

    def test_422_quantity(self):
        b = pod_body("qty")
        b["spec"]["containers"][0]["resources"] = {"limits": {"memory": "12 GB"}}
        self.assertInvalid(b, "spec.containers[0].resources.limits[memory]",
                           "FieldValueInvalid")
        b["spec"]["containers"][0]["resources"] = {"limits": {"memory": "128Mi", "cpu": "0.5"}}
        self.assertEqual(self.sim.req("POST", self.pods_path(), b)[0], 201)

    def test_422_volume_mount_without_volume(self):
        b = pod_body("vm")
        b["spec"]["containers"][0]["volumeMounts"] = [{"name": "code", "mountPath": "/c"}]
        doc = self.assertInvalid(b, "spec.containers[0].volumeMounts[0].name",
                                 "FieldValueNotFound")
        self.assertEqual(doc["message"], 'Pod "vm" is invalid: '
                         'spec.containers[0].volumeMounts[0].name: Not found: "code"')
        b["spec"]["volumes"] = [{"name": "code", "emptyDir": {}}]
        self.assertEqual(self.sim.req("POST", self.pods_path(), b)[0], 201)

    def test_422_init_container_mount_without_volume_like_kube_apiserver(self):
        # An Image Pod with layers once mounted /var/task in its init container
        # without declaring the volume; kube-apiserver answers exactly this.
        b = pod_body("ivm")
        b["spec"]["volumes"] = [{"name": "opt", "emptyDir": {}}]
        b["spec"]["initContainers"] = [{"name": "init", "image": "busybox",
                                        "volumeMounts": [{"name": "code", "mountPath": "/c"},
                                                         {"name": "opt", "mountPath": "/opt"}]}]
        b["spec"]["containers"][0]["volumeMounts"] = [{"name": "opt", "mountPath": "/opt"}]
        st, _, doc = self.sim.req("POST", self.pods_path(), b)
        self.assertEqual(st, 422, doc)
        self.assertEqual(doc["kind"], "Status")
        self.assertEqual(doc["apiVersion"], "v1")
        self.assertEqual(doc["status"], "Failure")
        self.assertEqual(doc["reason"], "Invalid")
        self.assertEqual(doc["code"], 422)
        self.assertEqual(doc["message"], 'Pod "ivm" is invalid: '
                         'spec.initContainers[0].volumeMounts[0].name: Not found: "code"')
        self.assertEqual(doc["details"], {"name": "ivm", "kind": "Pod", "causes": [
            {"reason": "FieldValueNotFound", "message": 'Not found: "code"',
             "field": "spec.initContainers[0].volumeMounts[0].name"}]})
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/ivm")[0], 404)

    def test_422_empty_mount_name_is_required_and_not_found(self):
        b = pod_body("emn")
        b["spec"]["containers"][0]["volumeMounts"] = [{"name": "", "mountPath": "/c"}]
        doc = self.assertInvalid(b, "spec.containers[0].volumeMounts[0].name",
                                 "FieldValueRequired")
        self.assertIn(("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound",
                       'Not found: ""'),
                      [(c["field"], c["reason"], c["message"]) for c in doc["details"]["causes"]])

    def test_422_duplicate_volume_names(self):
        b = pod_body("dv")
        b["spec"]["volumes"] = [{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}}]
        doc = self.assertInvalid(b, "spec.volumes[1].name", "FieldValueDuplicate")
        self.assertEqual(doc["message"],
                         'Pod "dv" is invalid: spec.volumes[1].name: Duplicate value: "a"')

    def test_422_duplicate_mount_path_in_one_container(self):
        b = pod_body("dmp")
        b["spec"]["volumes"] = [{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]
        b["spec"]["containers"][0]["volumeMounts"] = [{"name": "a", "mountPath": "/x"},
                                                      {"name": "b", "mountPath": "/x"}]
        doc = self.assertInvalid(b, "spec.containers[0].volumeMounts[1].mountPath",
                                 "FieldValueInvalid")
        self.assertEqual(doc["message"], 'Pod "dmp" is invalid: '
                         'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/x": '
                         'must be unique')
        # The same path in two containers, and one volume at two paths, are fine.
        b["spec"]["containers"][0]["volumeMounts"] = [{"name": "a", "mountPath": "/x"},
                                                      {"name": "a", "mountPath": "/y"}]
        b["spec"]["initContainers"] = [{"name": "init", "image": "busybox",
                                        "volumeMounts": [{"name": "b", "mountPath": "/x"}]}]
        self.assertEqual(self.sim.req("POST", self.pods_path(), b)[0], 201)

    def test_422_volume_with_two_types_or_none(self):
        b = pod_body("vt")
        b["spec"]["volumes"] = [{"name": "a", "hostPath": {"path": "/x"}, "emptyDir": {}}]
        doc = self.assertInvalid(b, "spec.volumes[0].emptyDir", "FieldValueForbidden")
        self.assertEqual(doc["message"], 'Pod "vt" is invalid: spec.volumes[0].emptyDir: '
                         'Forbidden: may not specify more than 1 volume type')
        b["spec"]["volumes"] = [{"name": "a"}]
        doc = self.assertInvalid(b, "spec.volumes[0]", "FieldValueRequired")
        self.assertEqual(doc["message"], 'Pod "vt" is invalid: spec.volumes[0]: '
                         'Required value: must specify a volume type')

    def test_422_mount_of_an_invalid_volume_is_not_found(self):
        # kube-apiserver only lets valid volumes be mounted.
        b = pod_body("iv")
        b["spec"]["volumes"] = [{"name": "Bad_Vol", "emptyDir": {}}]
        b["spec"]["containers"][0]["volumeMounts"] = [{"name": "Bad_Vol", "mountPath": "/x"}]
        self.assertInvalid(b, "spec.volumes[0].name", "FieldValueInvalid")
        self.assertInvalid(b, "spec.containers[0].volumeMounts[0].name", "FieldValueNotFound")

    def test_422_volume_name_too_long(self):
        b = pod_body("vl")
        b["spec"]["volumes"] = [{"name": "v" * 64, "emptyDir": {}}]
        doc = self.assertInvalid(b, "spec.volumes[0].name", "FieldValueInvalid")
        self.assertIn("must be no more than 63 characters", doc["message"])

    def test_422_sub_path_must_be_relative_and_descending(self):
        b = pod_body("sp")
        b["spec"]["volumes"] = [{"name": "a", "emptyDir": {}}]
        for sub, detail in (("/abs", "must be a relative path"),
                            ("x/../../y", "must not contain '..'")):
            b["spec"]["containers"][0]["volumeMounts"] = [
                {"name": "a", "mountPath": "/x", "subPath": sub}]
            doc = self.assertInvalid(b, "spec.containers[0].volumeMounts.subPath",
                                     "FieldValueInvalid")
            self.assertEqual(doc["message"], 'Pod "sp" is invalid: '
                             'spec.containers[0].volumeMounts.subPath: Invalid value: "%s": %s'
                             % (sub, detail))
        b["spec"]["containers"][0]["volumeMounts"] = [
            {"name": "a", "mountPath": "/x", "subPath": "x/..y/z"}]
        self.assertEqual(self.sim.req("POST", self.pods_path(), b)[0], 201)

    def test_422_restart_policy(self):
        b = pod_body("rp")
        b["spec"]["restartPolicy"] = "Sometimes"
        self.assertInvalid(b, "spec.restartPolicy", "FieldValueNotSupported")

    def test_422_multiple_causes_message(self):
        b = pod_body("multi")
        b["spec"]["containers"][0] = {}
        doc = self.assertInvalid(b, "spec.containers[0].name", "FieldValueRequired")
        self.assertTrue(doc["message"].startswith('Pod "multi" is invalid: ['))

    def test_unknown_field_strict_warn_ignore(self):
        b = pod_body("uf")
        b["spec"]["foo"] = 1
        st, _, doc = self.sim.req("POST", self.pods_path() + "?fieldValidation=Strict", b)
        self.assertEqual(st, 400)
        self.assertEqual(doc["reason"], "BadRequest")
        self.assertEqual(doc["message"], 'strict decoding error: unknown field "spec.foo"')
        st, r, doc = self.sim.req("POST", self.pods_path(), b)
        self.assertEqual(st, 201)
        self.assertEqual(r.getheader("Warning"), '299 - "unknown field \\"spec.foo\\""')
        self.assertNotIn("foo", doc["spec"])
        b["metadata"]["name"] = "uf2"
        st, r, doc = self.sim.req("POST", self.pods_path() + "?fieldValidation=Ignore", b)
        self.assertEqual(st, 201)
        self.assertIsNone(r.getheader("Warning"))

    def test_unknown_nested_container_field_strict(self):
        b = pod_body("ufc")
        b["spec"]["containers"][0]["imagee"] = "x"
        st, _, doc = self.sim.req("POST", self.pods_path() + "?fieldValidation=Strict", b)
        self.assertEqual(st, 400)
        self.assertIn('unknown field "spec.containers[0].imagee"', doc["message"])

    def test_namespace_mismatch_400(self):
        b = pod_body("nsm")
        b["metadata"]["namespace"] = "other"
        self.assertEqual(self.sim.req("POST", self.pods_path(), b)[0], 400)

    def test_secret_create_and_string_data(self):
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "stringData": {"token": "abc"}}
        st, _, doc = self.sim.req("POST", "/api/v1/namespaces/%s/secrets" % self.ns, body)
        self.assertEqual(st, 201)
        self.assertEqual(doc["data"], {"token": base64.b64encode(b"abc").decode()})
        self.assertEqual(doc["type"], "Opaque")
        bad = {"kind": "Secret", "metadata": {"name": "s2"}, "data": {"k": "%%%"}}
        self.assertInvalid(bad, "data[k]", "FieldValueInvalid", res="secrets")


# ======================================================================== get/list
class ListTest(Base):
    def setUp(self):
        super().setUp()
        for name, labels in (("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}),
                             ("c", {"app": "z", "tier": "db"}), ("d", {})):
            self.assertEqual(self.sim.req("POST", self.pods_path(),
                                          pod_body(name, labels=labels))[0], 201)

    def names(self, query):
        st, _, doc = self.sim.req("GET", self.pods_path() + "?" + query)
        self.assertEqual(st, 200, doc)
        return [i["metadata"]["name"] for i in doc["items"]]

    def test_get_404_status(self):
        st, _, doc = self.sim.req("GET", self.pods_path() + "/nope")
        self.assertEqual(st, 404)
        self.assertEqual(doc["message"], 'pods "nope" not found')
        self.assertEqual(doc["details"], {"name": "nope", "kind": "pods"})

    def test_list_has_resource_version(self):
        doc = self.sim.req("GET", self.pods_path())[2]
        self.assertEqual(doc["kind"], "PodList")
        self.assertTrue(doc["metadata"]["resourceVersion"].isdigit())

    def test_label_selector_operators(self):
        q = lambda s: "labelSelector=" + __import__("urllib.parse").parse.quote(s)
        self.assertEqual(self.names(q("app=x")), ["a"])
        self.assertEqual(self.names(q("app==y")), ["b"])
        self.assertEqual(self.names(q("app!=x")), ["b", "c", "d"])
        self.assertEqual(self.names(q("app in (x,z)")), ["a", "c"])
        self.assertEqual(self.names(q("app notin (x,z)")), ["b", "d"])
        self.assertEqual(self.names(q("tier")), ["a", "c"])
        self.assertEqual(self.names(q("!tier")), ["b", "d"])
        self.assertEqual(self.names(q("app,tier=db")), ["c"])
        st, _, _ = self.sim.req("GET", self.pods_path() + "?" + q("app in x"))
        self.assertEqual(st, 400)

    def test_field_selectors(self):
        self.assertEqual(self.names("fieldSelector=metadata.name%3Db"), ["b"])
        self.assertEqual(self.names("fieldSelector=metadata.name!%3Db"), ["a", "c", "d"])
        self.assertEqual(self.names("fieldSelector=metadata.namespace%3D%3D" + self.ns),
                         ["a", "b", "c", "d"])
        self.assertEqual(self.names("fieldSelector=status.phase%3DSucceeded,metadata.name%3Da"),
                         [])
        st, _, doc = self.sim.req("GET", self.pods_path() + "?fieldSelector=spec.foo%3Dx")
        self.assertEqual(st, 400)
        self.assertIn("field label not supported", doc["message"])

    def test_paging(self):
        doc = self.sim.req("GET", self.pods_path() + "?limit=3")[2]
        self.assertEqual([i["metadata"]["name"] for i in doc["items"]], ["a", "b", "c"])
        self.assertEqual(doc["metadata"]["remainingItemCount"], 1)
        tok = doc["metadata"]["continue"]
        doc2 = self.sim.req("GET", self.pods_path() + "?limit=3&continue=" + tok)[2]
        self.assertEqual([i["metadata"]["name"] for i in doc2["items"]], ["d"])
        self.assertNotIn("continue", doc2["metadata"])

    def test_continue_expires_on_compaction(self):
        doc = self.sim.req("GET", self.pods_path() + "?limit=1")[2]
        self.sim.req("POST", self.pods_path(), pod_body("e"))
        self.sim.req("POST", "/_sim/compact", {})
        st, _, err = self.sim.req("GET", self.pods_path() + "?limit=1&continue=" +
                                  doc["metadata"]["continue"])
        self.assertEqual(st, 410)
        self.assertEqual(err["reason"], "Expired")

    def test_bad_continue_400(self):
        self.assertEqual(self.sim.req("GET", self.pods_path() + "?continue=zzz")[0], 400)

    def test_list_all_namespaces(self):
        other = self.ns + "-o"
        self.sim.req("POST", self.pods_path(other), pod_body("a"))
        doc = self.sim.req("GET", "/api/v1/pods?labelSelector=app%3Dx")[2]
        got = sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"]
                     if i["metadata"]["namespace"].startswith(self.ns))
        self.assertEqual(got, [(self.ns, "a")])

    def test_table_output(self):
        st, _, doc = self.sim.req("GET", self.pods_path(), headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
        self.assertEqual(doc["kind"], "Table")
        self.assertEqual(doc["columnDefinitions"][0]["name"], "Name")
        self.assertEqual([r["cells"][0] for r in doc["rows"]], ["a", "b", "c", "d"])


class ContinueTtlTest(unittest.TestCase):
    def test_continue_token_expires_after_ttl(self):
        sim = Sim("--continue-ttl", "0.3")
        try:
            for n in ("a", "b"):
                sim.req("POST", "/api/v1/namespaces/default/pods", pod_body(n))
            doc = sim.req("GET", "/api/v1/namespaces/default/pods?limit=1")[2]
            time.sleep(0.5)
            st, _, err = sim.req("GET", "/api/v1/namespaces/default/pods?limit=1&continue=" +
                                 doc["metadata"]["continue"])
            self.assertEqual(st, 410)
            self.assertEqual(err["reason"], "Expired")
        finally:
            sim.stop()


# ======================================================================== watch
class WatchTest(Base):
    def test_initial_then_live_events(self):
        self.sim.req("POST", self.pods_path(), pod_body("w1"))
        w = Watch(self.sim, self.pods_path() + "?watch=1")
        try:
            ev = w.next()
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "w1"))
            self.sim.req("POST", self.pods_path(), pod_body("w2", image="x-norie"))
            types = []
            for _ in range(20):
                ev = w.next()
                types.append((ev["type"], ev["object"]["metadata"]["name"]))
                if ev["object"]["metadata"]["name"] == "w2" and \
                        status_of(ev["object"]).get("phase") == "Running":
                    break
            self.assertIn(("ADDED", "w2"), types)
            self.assertIn(("MODIFIED", "w2"), types)
            self.sim.req("DELETE", self.pods_path() + "/w2")
            for _ in range(20):
                ev = w.next()
                if ev["type"] == "DELETED":
                    break
            self.assertEqual(ev["object"]["metadata"]["name"], "w2")
        finally:
            w.close()

    def test_resume_from_resource_version(self):
        _, _, a = self.sim.req("POST", self.pods_path(), pod_body("r1", image="x-norie"))
        rv = a["metadata"]["resourceVersion"]
        self.sim.req("PATCH", self.pods_path() + "/r1", {"metadata": {"labels": {"k": "v"}}},
                     ctype="application/merge-patch+json")
        w = Watch(self.sim, self.pods_path() + "?watch=true&resourceVersion=" + rv +
                  "&fieldSelector=metadata.name%3Dr1&timeoutSeconds=1")
        try:
            evs = []
            for _ in range(50):
                ev = w.next()
                if ev is None:
                    break
                evs.append(ev)
            self.assertTrue(evs)
            self.assertTrue(all(e["type"] == "MODIFIED" for e in evs))
            self.assertTrue(all(int(e["object"]["metadata"]["resourceVersion"]) > int(rv)
                                for e in evs))
            self.assertTrue(any(e["object"]["metadata"].get("labels") == {"k": "v"}
                                for e in evs))
        finally:
            w.close()

    def test_too_old_resource_version_is_410_error_event(self):
        self.sim.req("POST", self.pods_path(), pod_body("old"))
        self.sim.req("POST", "/_sim/compact", {})
        w = Watch(self.sim, self.pods_path() + "?watch=1&resourceVersion=1")
        try:
            self.assertEqual(w.r.status, 200)
            ev = w.next()
            self.assertEqual(ev["type"], "ERROR")
            self.assertEqual(ev["object"]["code"], 410)
            self.assertEqual(ev["object"]["reason"], "Expired")
            self.assertIn("too old resource version", ev["object"]["message"])
            self.assertIsNone(w.next())
        finally:
            w.close()

    def test_cut_watches_ends_every_open_stream_and_new_ones_work(self):
        self.sim.req("POST", self.pods_path(), pod_body("cut-a"))
        w = Watch(self.sim, self.pods_path() + "?watch=1")
        try:
            self.assertEqual(w.next()["object"]["metadata"]["name"], "cut-a")
            st, _, doc = self.sim.req("POST", "/_sim/cut-watches", {})
            self.assertEqual(st, 200)
            self.assertGreaterEqual(doc["cut"], 1)  # ours (and any other test's left open)
            # the kubelet's updates queued before the cut still arrive, then the end
            # (without the cut this stream would stay open for minutes)
            t0 = time.monotonic()
            for _ in range(50):
                if w.next() is None:
                    break
            else:
                self.fail("the stream did not end")
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            w.close()
        w = Watch(self.sim, self.pods_path() + "?watch=1")
        try:
            self.assertEqual(w.next()["object"]["metadata"]["name"], "cut-a")
        finally:
            w.close()

    def test_partial_object_metadata_lists_for_list_and_deletecollection(self):
        for n in ("pm-a", "pm-b"):
            self.sim.req("POST", self.pods_path(), pod_body(n, labels={"pm": "1"}))
        full = self.sim.req("GET", self.pods_path() + "?labelSelector=pm%3D1")[2]
        accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1," \
                 "application/json"
        c = self.sim.conn()
        try:
            c.request("GET", self.pods_path() + "?labelSelector=pm%3D1",
                      headers={"Accept": accept})
            r = c.getresponse()
            doc = json.loads(r.read())
            self.assertEqual(r.status, 200)
            self.assertTrue(r.getheader("Content-Type").startswith(
                "application/json;as=PartialObjectMetadataList"))
            self.assertEqual((doc["kind"], doc["apiVersion"]),
                             ("PartialObjectMetadataList", "meta.k8s.io/v1"))
            # (the kubelet may have updated a Pod in between: resourceVersion aside)
            strip = lambda m: {k: v for k, v in m.items() if k != "resourceVersion"}  # noqa
            self.assertEqual([strip(i["metadata"]) for i in doc["items"]],
                             [strip(i["metadata"]) for i in full["items"]])
            self.assertEqual({i["kind"] for i in doc["items"]}, {"PartialObjectMetadata"})
            # plain JSON first: the full list
            c.request("GET", self.pods_path() + "?labelSelector=pm%3D1",
                      headers={"Accept": "application/json, " + accept})
            r = c.getresponse()
            self.assertEqual(json.loads(r.read())["kind"], "PodList")
            # deletecollection answers the deleted Pods' metadata (new resourceVersions)
            c.request("DELETE", self.pods_path() + "?labelSelector=pm%3D1&gracePeriodSeconds=0",
                      headers={"Accept": accept})
            r = c.getresponse()
            doc = json.loads(r.read())
            self.assertEqual(doc["kind"], "PartialObjectMetadataList")
            self.assertEqual(sorted(i["metadata"]["name"] for i in doc["items"]), ["pm-a", "pm-b"])
            old_rv = {i["metadata"]["name"]: int(i["metadata"]["resourceVersion"])
                      for i in full["items"]}
            for i in doc["items"]:
                self.assertGreater(int(i["metadata"]["resourceVersion"]),
                                   old_rv[i["metadata"]["name"]])
                self.assertEqual(set(i), {"kind", "apiVersion", "metadata"})
        finally:
            c.close()

    def test_bookmarks(self):
        rv = self.sim.req("GET", self.pods_path())[2]["metadata"]["resourceVersion"]
        w = Watch(self.sim, self.pods_path() + "?watch=1&allowWatchBookmarks=true"
                  "&resourceVersion=" + rv)
        try:
            ev = w.next()
            self.assertEqual(ev["type"], "BOOKMARK")
            self.assertEqual(ev["object"]["kind"], "Pod")
            self.assertEqual(set(ev["object"]["metadata"]), {"resourceVersion"})
            self.assertGreaterEqual(int(ev["object"]["metadata"]["resourceVersion"]), int(rv))
        finally:
            w.close()

    def test_timeout_seconds_ends_stream(self):
        t0 = time.monotonic()
        w = Watch(self.sim, self.pods_path() + "?watch=1&timeoutSeconds=1")
        try:
            self.assertIsNone(w.next())
            self.assertLess(time.monotonic() - t0, 3)
        finally:
            w.close()

    def test_watch_cut_after_n_events(self):
        for n in ("c1", "c2", "c3"):
            self.sim.req("POST", self.pods_path(), pod_body(n, image="x-unschedulable"))
        self.sim.faults(watch_cut_after=2)
        w = Watch(self.sim, self.pods_path() + "?watch=1")
        try:
            self.assertEqual(len([e for e in w.take(3) if e is not None]), 2)
        finally:
            w.close()

    def test_label_selector_watch_sees_delete_when_label_removed(self):
        self.sim.req("POST", self.pods_path(), pod_body("l1", image="x-unschedulable",
                                                        labels={"app": "w"}))
        w = Watch(self.sim, self.pods_path() + "?watch=1&labelSelector=app%3Dw")
        try:
            self.assertEqual(w.next()["type"], "ADDED")
            self.sim.req("PATCH", self.pods_path() + "/l1", {"metadata": {"labels": None}},
                         ctype="application/merge-patch+json")
            for _ in range(10):
                ev = w.next()
                if ev["type"] == "DELETED":
                    break
            self.assertEqual(ev["type"], "DELETED")
        finally:
            w.close()

    def test_legacy_watch_path_and_stats(self):
        before = self.sim.stats()["watch_streams_total"]
        w = Watch(self.sim, "/api/v1/watch/namespaces/%s/pods?timeoutSeconds=5" % self.ns)
        try:
            st = self.sim.stats()
            self.assertGreaterEqual(st["watch_streams_current"], 1)
            self.assertEqual(st["watch_streams_total"], before + 1)
        finally:
            w.close()


# ======================================================================== delete
class DeleteTest(Base):
    def test_graceful_delete_keeps_terminating_pod(self):
        self.sim.faults(terminating_seconds=1)
        self.sim.req("POST", self.pods_path(), pod_body("g", image="x-norie"))
        st, _, doc = self.sim.req("DELETE", self.pods_path() + "/g")
        self.assertEqual(st, 200)
        self.assertIn("deletionTimestamp", doc["metadata"])
        self.assertEqual(doc["metadata"]["deletionGracePeriodSeconds"], 30)
        st, _, err = self.sim.req("POST", self.pods_path(), pod_body("g"))
        self.assertEqual(st, 409)
        self.assertEqual(err["message"], 'object is being deleted: pods "g" already exists')
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and \
                self.sim.req("GET", self.pods_path() + "/g")[0] == 200:
            time.sleep(0.05)
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/g")[0], 404)
        self.assertEqual(self.sim.req("POST", self.pods_path(), pod_body("g"))[0], 201)

    def test_grace_zero_deletes_immediately(self):
        self.sim.faults(terminating_seconds=5)
        self.sim.req("POST", self.pods_path(), pod_body("z"))
        st, _, _ = self.sim.req("DELETE", self.pods_path() + "/z",
                                {"kind": "DeleteOptions", "apiVersion": "v1",
                                 "gracePeriodSeconds": 0})
        self.assertEqual(st, 200)
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/z")[0], 404)
        self.sim.req("POST", self.pods_path(), pod_body("z2"))
        self.sim.req("DELETE", self.pods_path() + "/z2?gracePeriodSeconds=0")
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/z2")[0], 404)

    def test_delete_404(self):
        st, _, doc = self.sim.req("DELETE", self.pods_path() + "/none")
        self.assertEqual(st, 404)
        self.assertEqual(doc["details"]["kind"], "pods")

    def test_preconditions(self):
        _, _, p = self.sim.req("POST", self.pods_path(), pod_body("pc", image="x-norie"))
        st, _, doc = self.sim.req("DELETE", self.pods_path() + "/pc",
                                  {"preconditions": {"uid": "wrong"}})
        self.assertEqual(st, 409)
        self.assertEqual(doc["reason"], "Conflict")
        self.assertIn("Precondition failed: UID in precondition: wrong", doc["message"])
        st, _, doc = self.sim.req("DELETE", self.pods_path() + "/pc",
                                  {"preconditions": {"resourceVersion": "1"}})
        self.assertEqual(st, 409)
        st, _, doc = self.sim.req("DELETE", self.pods_path() + "/pc",
                                  {"preconditions": {"uid": p["metadata"]["uid"]},
                                   "propagationPolicy": "Background"})
        self.assertEqual(st, 200)

    def test_deletecollection(self):
        for n, app in (("d1", "y"), ("d2", "y"), ("d3", "n")):
            self.sim.req("POST", self.pods_path(), pod_body(n, labels={"app": app}))
        st, _, doc = self.sim.req("DELETE", self.pods_path() + "?labelSelector=app%3Dy")
        self.assertEqual(st, 200)
        self.assertEqual(doc["kind"], "PodList")
        self.assertEqual(sorted(i["metadata"]["name"] for i in doc["items"]), ["d1", "d2"])
        left = self.sim.req("GET", self.pods_path())[2]["items"]
        self.assertEqual([i["metadata"]["name"] for i in left], ["d3"])
        self.assertGreaterEqual(self.sim.stats()["requests"]["deletecollection pods"], 1)

    def test_secret_delete(self):
        sp = "/api/v1/namespaces/%s/secrets" % self.ns
        self.sim.req("POST", sp, {"kind": "Secret", "metadata": {"name": "s"}})
        self.assertEqual(self.sim.req("DELETE", sp + "/s")[0], 200)
        self.assertEqual(self.sim.req("GET", sp + "/s")[0], 404)


# ======================================================================== update/patch
class PatchTest(Base):
    def test_merge_patch_labels(self):
        self.sim.req("POST", self.pods_path(), pod_body("m", labels={"a": "1", "b": "2"}))
        st, _, doc = self.sim.req("PATCH", self.pods_path() + "/m",
                                  {"metadata": {"labels": {"a": None, "c": "3"}}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 200)
        self.assertEqual(doc["metadata"]["labels"], {"b": "2", "c": "3"})
        st, _, doc = self.sim.req("PATCH", self.pods_path() + "/m",
                                  {"metadata": {"labels": {"d": "4"}}},
                                  ctype="application/strategic-merge-patch+json")
        self.assertEqual(doc["metadata"]["labels"]["d"], "4")

    def test_json_patch(self):
        self.sim.req("POST", self.pods_path(), pod_body("j", labels={"a": "1"}))
        st, _, doc = self.sim.req("PATCH", self.pods_path() + "/j",
                                  [{"op": "add", "path": "/metadata/labels/b", "value": "2"}],
                                  ctype="application/json-patch+json")
        self.assertEqual(st, 200)
        self.assertEqual(doc["metadata"]["labels"], {"a": "1", "b": "2"})

    def test_patch_unsupported_media_type(self):
        self.sim.req("POST", self.pods_path(), pod_body("u"))
        self.assertEqual(self.sim.req("PATCH", self.pods_path() + "/u", {},
                                      ctype="text/plain")[0], 415)

    def test_status_subresource(self):
        self.sim.req("POST", self.pods_path(), pod_body("s", image="x-unschedulable"))
        st, _, doc = self.sim.req("GET", self.pods_path() + "/s/status")
        self.assertEqual(st, 200)
        st, _, doc = self.sim.req("PATCH", self.pods_path() + "/s/status",
                                  {"status": {"phase": "Succeeded"},
                                   "metadata": {"labels": {"ignored": "x"}}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 200)
        self.assertEqual(doc["status"]["phase"], "Succeeded")
        self.assertNotIn("ignored", doc["metadata"].get("labels") or {})
        doc["status"]["phase"] = "Failed"
        st, _, doc2 = self.sim.req("PUT", self.pods_path() + "/s/status", doc)
        self.assertEqual(st, 200)
        self.assertEqual(doc2["status"]["phase"], "Failed")

    def test_put_conflict_and_forbidden(self):
        self.sim.req("POST", self.pods_path(), pod_body("p", image="x-unschedulable"))
        p = self.sim.wait_pod(self.ns, "p", lambda p: cond(p, "PodScheduled"))
        p["metadata"]["labels"] = {"x": "y"}
        st, _, new = self.sim.req("PUT", self.pods_path() + "/p", p)
        self.assertEqual(st, 200)
        self.assertEqual(new["metadata"]["labels"], {"x": "y"})
        st, _, err = self.sim.req("PUT", self.pods_path() + "/p", p)
        self.assertEqual(st, 409)
        self.assertEqual(err["reason"], "Conflict")
        self.assertIn("the object has been modified", err["message"])
        new["spec"]["restartPolicy"] = "Always"
        st, _, err = self.sim.req("PUT", self.pods_path() + "/p", new)
        self.assertEqual(st, 422)

    def test_patch_with_stale_resource_version_conflicts(self):
        self.sim.req("POST", self.pods_path(), pod_body("rv"))
        st, _, _ = self.sim.req("PATCH", self.pods_path() + "/rv",
                                {"metadata": {"resourceVersion": "1", "labels": {"a": "b"}}},
                                ctype="application/merge-patch+json")
        self.assertEqual(st, 409)


# ======================================================================== leases
LEASES = "/apis/coordination.k8s.io/v1/namespaces/%s/leases"


def lease_body(name, holder="inst-a", seconds=30, labels=None, **spec):
    spec = dict({"holderIdentity": holder, "leaseDurationSeconds": seconds,
                 "renewTime": "2026-01-02T03:04:05.123456Z"}, **spec)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


class LeaseTest(Base):
    def path(self, name=""):
        return LEASES % self.ns + ("/" + name if name else "")

    def test_discovery_lists_the_coordination_group(self):
        groups = self.sim.req("GET", "/apis")[2]["groups"]
        self.assertEqual([g["name"] for g in groups], ["coordination.k8s.io"])
        self.assertEqual(groups[0]["preferredVersion"]["groupVersion"],
                         "coordination.k8s.io/v1")
        st, _, g = self.sim.req("GET", "/apis/coordination.k8s.io")
        self.assertEqual((st, g["kind"], g["name"]), (200, "APIGroup", "coordination.k8s.io"))
        st, _, rl = self.sim.req("GET", "/apis/coordination.k8s.io/v1")
        self.assertEqual((st, rl["groupVersion"]), (200, "coordination.k8s.io/v1"))
        leases = rl["resources"][0]
        self.assertEqual((leases["name"], leases["kind"], leases["namespaced"]),
                         ("leases", "Lease", True))
        for verb in ("create", "delete", "deletecollection", "get", "list", "patch",
                     "update", "watch"):
            self.assertIn(verb, leases["verbs"])
        self.assertIn("apis/coordination.k8s.io/v1",
                      self.sim.req("GET", "/openapi/v3")[2]["paths"])

    def test_create_get_list_delete(self):
        st, _, l = self.sim.req("POST", self.path(), lease_body("a", labels={"app": "x"}))
        self.assertEqual(st, 201, l)
        self.assertEqual((l["kind"], l["apiVersion"]), ("Lease", "coordination.k8s.io/v1"))
        m = l["metadata"]
        self.assertEqual(m["namespace"], self.ns)
        self.assertTrue(m["uid"] and m["resourceVersion"] and m["creationTimestamp"])
        self.assertEqual(l["spec"]["holderIdentity"], "inst-a")
        self.assertEqual(self.sim.req("GET", self.path("a"))[2], l)
        st, _, lst = self.sim.req("GET", self.path())
        self.assertEqual((st, lst["kind"], lst["apiVersion"]),
                         (200, "LeaseList", "coordination.k8s.io/v1"))
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["a"])
        st, _, dup = self.sim.req("POST", self.path(), lease_body("a"))
        self.assertEqual((st, dup["reason"]), (409, "AlreadyExists"))
        self.assertEqual(dup["message"], 'leases.coordination.k8s.io "a" already exists')
        self.assertEqual(dup["details"], {"name": "a", "group": "coordination.k8s.io",
                                          "kind": "leases"})
        st, _, gone = self.sim.req("DELETE", self.path("a"))
        # Leases (like every kind without ReturnDeletedObject) answer a Success Status
        self.assertEqual((st, gone["kind"], gone["status"]), (200, "Status", "Success"))
        self.assertEqual(gone["details"], {"name": "a", "group": "coordination.k8s.io",
                                           "kind": "leases", "uid": m["uid"]})
        st, _, nf = self.sim.req("GET", self.path("a"))
        self.assertEqual((st, nf["message"]), (404, 'leases.coordination.k8s.io "a" not found'))

    def test_list_with_label_selectors_and_deletecollection(self):
        for n, inst in (("l1", "a"), ("l2", "b"), ("l3", "b")):
            self.sim.req("POST", self.path(), lease_body(n, labels={"inst": inst, "m": "y"}))
        names = lambda q: [i["metadata"]["name"] for i in
                           self.sim.req("GET", self.path() + q)[2]["items"]]
        self.assertEqual(names("?labelSelector=inst%3Db"), ["l2", "l3"])
        self.assertEqual(names("?labelSelector=inst+notin+(b),m"), ["l1"])
        self.assertEqual(names("?fieldSelector=metadata.name%3Dl3"), ["l3"])
        st, _, _ = self.sim.req("GET", self.path() + "?fieldSelector=spec.holderIdentity%3Da")
        self.assertEqual(st, 400)
        st, _, out = self.sim.req("DELETE", self.path() + "?labelSelector=inst%3Db")
        self.assertEqual((st, out["kind"], len(out["items"])), (200, "LeaseList", 2))
        self.assertEqual(names(""), ["l1"])
        # across namespaces
        all_names = [i["metadata"]["name"] for i in self.sim.req(
            "GET", "/apis/coordination.k8s.io/v1/leases")[2]["items"]]
        self.assertIn("l1", all_names)

    def test_put_with_stale_resource_version_is_409_conflict(self):
        _, _, l = self.sim.req("POST", self.path(), lease_body("c"))
        renewed = json.loads(json.dumps(l))
        renewed["spec"]["renewTime"] = "2026-01-02T03:04:35.000000Z"
        st, _, new = self.sim.req("PUT", self.path("c"), renewed)
        self.assertEqual(st, 200, new)
        self.assertNotEqual(new["metadata"]["resourceVersion"], l["metadata"]["resourceVersion"])
        self.assertEqual(new["metadata"]["uid"], l["metadata"]["uid"])
        l["spec"]["holderIdentity"] = "thief"  # based on the old resourceVersion
        st, _, err = self.sim.req("PUT", self.path("c"), l)
        self.assertEqual(st, 409)
        self.assertEqual(err["reason"], "Conflict")
        self.assertEqual(err["message"], 'Operation cannot be fulfilled on '
                         'leases.coordination.k8s.io "c": the object has been modified; please '
                         'apply your changes to the latest version and try again')
        self.assertEqual(err["details"], {"name": "c", "group": "coordination.k8s.io",
                                          "kind": "leases"})
        self.assertEqual(self.sim.req("GET", self.path("c"))[2]["spec"]["holderIdentity"],
                         "inst-a")
        # without a resourceVersion the update is unconditional (as for Leases upstream)
        del new["metadata"]["resourceVersion"]
        new["spec"]["leaseTransitions"] = 1
        st, _, out = self.sim.req("PUT", self.path("c"), new)
        self.assertEqual((st, out["spec"]["leaseTransitions"]), (200, 1))

    def test_patch_and_stale_delete_precondition(self):
        _, _, l = self.sim.req("POST", self.path(), lease_body("p"))
        st, _, out = self.sim.req("PATCH", self.path("p"),
                                  {"spec": {"renewTime": "2026-01-02T05:04:05.000000+02:00"}},
                                  ctype="application/merge-patch+json")
        self.assertEqual((st, out["spec"]["renewTime"]), (200, "2026-01-02T03:04:05.000000Z"))
        st, _, err = self.sim.req("PATCH", self.path("p"),
                                  {"spec": {"leaseDurationSeconds": 0}},
                                  ctype="application/merge-patch+json")
        self.assertEqual(st, 422, err)
        st, _, err = self.sim.req("DELETE", self.path("p"), {
            "preconditions": {"resourceVersion": l["metadata"]["resourceVersion"]}})
        self.assertEqual((st, err["reason"]), (409, "Conflict"))

    def test_validation_like_kube_apiserver(self):
        def create(body):
            return self.sim.req("POST", self.path(), body)
        st, _, e = create(lease_body("bad", seconds=0))
        self.assertEqual(st, 422)
        self.assertEqual(e["message"], 'Lease.coordination.k8s.io "bad" is invalid: '
                         'spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0')
        self.assertEqual(e["details"]["group"], "coordination.k8s.io")
        self.assertEqual(e["details"]["kind"], "Lease")
        st, _, e = create(lease_body("bad", leaseTransitions=-1))
        self.assertEqual(st, 422)
        self.assertEqual(e["details"]["causes"], [{
            "reason": "FieldValueInvalid", "field": "spec.leaseTransitions",
            "message": "Invalid value: -1: must be greater than or equal to 0"}])
        st, _, e = create(lease_body("Bad_Name"))
        self.assertEqual((st, e["details"]["causes"][0]["field"]), (422, "metadata.name"))
        pre = 'Lease in version "v1" cannot be handled as a Lease: '
        for spec, msg in (
                ({"holderIdentity": 7}, "json: cannot unmarshal number into Go struct field "
                 "LeaseSpec.spec.holderIdentity of type string"),
                ({"leaseDurationSeconds": 1.5}, "json: cannot unmarshal number 1.5 into Go "
                 "struct field LeaseSpec.spec.leaseDurationSeconds of type int32"),
                ({"leaseDurationSeconds": 2147483648}, "json: cannot unmarshal number "
                 "2147483648 into Go struct field LeaseSpec.spec.leaseDurationSeconds of "
                 "type int32"),
                ({"leaseDurationSeconds": "30"}, "json: cannot unmarshal string into Go "
                 "struct field LeaseSpec.spec.leaseDurationSeconds of type int32"),
                ({"renewTime": "2026-01-02T03:04:05Z"}, 'parsing time "2026-01-02T03:04:05Z" '
                 'as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"'),
                ({"acquireTime": "2026-02-30T03:04:05.000000Z"},
                 'parsing time "2026-02-30T03:04:05.000000Z": day out of range'),
                ({"renewTime": 5}, "json: cannot unmarshal number into Go value of type "
                 "string")):
            st, _, e = create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                               "metadata": {"name": "t"}, "spec": spec})
            self.assertEqual((st, e["reason"], e["message"]), (400, "BadRequest", pre + msg))
        st, _, e = create({"apiVersion": "v1", "kind": "Lease", "metadata": {"name": "t"}})
        self.assertEqual(st, 400)
        st, _, e = self.sim.req("POST", self.path() + "?fieldValidation=Strict",
                                lease_body("t", bogus=1))
        self.assertEqual((st, e["message"]),
                         (400, 'strict decoding error: unknown field "spec.bogus"'))
        # null times are unset; gated fields are dropped; 2147483647 is a valid int32
        st, _, l = create(lease_body("ok", seconds=2147483647, renewTime=None,
                                     strategy="OldestEmulationVersion"))
        self.assertEqual(st, 201, l)
        self.assertEqual(l["spec"], {"holderIdentity": "inst-a",
                                     "leaseDurationSeconds": 2147483647})

    def test_table_for_kubectl(self):
        self.sim.req("POST", self.path(), lease_body("tb", holder="host-1"))
        _, _, t = self.sim.req("GET", self.path(), headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        self.assertEqual([c["name"] for c in t["columnDefinitions"]], ["Name", "Holder", "Age"])
        self.assertEqual(t["rows"][0]["cells"][:2], ["tb", "host-1"])

    def test_watch_sees_renewals(self):
        _, _, l = self.sim.req("POST", self.path(), lease_body("w"))
        w = Watch(self.sim, self.path() + "?watch=1&resourceVersion=" +
                  l["metadata"]["resourceVersion"])
        try:
            l["spec"]["renewTime"] = "2026-01-02T03:05:05.000000Z"
            self.assertEqual(self.sim.req("PUT", self.path("w"), l)[0], 200)
            ev = w.next()
            self.assertEqual((ev["type"], ev["object"]["spec"]["renewTime"]),
                             ("MODIFIED", "2026-01-02T03:05:05.000000Z"))
        finally:
            w.close()

    def test_faults_can_target_lease_renewals_only(self):
        _, _, l = self.sim.req("POST", self.path(), lease_body("f"))
        self.sim.faults(error_rate=1.0, fail_paths="update leases")
        st, _, e = self.sim.req("PUT", self.path("f"), l)
        self.assertEqual((st, e["reason"]), (500, "InternalError"))
        self.assertEqual(self.sim.req("GET", self.path("f"))[0], 200)
        self.assertEqual(self.sim.req("GET", "/api/v1/namespaces/%s/pods" % self.ns)[0], 200)
        self.sim.faults(error_rate=0, fail_paths="")
        self.assertEqual(self.sim.req("PUT", self.path("f"), l)[0], 200)
        self.assertIn("update leases", self.sim.stats()["requests"])

    def test_pod_paths_do_not_serve_leases(self):
        st, _, _ = self.sim.req("GET", "/api/v1/namespaces/%s/leases" % self.ns)
        self.assertEqual(st, 404)
        st, _, _ = self.sim.req("GET", "/apis/coordination.k8s.io/v1/namespaces/%s/pods"
                                % self.ns)
        self.assertEqual(st, 404)


# ======================================================================== faults
class FaultTest(Base):
    def test_error_rate(self):
        self.sim.faults(error_rate=1.0)
        st, _, doc = self.sim.req("GET", self.pods_path())
        self.assertEqual(st, 500)
        self.assertEqual(doc["reason"], "InternalError")
        self.assertEqual(self.sim.req("GET", "/_sim/stats")[0], 200)

    def test_throttle(self):
        self.sim.faults(throttle_rate=1.0, throttle_retry_after=2)
        st, r, doc = self.sim.req("GET", self.pods_path())
        self.assertEqual(st, 429)
        self.assertEqual(r.getheader("Retry-After"), "2")
        self.assertEqual(doc["reason"], "TooManyRequests")

    def test_latency(self):
        self.sim.faults(latency_ms=300)
        t0 = time.monotonic()
        self.sim.req("GET", self.pods_path())
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)

    def test_fail_paths_restricts_to_post(self):
        self.sim.faults(error_rate=1.0, fail_paths="^POST ")
        self.assertEqual(self.sim.req("GET", self.pods_path())[0], 200)
        self.assertEqual(self.sim.req("POST", self.pods_path(), pod_body("f"))[0], 500)
        self.sim.faults(fail_paths="create pods")
        self.assertEqual(self.sim.req("POST", self.pods_path(), pod_body("f"))[0], 500)
        self.assertEqual(self.sim.req("GET", self.pods_path())[0], 200)

    def test_conflict_on_create(self):
        self.sim.faults(conflict_on_create=2)
        self.assertEqual(self.sim.req("POST", self.pods_path(), pod_body("c"))[0], 409)
        self.assertEqual(self.sim.req("POST", self.pods_path(), pod_body("c"))[0], 409)
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/c")[0], 404)
        self.assertEqual(self.sim.req("POST", self.pods_path(), pod_body("c"))[0], 201)

    def test_unknown_fault_rejected(self):
        self.assertEqual(self.sim.req("POST", "/_sim/faults", {"bogus": 1})[0], 400)


# ======================================================================== kubelet
class Artifacts:
    """A tiny loopback HTTP server requiring a bearer token, serving a zip and a tar."""

    def __init__(self, token):
        zb = io.BytesIO()
        with zipfile.ZipFile(zb, "w") as z:
            z.writestr("app.py", "def handler(e, c): return e\n")
            z.writestr("lib/util.py", "")
        tb = io.BytesIO()
        with tarfile.open(fileobj=tb, mode="w:gz") as t:
            data = b"layer"
            ti = tarfile.TarInfo("opt/python/layer.py")
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        files = {"/code/fn.zip": zb.getvalue(), "/layers/l1.tar.gz": tb.getvalue()}
        self.hits = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits.append((self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != "Bearer " + token:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


SCRIPT = """set -e
mkdir -p /var/task /opt
wget -q --header "Authorization: Bearer ${FAKECLOUD_TOKEN}" -O /tmp/code.zip "${FAKECLOUD_ARTIFACTS}/code/fn.zip"
unzip -o /tmp/code.zip -d /var/task
wget -O '/tmp/layer-0.tar.gz' --header='Authorization: Bearer '"$FAKECLOUD_TOKEN" $FAKECLOUD_ARTIFACTS/layers/l1.tar.gz
if [ -s /tmp/layer-0.tar.gz ]; then tar -xzf /tmp/layer-0.tar.gz -C /opt; fi
"""


def lambda_pod(name, artifacts_url, token_ref=None, image="public.ecr.aws/lambda/python:3.12",
               script=SCRIPT):
    token_env = {"name": "FAKECLOUD_TOKEN"}
    if token_ref:
        token_env["valueFrom"] = {"secretKeyRef": token_ref}
    else:
        token_env["value"] = "tok"
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"fakecloud/function": "f"}},
            "spec": {"restartPolicy": "Never",
                     "volumes": [{"name": "task", "emptyDir": {}}],
                     "initContainers": [{
                         "name": "fakecloud-init", "image": "busybox:1.36",
                         "command": ["sh", "-c", script],
                         "env": [token_env, {"name": "FAKECLOUD_ARTIFACTS",
                                             "value": artifacts_url}],
                         "volumeMounts": [{"name": "task", "mountPath": "/var/task"}]}],
                     "containers": [{
                         "name": "lambda", "image": image, "args": ["app.handler"],
                         "env": [{"name": "AWS_LAMBDA_FUNCTION_NAME", "value": "f"},
                                 {"name": "SECRET_VAL", "valueFrom": {"secretKeyRef": {
                                     "name": "fn-secret", "key": "v"}}}],
                         "volumeMounts": [{"name": "task", "mountPath": "/var/task"}]}]}}


def rie_invoke(ip, payload, port=8080):
    c = http.client.HTTPConnection(ip, port, timeout=5)
    try:
        c.request("POST", "/2015-03-31/functions/function/invocations",
                  body=json.dumps(payload), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


class KubeletTest(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.art = Artifacts("tok")

    @classmethod
    def tearDownClass(cls):
        cls.art.close()
        super().tearDownClass()

    def secret(self, name, data):
        body = {"kind": "Secret", "metadata": {"name": name},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        st, _, doc = self.sim.req("POST", "/api/v1/namespaces/%s/secrets" % self.ns, body)
        self.assertEqual(st, 201, doc)

    def test_plain_pod_runs_and_rie_answers(self):
        st, _, _ = self.sim.create_pod(self.ns, "r", spec={"containers": [{
            "name": "main", "image": "public.ecr.aws/lambda/python:3.12",
            "args": ["app.handler"], "env": [{"name": "A", "value": "1"},
                                             {"name": "B", "value": "$(A)-x"}]}]})
        self.assertEqual(st, 201)
        p = self.sim.wait_pod(self.ns, "r", lambda p: cond(p, "Ready").get("status") == "True")
        s = p["status"]
        self.assertEqual(s["phase"], "Running")
        self.assertEqual(p["spec"]["nodeName"], "kubesim-node")
        self.assertEqual(s["hostIP"], "127.0.0.1")
        self.assertTrue(s["podIP"].startswith("127.") and s["podIP"] != "127.0.0.1")
        self.assertEqual(cond(p, "PodScheduled")["status"], "True")
        self.assertIn("running", s["containerStatuses"][0]["state"])
        code, body = rie_invoke(s["podIP"], {"hello": "world"})
        self.assertEqual(code, 200)
        self.assertEqual(body["event"], {"hello": "world"})
        self.assertEqual(body["handler"], "app.handler")
        self.assertEqual(body["pod"], "r")
        self.assertEqual(body["env"], {"A": "1", "B": "1-x"})
        st = self.sim.stats()["pods"]["%s/r" % self.ns]
        self.assertLessEqual(st["rie_ready_monotonic"], time.monotonic())
        self.assertEqual(st["invocations"], 1)
        _, _, log = self.sim.req("GET", self.pods_path() + "/r/log")
        self.assertIn("START RIE", log)
        # deletion closes the RIE and frees the IP
        self.sim.req("DELETE", self.pods_path() + "/r")
        with self.assertRaises(OSError):
            rie_invoke(s["podIP"], {})

    def test_pod_ips_are_unique(self):
        for n in ("u1", "u2", "u3"):
            self.sim.create_pod(self.ns, n, image="x-norie")
        ips = [self.sim.wait_pod(self.ns, n, lambda p: status_of(p).get("podIP"))
               ["status"]["podIP"] for n in ("u1", "u2", "u3")]
        self.assertEqual(len(set(ips)), 3)

    def test_init_downloads_code_and_layers(self):
        self.secret("tok-secret", {"token": "tok"})
        self.secret("fn-secret", {"v": "hidden"})
        body = lambda_pod("init-ok", self.art.url, {"name": "tok-secret", "key": "token"})
        st, _, doc = self.sim.req("POST", self.pods_path(), body)
        self.assertEqual(st, 201, doc)
        p = self.sim.wait_pod(self.ns, "init-ok",
                              lambda p: cond(p, "Ready").get("status") == "True")
        ics = p["status"]["initContainerStatuses"][0]
        self.assertEqual(ics["state"]["terminated"]["exitCode"], 0)
        code, body = rie_invoke(p["status"]["podIP"], "just a string")
        self.assertEqual(body["event"], "just a string")
        self.assertEqual(body["code_files"], ["app.py", "lib/util.py"])
        self.assertEqual(body["layer_files"], ["opt/python/layer.py"])
        self.assertEqual(body["env"]["SECRET_VAL"], "hidden")
        self.assertEqual(body["image"], "public.ecr.aws/lambda/python:3.12")
        self.assertIn(("/code/fn.zip", "Bearer tok"), self.art.hits)
        _, _, log = self.sim.req("GET", self.pods_path() + "/init-ok/log?container=fakecloud-init")
        self.assertIn("saving to '/tmp/code.zip'", log)

    def test_init_download_401_fails_pod(self):
        self.secret("fn-secret", {"v": "x"})
        body = lambda_pod("init-401", self.art.url)
        body["spec"]["initContainers"][0]["env"][0]["value"] = "wrong"
        self.sim.req("POST", self.pods_path(), body)
        p = self.sim.wait_pod(self.ns, "init-401",
                              lambda p: status_of(p).get("phase") == "Failed")
        t = p["status"]["initContainerStatuses"][0]["state"]["terminated"]
        self.assertEqual((t["exitCode"], t["reason"]), (1, "Error"))
        _, _, log = self.sim.req("GET", self.pods_path() +
                                 "/init-401/log?container=fakecloud-init")
        self.assertIn("wget: server returned error: HTTP/1.1 401 Unauthorized", log)
        _, _, tbl = self.sim.req("GET", self.pods_path() + "/init-401", headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        self.assertEqual(tbl["rows"][0]["cells"][2], "Init:Error")

    def test_init_refuses_non_loopback(self):
        self.secret("fn-secret", {"v": "x"})
        self.sim.req("POST", self.pods_path(), lambda_pod("remote", "http://10.1.2.3:9"))
        self.sim.wait_pod(self.ns, "remote", lambda p: status_of(p).get("phase") == "Failed")
        _, _, log = self.sim.req("GET", self.pods_path() + "/remote/log?container=fakecloud-init")
        self.assertIn("non-loopback", log)

    def test_missing_secret_then_created(self):
        body = lambda_pod("nosec", self.art.url, {"name": "tok-secret", "key": "token"})
        self.sim.req("POST", self.pods_path(), body)
        p = self.sim.wait_pod(self.ns, "nosec", lambda p: (status_of(p).get(
            "initContainerStatuses") or [{}])[0].get("state", {}).get("waiting", {}).get(
            "reason") == "CreateContainerConfigError")
        w = p["status"]["initContainerStatuses"][0]["state"]["waiting"]
        self.assertEqual(w["message"], 'secret "tok-secret" not found')
        self.assertEqual(p["status"]["phase"], "Pending")
        self.secret("tok-secret", {"other": "x"})
        p = self.sim.wait_pod(self.ns, "nosec", lambda p: "couldn't find key" in json.dumps(
            status_of(p).get("initContainerStatuses")))
        self.assertIn("couldn't find key token in Secret %s/tok-secret" % self.ns,
                      json.dumps(p["status"]))

    def test_errimagepull_then_backoff(self):
        self.sim.create_pod(self.ns, "eip", image="repo/errimagepull:1")
        self.sim.wait_pod(self.ns, "eip", lambda p: (status_of(p).get("containerStatuses") or [
            {}])[0].get("state", {}).get("waiting", {}).get("reason") == "ErrImagePull")
        p = self.sim.wait_pod(self.ns, "eip", lambda p: p["status"]["containerStatuses"][0]
                              ["state"]["waiting"]["reason"] == "ImagePullBackOff", 4)
        self.assertEqual(p["status"]["phase"], "Pending")

    def test_invalid_image_name(self):
        self.sim.create_pod(self.ns, "iin", image="repo/invalidimagename")
        self.sim.wait_pod(self.ns, "iin", lambda p: (status_of(p).get("containerStatuses") or [
            {}])[0].get("state", {}).get("waiting", {}).get("reason") == "InvalidImageName")

    def test_crash(self):
        self.sim.create_pod(self.ns, "cr", image="repo/crash:1")
        p = self.sim.wait_pod(self.ns, "cr", lambda p: status_of(p).get("phase") == "Failed")
        t = p["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual((t["exitCode"], t["reason"]), (3, "Error"))
        _, _, log = self.sim.req("GET", self.pods_path() + "/cr/log")
        self.assertIn("simulated crash: exit code 3", log)

    def test_succeed(self):
        self.sim.create_pod(self.ns, "ok", image="repo/succeed:1")
        p = self.sim.wait_pod(self.ns, "ok", lambda p: status_of(p).get("phase") == "Succeeded")
        self.assertEqual(p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
                         0)

    def test_unschedulable(self):
        self.sim.create_pod(self.ns, "un", image="repo/unschedulable")
        p = self.sim.wait_pod(self.ns, "un", lambda p: cond(p, "PodScheduled").get("status")
                              == "False")
        c = cond(p, "PodScheduled")
        self.assertEqual(c["reason"], "Unschedulable")
        self.assertEqual(c["message"], "0/1 nodes are available: 1 Insufficient memory.")
        self.assertEqual(p["status"]["phase"], "Pending")

    def test_norie_running_but_never_listening(self):
        self.sim.create_pod(self.ns, "nr", image="repo/norie")
        p = self.sim.wait_pod(self.ns, "nr", lambda p: status_of(p).get("phase") == "Running")
        time.sleep(0.2)
        self.assertNotEqual(cond(self.sim.pod(self.ns, "nr"), "Ready").get("status"), "True")
        with self.assertRaises(OSError):
            rie_invoke(p["status"]["podIP"], {})

    def test_boot_and_rie_delay_timing(self):
        self.sim.create_pod(self.ns, "slow", metadata={"annotations": {
            "kubesim/boot-ms": "300", "kubesim/rie-delay-ms": "300"}})
        t0 = time.monotonic()
        p = self.sim.wait_pod(self.ns, "slow", lambda p: status_of(p).get("phase") == "Running")
        t1 = time.monotonic()
        self.assertGreaterEqual(t1 - t0, 0.2)
        self.assertNotEqual(cond(p, "Ready").get("status"), "True")
        self.sim.wait_pod(self.ns, "slow", lambda p: cond(p, "Ready").get("status") == "True")
        st = self.sim.stats()["pods"]["%s/slow" % self.ns]
        self.assertGreaterEqual(st["rie_ready_monotonic"] - st["running_monotonic"], 0.29)

    def test_log_tail_lines_and_waiting_container(self):
        self.sim.create_pod(self.ns, "lg", image="repo/crash")
        self.sim.wait_pod(self.ns, "lg", lambda p: status_of(p).get("phase") == "Failed")
        _, r, log = self.sim.req("GET", self.pods_path() + "/lg/log?tailLines=1")
        self.assertEqual(log, "simulated crash: exit code 3\n")
        self.assertTrue(r.getheader("Content-Type").startswith("text/plain"))
        self.sim.create_pod(self.ns, "lw", image="repo/unschedulable")
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/lw/log")[0], 400)


# ======================================================================== pods/log, pods/proxy
INVOKE = "/proxy/2015-03-31/functions/function/invocations"
REPORT_RX = (r"^REPORT RequestId: %s\t(Init Duration: \d+\.\d\d ms\t)?Duration: \d+\.\d\d ms"
             r"\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t$")


class PodLogTest(Base):
    def running(self, name, **kw):
        spec = {"containers": [{"name": "main", "image": kw.get("image", "repo/fn:1"),
                                "args": ["app.handler"],
                                "env": [{"name": "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                                         "value": "128"}]}]}
        self.assertEqual(self.sim.create_pod(self.ns, name, spec=spec)[0], 201)
        return self.sim.wait_pod(self.ns, name,
                                 lambda p: cond(p, "Ready").get("status") == "True")

    def log(self, name, query=""):
        st, r, body = self.sim.req("GET", self.pods_path() + "/%s/log%s" % (name, query))
        return st, body

    def test_each_invocation_logs_start_end_report_like_the_rie(self):
        ip = self.running("inv")["status"]["podIP"]
        _, first = rie_invoke(ip, {"kubesim_log": ["hello from the handler"]})
        _, second = rie_invoke(ip, {})
        lines = self.log("inv")[1].splitlines()
        i = lines.index("START RequestId: %s Version: $LATEST" % first["request_id"])
        self.assertEqual(lines[i + 1:i + 3], ["hello from the handler",
                                              "END RequestId: %s" % first["request_id"]])
        self.assertRegex(lines[i + 3], REPORT_RX % first["request_id"])
        self.assertIn("Init Duration", lines[i + 3])
        self.assertEqual(lines[i + 4], "START RequestId: %s Version: $LATEST"
                         % second["request_id"])
        self.assertRegex(lines[i + 6], REPORT_RX % second["request_id"])
        self.assertNotIn("Init Duration", lines[i + 6])

    def test_tail_since_timestamps_and_limit_bytes(self):
        ip = self.running("opt")["status"]["podIP"]
        rie_invoke(ip, {"kubesim_log": ["one", "two", "three"]})
        st, body = self.log("opt", "?tailLines=3")
        self.assertEqual(st, 200)
        self.assertEqual(body.splitlines()[0], "three")
        self.assertEqual(self.log("opt", "?tailLines=0"), (200, None))
        st, body = self.log("opt", "?tailLines=2&timestamps=true")
        self.assertRegex(body.splitlines()[0],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z END RequestId: ")
        self.assertEqual(self.log("opt", "?limitBytes=5")[1], "START")
        full = self.log("opt")[1]
        self.assertEqual(self.log("opt", "?sinceSeconds=3600")[1], full)
        self.assertEqual(self.log("opt", "?sinceTime=2999-01-01T00:00:00Z"), (200, None))
        self.assertEqual(self.log("opt", "?sinceTime=2000-01-01T00:00:00.5%2B01:00")[1], full)

    def test_bad_options_are_invalid_like_kube_apiserver(self):
        self.running("bad")
        for q, msg in (("tailLines=-1", "tailLines: Invalid value: -1: must be greater than "
                                        "or equal to 0"),
                       ("limitBytes=0", "limitBytes: Invalid value: 0: must be greater than 0"),
                       ("sinceSeconds=0", "sinceSeconds: Invalid value: 0: must be greater "
                                          "than 0"),
                       ("sinceSeconds=5&sinceTime=2020-01-01T00:00:00Z",
                        "at most one of `sinceTime` or `sinceSeconds` may be specified")):
            st, body = self.log("bad", "?" + q)
            self.assertEqual((st, body["reason"]), (422, "Invalid"), q)
            self.assertIn('PodLogOptions "bad" is invalid: ', body["message"])
            self.assertIn(msg, body["message"])
        st, body = self.log("bad", "?previous=true")
        self.assertEqual(st, 400)
        self.assertEqual(body["message"],
                         'previous terminated container "main" in pod "bad" not found')
        self.assertEqual(self.log("bad", "?tailLines=x")[0], 400)
        self.assertEqual(self.log("bad", "?sinceTime=yesterday")[0], 400)
        self.assertEqual(self.log("bad", "?container=nope")[0], 400)
        self.assertEqual(self.log("missing")[0], 404)

    def open_follow(self, name, query=""):
        c = self.sim.conn(timeout=10)
        c.request("GET", self.pods_path() + "/%s/log?follow=true%s" % (name, query))
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        return c, r

    def read_until(self, r, needle, limit=64 << 10):
        got = b""
        while needle not in got and len(got) < limit:
            chunk = r.read1(65536)
            if not chunk:
                break
            got += chunk
        return got.decode()

    def test_follow_streams_new_lines_and_ends_when_the_pod_goes(self):
        ip = self.running("fol")["status"]["podIP"]
        c, r = self.open_follow("fol", "&tailLines=1")
        try:
            self.assertIn("START RIE listening", self.read_until(r, b"\n"))
            _, inv = rie_invoke(ip, {"kubesim_log": ["live line"]})
            got = self.read_until(r, b"REPORT RequestId")
            self.assertIn("live line\nEND RequestId: %s\n" % inv["request_id"], got)
            t0 = time.monotonic()
            self.sim.req("DELETE", self.pods_path() + "/fol?gracePeriodSeconds=0")
            rest = r.read()  # the chunked body ends: read() returns instead of blocking
            self.assertLess(time.monotonic() - t0, 5)
            self.assertNotIn("START", rest.decode())
        finally:
            c.close()

    def test_follow_of_an_ended_container_returns_its_log_and_ends(self):
        self.sim.create_pod(self.ns, "done", image="repo/crash")
        self.sim.wait_pod(self.ns, "done", lambda p: status_of(p).get("phase") == "Failed")
        c, r = self.open_follow("done")
        try:
            self.assertTrue(r.read().decode().endswith("simulated crash: exit code 3\n"))
        finally:
            c.close()

    def test_follow_limit_bytes_ends_the_stream(self):
        self.running("lim")
        c, r = self.open_follow("lim", "&limitBytes=7")
        try:
            self.assertEqual(r.read(), b"START R")
        finally:
            c.close()

    def test_follow_ends_when_the_client_goes_away(self):
        self.running("away")
        c, r = self.open_follow("away")
        self.read_until(r, b"listening")
        self.assertEqual(self.sim.stats()["log_follow_streams_current"], 1)
        c.close()
        r.close()
        deadline = time.monotonic() + 5
        while self.sim.stats()["log_follow_streams_current"] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.sim.stats()["log_follow_streams_current"], 0)


class PodProxyTest(Base):
    def running(self, name, image="repo/fn:1"):
        self.assertEqual(self.sim.create_pod(self.ns, name, image=image)[0], 201)
        return self.sim.wait_pod(self.ns, name,
                                 lambda p: status_of(p).get("podIP") and
                                 (cond(p, "Ready").get("status") == "True" or
                                  "norie" in image))

    def test_post_reaches_the_rie_and_the_answer_passes_through(self):
        self.running("px")
        self.sim.req("POST", "/_sim/reset", {})
        st, r, doc = self.sim.req("POST", self.pods_path() + "/px:8080" + INVOKE,
                                  {"via": "proxy"})
        self.assertEqual(st, 200)
        self.assertEqual(doc["event"], {"via": "proxy"})
        self.assertEqual(doc["pod"], "px")
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        st, _, doc = self.sim.req("POST", self.pods_path() + "/http:px:8080" + INVOKE, b"raw")
        self.assertEqual((st, doc["event"]), (200, "raw"))
        # the RIE's own 404 passes through, status and body
        st, _, doc = self.sim.req("GET", self.pods_path() + "/px:8080/proxy/nothing")
        self.assertEqual((st, doc), (404, {"errorMessage": "not found"}))
        log = self.sim.req("GET", "/_sim/requests")[2]["requests"]
        self.assertEqual([(e["verb"], e["status"]) for e in log],
                         [("create pods/proxy", 200), ("create pods/proxy", 200),
                          ("get pods/proxy", 404)])
        self.assertEqual(self.sim.stats()["pods"]["%s/px" % self.ns]["invocations"], 2)

    def test_errors_like_kube_apiserver(self):
        st, _, doc = self.sim.req("POST", self.pods_path() + "/nope:8080" + INVOKE, {})
        self.assertEqual((st, doc["reason"], doc["message"]),
                         (404, "NotFound", 'pods "nope" not found'))
        self.sim.create_pod(self.ns, "pending", image="repo/unschedulable")
        st, _, doc = self.sim.req("POST", self.pods_path() + "/pending:8080" + INVOKE, {})
        self.assertEqual((st, doc["reason"], doc["message"]),
                         (400, "BadRequest", "address not allowed"))
        ip = self.running("quiet", image="repo/norie")["status"]["podIP"]
        st, _, doc = self.sim.req("POST", self.pods_path() + "/quiet:8080" + INVOKE, {})
        self.assertEqual((st, doc["reason"]), (503, "ServiceUnavailable"))
        self.assertEqual(doc["message"], "error trying to reach service: dial tcp %s:8080: "
                         "connect: connection refused" % ip)
        st, _, doc = self.sim.req("GET", self.pods_path() + "/ftp:quiet:8080/proxy/")
        self.assertEqual((st, doc["message"]), (400, 'invalid pod request "ftp:quiet:8080"'))
        # kube's SplitSchemeNamePort: an empty scheme is valid, four parts are not
        st, _, doc = self.sim.req("GET", self.pods_path() + "/:quiet:8080/proxy/")
        self.assertEqual((st, doc["reason"]), (503, "ServiceUnavailable"))
        st, _, doc = self.sim.req("GET", self.pods_path() + "/http:quiet:8080:1/proxy/")
        self.assertEqual((st, doc["message"]), (400, 'invalid pod request "http:quiet:8080:1"'))

    def test_function_error_and_slow_answers_pass_through(self):
        self.running("fe")
        st, r, doc = self.sim.req("POST", self.pods_path() + "/fe:8080" + INVOKE,
                                  {"kubesim_error": "boom"})
        self.assertEqual((st, r.getheader("X-Amz-Function-Error")), (200, "Unhandled"))
        self.assertEqual(doc, {"errorMessage": "boom", "errorType": "Error", "stackTrace": []})
        t0 = time.monotonic()
        st, r, doc = self.sim.req("POST", self.pods_path() + "/fe:8080" + INVOKE,
                                  {"kubesim_sleep_ms": 300})
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual((st, r.getheader("X-Amz-Function-Error"), doc["event"]),
                         (200, None, {"kubesim_sleep_ms": 300}))


class ForbidFaultTest(Base):
    def test_a_forbidden_verb_is_403_like_the_rbac_authorizer(self):
        self.assertEqual(self.sim.create_pod(self.ns, "fb", image="repo/fn:1")[0], 201)
        self.sim.faults(forbid="create pods/proxy, list pods")
        try:
            st, _, doc = self.sim.req("POST", self.pods_path() + "/fb:8080" + INVOKE, {})
            self.assertEqual((st, doc["reason"]), (403, "Forbidden"))
            self.assertRegex(doc["message"], r'^pods "fb:8080" is forbidden: User "[^"]+" cannot '
                             r'create resource "pods/proxy" in API group "" in the namespace "%s"$'
                             % self.ns)
            st, _, doc = self.sim.req("GET", self.pods_path())
            self.assertEqual(st, 403)
            self.assertIn('cannot list resource "pods"', doc["message"])
            self.assertEqual(self.sim.req("GET", self.pods_path() + "/fb")[0], 200)
        finally:
            self.sim.faults(forbid="")


class HiddenPodIpTest(Base):
    @classmethod
    def setUpClass(cls):
        cls.sim = Sim("--boot-ms", "20", "--hide-pod-ips")

    def test_pod_ips_do_not_answer_but_pods_proxy_reaches_the_runtime(self):
        self.assertEqual(self.sim.create_pod(self.ns, "hid", image="repo/fn:1")[0], 201)
        pod = self.sim.wait_pod(self.ns, "hid", lambda p: cond(p, "Ready").get("status") == "True")
        ip = pod["status"]["podIP"]
        self.assertTrue(ip.startswith("127.255."), ip)
        self.assertEqual(pod["status"]["podIPs"], [{"ip": ip}])
        with self.assertRaises(OSError):
            rie_invoke(ip, {})
        st, _, doc = self.sim.req("POST", self.pods_path() + "/hid:8080" + INVOKE, {"a": 1})
        self.assertEqual((st, doc["event"]), (200, {"a": 1}))


# ======================================================================== stats
class StatsTest(Base):
    def test_counts_and_request_log(self):
        self.sim.req("POST", "/_sim/reset", {})
        self.sim.req("POST", self.pods_path(), pod_body("a", image="x-unschedulable"))
        self.sim.req("GET", self.pods_path())
        self.sim.req("GET", self.pods_path() + "/a")
        self.sim.req("DELETE", self.pods_path() + "/a")
        self.sim.req("GET", "/api/v1/namespaces/%s/secrets" % self.ns)
        st = self.sim.stats()
        self.assertEqual(st["requests"], {"create pods": 1, "list pods": 1, "get pods": 1,
                                          "delete pods": 1, "list secrets": 1})
        self.assertEqual(st["requests_by_path"]["POST /api/v1/namespaces/{ns}/pods"], 1)
        self.assertGreaterEqual(st["tls_handshakes_total"], 5)
        self.assertGreaterEqual(st["connections_total"], 5)
        # handler time per verb: the same keys, each a positive duration
        self.assertEqual(set(st["handler_seconds"]), set(st["requests"]))
        self.assertTrue(all(0 < v < 10 for v in st["handler_seconds"].values()),
                        st["handler_seconds"])
        log = self.sim.req("GET", "/_sim/requests")[2]["requests"]
        self.assertEqual([(e["verb"], e["status"]) for e in log],
                         [("create pods", 201), ("list pods", 200), ("get pods", 200),
                          ("delete pods", 200), ("list secrets", 200)])
        self.assertTrue(all(isinstance(e["time"], float) for e in log))

    def test_objects_and_bulk(self):
        st, _, doc = self.sim.req("POST", "/_sim/bulk", {"namespace": self.ns, "count": 500,
                                                         "name_prefix": "x",
                                                         "labels": {"b": "1"}})
        self.assertEqual((st, doc["created"]), (200, 500))
        self.assertEqual(self.sim.stats()["objects"]["pods"][self.ns], 500)
        doc = self.sim.req("GET", self.pods_path() + "?labelSelector=b%3D1&limit=10")[2]
        self.assertEqual(len(doc["items"]), 10)
        self.assertEqual(doc["items"][0]["status"]["phase"], "Running")
        self.sim.req("DELETE", self.pods_path())


class BulkDeleteCollectionTest(Base):
    """deletecollection of 10 000 Pods (the reap benchmark's size) keeps every contract:
    the answer lists exactly the deleted Pods, each deleted Pod gets its own
    resourceVersion and exactly one DELETED event on matching watches only, the others
    survive, and the watch history resumes at the right place. No timing asserted."""

    def test_deletecollection_of_10000_bulk_pods(self):
        ns = self.ns
        for prefix, count, labels in (
                ("foreign", 10000, {"fakecloud-managed-by": "fakecloud",
                                    "fakecloud-instance": "other"}),
                ("ours", 1000, {"fakecloud-managed-by": "fakecloud",
                                "fakecloud-instance": "me"}),
                ("unmanaged", 100, {})):
            st, _, doc = self.sim.req("POST", "/_sim/bulk", {
                "namespace": ns, "count": count, "name_prefix": prefix, "labels": labels})
            self.assertEqual((st, doc["created"]), (200, count))
        before = self.sim.req("GET", self.pods_path() + "?labelSelector=" +
                              "fakecloud-instance%3Dother")[2]
        self.assertEqual(len(before["items"]), 10000)
        by_name = {o["metadata"]["name"]: o for o in before["items"]}
        rv0 = int(before["metadata"]["resourceVersion"])
        managed = Watch(self.sim, self.pods_path() + "?watch=1&resourceVersion=%d&labelSelector="
                        "fakecloud-managed-by%%3Dfakecloud" % rv0, timeout=60)
        mine = Watch(self.sim, self.pods_path() + "?watch=1&resourceVersion=%d&labelSelector="
                     "fakecloud-instance%%3Dme" % rv0, timeout=60)
        try:
            st, _, doc = self.sim.req(
                "DELETE", self.pods_path() + "?labelSelector=fakecloud-managed-by%3Dfakecloud"
                "%2Cfakecloud-instance%21%3Dme&gracePeriodSeconds=0")
            self.assertEqual(st, 200)
            self.assertEqual((doc["kind"], doc["apiVersion"]), ("PodList", "v1"))
            items = doc["items"]
            self.assertEqual(len(items), 10000)
            self.assertEqual(sorted(i["metadata"]["name"] for i in items), sorted(by_name))
            rvs = [int(i["metadata"]["resourceVersion"]) for i in items]
            self.assertEqual(rvs, list(range(rv0 + 1, rv0 + 10001)))
            self.assertEqual(int(doc["metadata"]["resourceVersion"]), rv0 + 10000)
            for i in (items[0], items[4999], items[-1]):
                old = by_name[i["metadata"]["name"]]
                self.assertEqual(i["metadata"]["uid"], old["metadata"]["uid"])
                same = dict(i, metadata=dict(i["metadata"], resourceVersion="x"))
                self.assertEqual(same, dict(old, metadata=dict(old["metadata"],
                                                               resourceVersion="x")))
            # The managed watch sees one DELETED per Pod, in order, with the same object.
            for k in range(10000):
                ev = managed.next()
                self.assertIsNotNone(ev, "watch ended after %d events" % k)
                self.assertEqual(ev["type"], "DELETED")
                if k in (0, 1234, 9999):
                    self.assertEqual(ev["object"], items[k])
                else:
                    self.assertEqual(ev["object"]["metadata"]["resourceVersion"],
                                     str(rvs[k]))
            # The other watch saw none of them: its next event is this new Pod of "ours".
            self.sim.req("POST", self.pods_path(), pod_body(
                "ours-new", labels={"fakecloud-instance": "me"}))
            ev = mine.next()
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]),
                             ("ADDED", "ours-new"))
        finally:
            managed.close()
            mine.close()
        objs = self.sim.stats()["objects"]["pods"][ns]
        self.assertEqual(objs, 1101)
        left = self.sim.req("GET", self.pods_path())[2]["items"]
        self.assertEqual(sum(1 for o in left if o["metadata"]["name"].startswith("foreign")), 0)
        # History: resuming 5 events before the last deletion replays exactly those.
        last = rv0 + 10000
        w = Watch(self.sim, self.pods_path() + "?watch=1&resourceVersion=%d" % (last - 5))
        try:
            evs = [w.next() for _ in range(5)]
            self.assertEqual([(e["type"], int(e["object"]["metadata"]["resourceVersion"]))
                              for e in evs], [("DELETED", last - 4 + k) for k in range(5)])
        finally:
            w.close()
        # Older than the history (1000 events by default): 410 Expired.
        w = Watch(self.sim, self.pods_path() + "?watch=1&resourceVersion=%d" % rv0)
        try:
            ev = w.next()
            self.assertEqual((ev["type"], ev["object"]["code"]), ("ERROR", 410))
        finally:
            w.close()
        self.sim.req("DELETE", self.pods_path())


class EncodingTest(unittest.TestCase):
    """The store's cached encodings are byte for byte json.dumps, also for a DELETED copy
    (resourceVersion spliced in), even when a label is named resourceVersion."""

    def test_cached_encoding_equals_json_dumps(self):
        import ksim_store
        st = ksim_store.Store(history=10)
        seen = []
        st.hooks.append(lambda typ, res, obj, old: seen.append((typ, obj)))
        pod = {"kind": "Pod", "apiVersion": "v1",
               "metadata": {"name": "p", "labels": {"resourceVersion": "1", "x": "\u00e9"},
                            "annotations": {"a": '"resourceVersion":"7"'}},
               "spec": {"containers": [{"name": "m", "image": "i"}]}, "status": {}}
        created = st.create("pods", "ns", pod)

        def dumps(o):
            return json.dumps(o, separators=(",", ":")).encode()
        self.assertEqual(ksim_store.encode(created), dumps(created))
        gone = st.remove_many("pods", [created])
        self.assertEqual(len(gone), 1)
        self.assertEqual(gone[0]["metadata"]["resourceVersion"], "2")
        self.assertEqual(ksim_store.encode(gone[0]), dumps(gone[0]))
        self.assertEqual(ksim_store.encode(created), dumps(created))
        self.assertEqual([t for t, _ in seen], ["ADDED", "DELETED"])
        again = st.create("pods", "ns", json.loads(dumps(pod)))
        mod = st.mutate("pods", "ns", "p", lambda p: p["status"].update(phase="Running"))
        self.assertEqual(ksim_store.encode(mod), dumps(mod))
        self.assertNotEqual(ksim_store.encode(mod), ksim_store.encode(again))
        gone = st.remove("pods", "ns", "p")
        self.assertEqual(ksim_store.encode(gone), dumps(gone))
        self.assertEqual(st.counts(), {"pods": {}, "secrets": {}, "leases": {}})

    def test_metadata_bytes_are_the_metadata_also_after_a_resource_version_grows(self):
        import ksim_store
        st = ksim_store.Store(history=10, first_rv=998)
        pod = {"kind": "Pod", "apiVersion": "v1",
               "metadata": {"name": "p", "labels": {"resourceVersion": "1"}},
               "spec": {"containers": []}, "status": {}}
        o = st.create("pods", "ns", pod)
        m = st.mutate("pods", "ns", "p", lambda p: p["status"].update(phase="Running"),
                      parts=("status",))
        gone = st.remove_many("pods", [m])[0]  # "1000" -> "1001": one digit more
        for v in (o, m, gone):
            self.assertEqual(json.loads(ksim_store.metadata_bytes(v)), v["metadata"])
        self.assertEqual(gone["metadata"]["resourceVersion"], "1001")

    def test_status_only_mutation_copies_only_the_status(self):
        import ksim_store
        st = ksim_store.Store(history=10)
        pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "m", "image": "i", "env": [
                   {"name": "K", "value": "v\u00e9"}]}]},
               "status": {"phase": "Pending", "conditions": [{"type": "Ready"}]}}
        v1 = st.create("pods", "ns", pod)
        v1_bytes = bytes(ksim_store.encode(v1))

        def running(p):
            p["status"]["phase"] = "Running"
            p["status"]["conditions"][0]["status"] = "True"
        v2 = st.mutate("pods", "ns", "p", running, parts=("status",))
        v3 = st.mutate("pods", "ns", "p", lambda p: p["status"].update(podIP="127.1.0.1"),
                       parts=("status",))

        def dumps(o):
            return json.dumps(o, separators=(",", ":")).encode()
        # the spec is shared (not copied), the status is a new copy; every version's
        # encoding is byte for byte json.dumps, and the old versions are unchanged
        self.assertIs(v2["spec"], v1["spec"])
        self.assertIs(v3["spec"], v1["spec"])
        self.assertIsNot(v2["status"], v1["status"])
        self.assertEqual(v1["status"], {"phase": "Pending", "conditions": [{"type": "Ready"}]})
        self.assertEqual(ksim_store.encode(v1), v1_bytes)
        self.assertEqual(ksim_store.encode(v1), dumps(v1))
        self.assertEqual(ksim_store.encode(v2), dumps(v2))
        self.assertEqual(ksim_store.encode(v3), dumps(v3))
        self.assertEqual(v3["status"]["phase"], "Running")
        self.assertEqual([v1["metadata"]["resourceVersion"], v2["metadata"]["resourceVersion"],
                          v3["metadata"]["resourceVersion"]], ["1", "2", "3"])
        gone = st.remove("pods", "ns", "p")
        self.assertEqual(ksim_store.encode(gone), dumps(gone))


class LifecycleTest(unittest.TestCase):
    def test_sigterm_writes_stats_file_and_ends_watches(self):
        d = tempfile.mkdtemp()
        try:
            sf = os.path.join(d, "stats.json")
            sim = Sim("--stats-file", sf)
            sim.req("GET", "/version")
            w = Watch(sim, "/api/v1/namespaces/default/pods?watch=1")
            t0 = time.monotonic()
            self.assertEqual(sim.stop(), 0)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertIsNone(w.next())
            w.close()
            with open(sf) as f:
                self.assertEqual(json.load(f)["requests"]["get /version"], 1)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_plain_http_mode(self):
        sim = Sim("--plain-http")
        try:
            self.assertTrue(sim.url.startswith("http://127.0.0.1:"))
            self.assertEqual(sim.req("GET", "/api/v1/namespaces/default/pods")[0], 200)
        finally:
            sim.stop()
        sim = Sim("--plain-http", "--require-token")
        try:
            self.assertEqual(sim.req("GET", "/version")[0], 401)
            self.assertEqual(sim.req("GET", "/version", token=sim.token())[0], 200)
        finally:
            sim.stop()

    def test_certs_are_cached(self):
        sim = Sim()
        d = tempfile.mkdtemp()
        try:
            for f in ("ca.crt", "ca.key", "server.crt", "server.key", "client.crt",
                      "client.key"):
                shutil.copy(os.path.join(sim.dir, f), d)
            mtime = os.path.getmtime(os.path.join(d, "ca.crt"))
            sim2 = subprocess.run([sys.executable, KUBESIM, "--dir", d, "--help"],
                                  capture_output=True, timeout=10)
            self.assertEqual(sim2.returncode, 0)
            self.assertIn(b"--terminating-seconds", sim2.stdout)
            p = subprocess.Popen([sys.executable, KUBESIM, "--dir", d], stdout=subprocess.PIPE)
            self.addCleanup(p.stdout.close)
            try:
                ready = json.loads(p.stdout.readline())
                self.assertEqual(ready["ca"], os.path.join(d, "ca.crt"))
                self.assertEqual(os.path.getmtime(os.path.join(d, "ca.crt")), mtime)
            finally:
                p.terminate()
                p.wait(10)
        finally:
            sim.stop()
            shutil.rmtree(d, ignore_errors=True)


class OwnedDeleteAndCreateFaultTest(Base):
    """Single-call owned deletes (metadata.name field selector + label selector on a
    deletecollection, strictly parsed as kube-apiserver does) and the counted faults
    create_garbage / create_oversize / throttle_next."""

    def tearDown(self):
        self.sim.faults(throttle_next=0, create_garbage=0, create_oversize=0)
        super().tearDown()

    def q(self, **kw):
        import urllib.parse
        return urllib.parse.urlencode(kw)

    def test_deletecollection_by_name_and_label_deletes_only_a_labelled_pod(self):
        labels = {"fakecloud-managed-by": "fakecloud"}
        self.assertEqual(self.sim.create_pod(self.ns, "ours", metadata={"labels": labels})[0], 201)
        self.assertEqual(self.sim.create_pod(self.ns, "foreign")[0], 201)
        self.assertEqual(self.sim.create_pod(self.ns, "other", metadata={
            "labels": {"fakecloud-managed-by": "someone-else"}})[0], 201)
        other_ns = self.ns + "-x"
        self.assertEqual(self.sim.create_pod(other_ns, "ours", metadata={"labels": labels})[0],
                         201)
        sel = "fakecloud-managed-by=fakecloud"
        for name in ("foreign", "other"):
            st, _, doc = self.sim.req("DELETE", self.pods_path() + "?" + self.q(
                fieldSelector="metadata.name=" + name, labelSelector=sel))
            self.assertEqual(st, 200, doc)
            self.assertEqual(doc["items"], [])
            self.assertEqual(self.sim.req("GET", self.pods_path() + "/" + name)[0], 200)
        st, _, doc = self.sim.req("DELETE", self.pods_path() + "?" + self.q(
            fieldSelector="metadata.name=ours", labelSelector=sel))
        self.assertEqual(st, 200, doc)
        self.assertEqual([i["metadata"]["name"] for i in doc["items"]], ["ours"])
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/ours")[0], 404)
        self.assertEqual(self.sim.req("GET", self.pods_path(other_ns) + "/ours")[0], 200)

    def test_field_selectors_are_parsed_strictly_like_the_apiserver(self):
        self.assertEqual(self.sim.create_pod(self.ns, "a")[0], 201)
        bad = ["metadata.name = a", " metadata.name=a", "metadata.name=a=b", "metadata.name",
               "metadata.name=a\\q", "metadata.labels=a", "spec.foo=x"]
        for fs in bad:
            for method in ("GET", "DELETE"):
                st, _, doc = self.sim.req(method, self.pods_path() + "?" + self.q(fieldSelector=fs))
                self.assertEqual(st, 400, "%s %r: %s" % (method, fs, doc))
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/a")[0], 200, "nothing deleted")
        st, _, doc = self.sim.req("GET", self.pods_path() + "?" + self.q(
            fieldSelector="metadata.name=a\\,b"))
        self.assertEqual((st, doc["items"]), (200, []), "an escaped comma is part of the value")
        st, _, doc = self.sim.req("GET", self.pods_path() + "?" + self.q(
            fieldSelector="metadata.name==a,metadata.namespace=" + self.ns))
        self.assertEqual([i["metadata"]["name"] for i in doc["items"]], ["a"])

    def test_create_garbage_stores_the_object_and_answers_201_with_no_json(self):
        self.sim.faults(create_garbage=1)
        st, _, doc = self.sim.create_pod(self.ns, "g1")
        self.assertEqual(st, 201)
        self.assertIsInstance(doc, str, "the answer is not JSON")
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/g1")[0], 200, "stored")
        self.assertEqual(self.sim.create_pod(self.ns, "g2")[0], 201)
        self.assertEqual(self.sim.faults()["create_garbage"], 0, "used once")

    def test_create_oversize_answers_the_object_padded_past_1_mib(self):
        self.sim.faults(create_oversize=1)
        c = self.sim.conn()
        body = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"},
                           "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})
        c.request("POST", self.pods_path(), body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        self.assertEqual(r.status, 201)
        self.assertGreater(len(data), 1 << 20)
        self.assertEqual(json.loads(data)["metadata"]["name"], "big")
        self.assertEqual(self.sim.req("GET", self.pods_path() + "/big")[0], 200)

    def test_create_faults_honour_fail_paths(self):
        self.sim.faults(create_garbage=1, fail_paths="create secrets")
        self.assertEqual(self.sim.create_pod(self.ns, "p")[1].getheader("Content-Type"),
                         "application/json")
        st, _, doc = self.sim.req("POST", "/api/v1/namespaces/%s/secrets" % self.ns, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "stringData": {"k": "v"}})
        self.assertEqual(st, 201)
        self.assertIsInstance(doc, str)
        self.assertEqual(self.sim.req("GET", "/api/v1/namespaces/%s/secrets/s" % self.ns)[0], 200)
        self.sim.faults(conflict_on_create=1, fail_paths="create pods")
        self.assertEqual(self.sim.req("POST", "/api/v1/namespaces/%s/secrets" % self.ns, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s2"}})[0], 201)
        self.assertEqual(self.sim.create_pod(self.ns, "c1")[0], 409)
        self.sim.faults(conflict_on_create=0)

    def test_throttle_next_answers_429_to_the_next_n_matching_requests(self):
        self.assertEqual(self.sim.create_pod(self.ns, "t")[0], 201)
        self.sim.faults(throttle_next=3, throttle_retry_after=0, fail_paths="deletecollection")
        self.assertEqual(self.sim.req("GET", self.pods_path())[0], 200, "not matching")
        path = self.pods_path() + "?" + self.q(fieldSelector="metadata.name=t")
        codes = [self.sim.req("DELETE", path)[0] for _ in range(4)]
        self.assertEqual(codes, [429, 429, 429, 200])
        st, r, doc = self.sim.req("DELETE", path)
        self.assertEqual(st, 200)


if __name__ == "__main__":
    unittest.main()
