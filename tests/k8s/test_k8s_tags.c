/* Unit tests of plugin/k8s/k8s_tags: function tags, the service level, architecture, merging. */
#include "k8s_tags.h"

#include <mock_host.h>

#include <criterion/criterion.h>
#include <string.h>

static const char *json(json_object *o)
{
    return o != NULL ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "null";
}

static bool warned(const k8s_tags_warnings *w, const char *needle)
{
    for (size_t i = 0; i < w->n; i++)
        if (strstr(w->message[i], needle) != NULL)
            return true;
    return false;
}

Test(k8s_tags, reads_the_three_tags_like_upstream)
{
    const k8s_tag tags[] = {
        {"team", "core"},
        {K8S_TAG_NODE_SELECTOR, " disktype = ssd , zone=a,"},
        {K8S_TAG_ANNOTATIONS, "example.com/owner=team a,note=x=y"},
        {K8S_TAG_TOLERATIONS,
         "[{\"key\":\"gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"},"
         "{\"key\":\"gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]"},
    };
    k8s_pod_extras e;
    k8s_tags_warnings w = {0};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_tags_from_function(tags, 4, NULL, &e, &w, &err), FCB_OK, "%s", err.message);
    cr_assert_str_eq(json(e.node_selector), "{\"disktype\":\"ssd\",\"zone\":\"a\"}");
    cr_assert_str_eq(json(e.annotations), "{\"example.com\\/owner\":\"team a\",\"note\":\"x=y\"}");
    cr_assert_str_eq(json(e.tolerations),
                     "[{\"key\":\"gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]",
                     "exact duplicates dropped");
    cr_assert_eq(w.n, 0, "%s", w.message[0]);
    k8s_pod_extras_clear(&e);
    k8s_pod_extras_clear(&e);
}

Test(k8s_tags, no_tags_and_no_architecture_give_nothing)
{
    k8s_pod_extras e;
    cr_assert_eq(k8s_tags_from_function(NULL, 0, NULL, &e, NULL, NULL), FCB_OK);
    cr_assert(e.node_selector == NULL && e.tolerations == NULL && e.annotations == NULL);
    const k8s_tag blank[] = {{K8S_TAG_NODE_SELECTOR, "  "}, {NULL, "x"}, {K8S_TAG_ANNOTATIONS, ""}};
    cr_assert_eq(k8s_tags_from_function(blank, 3, "", &e, NULL, NULL), FCB_OK);
    cr_assert(e.node_selector == NULL && e.annotations == NULL);
}

