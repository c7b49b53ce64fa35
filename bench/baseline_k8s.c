/*
 * baseline_k8s: the reference's request pattern over bench_http.
 * Sleeps and loops carry the reference's constants (see the header).
 */
#include "baseline_k8s.h"

#include "bench_stats.h"

#include <json-c/json.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct basek8s {
    bhttp_client *api;
    basek8s_config cfg;
    char *namespace_name;
    char *instance_id;
    char *self_url;
    char *internal_token;
};

static void errf(char err[BASEK8S_ERR_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, BASEK8S_ERR_MAX, fmt, ap);
    va_end(ap);
}

basek8s *basek8s_new(bhttp_client *api, const basek8s_config *cfg)
{
    basek8s *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->api = api;
    b->cfg = *cfg;
    b->namespace_name = strdup(cfg->namespace_name ? cfg->namespace_name : "default");
    b->instance_id = strdup(cfg->instance_id ? cfg->instance_id : "fakecloud-1");
    b->self_url = strdup(cfg->self_url ? cfg->self_url : "http://127.0.0.1:4566");
    b->internal_token = strdup(cfg->internal_token ? cfg->internal_token : "");
    if (!b->namespace_name || !b->instance_id || !b->self_url || !b->internal_token) {
        basek8s_free(b);
        return NULL;
    }
    b->cfg.namespace_name = b->namespace_name;
    b->cfg.instance_id = b->instance_id;
    b->cfg.self_url = b->self_url;
    b->cfg.internal_token = b->internal_token;
    return b;
}

void basek8s_free(basek8s *b)
{
    if (b == NULL)
        return;
    free(b->namespace_name);
    free(b->instance_id);
    free(b->self_url);
    free(b->internal_token);
    free(b);
}

