/*
 * lambda_store: CreateFunction validated like --function files (errors name
 * the field, AWS exception and status), 409 for a second create, get by
 * name / qualifier / ARN, UpdateFunctionCode and UpdateFunctionConfiguration
 * make a new $LATEST deploy (new group) and free the old one once its last
 * reference goes, PublishVersion (idempotent while $LATEST is unchanged),
 * DeleteFunction of a version and of the function, reserved concurrency.
 */
#include "lambda_api.h"
#include "lambda_store.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lambda_store *st;
static int n_new, n_free;
static char last_freed[512];

static void on_new(void *ctx, store_deploy *d)
{
    (void)ctx, (void)d;
    n_new++;
}

static void on_free(void *ctx, store_deploy *d)
{
    (void)ctx;
    n_free++;
    snprintf(last_freed, sizeof last_freed, "%s", d->group);
}

static void setup(void)
{
    n_new = n_free = 0;
    cr_assert_eq(store_new("000000000000", on_new, on_free, NULL, &st), 0);
}

static void teardown(void)
{
    store_free(st);
    cr_expect_eq(n_new, n_free, "%d deploys announced, %d freed", n_new, n_free);
}

TestSuite(lambda_store, .init = setup, .fini = teardown, .timeout = 30);

/* An empty zip, in base64. */
#define EMPTY_ZIP_B64 "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="

static json_object *parse(const char *text)
{
    json_object *o = json_tokener_parse(text);
    cr_assert_not_null(o, "bad test JSON: %s", text);
    return o;
}

static int create(const char *body, json_object **answer, store_error *err)
{
    json_object *req = parse(body);
    int rc = store_create(st, req, "eu-west-1", answer, err);
    json_object_put(req);
    return rc;
}

static void create_ok(const char *name)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"FunctionName\":\"%s\",\"Runtime\":\"python3.12\",\"Handler\":\"app.h\","
             "\"Role\":\"r\",\"Code\":{\"ZipFile\":\"" EMPTY_ZIP_B64 "\"}}",
             name);
    json_object *answer = NULL;
    store_error err = {0};
    cr_assert_eq(create(body, &answer, &err), 0, "%s", err.message);
    json_object_put(answer);
}

static const char *str(json_object *o, const char *key)
{
    return json_object_get_string(json_object_object_get(o, key));
}

Test(lambda_store, create_answers_the_configuration_aws_would)
{
    json_object *a = NULL;
    store_error err = {0};
    cr_assert_eq(create("{\"FunctionName\":\"f\",\"Runtime\":\"python3.12\",\"Handler\":\"app.h\","
                        "\"Timeout\":9,\"Environment\":{\"Variables\":{\"K\":\"V\"}},"
                        "\"Code\":{\"ZipFile\":\"" EMPTY_ZIP_B64 "\"}}",
                        &a, &err),
                 0, "%s", err.message);
    cr_expect_str_eq(str(a, "FunctionArn"), "arn:aws:lambda:eu-west-1:000000000000:function:f");
    cr_expect_str_eq(str(a, "Version"), "$LATEST");
    cr_expect_eq(json_object_get_int(json_object_object_get(a, "Timeout")), 9);
    cr_expect_eq(json_object_get_int(json_object_object_get(a, "CodeSize")), 22);
    cr_expect_str_eq(str(a, "State"), "Active");
    cr_expect_str_eq(str(a, "PackageType"), "Zip");
    json_object_put(a);
}