Test(k8s_tags, malformed_tags_are_warned_and_skipped_never_errors)
{
    static const struct {
        const char *key, *value, *kept, *warning;
    } cases[] = {
        {K8S_TAG_NODE_SELECTOR, "a=b,bad,c=d", "{\"a\":\"b\",\"c\":\"d\"}",
         "fakecloud-k8s/node-selector: \"bad\" is not key=value (use k=v,k2=v2 or a JSON object) "
         "(ignored)"},
        {K8S_TAG_NODE_SELECTOR, "=v,a=b", "{\"a\":\"b\"}", "\"=v\" is not key=value"},
        {K8S_TAG_NODE_SELECTOR, "a=has space,b=ok", "{\"b\":\"ok\"}",
         "value \"has space\" of a is not a valid label value"},
        {K8S_TAG_NODE_SELECTOR, "-bad-=x", "null",
         "key \"-bad-\" is not a valid label/annotation key"},
        {K8S_TAG_NODE_SELECTOR, "{\"a\":1,\"b\":\"c\"}", "{\"b\":\"c\"}",
         "value of a must be a string"},
        {K8S_TAG_NODE_SELECTOR, "{not json", "null", "not a JSON object of strings"},
        {K8S_TAG_ANNOTATIONS, "fakecloud-function-name=x,ok=1", "{\"ok\":\"1\"}",
         "key fakecloud-function-name is reserved for the backend"},
        {K8S_TAG_TOLERATIONS, "not json", "null", "must be a JSON list of tolerations"},
        {K8S_TAG_TOLERATIONS, "[{\"key\":\"a\",\"operator\":\"Maybe\"},{\"key\":\"b\"}]",
         "[{\"key\":\"b\"}]",
         "fakecloud-k8s/tolerations[0].operator: must be Exists or Equal, not Maybe"},
        {K8S_TAG_TOLERATIONS, "[{\"key\":\"a\",\"effect\":\"Never\"}]", "null",
         "[0].effect: must be NoSchedule, PreferNoSchedule or NoExecute, not Never"},
        {K8S_TAG_TOLERATIONS, "[{\"key\":\"a\",\"tolerationSeconds\":\"5\"}]", "null",
         "[0].tolerationSeconds: must be an integer"},
        {K8S_TAG_TOLERATIONS, "[{\"key\":\"a\",\"colour\":\"red\"}, 3]", "null",
         "[0]: unknown field colour"},
        {K8S_TAG_TOLERATIONS, "[3]", "null", "fakecloud-k8s/tolerations[0]: must be an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const k8s_tag tag = {cases[i].key, cases[i].value};
        k8s_pod_extras e;
        k8s_tags_warnings w = {0};
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(k8s_tags_from_function(&tag, 1, NULL, &e, &w, &err), FCB_OK, "%zu", i);
        json_object *got = strcmp(cases[i].key, K8S_TAG_TOLERATIONS) == 0   ? e.tolerations
                           : strcmp(cases[i].key, K8S_TAG_ANNOTATIONS) == 0 ? e.annotations
                                                                            : e.node_selector;
        cr_assert_str_eq(json(got), cases[i].kept, "%zu", i);
        cr_assert(warned(&w, cases[i].warning), "%zu: got \"%s\"", i, w.n ? w.message[0] : "");
        k8s_pod_extras_clear(&e);
    }
}

Test(k8s_tags, warnings_are_bounded)
{
    char value[4096] = "";
    for (int i = 0; i < 20; i++)
        strcat(value, "bad,");
    const k8s_tag tag = {K8S_TAG_NODE_SELECTOR, value};
    k8s_pod_extras e;
    k8s_tags_warnings w = {0};
    cr_assert_eq(k8s_tags_from_function(&tag, 1, NULL, &e, &w, NULL), FCB_OK);
    cr_assert_eq(w.n, K8S_TAGS_WARN_MAX);
    cr_assert_eq(w.dropped, 20 - K8S_TAGS_WARN_MAX);
    cr_assert_null(e.node_selector);
}

Test(k8s_tags, architecture_sets_and_wins_the_arch_selector)
{
    const k8s_tag tag = {K8S_TAG_NODE_SELECTOR, "kubernetes.io/arch=amd64,pool=a"};
    k8s_pod_extras e;
    k8s_tags_warnings w = {0};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_tags_from_function(&tag, 1, "arm64", &e, &w, &err), FCB_OK, "%s", err.message);
    cr_assert_str_eq(json(e.node_selector), "{\"kubernetes.io\\/arch\":\"arm64\",\"pool\":\"a\"}");
    cr_assert(warned(&w, "kubernetes.io/arch=amd64 overridden by the function's architecture "
                         "(kubernetes.io/arch=arm64)"));
    k8s_pod_extras_clear(&e);
    cr_assert_eq(k8s_tags_from_function(NULL, 0, "x86_64", &e, NULL, &err), FCB_OK);
    cr_assert_str_eq(json(e.node_selector), "{\"kubernetes.io\\/arch\":\"amd64\"}");
    k8s_pod_extras_clear(&e);
    cr_assert_eq(k8s_tags_from_function(&tag, 1, "riscv64", &e, NULL, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_assert_str_eq(err.message,
                     "architecture \"riscv64\" is not supported (use arm64 or x86_64)");
    cr_assert_null(e.node_selector);
}

Test(k8s_tags, merge_unions_maps_higher_wins_and_adds_tolerations)
{
    k8s_pod_extras base = {0}, higher = {0}, out;
    k8s_tags_warnings w = {0};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_tags_parse_map("base", "disktype=ssd,zone=a,kubernetes.io/arch=amd64",
                                    K8S_TAGS_NODE_SELECTOR, true, &base.node_selector, NULL, &err),
                 FCB_OK);
    cr_assert_eq(k8s_tags_parse_map("base", "team=core", K8S_TAGS_ANNOTATIONS, true,
                                    &base.annotations, NULL, &err),
                 FCB_OK);
    cr_assert_eq(k8s_tags_parse_tolerations("base", "[{\"key\":\"a\",\"operator\":\"Exists\"}]",
                                            true, &base.tolerations, NULL, &err),
                 FCB_OK);
    const k8s_tag tags[] = {
        {K8S_TAG_NODE_SELECTOR, "disktype=nvme"},
        {K8S_TAG_TOLERATIONS, "[{\"key\":\"a\",\"operator\":\"Exists\"},{\"key\":\"b\"}]"},
    };
    cr_assert_eq(k8s_tags_from_function(tags, 2, "arm64", &higher, &w, &err), FCB_OK);
    cr_assert_eq(k8s_pod_extras_merge(&base, &higher, &out, &w, &err), FCB_OK, "%s", err.message);
    cr_assert_str_eq(json(out.node_selector), "{\"disktype\":\"nvme\",\"zone\":\"a\","
                                              "\"kubernetes.io\\/arch\":\"arm64\"}");
    cr_assert_str_eq(json(out.annotations), "{\"team\":\"core\"}");
    cr_assert_str_eq(json(out.tolerations),
                     "[{\"key\":\"a\",\"operator\":\"Exists\"},{\"key\":\"b\"}]");
    cr_assert(
        warned(&w, "node selector kubernetes.io/arch=amd64 replaced by kubernetes.io/arch=arm64"));
    /* inputs unchanged */
    cr_assert_str_eq(json(base.node_selector),
                     "{\"disktype\":\"ssd\",\"zone\":\"a\",\"kubernetes.io\\/arch\":\"amd64\"}");
    k8s_pod_extras empty = {0}, none;
    cr_assert_eq(k8s_pod_extras_merge(&empty, &empty, &none, NULL, &err), FCB_OK);
    cr_assert(none.node_selector == NULL && none.tolerations == NULL && none.annotations == NULL);
    k8s_pod_extras_clear(&out);
    k8s_pod_extras_clear(&base);
    k8s_pod_extras_clear(&higher);
}

Test(k8s_tags, service_level_keys_are_strict_configuration)
{
    mock_host *mh = mock_host_new();
    const fcb_host_services *svc = mock_host_services(mh);
    k8s_pod_extras e;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_tags_service_read(svc, &e, &err), FCB_OK);
    cr_assert(e.node_selector == NULL && e.tolerations == NULL && e.annotations == NULL);
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR", "{\"pool\":\"lambda\"}");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_ANNOTATIONS", "fakecloud-x=1");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_TOLERATIONS", "[{\"key\":\"l\"}]");
    cr_assert_eq(k8s_tags_service_read(svc, &e, &err), FCB_OK, "%s", err.message);
    cr_assert_str_eq(json(e.node_selector), "{\"pool\":\"lambda\"}");
    cr_assert_str_eq(json(e.annotations), "{\"fakecloud-x\":\"1\"}", "like the global key");
    cr_assert_str_eq(json(e.tolerations), "[{\"key\":\"l\"}]");
    k8s_pod_extras_clear(&e);
    static const struct {
        const char *key, *value, *message;
    } bad[] = {
        {"FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR", "a=b,bad",
         "FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR: \"bad\" is not key=value (use k=v,k2=v2 or a JSON "
         "object)"},
        {"FAKECLOUD_LAMBDA_K8S_TOLERATIONS", "[{\"effect\":\"Sometimes\"}]",
         "FAKECLOUD_LAMBDA_K8S_TOLERATIONS[0].effect: must be NoSchedule, PreferNoSchedule or "
         "NoExecute, not Sometimes"},
        {"FAKECLOUD_LAMBDA_K8S_ANNOTATIONS", "{\"a\":[]}",
         "FAKECLOUD_LAMBDA_K8S_ANNOTATIONS: value of a must be a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mock_host_set_config(mh, bad[i].key, bad[i].value);
        cr_assert_eq(k8s_tags_service_read(svc, &e, &err), FCB_ERR_CONFIG, "%zu", i);
        cr_assert_str_eq(err.message, bad[i].message);
        cr_assert(e.node_selector == NULL && e.tolerations == NULL && e.annotations == NULL);
        mock_host_set_config(mh, bad[i].key, NULL);
    }
    mock_host_free(mh);
}

