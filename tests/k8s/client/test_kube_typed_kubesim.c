/*
 * Integration tests of the typed resource layer (kube_pods.h,
 * kube_secrets.h) against kubesim: each verb's request (path, query,
 * Accept), its typed answer, owned deletes that spare other objects, and
 * inputs refused before anything is sent. Zero outstanding bytes after each.
 */
#include "kube_pods.h"
#include "kube_secrets.h"
#include "kubesim_ctl.h"
#include "mock_host.h"
#include "svc.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NS_PODS    "/api/v1/namespaces/default/pods"
#define NS_SECRETS "/api/v1/namespaces/default/secrets"

static kubesim *ks;
static mock_host *mh;
static const fcb_host_services *host;
static kube_client *kc;

static void setup(void)
{
    mh = mock_host_new();
    host = mock_host_services(mh);
    cr_assert_eq(kubesim_start(NULL, &ks), 0, "kubesim: %s", kubesim_last_error());
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_open(host, NULL, &kc, &err), FCB_OK, "kube_client_open: %s",
                 err.message);
}

static void teardown(void)
{
    kube_client_free(kc);
    kc = NULL;
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "leaked %zu bytes",
                 mock_host_outstanding_bytes(mh));
    kubesim_stop(ks);
    ks = NULL;
    mock_host_free(mh);
}

TestSuite(kube_typed, .init = setup, .fini = teardown, .timeout = 60);

static char *pod_body(const char *name, const char *app)
{
    static char body[512];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"labels\":"
             "{\"app\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":\"m\",\"image\":\"x:1\"}]}}",
             name, app);
    return body;
}

static char *secret_body(const char *name, const char *app)
{
    static char body[512];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":{\"app\":\"%s\"}},\"data\":{\"t\":\"dA==\"}}",
             name, app);
    return body;
}

static void create_pod(const char *name, const char *app)
{
    kube_create_result res;
    fcb_error err = FCB_ERROR_INIT;
    const char *body = pod_body(name, app);
    cr_assert_eq(kube_pods_create(kc, "default", body, strlen(body), 0, &res, &err), FCB_OK,
                 "create %s: %s", name, err.message);
}

static void create_secret(const char *name, const char *app)
{
    kube_create_result res;
    fcb_error err = FCB_ERROR_INIT;
    const char *body = secret_body(name, app);
    cr_assert_eq(kube_secrets_create(kc, "default", body, strlen(body), 0, &res, &err), FCB_OK,
                 "create %s: %s", name, err.message);
}

static int object_status(const char *path)
{
    return kubesim_request(ks, "GET", path, NULL, NULL, NULL);
}

/* The last request kubesim logged: "METHOD path?query" into OUT, its Accept into ACCEPT. */
static void last_request(char *out, size_t size, char *accept, size_t accept_size)
{
    json_object *doc = NULL;
    json_object *list = NULL;
    cr_assert_eq(kubesim_get_json(ks, "/_sim/requests", &doc), 200);
    cr_assert(json_object_object_get_ex(doc, "requests", &list));
    size_t n = json_object_array_length(list);
    cr_assert_gt(n, 0);
    json_object *e = json_object_array_get_idx(list, n - 1);
    json_object *m, *p, *q, *a;
    json_object_object_get_ex(e, "method", &m);
    json_object_object_get_ex(e, "path", &p);
    json_object_object_get_ex(e, "query", &q);
    const char *query = json_object_get_string(q);
    snprintf(out, size, "%s %s%s%s", json_object_get_string(m), json_object_get_string(p),
             query != NULL && query[0] != '\0' ? "?" : "", query != NULL ? query : "");
    if (accept != NULL) {
        bool has = json_object_object_get_ex(e, "accept", &a) && a != NULL;
        snprintf(accept, accept_size, "%s", has ? json_object_get_string(a) : "");
    }
    json_object_put(doc);
}

static long requests_logged(void)
{
    json_object *doc = NULL;
    json_object *list = NULL;
    cr_assert_eq(kubesim_get_json(ks, "/_sim/requests", &doc), 200);
    cr_assert(json_object_object_get_ex(doc, "requests", &list));
    long n = (long)json_object_array_length(list);
    json_object_put(doc);
    return n;
}

/* ---------------------------------------------------------------- pods */