Test(lambda_store, refuses_bad_descriptions_naming_the_field)
{
    static const struct {
        const char *body, *needle;
        int status;
    } cases[] = {
        {"{\"Runtime\":\"python3.12\"}", "FunctionName: required", 400},
        {"{\"FunctionName\":\"bad name\",\"Code\":{}}", "FunctionName", 400},
        {"{\"FunctionName\":\"f\",\"Runtime\":\"cobol1\",\"Handler\":\"h\",\"Code\":{\"ZipFile\":"
         "\"" EMPTY_ZIP_B64 "\"}}",
         "Runtime", 400},
        {"{\"FunctionName\":\"f\",\"Runtime\":\"python3.12\",\"Handler\":\"h\",\"Timeout\":901,"
         "\"Code\":{\"ZipFile\":\"" EMPTY_ZIP_B64 "\"}}",
         "Timeout", 400},
        {"{\"FunctionName\":\"f\",\"Runtime\":\"python3.12\",\"Code\":{\"ZipFile\":\"" EMPTY_ZIP_B64
         "\"}}",
         "Handler: required", 400},
        {"{\"FunctionName\":\"f\",\"Runtime\":\"python3.12\",\"Handler\":\"h\",\"Code\":{"
         "\"ZipFile\":"
         "\"bm90IGEgemlw\"}}",
         "Could not unzip", 400},
        {"{\"FunctionName\":\"f\",\"Runtime\":\"python3.12\",\"Handler\":\"h\",\"Code\":{"
         "\"ZipFile\":"
         "\"***\"}}",
         "ZipFile: not base64", 400},
        {"{\"FunctionName\":\"f\",\"PackageType\":\"Image\",\"Code\":{}}", "ImageUri: required",
         400},
        {"{\"FunctionName\":\"f\",\"Code\":{\"S3Bucket\":\"b\",\"S3Key\":\"k\"}}", "S3Bucket", 400},
        {"{\"FunctionName\":\"f\",\"Code\":{\"S3Bucket\":\"hot-reload\",\"S3Key\":\"/src\"}}",
         "hot reload", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *a = NULL;
        store_error err = {0};
        cr_expect_eq(create(cases[i].body, &a, &err), -1, "case %zu accepted", i);
        cr_expect_eq(err.http_status, cases[i].status, "case %zu: %d", i, err.http_status);
        cr_expect(strstr(err.message, cases[i].needle) != NULL, "case %zu: %s", i, err.message);
        cr_expect_null(a);
    }
}

Test(lambda_store, a_second_create_conflicts)
{
    create_ok("f");
    json_object *a = NULL;
    store_error err = {0};
    cr_expect_eq(create("{\"FunctionName\":\"f\",\"Runtime\":\"python3.12\",\"Handler\":\"h\","
                        "\"Code\":{\"ZipFile\":\"" EMPTY_ZIP_B64 "\"}}",
                        &a, &err),
                 -1);
    cr_expect_eq(err.http_status, 409);
    cr_expect_str_eq(err.type, "ResourceConflictException");
}

Test(lambda_store, unknown_function_and_version_are_not_found)
{
    create_ok("f");
    store_deploy *d = NULL;
    int reserved;
    store_error err = {0};
    cr_expect_eq(store_get(st, "nope", NULL, &d, &reserved, &err), -1);
    cr_expect_eq(err.http_status, 404);
    cr_expect_str_eq(err.type, "ResourceNotFoundException");
    cr_expect(strstr(err.message, "Function not found: arn:aws:lambda:") != NULL, "%s",
              err.message);
    cr_expect_eq(store_get(st, "f", "3", &d, &reserved, &err), -1);
    cr_expect(strstr(err.message, "function:f:3") != NULL, "%s", err.message);
    cr_expect_eq(store_get(st, "arn:aws:lambda:eu-west-1:000000000000:function:f", NULL, &d,
                           &reserved, &err),
                 0, "%s", err.message);
    store_deploy_put(d);
}

Test(lambda_store, update_code_makes_a_new_deploy_and_frees_the_old_after_its_call)
{
    create_ok("f");
    store_deploy *old = NULL;
    int reserved;
    store_error err = {0};
    cr_assert_eq(store_get(st, "f", NULL, &old, &reserved, &err), 0);
    char old_group[512];
    snprintf(old_group, sizeof old_group, "%s", old->group);
    json_object *req = parse("{\"ZipFile\":\"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\"}"), *a = NULL;
    json_object *cfg = parse("{\"Timeout\":30}");
    cr_assert_eq(store_update_configuration(st, "f", cfg, &a, &err), 0, "%s", err.message);
    json_object_put(a);
    cr_expect_eq(n_free, 0, "a call holds the old deploy: not freed yet");
    store_deploy *cur = NULL;
    cr_assert_eq(store_get(st, "f", NULL, &cur, &reserved, &err), 0);
    cr_expect_str_neq(cur->group, old_group, "a new configuration is a new pool group");
    cr_expect(strstr(cur->group, ":f:$LATEST#") != NULL, "%s", cur->group);
    store_deploy_put(cur);
    store_deploy_put(old);
    cr_expect_eq(n_free, 1);
    cr_expect_str_eq(last_freed, old_group);
    cr_assert_eq(store_update_code(st, "f", req, &a, &err), 0, "%s", err.message);
    json_object_put(a);
    json_object_put(req);
    json_object_put(cfg);
}

Test(lambda_store, publish_is_idempotent_until_latest_changes)
{
    create_ok("f");
    json_object *a = NULL, *b = NULL;
    store_error err = {0};
    cr_assert_eq(store_publish(st, "f", NULL, &a, &err), 0, "%s", err.message);
    cr_assert_eq(store_publish(st, "f", NULL, &b, &err), 0, "%s", err.message);
    cr_expect_str_eq(str(a, "Version"), "1");
    cr_expect_str_eq(str(b, "Version"), "1", "nothing changed: the same version");
    cr_expect_str_eq(str(a, "FunctionArn"), "arn:aws:lambda:eu-west-1:000000000000:function:f:1");
    json_object_put(a);
    json_object_put(b);
    json_object *cfg = parse("{\"MemorySize\":256}");
    cr_assert_eq(store_update_configuration(st, "f", cfg, &a, &err), 0);
    json_object_put(a);
    json_object_put(cfg);
    cr_assert_eq(store_publish(st, "f", NULL, &a, &err), 0);
    cr_expect_str_eq(str(a, "Version"), "2");
    json_object_put(a);
    store_deploy *v1 = NULL, *v2 = NULL;
    int reserved;
    cr_assert_eq(store_get(st, "f:1", NULL, &v1, &reserved, &err), 0);
    cr_assert_eq(store_get(st, "f", "2", &v2, &reserved, &err), 0);
    cr_expect_eq(v1->desc->fn.memory_mb, 128);
    cr_expect_eq(v2->desc->fn.memory_mb, 256);
    cr_expect_str_eq(v1->desc->fn.function_arn,
                     "arn:aws:lambda:eu-west-1:000000000000:function:f:1");
    cr_expect_str_neq(v1->group, v2->group);
    store_deploy_put(v1);
    store_deploy_put(v2);
}

Test(lambda_store, deletes_a_version_then_the_function)
{
    create_ok("f");
    json_object *a = NULL;
    store_error err = {0};
    cr_assert_eq(store_publish(st, "f", NULL, &a, &err), 0);
    json_object_put(a);
    cr_expect_eq(store_delete(st, "f", "$LATEST", &err), -1);
    cr_expect_eq(err.http_status, 400);
    cr_assert_eq(store_delete(st, "f", "1", &err), 0, "%s", err.message);
    cr_expect_eq(n_free, 1);
    store_deploy *d = NULL;
    int reserved;
    cr_expect_eq(store_get(st, "f:1", NULL, &d, &reserved, &err), -1);
    cr_assert_eq(store_delete(st, "f", NULL, &err), 0);
    cr_expect_eq(store_get(st, "f", NULL, &d, &reserved, &err), -1);
    cr_expect_eq(n_free, 2);
}

Test(lambda_store, reserved_concurrency_is_kept_per_function)
{
    create_ok("f");
    json_object *a = NULL;
    store_error err = {0};
    cr_assert_eq(store_concurrency(st, "f", 5, &a, &err), 0);
    cr_expect_eq(json_object_get_int(json_object_object_get(a, "ReservedConcurrentExecutions")), 5);
    json_object_put(a);
    store_deploy *d = NULL;
    int reserved = -1;
    cr_assert_eq(store_get(st, "f", NULL, &d, &reserved, &err), 0);
    cr_expect_eq(reserved, 5);
    store_deploy_put(d);
    cr_assert_eq(store_concurrency(st, "f", -1, &a, &err), 0);
    cr_expect_null(a);
    cr_assert_eq(store_get(st, "f", NULL, &d, &reserved, &err), 0);
    cr_expect_eq(reserved, -1);
    store_deploy_put(d);
}

Test(lambda_store, tags_make_a_new_latest_that_the_plugin_sees)
{
    create_ok("f");
    store_deploy *before = NULL, *after = NULL;
    int reserved;
    store_error err = {0};
    cr_assert_eq(store_get(st, "f", NULL, &before, &reserved, &err), 0);
    json_object *req = parse("{\"Tags\":{\"team\":\"blue\"}}"), *a = NULL;
    cr_assert_eq(store_tag(st, "arn:aws:lambda:eu-west-1:000000000000:function:f", req, &err), 0,
                 "%s", err.message);
    cr_assert_eq(store_get(st, "f", NULL, &after, &reserved, &err), 0);
    cr_expect_eq(after->desc->fn.n_tags, 1);
    cr_expect_str_eq(after->desc->fn.tags[0].key, "team");
    cr_expect_str_neq(before->group, after->group, "tags are part of the fingerprint");
    cr_assert_eq(store_list_tags(st, "f", &a, &err), 0);
    cr_expect_str_eq(json_object_to_json_string(a), "{ \"Tags\": { \"team\": \"blue\" } }");
    json_object_put(a);
    const char *keys[] = {"team"};
    cr_assert_eq(store_untag(st, "f", keys, 1, &err), 0);
    cr_expect_eq(store_tag(st, "f:1", req, &err), -1, "a qualified ARN");
    json_object *bad = parse("{\"Tags\":{\"aws:x\":\"v\"}}");
    cr_expect_eq(store_tag(st, "f", bad, &err), -1);
    cr_expect(strstr(err.message, "aws:") != NULL, "%s", err.message);
    json_object_put(bad);
    json_object_put(req);
    store_deploy_put(before);
    store_deploy_put(after);
}

Test(lambda_store, layers_reach_the_deploy_in_order)
{
    json_object *a = NULL;
    store_error err = {0};
    json_object *req = parse("{\"Content\":{\"ZipFile\":\"" EMPTY_ZIP_B64 "\"}}");
    cr_assert_eq(store_publish_layer(st, "util", req, "eu-west-1", &a, &err), 0, "%s", err.message);
    cr_expect_str_eq(str(a, "LayerVersionArn"),
                     "arn:aws:lambda:eu-west-1:000000000000:layer:util:1");
    json_object_put(a);
    cr_assert_eq(store_publish_layer(st, "util", req, "eu-west-1", &a, &err), 0);
    json_object_put(a);
    json_object_put(req);
    cr_assert_eq(create("{\"FunctionName\":\"f\",\"Runtime\":\"python3.12\",\"Handler\":\"h\","
                        "\"Layers\":[\"arn:aws:lambda:eu-west-1:000000000000:layer:util:2\","
                        "\"arn:aws:lambda:eu-west-1:000000000000:layer:util:1\"],"
                        "\"Code\":{\"ZipFile\":\"" EMPTY_ZIP_B64 "\"}}",
                        &a, &err),
                 0, "%s", err.message);
    json_object_put(a);
    store_deploy *d = NULL;
    int reserved;
    cr_assert_eq(store_get(st, "f", NULL, &d, &reserved, &err), 0);
    cr_expect_eq(d->n_layers, 2);
    cr_expect_eq(d->layers[0].size, 22);
    store_deploy_put(d);
    cr_expect_eq(create("{\"FunctionName\":\"g\",\"Runtime\":\"python3.12\",\"Handler\":\"h\","
                        "\"Layers\":[\"arn:aws:lambda:eu-west-1:000000000000:layer:util:3\"],"
                        "\"Code\":{\"ZipFile\":\"" EMPTY_ZIP_B64 "\"}}",
                        &a, &err),
                 -1);
    cr_expect(strstr(err.message, "layer:util:3 does not exist") != NULL, "%s", err.message);
    cr_expect_eq(store_get_layer_version(st, "util", 3, &a, &err), -1);
    cr_expect_eq(err.http_status, 404);
}

Test(lambda_store, a_stale_revision_id_is_refused)
{
    create_ok("f");
    json_object *a = NULL;
    store_error err = {0};
    json_object *stale = parse("{\"RevisionId\":\"00000000-0000-0000-0000-000000000000\","
                               "\"Timeout\":5}");
    cr_expect_eq(store_update_configuration(st, "f", stale, &a, &err), -1);
    cr_expect_eq(err.http_status, 412);
    cr_expect_str_eq(err.type, "PreconditionFailedException");
    json_object_put(stale);
    cr_assert_eq(store_get_function(st, "f", NULL, true, &a, &err), 0);
    char body[160];
    snprintf(body, sizeof body, "{\"RevisionId\":\"%s\",\"Timeout\":5}", str(a, "RevisionId"));
    json_object_put(a);
    json_object *fresh = parse(body);
    cr_assert_eq(store_update_configuration(st, "f", fresh, &a, &err), 0, "%s", err.message);
    json_object_put(a);
    cr_expect_eq(store_publish(st, "f", fresh, &a, &err), -1, "the revision moved on");
    json_object_put(fresh);
}

/* Every member of every request body, with a value of every JSON type: answered, never a crash. */
Test(lambda_store, any_json_type_in_any_member_is_answered)
{
    static const char *const members[] = {"FunctionName",
                                          "Runtime",
                                          "Handler",
                                          "Role",
                                          "Timeout",
                                          "MemorySize",
                                          "Code",
                                          "Environment",
                                          "PackageType",
                                          "Layers",
                                          "Tags",
                                          "Publish",
                                          "ImageConfig",
                                          "Architectures",
                                          "EphemeralStorage",
                                          "RevisionId",
                                          "ZipFile",
                                          "ImageUri",
                                          "S3Bucket",
                                          "Description",
                                          "CodeSha256",
                                          "Content",
                                          "ReservedConcurrentExecutions",
                                          "Name",
                                          "FunctionVersion",
                                          "RoutingConfig"};
    static const char *const values[] = {"null", "5",   "-1", "1.5",       "\"s\"", "\"\"",
                                         "[]",   "[1]", "{}", "{\"a\":1}", "true"};
    create_ok("f");
    for (size_t m = 0; m < sizeof members / sizeof members[0]; m++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char body[512];
            snprintf(body, sizeof body,
                     "{\"FunctionName\":\"g\",\"Runtime\":\"python3.12\",\"Handler\":\"h\","
                     "\"Code\":{\"ZipFile\":\"" EMPTY_ZIP_B64 "\"},\"%s\":%s}",
                     members[m], values[v]);
            json_object *req = parse(body), *a = NULL;
            store_error err = {0};
            if (store_create(st, req, "us-east-1", &a, &err) == 0) {
                cr_assert_eq(store_delete(st, str(a, "FunctionName"), NULL, &err), 0);
                json_object_put(a);
            } else {
                cr_expect(err.message[0] != '\0' && err.http_status >= 400, "%s=%s", members[m],
                          values[v]);
            }
            snprintf(body, sizeof body, "{\"%s\":%s}", members[m], values[v]);
            json_object *small = parse(body);
            int (*ops[])(lambda_store *, const char *, json_object *, json_object **,
                         store_error *) = {store_update_code, store_update_configuration,
                                           store_publish};
            for (size_t o = 0; o < 3; o++) {
                err.message[0] = '\0';
                if (ops[o](st, "f", small, &a, &err) == 0)
                    json_object_put(a);
                else
                    cr_expect(err.message[0] != '\0', "op %zu %s=%s", o, members[m], values[v]);
            }
            if (store_tag(st, "f", small, &err) != 0)
                cr_expect(err.message[0] != '\0');
            if (store_publish_layer(st, "l", small, "us-east-1", &a, &err) == 0)
                json_object_put(a);
            for (int op = STORE_ALIAS_CREATE; op <= STORE_ALIAS_DELETE; op++) {
                err.message[0] = '\0';
                if (store_alias_op(st, "f", "live", op, small, &a, &err) == 0)
                    json_object_put(a);
                else
                    cr_expect(err.message[0] != '\0', "alias op %d %s=%s", op, members[m],
                              values[v]);
            }
            json_object_put(small);
            json_object_put(req);
        }
    }
}