Test(k8s_tags, labels_kind_matches_the_global_labels_key)
{
    json_object *m = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_tags_parse_map("FAKECLOUD_K8S_LABELS", "fakecloud-lambda=x", K8S_TAGS_LABELS,
                                    true, &m, NULL, &err),
                 FCB_ERR_CONFIG);
    cr_assert_str_eq(err.message, "FAKECLOUD_K8S_LABELS: key fakecloud-lambda is reserved for the "
                                  "backend");
    cr_assert_eq(
        k8s_tags_parse_map("FAKECLOUD_K8S_LABELS", "a=b c", K8S_TAGS_LABELS, true, &m, NULL, &err),
        FCB_ERR_CONFIG);
    cr_assert_str_eq(err.message,
                     "FAKECLOUD_K8S_LABELS: value \"b c\" of a is not a valid label "
                     "value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)");
    cr_assert_eq(k8s_tags_parse_map("FAKECLOUD_K8S_LABELS", "{\"team\":\"x\"}", K8S_TAGS_LABELS,
                                    true, &m, NULL, &err),
                 FCB_OK);
    cr_assert_str_eq(json(m), "{\"team\":\"x\"}");
    json_object_put(m);
}

Test(k8s_tags, too_many_entries)
{
    char value[8192] = "";
    for (int i = 0; i < K8S_TAGS_MAP_MAX + 1; i++)
        snprintf(value + strlen(value), sizeof value - strlen(value), "k%d=v,", i);
    json_object *m = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_tags_parse_map("X", value, K8S_TAGS_ANNOTATIONS, true, &m, NULL, &err),
                 FCB_ERR_CONFIG);
    cr_assert_str_eq(err.message, "X: more than 256 entries");
    cr_assert_null(m);
}

