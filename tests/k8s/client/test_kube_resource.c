/*
 * Unit tests of kube_resource's pure parts: path building (escaping,
 * bounds), name checks and the object readers. No server.
 */
#include "kube_resource.h"

#include <criterion/criterion.h>
#include <string.h>

static const kube_kind pods = {.plural = "pods", .singular = "pod", .has_grace = true};

Test(kube_resource, builds_a_collection_path_with_escaped_selectors_in_order)
{
    kube_path p;
    fcb_error err = FCB_ERROR_INIT;
    kube_path_object(&p, &pods, "ns-1", NULL);
    kube_path_query(&p, "fieldSelector", "metadata.name=p-1");
    kube_path_query(&p, "labelSelector", "a=b,c!=d,e in (x y)");
    kube_path_query_uint(&p, "gracePeriodSeconds", 0);
    cr_assert_eq(kube_path_done(&p, "pods", &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(p.buf, "/api/v1/namespaces/ns-1/pods?fieldSelector=metadata.name%3Dp-1"
                            "&labelSelector=a%3Db%2Cc%21%3Dd%2Ce%20in%20%28x%20y%29"
                            "&gracePeriodSeconds=0");
}

Test(kube_resource, builds_an_object_path_with_a_subresource)
{
    kube_path p;
    kube_path_object(&p, &pods, "ns", "p1");
    kube_path_add(&p, "/log");
    kube_path_query(&p, "container", "main");
    kube_path_query_uint(&p, "tailLines", 20);
    cr_expect_str_eq(p.buf, "/api/v1/namespaces/ns/pods/p1/log?container=main&tailLines=20");
}

Test(kube_resource, reports_a_path_that_does_not_fit_instead_of_cutting_it)
{
    kube_path p;
    fcb_error err = FCB_ERROR_INIT;
    char big[KUBE_PATH_MAX];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    kube_path_object(&p, &pods, "ns", NULL);
    kube_path_query(&p, "labelSelector", big);
    cr_expect_eq(kube_path_done(&p, "delete pods", &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "delete pods") != NULL, "%s", err.message);
    cr_expect(strlen(p.buf) < KUBE_PATH_MAX);
}

Test(kube_resource, checks_namespace_and_name_and_names_the_field)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_names_check(&pods, "default", "fakecloud-fn-1.a", &err), FCB_OK);
    cr_expect_eq(kube_names_check(&pods, "default", NULL, &err), FCB_OK);
    cr_expect_eq(kube_names_check(&pods, "Default", "p", &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "pod namespace \"Default\"") != NULL, "%s", err.message);
    cr_expect_eq(kube_names_check(&pods, "a.b", "p", &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect_eq(kube_names_check(&pods, NULL, "p", &err), FCB_ERR_INVALID_ARGUMENT);
    const char *bad[] = {"", "a/b", "a?b", "-a", "a-", ".a", "A", "a b", "a%2F"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(kube_names_check(&pods, "ns", bad[i], &err), FCB_ERR_INVALID_ARGUMENT,
                     "name \"%s\"", bad[i]);
        cr_expect(strstr(err.message, "pod name") != NULL, "%s", err.message);
    }
    char longest[KUBE_NAME_MAX];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    cr_expect(kube_name_valid(longest), "253 characters is allowed");
    char too_long[KUBE_NAME_MAX + 1];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    cr_expect_not(kube_name_valid(too_long));
}

Test(kube_resource, reads_names_labels_annotations_and_refs_of_objects)
{
    json_object *o = json_tokener_parse(
        "{\"metadata\":{\"name\":\"p\",\"uid\":\"u-1\",\"resourceVersion\":\"42\","
        "\"labels\":{\"app\":\"x\",\"n\":3},\"annotations\":{\"k/a\":\"v\"}}}");
    cr_assert_not_null(o);
    cr_expect_str_eq(kube_object_name(o), "p");
    cr_expect_str_eq(kube_object_label(o, "app"), "x");
    cr_expect_null(kube_object_label(o, "n"), "not a string");
    cr_expect_null(kube_object_label(o, "missing"));
    cr_expect_str_eq(kube_object_annotation(o, "k/a"), "v");
    kube_object_ref ref;
    kube_object_ref_read(o, &ref);
    cr_expect_str_eq(ref.name, "p");
    cr_expect_str_eq(ref.uid, "u-1");
    cr_expect_str_eq(ref.resource_version, "42");
    json_object_put(o);
    cr_expect_null(kube_object_name(NULL));
    kube_object_ref_read(NULL, &ref);
    cr_expect_str_eq(ref.name, "");
}