static json_object *alias(int op, const char *name, const char *body, store_error *err, int *rc)
{
    json_object *req = body != NULL ? parse(body) : NULL, *a = NULL;
    *rc = store_alias_op(st, "f", name, op, req, &a, err);
    json_object_put(req);
    return a;
}

Test(lambda_store, an_alias_runs_its_version_and_keeps_it)
{
    create_ok("f");
    json_object *a = NULL;
    store_error err = {0};
    int rc;
    cr_assert_eq(store_publish(st, "f", NULL, &a, &err), 0);
    json_object_put(a);
    a = alias(STORE_ALIAS_CREATE, NULL, "{\"Name\":\"live\",\"FunctionVersion\":\"1\"}", &err, &rc);
    cr_assert_eq(rc, 0, "%s", err.message);
    cr_expect_str_eq(str(a, "AliasArn"), "arn:aws:lambda:eu-west-1:000000000000:function:f:live");
    json_object_put(a);
    a = alias(STORE_ALIAS_CREATE, NULL, "{\"Name\":\"live\",\"FunctionVersion\":\"1\"}", &err, &rc);
    cr_expect_eq(err.http_status, 409);
    a = alias(STORE_ALIAS_CREATE, NULL, "{\"Name\":\"12\",\"FunctionVersion\":\"1\"}", &err, &rc);
    cr_expect_eq(rc, -1, "a name of digits is a version");
    a = alias(STORE_ALIAS_CREATE, NULL, "{\"Name\":\"x\",\"FunctionVersion\":\"7\"}", &err, &rc);
    cr_expect_eq(err.http_status, 404, "no version 7");
    store_deploy *d = NULL;
    int reserved;
    cr_assert_eq(store_get(st, "f:live", NULL, &d, &reserved, &err), 0, "%s", err.message);
    cr_expect_str_eq(d->version, "1");
    store_deploy_put(d);
    cr_expect_eq(store_delete(st, "f", "1", &err), -1);
    cr_expect_eq(err.http_status, 409, "the alias keeps version 1");
    a = alias(STORE_ALIAS_UPDATE, "live", "{\"FunctionVersion\":\"$LATEST\",\"RevisionId\":\"x\"}",
              &err, &rc);
    cr_expect_eq(err.http_status, 412);
    a = alias(STORE_ALIAS_UPDATE, "live", "{\"FunctionVersion\":\"$LATEST\"}", &err, &rc);
    cr_assert_eq(rc, 0, "%s", err.message);
    cr_expect_str_eq(str(a, "FunctionVersion"), "$LATEST");
    json_object_put(a);
    cr_assert_eq(store_get(st, "f", "live", &d, &reserved, &err), 0);
    cr_expect_str_eq(d->version, "$LATEST");
    store_deploy_put(d);
    a = alias(STORE_ALIAS_LIST, NULL, NULL, &err, &rc);
    cr_expect_eq(json_object_array_length(json_object_object_get(a, "Aliases")), 1);
    json_object_put(a);
    alias(STORE_ALIAS_DELETE, "live", NULL, &err, &rc);
    cr_expect_eq(rc, 0);
    alias(STORE_ALIAS_GET, "live", NULL, &err, &rc);
    cr_expect_eq(err.http_status, 404);
    cr_expect_eq(store_delete(st, "f", "1", &err), 0, "%s", err.message);
}