/*
 * Tolerations kube-apiserver refuses (ValidateTolerations) are refused here
 * too: a tag must never make the Pod create fail with a 422.
 */
Test(k8s_tags, tolerations_follow_the_api_servers_rules)
{
    static const struct {
        const char *value, *message;
    } bad[] = {
        {"[{\"key\":\"a\",\"operator\":\"Exists\",\"value\":\"x\"}]",
         "[0].value: must be empty when operator is Exists"},
        {"[{\"value\":\"x\"}]", "[0].operator: must be Exists when key is empty"},
        {"[{\"operator\":\"Equal\"}]", "[0].operator: must be Exists when key is empty"},
        {"[{\"key\":\"a\",\"tolerationSeconds\":60}]",
         "[0].effect: must be NoExecute when tolerationSeconds is set"},
        {"[{\"key\":\"a\",\"effect\":\"NoSchedule\",\"tolerationSeconds\":60}]",
         "[0].effect: must be NoExecute when tolerationSeconds is set"},
        {"[{\"key\":\"bad key\"}]", "[0].key: \"bad key\" is not a valid label key"},
        {"[{\"key\":\"a\",\"value\":\"bad value\"}]",
         "[0].value: \"bad value\" is not a valid label value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object *out = NULL;
        k8s_tags_warnings w = {0};
        fcb_error err = FCB_ERROR_INIT;
        cr_expect_eq(k8s_tags_parse_tolerations("t", bad[i].value, false, &out, &w, &err), FCB_OK);
        cr_expect_null(out, "case %zu: %s kept", i, json(out));
        cr_expect(warned(&w, bad[i].message), "case %zu: %s", i, w.n > 0 ? w.message[0] : "none");
        json_object_put(out);
        cr_expect_eq(k8s_tags_parse_tolerations("t", bad[i].value, true, &out, NULL, &err),
                     FCB_ERR_CONFIG, "case %zu strict", i);
        cr_expect(strstr(err.message, bad[i].message) != NULL, "case %zu: %s", i, err.message);
    }
    static const char *const good[] = {
        "[{\"operator\":\"Exists\"}]",
        "[{\"key\":\"a\",\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":5}"
        "]",
        "[{\"key\":\"example.com/gpu\",\"value\":\"a100\",\"effect\":\"NoSchedule\"}]",
        "[{\"key\":\"a\",\"operator\":\"Equal\",\"value\":\"\"}]",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        json_object *out = NULL;
        fcb_error err = FCB_ERROR_INIT;
        cr_expect_eq(k8s_tags_parse_tolerations("t", good[i], true, &out, NULL, &err), FCB_OK,
                     "%s: %s", good[i], err.message);
        cr_expect_not_null(out, "%s", good[i]);
        json_object_put(out);
    }
}