/* DNS-1123 label: lower-case alphanumerics and '-', at most 63, no '-' at the ends. */
char *basek8s_pod_name(const char *function_name, const char *deploy_id)
{
    char raw[256];
    snprintf(raw, sizeof(raw), "fakecloud-lambda-%s-%.8s", function_name, deploy_id);
    char *out = malloc(64);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (const char *p = raw; *p && n < 63; p++) {
        char c = (char)tolower((unsigned char)*p);
        out[n++] = (isalnum((unsigned char)c) ? c : '-');
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
    return out;
}

static const char *account_from_arn(const char *arn, char buf[32])
{
    /* arn:aws:lambda:<region>:<account>:function:<name>; else the reference's default. */
    const char *p = arn;
    for (int field = 0; p && field < 4; field++) {
        p = strchr(p, ':');
        if (p)
            p++;
    }
    const char *end = p ? strchr(p, ':') : NULL;
    if (p == NULL || end == NULL || end == p || (size_t)(end - p) >= 32)
        return "000000000000";
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return buf;
}

static json_object *env_var(const char *name, const char *value)
{
    json_object *e = json_object_new_object();
    json_object_object_add(e, "name", json_object_new_string(name));
    json_object_object_add(e, "value", json_object_new_string(value));
    return e;
}

static json_object *mount(const char *name, const char *path)
{
    json_object *m = json_object_new_object();
    json_object_object_add(m, "name", json_object_new_string(name));
    json_object_object_add(m, "mountPath", json_object_new_string(path));
    return m;
}

char *basek8s_pod_json(const basek8s_config *cfg, const basek8s_function *fn)
{
    char *name = basek8s_pod_name(fn->name, fn->deploy_id);
    char *out = NULL;
    char acct_buf[32];
    char num[32];
    if (name == NULL)
        return NULL;
    const char *acct = account_from_arn(fn->arn ? fn->arn : "", acct_buf);

    json_object *pod = json_object_new_object();
    json_object_object_add(pod, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(pod, "kind", json_object_new_string("Pod"));
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "name", json_object_new_string(name));
    json_object_object_add(meta, "namespace", json_object_new_string(cfg->namespace_name));
    json_object *labels = json_object_new_object();
    json_object_object_add(labels, "fakecloud-managed-by", json_object_new_string("fakecloud"));
    json_object_object_add(labels, "fakecloud-instance", json_object_new_string(cfg->instance_id));
    json_object_object_add(labels, "fakecloud-lambda", json_object_new_string(fn->name));
    json_object_object_add(labels, "fakecloud-service", json_object_new_string("lambda"));
    json_object_object_add(meta, "labels", labels);
    json_object_object_add(pod, "metadata", meta);

    json_object *spec = json_object_new_object();
    json_object_object_add(spec, "restartPolicy", json_object_new_string("Never"));
    json_object *volumes = json_object_new_array();
    const char *vols[] = {"task", "opt"};
    for (size_t i = 0; i < 2; i++) {
        json_object *v = json_object_new_object();
        json_object_object_add(v, "name", json_object_new_string(vols[i]));
        json_object_object_add(v, "emptyDir", json_object_new_object());
        json_object_array_add(volumes, v);
    }
    json_object_object_add(spec, "volumes", volumes);

    if (fn->zip) {
        /* The reference inlines the URL parts and passes the token as a plain value. */
        char script[2048];
        snprintf(script, sizeof(script),
                 "set -e\n"
                 "wget -q --header \"Authorization: Bearer ${FAKECLOUD_INTERNAL_TOKEN}\" "
                 "-O /tmp/code.zip \"${FAKECLOUD_SELF_URL}/_fakecloud/lambda/_internal/code/"
                 "%s/%s/%s.zip\"\n"
                 "unzip -o -q /tmp/code.zip -d /var/task\n"
                 "wget -q --header \"Authorization: Bearer ${FAKECLOUD_INTERNAL_TOKEN}\" "
                 "-O /tmp/layers.tar \"${FAKECLOUD_SELF_URL}/_fakecloud/lambda/_internal/"
                 "layers/%s/%s/%s.tar\"\n"
                 "if [ -s /tmp/layers.tar ]; then tar -xf /tmp/layers.tar -C /opt; fi\n",
                 acct, fn->name, fn->deploy_id, acct, fn->name, fn->deploy_id);
        json_object *init = json_object_new_object();
        json_object_object_add(init, "name", json_object_new_string("fakecloud-init"));
        json_object_object_add(init, "image", json_object_new_string("busybox:1.36"));
        json_object *cmd = json_object_new_array();
        json_object_array_add(cmd, json_object_new_string("sh"));
        json_object_array_add(cmd, json_object_new_string("-c"));
        json_object_array_add(cmd, json_object_new_string(script));
        json_object_object_add(init, "command", cmd);
        json_object *ienv = json_object_new_array();
        json_object_array_add(ienv, env_var("FAKECLOUD_SELF_URL", cfg->self_url));
        json_object_array_add(ienv, env_var("FAKECLOUD_INTERNAL_TOKEN", cfg->internal_token));
        json_object_object_add(init, "env", ienv);
        json_object *im = json_object_new_array();
        json_object_array_add(im, mount("task", "/var/task"));
        json_object_array_add(im, mount("opt", "/opt"));
        json_object_object_add(init, "volumeMounts", im);
        json_object *inits = json_object_new_array();
        json_object_array_add(inits, init);
        json_object_object_add(spec, "initContainers", inits);
    }

    json_object *main_ct = json_object_new_object();
    json_object_object_add(main_ct, "name", json_object_new_string("lambda"));
    json_object_object_add(main_ct, "image", json_object_new_string(fn->image));
    if (fn->zip && fn->handler) {
        json_object *args = json_object_new_array();
        json_object_array_add(args, json_object_new_string(fn->handler));
        json_object_object_add(main_ct, "args", args);
    }
    json_object *env = json_object_new_array();
    snprintf(num, sizeof(num), "%u", fn->timeout_s ? fn->timeout_s : 3);
    json_object_array_add(env, env_var("AWS_LAMBDA_FUNCTION_TIMEOUT", num));
    json_object_array_add(env, env_var("AWS_LAMBDA_FUNCTION_NAME", fn->name));
    unsigned mem = fn->memory_mb > 128 ? fn->memory_mb : 128;
    snprintf(num, sizeof(num), "%u", mem);
    json_object_array_add(env, env_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", num));
    json_object_object_add(main_ct, "env", env);
    json_object *ports = json_object_new_array();
    json_object *port = json_object_new_object();
    json_object_object_add(port, "containerPort", json_object_new_int(8080));
    json_object_array_add(ports, port);
    json_object_object_add(main_ct, "ports", ports);
    snprintf(num, sizeof(num), "%uMi", mem);
    json_object *res = json_object_new_object();
    json_object *req = json_object_new_object();
    json_object_object_add(req, "memory", json_object_new_string(num));
    json_object *lim = json_object_new_object();
    json_object_object_add(lim, "memory", json_object_new_string(num));
    json_object_object_add(res, "requests", req);
    json_object_object_add(res, "limits", lim);
    json_object_object_add(main_ct, "resources", res);
    json_object *mm = json_object_new_array();
    json_object_array_add(mm, mount("task", "/var/task"));
    json_object_array_add(mm, mount("opt", "/opt"));
    json_object_object_add(main_ct, "volumeMounts", mm);
    json_object *containers = json_object_new_array();
    json_object_array_add(containers, main_ct);
    json_object_object_add(spec, "containers", containers);
    json_object_object_add(pod, "spec", spec);

    const char *text = json_object_to_json_string_ext(pod, JSON_C_TO_STRING_PLAIN);
    out = text ? strdup(text) : NULL;
    json_object_put(pod);
    free(name);
    return out;
}

/* One API call; counts it. Returns 0 when a response arrived. */
static int api_call(basek8s *b, const char *method, const char *path, const char *body,
                    bhttp_response *resp, basek8s_counts *counts, char err[BASEK8S_ERR_MAX])
{
    char why[BHTTP_ERR_MAX];
    if (counts)
        counts->requests++;
    if (bhttp_request(b->api, method, path, body, 0, resp, why) != 0) {
        errf(err, "k8s %s", why);
        return -1;
    }
    return 0;
}

static void delete_pod(basek8s *b, const char *name, basek8s_counts *counts)
{
    char path[256];
    char ignored[BASEK8S_ERR_MAX];
    bhttp_response resp;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", b->namespace_name, name);
    if (api_call(b, "DELETE", path, NULL, &resp, counts, ignored) == 0)
        bhttp_response_free(&resp);
}

/* Running + podIP → 1 (ip filled); terminal phase → -1; else 0. */
static int pod_state(const char *body, char ip[64], char phase[32])
{
    int rc = 0;
    json_object *pod = json_tokener_parse(body);
    json_object *status = NULL, *jip = NULL, *jphase = NULL;
    snprintf(phase, 32, "Unknown");
    if (pod && json_object_object_get_ex(pod, "status", &status)) {
        if (json_object_object_get_ex(status, "phase", &jphase))
            snprintf(phase, 32, "%s", json_object_get_string(jphase));
        if (json_object_object_get_ex(status, "podIP", &jip) &&
            json_object_get_string_len(jip) > 0) {
            snprintf(ip, 64, "%s", json_object_get_string(jip));
            if (strcmp(phase, "Running") == 0)
                rc = 1;
            else if (strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0)
                rc = -1;
        }
    }
    json_object_put(pod);
    return rc;
}

int basek8s_launch(basek8s *b, const basek8s_function *fn, char endpoint[64], char pod_name[64],
                   basek8s_counts *counts, char err[BASEK8S_ERR_MAX])
{
    int rc = -1;
    bool created = false;
    char path[256];
    char ip[64] = "";
    char phase[32];
    bhttp_response resp = {0};
    char *name = basek8s_pod_name(fn->name, fn->deploy_id);
    char *body = basek8s_pod_json(&b->cfg, fn);
    if (name == NULL || body == NULL) {
        errf(err, "baseline: out of memory building pod %s", fn->name);
        goto out;
    }
    snprintf(pod_name, 64, "%s", name);

    /* Best-effort delete of a stale Pod of the same (deterministic) name. */
    delete_pod(b, name, counts);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", b->namespace_name);
    for (unsigned attempt = 0; attempt < 6; attempt++) {
        if (api_call(b, "POST", path, body, &resp, counts, err) != 0)
            goto out;
        long status = resp.status;
        bhttp_response_free(&resp);
        if (status >= 200 && status < 300) {
            created = true;
            break;
        }
        if (status == 409 && attempt < 5) {
            bench_sleep_ms(b->cfg.conflict_sleep_ms);
            delete_pod(b, name, counts);
            continue;
        }
        errf(err, "k8s create pod %s: HTTP %ld", name, status);
        goto out;
    }
    if (!created) {
        errf(err, "k8s create pod %s: conflict after 6 tries", name);
        goto out;
    }

    /* wait_for_pod_ip: GET every poll_ms until Running with a podIP. */
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", b->namespace_name, name);
    int64_t deadline = bench_now_ns() + (int64_t)b->cfg.running_deadline_ms * 1000000;
    int state = 0;
    for (unsigned polls = 0; polls < 100000; polls++) {
        if (counts)
            counts->get_polls++;
        if (api_call(b, "GET", path, NULL, &resp, counts, err) != 0)
            goto fail_delete;
        if (resp.status != 200) {
            errf(err, "k8s get pod %s: HTTP %ld", name, resp.status);
            bhttp_response_free(&resp);
            goto fail_delete;
        }
        state = pod_state(resp.body, ip, phase);
        bhttp_response_free(&resp);
        if (state != 0)
            break;
        if (bench_now_ns() >= deadline)
            break;
        bench_sleep_ms(b->cfg.poll_ms);
    }
    if (state < 0) {
        errf(err, "pod %s reached terminal phase %s during startup", name, phase);
        goto fail_delete;
    }
    if (state == 0) {
        errf(err, "pod %s did not become Running with podIP within %us", name,
             b->cfg.running_deadline_ms / 1000);
        goto fail_delete;
    }

    /* wait_for_rie_ready: sleep, then connect; 20 tries. */
    for (unsigned i = 0; i < b->cfg.probe_tries; i++) {
        bench_sleep_ms(b->cfg.probe_sleep_ms);
        if (counts)
            counts->probes++;
        if (bhttp_tcp_probe(ip, 8080, 10000) == 0) {
            snprintf(endpoint, 64, "%s:8080", ip);
            rc = 0;
            goto out;
        }
    }
    errf(err, "RIE on %s:8080 did not accept connections within %us", ip,
         b->cfg.probe_tries * b->cfg.probe_sleep_ms / 1000);
fail_delete:
    delete_pod(b, name, counts);
out:
    free(name);
    free(body);
    return rc;
}

int basek8s_terminate(basek8s *b, const char *pod_name, char err[BASEK8S_ERR_MAX])
{
    char path[256];
    bhttp_response resp;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", b->namespace_name, pod_name);
    if (api_call(b, "DELETE", path, NULL, &resp, NULL, err) != 0)
        return -1;
    long status = resp.status;
    bhttp_response_free(&resp);
    if ((status >= 200 && status < 300) || status == 404)
        return 0;
    errf(err, "k8s delete pod %s: HTTP %ld", pod_name, status);
    return -1;
}

int basek8s_reap(basek8s *b, size_t *reaped, basek8s_counts *counts, char err[BASEK8S_ERR_MAX])
{
    int rc = -1;
    char path[256];
    bhttp_response resp = {0};
    json_object *list = NULL;
    *reaped = 0;
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/%s/pods?labelSelector=fakecloud-managed-by%%3Dfakecloud",
             b->namespace_name);
    if (api_call(b, "GET", path, NULL, &resp, counts, err) != 0)
        goto out;
    if (resp.status != 200) {
        errf(err, "k8s reap_stale: list pods: HTTP %ld", resp.status);
        goto out;
    }
    list = json_tokener_parse(resp.body);
    json_object *items = NULL;
    if (list == NULL || !json_object_object_get_ex(list, "items", &items) ||
        !json_object_is_type(items, json_type_array)) {
        errf(err, "k8s reap_stale: list pods: no items array");
        goto out;
    }
    size_t n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++) {
        json_object *pod = json_object_array_get_idx(items, i);
        json_object *meta = NULL, *labels = NULL, *inst = NULL, *jname = NULL;
        if (!json_object_object_get_ex(pod, "metadata", &meta) ||
            !json_object_object_get_ex(meta, "name", &jname))
            continue;
        if (json_object_object_get_ex(meta, "labels", &labels) &&
            json_object_object_get_ex(labels, "fakecloud-instance", &inst) &&
            strcmp(json_object_get_string(inst), b->instance_id) == 0)
            continue;
        char del[512];
        bhttp_response dresp;
        char why[BASEK8S_ERR_MAX];
        snprintf(del, sizeof(del), "/api/v1/namespaces/%s/pods/%s", b->namespace_name,
                 json_object_get_string(jname));
        if (api_call(b, "DELETE", del, NULL, &dresp, counts, why) != 0)
            continue;
        if (dresp.status >= 200 && dresp.status < 300)
            (*reaped)++;
        bhttp_response_free(&dresp);
    }
    rc = 0;
out:
    json_object_put(list);
    bhttp_response_free(&resp);
    return rc;
}