/* ---- hot reload (Code.S3Bucket "hot-reload", S3Key a host directory) ------- */

#define HOT_CREATE(key)                                                                    \
    "{\"FunctionName\":\"hot\",\"Runtime\":\"python3.12\",\"Handler\":\"app.handler\","   \
    "\"Code\":{\"S3Bucket\":\"hot-reload\",\"S3Key\":" key "}}"

/* The $LATEST deploy of F (its reference put before returning: the store keeps one). */
static store_deploy *latest_of(const char *f)
{
    store_deploy *d = NULL;
    int reserved;
    store_error err = {0};
    cr_assert_eq(store_get(st, f, NULL, &d, &reserved, &err), 0, "%s", err.message);
    store_deploy_put(d);
    return d;
}

Test(lambda_store, hot_reload_needs_a_backend_declaring_the_capability)
{
    json_object *a = NULL;
    store_error err = {0};
    cr_expect_eq(create(HOT_CREATE("\"/src/app\""), &a, &err), -1);
    cr_expect_str_eq(err.type, "InvalidParameterValueException");
    cr_expect(strstr(err.message, "hot-reload capability") != NULL, "%s", err.message);
    cr_expect_null(a);
}

Test(lambda_store, a_hot_reload_function_keeps_its_directory_across_config_updates_and_versions)
{
    store_allow_hot_reload(st, true);
    json_object *a = NULL;
    store_error err = {0};
    cr_assert_eq(create(HOT_CREATE("\"/src/app\""), &a, &err), 0, "%s", err.message);
    json_object_put(a);
    store_deploy *d = latest_of("hot");
    cr_expect_str_eq(d->code_dir, "/src/app");
    cr_expect_null(d->code);
    cr_assert_eq(store_get_function(st, "hot", NULL, false, &a, &err), 0, "%s", err.message);
    json_object *code = json_object_object_get(a, "Code");
    cr_expect_str_eq(str(code, "Location"), "file:///src/app");
    json_object_put(a);
    json_object *cfg = parse("{\"Timeout\":9}");
    cr_assert_eq(store_update_configuration(st, "hot", cfg, &a, &err), 0, "%s", err.message);
    json_object_put(cfg);
    json_object_put(a);
    cr_expect_str_eq(latest_of("hot")->code_dir, "/src/app");
    cr_assert_eq(store_publish(st, "hot", NULL, &a, &err), 0, "%s", err.message);
    json_object_put(a);
    store_deploy *v1 = NULL;
    int reserved;
    cr_assert_eq(store_get(st, "hot", "1", &v1, &reserved, &err), 0, "%s", err.message);
    cr_expect_str_eq(v1->code_dir, "/src/app");
    store_deploy_put(v1);
    json_object *zip = parse("{\"ZipFile\":\"" EMPTY_ZIP_B64 "\"}");
    cr_assert_eq(store_update_code(st, "hot", zip, &a, &err), 0, "%s", err.message);
    json_object_put(zip);
    json_object_put(a);
    cr_expect_null(latest_of("hot")->code_dir, "a zip replaces the directory");
}

