/* Unit tests of k8s_overlay: parsing (JSON/YAML), refusals and merge semantics. */
#include "k8s_overlay.h"

#include "k8s_test_util.h"

#include <criterion/criterion.h>
#include <string.h>

static json_object *parse(const char *text)
{
    json_object *o = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_overlay_parse(text, strlen(text), &o, &err), FCB_OK, "%s: %s", text,
                 err.message);
    return o;
}

Test(k8s_overlay, parses_yaml_scalars_by_the_core_schema)
{
    json_object *o = parse("a: 1\nb: true\nc: null\nd: '1'\ne: 1.5\nf: text\ng: [x, 2]\n");
    cr_assert(json_object_is_type(jpath(o, "a"), json_type_int));
    cr_assert(json_object_is_type(jpath(o, "b"), json_type_boolean));
    cr_assert(json_object_object_get_ex(o, "c", NULL));
    cr_assert_null(jpath(o, "c"));
    cr_assert_str_eq(jstr(o, "d"), "1");
    cr_assert(json_object_is_type(jpath(o, "e"), json_type_double));
    cr_assert_str_eq(jstr(o, "f"), "text");
    cr_assert_str_eq(jstr(o, "g[0]"), "x");
    json_object_put(o);
}

Test(k8s_overlay, refuses_malformed_and_recursive_documents)
{
    const char *bad[] = {"{\"a\": ", "{\"a\":1} trailing", "a: [1, 2\n", "a: &x [*x]\n",
                         "? [complex]\n: key\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object *o = NULL;
        fcb_error err = FCB_ERROR_INIT;
        int rc = k8s_overlay_parse(bad[i], strlen(bad[i]), &o, &err);
        cr_assert_neq(rc, FCB_OK, "accepted: %s", bad[i]);
        cr_assert_null(o);
        cr_assert_neq(err.message[0], '\0');
    }
}

Test(k8s_overlay, refuses_aliases_so_no_alias_bomb_can_expand)
{
    /* 9 levels of 10x aliases = 10^9 nodes if expanded naively. */
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    json_object *o = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_overlay_parse(bomb, strlen(bomb), &o, &err), FCB_ERR_CONFIG);
    cr_assert_null(o);
    cr_assert(strstr(err.message, "aliases") != NULL, "%s", err.message);
}

typedef struct refusal {
    const char *tmpl;
    const char *field;
} refusal;

Test(k8s_overlay, refuses_what_the_backend_relies_on)
{
    static const refusal cases[] = {
        {"{\"metadata\":{\"name\":\"x\"}}", "metadata.name"},
        {"{\"metadata\":{\"generateName\":\"x\"}}", "metadata.generateName"},
        {"{\"metadata\":{\"namespace\":\"x\"}}", "metadata.namespace"},
        {"{\"metadata\":{\"labels\":{\"fakecloud-instance\":\"x\"}}}", "fakecloud-instance"},
        {"{\"metadata\":{\"labels\":null}}", "metadata.labels"},
        {"{\"metadata\":{\"annotations\":{\"fakecloud-launch-nonce\":\"x\"}}}",
         "fakecloud-launch-nonce"},
        {"{\"spec\":{\"restartPolicy\":\"Always\"}}", "spec.restartPolicy"},
        {"{\"spec\":{\"containers\":[{\"name\":\"fakecloud-lambda\",\"image\":\"x\"}]}}",
         "spec.containers[fakecloud-lambda].image"},
        {"{\"spec\":{\"containers\":[{\"name\":\"fakecloud-lambda\",\"args\":[]}]}}",
         "spec.containers[fakecloud-lambda].args"},
        {"{\"spec\":{\"containers\":[{\"name\":\"fakecloud-lambda\",\"command\":[\"x\"]}]}}",
         "spec.containers[fakecloud-lambda].command"},
        {"{\"spec\":{\"containers\":[{\"name\":\"fakecloud-lambda\",\"volumeMounts\":[]}]}}",
         "spec.containers[fakecloud-lambda].volumeMounts"},
        {"{\"spec\":{\"initContainers\":[{\"name\":\"fakecloud-init\",\"image\":\"x\"}]}}",
         "spec.initContainers[fakecloud-init].image"},
        {"{\"spec\":{\"initContainers\":[{\"name\":\"fakecloud-init\",\"env\":[]}]}}",
         "spec.initContainers[fakecloud-init].env"},
        {"{\"spec\":{\"volumes\":[{\"name\":\"fakecloud-tmp\",\"emptyDir\":{}}]}}",
         "spec.volumes[fakecloud-tmp]"},
        {"{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}", "spec.containers[0]"},
        {"{\"spec\":{\"containers\":null}}", "spec.containers"},
        {"{\"spec\":{\"volumes\":{}}}", "spec.volumes"},
        {"{\"spec\":[]}", "spec"},
        {"{\"status\":{}}", "status"},
        {"{\"kind\":\"Deployment\"}", "kind"},
        {"[1]", "template must be an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *o = NULL;
        fcb_error err = FCB_ERROR_INIT;
        int rc = k8s_overlay_parse(cases[i].tmpl, strlen(cases[i].tmpl), &o, &err);
        if (rc == FCB_OK)
            rc = k8s_overlay_check(o, &err);
        json_object_put(o);
        cr_assert_eq(rc, FCB_ERR_CONFIG, "accepted %s", cases[i].tmpl);
        cr_assert(strstr(err.message, cases[i].field) != NULL, "%s: '%s' lacks '%s'", cases[i].tmpl,
                  err.message, cases[i].field);
    }
}

Test(k8s_overlay, accepts_sidecars_and_other_fields)
{
    json_object *o = parse("{\"spec\":{\"containers\":[{\"name\":\"fakecloud-lambda\","
                           "\"env\":[{\"name\":\"A\",\"value\":\"1\"}]},{\"name\":\"side\","
                           "\"image\":\"x\"}],\"topologySpreadConstraints\":[]}}");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_overlay_check(o, &err), FCB_OK, "%s", err.message);
    json_object_put(o);
}

Test(k8s_overlay, merges_like_json_merge_patch_with_named_lists)
{
    json_object *target = parse("{\"a\":{\"b\":1,\"c\":2},\"keep\":true,\"drop\":1,"
                                "\"list\":[{\"name\":\"x\",\"v\":1},{\"name\":\"y\",\"v\":2}],"
                                "\"plain\":[1,2,3]}");
    json_object *patch = parse("{\"a\":{\"c\":3,\"d\":{\"e\":null,\"f\":4}},\"drop\":null,"
                               "\"list\":[{\"name\":\"y\",\"v\":20,\"w\":null},{\"name\":\"z\"}],"
                               "\"plain\":[9]}");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_overlay_merge(target, patch, &err), FCB_OK);
    json_object *want = parse("{\"a\":{\"b\":1,\"c\":3,\"d\":{\"f\":4}},\"keep\":true,"
                              "\"list\":[{\"name\":\"x\",\"v\":1},{\"name\":\"y\",\"v\":20},"
                              "{\"name\":\"z\"}],\"plain\":[9]}");
    cr_assert(json_object_equal(target, want), "got %s",
              json_object_to_json_string_ext(target, JSON_C_TO_STRING_PLAIN));
    json_object_put(target);
    json_object_put(patch);
    json_object_put(want);
}
