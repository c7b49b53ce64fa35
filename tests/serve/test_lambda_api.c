/*
 * lambda_api: routes of botocore's model, FunctionName forms, the error
 * document botocore parses, base64 both ways, and which answers are
 * function errors (X-Amz-Function-Error: Unhandled).
 */
#include "lambda_api.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(lambda_api, routes_every_operation_of_the_model)
{
    static const struct {
        const char *method, *path;
        lapi_op op;
        const char *target;
    } cases[] = {
        {"POST", "/2015-03-31/functions", LAPI_CREATE_FUNCTION, ""},
        {"GET", "/2015-03-31/functions/", LAPI_LIST_FUNCTIONS, ""},
        {"GET", "/2015-03-31/functions/f", LAPI_GET_FUNCTION, "f"},
        {"DELETE", "/2015-03-31/functions/f", LAPI_DELETE_FUNCTION, "f"},
        {"GET", "/2015-03-31/functions/f/configuration", LAPI_GET_FUNCTION_CONFIGURATION, "f"},
        {"PUT", "/2015-03-31/functions/f/configuration", LAPI_UPDATE_FUNCTION_CONFIGURATION, "f"},
        {"PUT", "/2015-03-31/functions/f/code", LAPI_UPDATE_FUNCTION_CODE, "f"},
        {"POST", "/2015-03-31/functions/f/versions", LAPI_PUBLISH_VERSION, "f"},
        {"POST",
         "/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/"
         "invocations",
         LAPI_INVOKE, "arn:aws:lambda:us-east-1:000000000000:function:f"},
        {"PUT", "/2017-10-31/functions/f/concurrency", LAPI_PUT_CONCURRENCY, "f"},
        {"GET", "/2019-09-30/functions/f/concurrency", LAPI_GET_CONCURRENCY, "f"},
        {"GET", "/metrics", LAPI_METRICS, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lapi_route r;
        cr_expect_eq(lapi_route_parse(cases[i].method, cases[i].path, &r), 0, "%s %s",
                     cases[i].method, cases[i].path);
        cr_expect_eq(r.op, cases[i].op, "%s %s", cases[i].method, cases[i].path);
        cr_expect_str_eq(r.target, cases[i].target);
    }
}

Test(lambda_api, routes_layer_versions)
{
    lapi_route r;
    cr_assert_eq(lapi_route_parse("POST", "/2018-10-31/layers/util/versions", &r), 0);
    cr_expect_eq(r.op, LAPI_PUBLISH_LAYER_VERSION);
    cr_expect_str_eq(r.target, "util");
    cr_assert_eq(lapi_route_parse("GET", "/2018-10-31/layers/util/versions/12", &r), 0);
    cr_expect_eq(r.op, LAPI_GET_LAYER_VERSION);
    cr_expect_eq(r.version, 12);
    cr_expect_eq(lapi_route_parse("GET", "/2018-10-31/layers/util/versions/0", &r), -1);
    cr_expect_eq(lapi_route_parse("GET", "/2018-10-31/layers/util/versions/1x", &r), -1);
    cr_expect_eq(lapi_route_parse("DELETE", "/2018-10-31/layers/util/versions", &r), -1);
    cr_expect(r.method_not_allowed);
}

Test(lambda_api, routes_the_code_location)
{
    lapi_route r;
    cr_assert_eq(lapi_route_parse("GET", "/_fakecloud/lambda/code/f/$LATEST.zip", &r), 0);
    cr_expect_eq(r.op, LAPI_GET_CODE);
    cr_expect_str_eq(r.target, "f");
    cr_expect_str_eq(r.qualifier, "$LATEST");
    cr_expect_eq(lapi_route_parse("GET", "/_fakecloud/lambda/code/f/3", &r), -1);
    cr_expect_eq(lapi_route_parse("GET", "/_fakecloud/lambda/code/f/.zip", &r), -1);
    cr_expect_eq(lapi_route_parse("PUT", "/_fakecloud/lambda/code/f/1.zip", &r), -1);
    cr_expect(r.method_not_allowed);
}

Test(lambda_api, routes_aliases_even_of_a_function_named_aliases)
{
    lapi_route r;
    cr_assert_eq(lapi_route_parse("POST", "/2015-03-31/functions/f/aliases", &r), 0);
    cr_expect_eq(r.op, LAPI_CREATE_ALIAS);
    cr_assert_eq(lapi_route_parse("GET", "/2015-03-31/functions/f/aliases", &r), 0);
    cr_expect_eq(r.op, LAPI_LIST_ALIASES);
    cr_assert_eq(lapi_route_parse("PUT", "/2015-03-31/functions/f/aliases/live", &r), 0);
    cr_expect_eq(r.op, LAPI_UPDATE_ALIAS);
    cr_expect_str_eq(r.target, "f");
    cr_expect_str_eq(r.qualifier, "live");
    cr_assert_eq(lapi_route_parse("DELETE", "/2015-03-31/functions/aliases/aliases/live", &r), 0);
    cr_expect_eq(r.op, LAPI_DELETE_ALIAS);
    cr_expect_str_eq(r.target, "aliases");
    cr_assert_eq(lapi_route_parse("POST", "/2015-03-31/functions/aliases/invocations", &r), 0);
    cr_expect_eq(r.op, LAPI_INVOKE);
    cr_expect_str_eq(r.target, "aliases");
    cr_expect_eq(lapi_route_parse("POST", "/2015-03-31/functions/f/aliases/live", &r), -1);
    cr_expect(r.method_not_allowed);
}

Test(lambda_api, tells_an_unknown_path_from_a_wrong_method)
{
    lapi_route r;
    cr_expect_eq(lapi_route_parse("GET", "/2015-03-31/functions/f/nothing", &r), -1);
    cr_expect(!r.method_not_allowed);
    cr_expect_eq(lapi_route_parse("PATCH", "/2015-03-31/functions/f", &r), -1);
    cr_expect(r.method_not_allowed);
    char long_name[400];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    char path[512];
    snprintf(path, sizeof path, "/2015-03-31/functions/%s", long_name);
    cr_expect_eq(lapi_route_parse("GET", path, &r), -1, "a name longer than the limit");
}

Test(lambda_api, splits_every_function_name_form)
{
    char name[65], q[129], why[256];
    cr_assert_eq(lapi_function_name_split("my-fn", name, q, why, sizeof why), 0);
    cr_expect_str_eq(name, "my-fn");
    cr_expect_str_eq(q, "");
    cr_assert_eq(lapi_function_name_split("my-fn:7", name, q, why, sizeof why), 0);
    cr_expect_str_eq(q, "7");
    cr_assert_eq(
        lapi_function_name_split("arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST", name,
                                 q, why, sizeof why),
        0);
    cr_expect_str_eq(name, "f");
    cr_expect_str_eq(q, "$LATEST");
    cr_assert_eq(lapi_function_name_split("123456789012:function:g", name, q, why, sizeof why), 0);
    cr_expect_str_eq(name, "g");
    cr_expect_eq(lapi_function_name_split("bad name", name, q, why, sizeof why), -1);
    cr_expect(strstr(why, "FunctionName") != NULL, "%s", why);
    cr_expect_eq(lapi_function_name_split("f:bad$q", name, q, why, sizeof why), -1);
    cr_expect(strstr(why, "Qualifier") != NULL, "%s", why);
}

Test(lambda_api, error_body_has_the_members_botocore_reads)
{
    char *b = lapi_error_body("ResourceNotFoundException", "Function not found: x", NULL);
    cr_expect_str_eq(b, "{\"Type\":\"User\",\"Message\":\"Function not found: x\"}");
    free(b);
    b = lapi_error_body("TooManyRequestsException", "Rate Exceeded.",
                        "ReservedFunctionConcurrentInvocationLimitExceeded");
    cr_expect_str_eq(b, "{\"Type\":\"User\",\"message\":\"Rate Exceeded.\",\"Reason\":"
                        "\"ReservedFunctionConcurrentInvocationLimitExceeded\"}");
    free(b);
}

Test(lambda_api, base64_round_trips_and_names_the_bad_byte)
{
    const char *inputs[] = {"", "a", "ab", "abc", "abcd", "\xff\x00\x10"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        size_t n = i == 5 ? 3 : strlen(inputs[i]);
        char *enc = lapi_base64_encode(inputs[i], n);
        unsigned char *dec = NULL;
        size_t len = 0;
        char why[128];
        cr_assert_eq(lapi_base64_decode(enc, strlen(enc), &dec, &len, why, sizeof why), 0, "%s",
                     why);
        cr_expect_eq(len, n);
        cr_expect(memcmp(dec, inputs[i], n) == 0);
        free(enc);
        free(dec);
    }
    unsigned char *dec = NULL;
    size_t len;
    char why[128];
    cr_expect_eq(lapi_base64_decode("YW*j", 4, &dec, &len, why, sizeof why), -1);
    cr_expect(strstr(why, "byte 2") != NULL, "%s", why);
    cr_expect_eq(lapi_base64_decode("YWJ", 3, &dec, &len, why, sizeof why), -1);
    cr_expect_null(dec);
}

Test(lambda_api, error_envelopes_and_failed_answers_are_unhandled)
{
    const char env[] = "{\"errorMessage\":\"boom\",\"errorType\":\"ValueError\"}";
    cr_expect_str_eq(lapi_function_error(200, env, strlen(env), ""), "Unhandled");
    const char timeout[] = "{\"errorMessage\":\"2026-12-03T10:00:00Z 1 Task timed out after 3.00 "
                           "seconds\",\"errorType\":\"Sandbox.Timedout\"}";
    cr_expect_str_eq(lapi_function_error(200, timeout, strlen(timeout), NULL), "Unhandled");
    cr_expect_str_eq(lapi_function_error(502, "", 0, NULL), "Unhandled");
    const char plain[] = "2026-12-03T10:00:00.000Z 8d1c Task timed out after 3.00 seconds";
    cr_expect_str_eq(lapi_function_error(200, plain, strlen(plain), NULL), "Unhandled");
    const char later[] = "{\"log\":\"...................................................."
                         "...... Task timed out after 1 seconds\"}";
    cr_expect_null(lapi_function_error(200, later, strlen(later), NULL), "deep in a payload");
    cr_expect_str_eq(lapi_function_error(200, "{}", 2, "Handled"), "Handled");
    const char ok[] = "{\"errorMessage\":\"only one of the two\"}";
    cr_expect_null(lapi_function_error(200, ok, strlen(ok), ""));
    cr_expect_null(lapi_function_error(200, "[1]", 3, NULL));
}

Test(lambda_api, reads_the_init_duration_of_the_last_report_line)
{
    const char log[] = "START RequestId: a Version: $LATEST\n"
                       "REPORT RequestId: a\tInit Duration: 12.50 ms\tDuration: 1.00 ms\t\n"
                       "START RequestId: b Version: $LATEST\n"
                       "REPORT RequestId: b\tInit Duration: 7.25 ms\tDuration: 2.00 ms\t\n";
    cr_expect_float_eq(lapi_report_init_ms(log, strlen(log)), 7.25, 1e-9);
    const char warm[] = "REPORT RequestId: a\tInit Duration: 12.50 ms\t\n"
                        "REPORT RequestId: b\tDuration: 2.00 ms\t\n";
    cr_expect_lt(lapi_report_init_ms(warm, strlen(warm)), 0, "the last REPORT has no init");
    cr_expect_lt(lapi_report_init_ms("", 0), 0);
    const char bad[] = "REPORT RequestId: a\tInit Duration: soon\n";
    cr_expect_lt(lapi_report_init_ms(bad, strlen(bad)), 0);
}