Test(lambda_store, hot_reload_refuses_what_is_not_an_absolute_directory_of_a_zip_function)
{
    store_allow_hot_reload(st, true);
    static const struct {
        const char *body, *needle;
    } cases[] = {
        {HOT_CREATE("\"src/app\""), "S3Key"},
        {HOT_CREATE("5"), "S3Key"},
        {"{\"FunctionName\":\"hot\",\"Runtime\":\"python3.12\",\"Handler\":\"h\","
         "\"Code\":{\"S3Bucket\":\"hot-reload\"}}",
         "S3Key"},
        {"{\"FunctionName\":\"hot\",\"PackageType\":\"Image\","
         "\"Code\":{\"S3Bucket\":\"hot-reload\",\"S3Key\":\"/src\"}}",
         "PackageType Zip"},
        {"{\"FunctionName\":\"hot\",\"Runtime\":\"python3.12\",\"Handler\":\"h\","
         "\"Code\":{\"S3Bucket\":\"hot-reload\",\"S3Key\":\"/src\",\"ZipFile\":\"" EMPTY_ZIP_B64
         "\"}}",
         "not ZipFile"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *a = NULL;
        store_error err = {0};
        cr_expect_eq(create(cases[i].body, &a, &err), -1, "case %zu accepted", i);
        cr_expect_eq(err.http_status, 400, "case %zu", i);
        cr_expect(strstr(err.message, cases[i].needle) != NULL, "case %zu: %s", i, err.message);
        cr_expect_null(a);
    }
    json_object *layer = parse("{\"Content\":{\"S3Bucket\":\"hot-reload\",\"S3Key\":\"/src\"}}"),
                *a = NULL;
    store_error err = {0};
    cr_expect_eq(store_publish_layer(st, "util", layer, "eu-west-1", &a, &err), -1);
    cr_expect(strstr(err.message, "not layers") != NULL, "%s", err.message);
    json_object_put(layer);
}