Test(kube_typed, creates_a_pod_and_returns_its_name_uid_and_resource_version)
{
    kube_create_result res;
    fcb_error err = FCB_ERROR_INIT;
    const char *body = pod_body("typed-1", "t");
    cr_assert_eq(kube_pods_create(kc, "default", body, strlen(body), 0, &res, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_str_eq(res.object.name, "typed-1");
    cr_expect_neq(res.object.uid[0], '\0');
    cr_expect_neq(res.object.resource_version[0], '\0');
    cr_expect_eq(res.status, 201);
    cr_expect_not(res.retried);
    cr_expect_not(res.conflict);
    cr_expect_not(res.maybe_created);
    char req[512];
    last_request(req, sizeof req, NULL, 0);
    cr_expect_str_eq(req, "POST " NS_PODS);

    json_object *pod = NULL;
    cr_assert_eq(kube_pods_get(kc, "default", "typed-1", 0, &pod, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(kube_object_name(pod), "typed-1");
    cr_expect_str_eq(kube_object_label(pod, "app"), "t");
    kube_object_ref ref;
    kube_object_ref_read(pod, &ref);
    cr_expect_str_eq(ref.uid, res.object.uid);
    json_object_put(pod);
    last_request(req, sizeof req, NULL, 0);
    cr_expect_str_eq(req, "GET " NS_PODS "/typed-1");
}

Test(kube_typed, reports_a_name_conflict_as_a_conflict_the_object_not_ours_to_delete)
{
    create_pod("dup", "t");
    kube_create_result res;
    fcb_error err = FCB_ERROR_INIT;
    const char *body = pod_body("dup", "t");
    cr_expect_eq(kube_pods_create(kc, "default", body, strlen(body), 0, &res, &err),
                 FCB_ERR_BACKEND);
    cr_expect_eq(res.status, 409);
    cr_expect(res.conflict);
    cr_expect_not(res.maybe_created, "a plain 409 created nothing");
    cr_expect(strstr(err.message, "AlreadyExists") != NULL, "%s", err.message);
}

Test(kube_typed, says_a_create_whose_answer_is_unreadable_may_have_created_the_object)
{
    cr_assert_eq(kubesim_set_faults(ks, "{\"create_garbage\":1}"), 0);
    kube_create_result res;
    fcb_error err = FCB_ERROR_INIT;
    const char *body = pod_body("garbled", "t");
    cr_expect_eq(kube_pods_create(kc, "default", body, strlen(body), 0, &res, &err),
                 FCB_ERR_BACKEND);
    cr_expect(res.maybe_created, "a 201 that is not JSON: the pod exists");
    cr_expect_not(res.conflict);
    cr_expect_eq(object_status(NS_PODS "/garbled"), 200);
}

Test(kube_typed, get_of_a_missing_pod_is_not_found_and_returns_no_object)
{
    json_object *pod = (json_object *)1;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_pods_get(kc, "default", "nope", 0, &pod, &err), FCB_ERR_NOT_FOUND);
    cr_expect_null(pod);
}

Test(kube_typed, owned_delete_removes_only_the_named_pod_with_our_labels)
{
    create_pod("own-1", "ours");
    create_pod("own-2", "ours");
    create_pod("foreign", "theirs");
    kube_delete_opts opts = {.label_selector = "app=ours", .grace_seconds = 0};
    kube_delete_result res;
    fcb_error err = FCB_ERROR_INIT;

    cr_assert_eq(kube_pods_delete_owned(kc, "default", "foreign", &opts, &res, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(res.deleted, 0, "not ours: spared");
    cr_expect_eq(object_status(NS_PODS "/foreign"), 200);

    cr_assert_eq(kube_pods_delete_owned(kc, "default", "own-1", &opts, &res, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(res.deleted, 1);
    cr_expect_eq(res.status, 200);
    char req[512], accept[256];
    last_request(req, sizeof req, accept, sizeof accept);
    cr_expect_str_eq(req, "DELETE " NS_PODS "?fieldSelector=metadata.name%3Down-1"
                          "&labelSelector=app%3Dours&gracePeriodSeconds=0");
    cr_expect(strstr(accept, "as=PartialObjectMetadataList") != NULL, "Accept: %s", accept);
    cr_expect_eq(object_status(NS_PODS "/own-1"), 404);
    cr_expect_eq(object_status(NS_PODS "/own-2"), 200, "only the named pod");

    cr_assert_eq(kube_pods_delete_owned(kc, "default", "own-1", &opts, &res, &err), FCB_OK);
    cr_expect_eq(res.deleted, 0, "gone is success with nothing deleted");
}

Test(kube_typed, delete_collection_deletes_every_matching_pod_and_counts_them)
{
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "col-%d", i);
        create_pod(name, "stale");
    }
    create_pod("keep", "fresh");
    kube_delete_opts opts = {.label_selector = "app=stale", .grace_seconds = 5};
    kube_delete_result res;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_pods_delete_collection(kc, "default", &opts, &res, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(res.deleted, 3);
    char req[512];
    last_request(req, sizeof req, NULL, 0);
    cr_expect_str_eq(req, "DELETE " NS_PODS "?labelSelector=app%3Dstale&gracePeriodSeconds=5");
    kube_list_opts lopts = {.label_selector = "app"};
    kube_list_result lres;
    cr_assert_eq(kube_pods_list(kc, "default", &lopts, &lres, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(lres.count, 1,
                 "only the fresh pod is left (terminating ones are listed too "
                 "only with a grace period kubesim does not simulate)");
}

Test(kube_typed, delete_without_a_label_selector_is_refused_before_sending)
{
    long before = requests_logged();
    kube_delete_opts opts = {.label_selector = NULL};
    kube_delete_result res;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_pods_delete_collection(kc, "default", &opts, &res, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "label selector") != NULL, "%s", err.message);
    opts.label_selector = "";
    cr_expect_eq(kube_secrets_delete_owned(kc, "default", "s", &opts, &res, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect_eq(requests_logged(), before, "nothing sent");
}

Test(kube_typed, refuses_names_that_would_change_the_path_before_sending)
{
    long before = requests_logged();
    kube_delete_opts opts = {.label_selector = "app=x"};
    kube_delete_result dres;
    json_object *pod = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_pods_delete_owned(kc, "default", "a/../../secrets", &opts, &dres, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "pod name") != NULL, "%s", err.message);
    cr_expect_eq(kube_pods_get(kc, "default", "x?watch=1", 0, &pod, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect_eq(kube_pods_get(kc, "kube-system/pods", "x", 0, &pod, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "namespace") != NULL, "%s", err.message);
    kube_create_result cres;
    cr_expect_eq(kube_secrets_create(kc, "Bad", "{}", 2, 0, &cres, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "secret namespace") != NULL, "%s", err.message);
    cr_expect_eq(requests_logged(), before, "nothing sent");
}

Test(kube_typed, list_applies_limit_and_selectors_and_counts_the_page)
{
    create_pod("l-1", "list");
    create_pod("l-2", "list");
    create_pod("l-3", "other");
    kube_list_opts opts = {.label_selector = "app=list", .limit = 1};
    kube_list_result res;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_pods_list(kc, "default", &opts, &res, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(res.count, 1);
    cr_expect_eq(res.status, 200);
    char req[512];
    last_request(req, sizeof req, NULL, 0);
    cr_expect_str_eq(req, "GET " NS_PODS "?limit=1&labelSelector=app%3Dlist");
    opts.limit = 0;
    cr_assert_eq(kube_pods_list(kc, "default", &opts, &res, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(res.count, 2);
    opts.label_selector = NULL;
    opts.field_selector = "metadata.name=l-3";
    cr_assert_eq(kube_pods_list(kc, "default", &opts, &res, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(res.count, 1);
}

/* Poll (bounded) until the pod's container has logged something. */
static bool wait_for_log(const char *pod, char **text, size_t *len)
{
    kube_pod_log_opts opts = {.container = "m", .tail_lines = 1, .deadline_ms = 3000};
    for (int i = 0; i < 200; i++) {
        fcb_error err = FCB_ERROR_INIT;
        if (kube_pods_log(kc, "default", pod, &opts, text, len, &err) == FCB_OK && *len > 0)
            return true;
        svc_free(host, *text);
        *text = NULL;
        usleep(25 * 1000);
    }
    return false;
}

Test(kube_typed, reads_the_last_lines_of_a_container_log)
{
    create_pod("logs", "t");
    char *text = NULL;
    size_t len = 0;
    cr_assert(wait_for_log("logs", &text, &len), "the pod logged within 5 s");
    cr_expect_eq(text[len], '\0');
    cr_expect_eq(strchr(text, '\n'), text + len - 1, "one line (tailLines=1): %s", text);
    cr_expect(strstr(text, "RIE") != NULL, "%s", text);
    svc_free(host, text);
    char req[512];
    last_request(req, sizeof req, NULL, 0);
    cr_expect_str_eq(req, "GET " NS_PODS "/logs/log?container=m&tailLines=1");

    kube_pod_log_opts bad = {.container = "nope", .tail_lines = 1};
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_pods_log(kc, "default", "logs", &bad, &text, &len, &err), FCB_ERR_BACKEND);
    cr_expect_null(text);
    cr_expect(strstr(err.message, "not valid") != NULL, "%s", err.message);
}

typedef struct seen {
    pthread_mutex_t lock;
    int added;
    int synced;
    char last[64];
} seen;

static void on_event(void *ctx, const char *type, json_object *object)
{
    seen *s = ctx;
    pthread_mutex_lock(&s->lock);
    if (strcmp(type, "SYNCED") == 0) {
        s->synced++;
    } else if (strcmp(type, "ADDED") == 0) {
        s->added++;
        snprintf(s->last, sizeof s->last, "%s", kube_object_name(object));
    }
    pthread_mutex_unlock(&s->lock);
}

Test(kube_typed, watches_the_pods_of_a_namespace_matching_a_selector)
{
    create_pod("w-before", "w");
    create_pod("w-other", "x");
    seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    kube_watch *w = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_pods_watch(kc, "default", "app=w", on_event, &s, &w, &err), FCB_OK, "%s",
                 err.message);
    pthread_mutex_lock(&s.lock);
    cr_expect_eq(s.synced, 1);
    cr_expect_eq(s.added, 1);
    cr_expect_str_eq(s.last, "w-before");
    pthread_mutex_unlock(&s.lock);
    create_pod("w-after", "w");
    bool got = false;
    for (int i = 0; i < 250 && !got; i++) {
        pthread_mutex_lock(&s.lock);
        got = s.added == 2;
        pthread_mutex_unlock(&s.lock);
        if (!got)
            usleep(20 * 1000);
    }
    cr_expect(got, "the new pod was delivered");
    kube_watch_stop(w);
    cr_expect_eq(kube_pods_watch(kc, "no/ns", "app=w", on_event, &s, &w, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect_null(w);
}

/* ---------------------------------------------------------------- secrets */

Test(kube_typed, creates_and_deletes_owned_secrets_sparing_others)
{
    kube_create_result cres;
    fcb_error err = FCB_ERROR_INIT;
    const char *body = secret_body("tok", "ours");
    cr_assert_eq(kube_secrets_create(kc, "default", body, strlen(body), 0, &cres, &err), FCB_OK,
                 "%s", err.message);
    cr_expect_str_eq(cres.object.name, "tok");
    cr_expect_neq(cres.object.uid[0], '\0');
    char req[512];
    last_request(req, sizeof req, NULL, 0);
    cr_expect_str_eq(req, "POST " NS_SECRETS);
    cr_expect_eq(kube_secrets_create(kc, "default", body, strlen(body), 0, &cres, &err),
                 FCB_ERR_BACKEND);
    cr_expect(cres.conflict);
    create_secret("theirs", "theirs");

    kube_delete_opts opts = {.label_selector = "app=ours", .grace_seconds = 9};
    kube_delete_result dres;
    cr_assert_eq(kube_secrets_delete_owned(kc, "default", "theirs", &opts, &dres, &err), FCB_OK);
    cr_expect_eq(dres.deleted, 0);
    cr_expect_eq(object_status(NS_SECRETS "/theirs"), 200);
    cr_assert_eq(kube_secrets_delete_owned(kc, "default", "tok", &opts, &dres, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(dres.deleted, 1);
    last_request(req, sizeof req, NULL, 0);
    cr_expect_str_eq(req,
                     "DELETE " NS_SECRETS "?fieldSelector=metadata.name%3Dtok"
                     "&labelSelector=app%3Dours",
                     "secrets take no grace period");
    cr_expect_eq(object_status(NS_SECRETS "/tok"), 404);
}

Test(kube_typed, deletes_a_collection_of_secrets_and_counts_them)
{
    create_secret("s-1", "stale");
    create_secret("s-2", "stale");
    create_secret("s-3", "fresh");
    kube_delete_opts opts = {.label_selector = "app=stale"};
    kube_delete_result res;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_secrets_delete_collection(kc, "default", &opts, &res, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(res.deleted, 2);
    cr_expect_eq(object_status(NS_SECRETS "/s-3"), 200);
}

/* A pods/proxy answer, collected. */
typedef struct proxied {
    char body[4096];
    size_t len;
} proxied;

static bool proxied_chunk(void *ctx, const char *data, size_t len)
{
    proxied *p = ctx;
    cr_assert_lt(p->len + len, sizeof p->body);
    memcpy(p->body + p->len, data, len);
    p->len += len;
    p->body[p->len] = '\0';
    return true;
}

static int proxy(const char *method, const char *name, const char *path, const char *body,
                 kube_pod_proxy_result *res, proxied *p, fcb_error *err)
{
    memset(p, 0, sizeof *p);
    kube_pod_proxy_opts opts = {.method = method,
                                .port = 8080,
                                .path = path,
                                .body = body,
                                .body_len = body != NULL ? strlen(body) : 0,
                                .keep_header = "X-Amz-Function-Error",
                                .sink = proxied_chunk,
                                .sink_ctx = p};
    return kube_pods_proxy(kc, "default", name, &opts, res, err);
}

/* A Pod whose RIE stand-in listens (IMAGE without "norie") or never does. */
static void wait_pod_ip(const char *name)
{
    json_object *pod = NULL;
    fcb_error err = FCB_ERROR_INIT;
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(kube_pods_get(kc, "default", name, 0, &pod, &err), FCB_OK, "%s", err.message);
        json_object *st = json_object_object_get(pod, "status");
        bool ready = json_object_object_get(st, "podIP") != NULL;
        json_object_put(pod);
        if (ready)
            return;
        usleep(20 * 1000);
    }
    cr_assert_fail("pod %s got no podIP", name);
}

Test(kube_typed, pod_proxy_passes_the_pods_answers_and_reports_the_api_servers_refusals)
{
    kube_pod_proxy_result res;
    proxied p;
    fcb_error err = FCB_ERROR_INIT;
    create_pod("px", "a");
    wait_pod_ip("px");
    int rc = FCB_ERR_BACKEND;
    for (int i = 0; i < 100 && rc != FCB_OK; i++, usleep(20 * 1000)) /* until the RIE listens */
        rc = proxy("POST", "px", "/2015-03-31/functions/function/invocations",
                   "{\"kubesim_error\":\"boom\"}", &res, &p, &err);
    cr_assert_eq(rc, FCB_OK, "%s", err.message);
    cr_expect_eq(res.status, 200);
    cr_expect_str_eq(res.header_value, "Unhandled");
    cr_expect(strstr(p.body, "\"errorMessage\": \"boom\"") != NULL, "%s", p.body);
    char line[512], accept[128];
    last_request(line, sizeof line, accept, sizeof accept);
    cr_expect(strstr(line, "/pods/px:8080/proxy/2015-03-31/functions/function/invocations") != NULL,
              "%s", line);

    /* The Pod's own 404 (not a Status) is its answer: FCB_OK with its status and body. */
    rc = proxy("GET", "px", "/", NULL, &res, &p, &err);
    cr_assert_eq(rc, FCB_OK, "%s", err.message);
    cr_expect_eq(res.status, 404);
    cr_expect_str_eq(p.body, "{\"errorMessage\":\"not found\"}");
    cr_expect_str_eq(res.header_value, "");

    /* The API server's own refusals are errors, and nothing reaches the sink. */
    rc = proxy("GET", "missing", "/", NULL, &res, &p, &err);
    cr_expect_eq(rc, FCB_ERR_NOT_FOUND, "%s (%s)", fcb_status_name(rc), err.message);
    cr_expect_eq(p.len, 0);
    create_pod("quiet", "a");
    kube_create_result cres;
    const char *body = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"silent\"},"
                       "\"spec\":{\"containers\":[{\"name\":\"m\",\"image\":\"x-norie:1\"}]}}";
    cr_assert_eq(kube_pods_create(kc, "default", body, strlen(body), 0, &cres, &err), FCB_OK, "%s",
                 err.message);
    wait_pod_ip("silent");
    rc = proxy("GET", "silent", "/", NULL, &res, &p, &err);
    cr_expect_eq(rc, FCB_ERR_BACKEND, "%s (%s)", fcb_status_name(rc), err.message);
    cr_expect(strstr(err.message, "503") != NULL && strstr(err.message, "connection refused"), "%s",
              err.message);
    cr_expect_eq(p.len, 0);
    rc = proxy("GET", "px", "no-slash", NULL, &res, &p, &err);
    cr_expect_eq(rc, FCB_ERR_INVALID_ARGUMENT, "%s", err.message);
}
