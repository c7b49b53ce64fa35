/* function_json: AWS GetFunctionConfiguration JSON -> fcb_function. */
#include "function_json.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

static function_desc *parse_ok(const char *text)
{
    function_desc *d = NULL;
    char why[FUNCTION_JSON_WHY_MAX] = "";
    cr_assert_eq(function_json_parse(text, strlen(text), &d, why, sizeof why), 0, "%s", why);
    cr_assert_not_null(d);
    return d;
}

static void expect_error(const char *text, const char *message)
{
    function_desc *d = (function_desc *)1;
    char why[FUNCTION_JSON_WHY_MAX] = "";
    cr_expect_eq(function_json_parse(text, strlen(text), &d, why, sizeof why), -1, "%s", text);
    cr_expect_null(d);
    cr_expect_str_eq(why, message, "for %s", text);
}

static const char full[] =
    "{\"FunctionName\":\"my-fn\","
    "\"FunctionArn\":\"arn:aws:lambda:eu-west-1:123456789012:function:my-fn\","
    "\"Runtime\":\"python3.12\",\"Role\":\"arn:aws:iam::123456789012:role/r\","
    "\"Handler\":\"app.handler\",\"CodeSize\":301,\"Description\":\"\",\"Timeout\":30,"
    "\"MemorySize\":256,\"LastModified\":\"2024-01-01T00:00:00.000+0000\","
    "\"CodeSha256\":\"abc=\",\"Version\":\"$LATEST\","
    "\"Environment\":{\"Variables\":{\"STAGE\":\"dev\",\"EMPTY\":\"\"}},"
    "\"TracingConfig\":{\"Mode\":\"PassThrough\"},\"RevisionId\":\"r\",\"State\":\"Active\","
    "\"LastUpdateStatus\":\"Successful\",\"PackageType\":\"Zip\","
    "\"Architectures\":[\"arm64\"],\"EphemeralStorage\":{\"Size\":1024},"
    "\"Layers\":[{\"Arn\":\"arn:aws:lambda:eu-west-1:123456789012:layer:l:1\",\"CodeSize\":10}],"
    "\"SnapStart\":{\"ApplyOn\":\"None\",\"OptimizationStatus\":\"Off\"},"
    "\"RuntimeVersionConfig\":{\"RuntimeVersionArn\":\"x\"},"
    "\"LoggingConfig\":{\"LogFormat\":\"Text\",\"LogGroup\":\"/aws/lambda/my-fn\"}}";

Test(function_json, parses_every_used_field_of_get_function_configuration)
{
    function_desc *d = parse_ok(full);
    const fcb_function *fn = &d->fn;
    cr_expect_eq(fn->size, sizeof *fn);
    cr_expect_str_eq(fn->function_name, "my-fn");
    cr_expect_str_eq(fn->runtime, "python3.12");
    cr_expect_str_eq(fn->handler, "app.handler");
    cr_expect_eq(fn->timeout_seconds, 30);
    cr_expect_eq(fn->memory_mb, 256);
    cr_expect_eq(fn->ephemeral_storage_mb, 1024);
    cr_expect_eq(fn->package_type, FCB_PACKAGE_ZIP);
    cr_expect_str_eq(fn->architecture, "arm64");
    cr_assert_eq(fn->n_environment, 2);
    int seen = 0;
    for (size_t i = 0; i < fn->n_environment; i++) {
        if (strcmp(fn->environment[i].name, "STAGE") == 0 &&
            strcmp(fn->environment[i].value, "dev") == 0)
            seen |= 1;
        if (strcmp(fn->environment[i].name, "EMPTY") == 0 &&
            strcmp(fn->environment[i].value, "") == 0)
            seen |= 2;
    }
    cr_expect_eq(seen, 3);
    cr_assert_eq(d->n_layers, 1);
    cr_expect_str_eq(d->layers[0].arn, "arn:aws:lambda:eu-west-1:123456789012:layer:l:1");
    cr_expect_eq(d->layers[0].code_size, 10);
    cr_expect_str_eq(d->account, "123456789012");
    function_desc_free(d);
}

Test(function_json, defaults_leave_numbers_zero_and_account_zeroes)
{
    function_desc *d = parse_ok("{\"FunctionName\":\"f\",\"Runtime\":\"nodejs20.x\","
                                "\"Handler\":\"index.handler\"}");
    cr_expect_eq(d->fn.timeout_seconds, 0);
    cr_expect_eq(d->fn.memory_mb, 0);
    cr_expect_eq(d->fn.ephemeral_storage_mb, 0);
    cr_expect_null(d->fn.architecture);
    cr_expect_eq(d->fn.n_environment, 0);
    cr_expect_str_eq(d->account, "000000000000");
    char why[256];
    cr_expect_eq(function_desc_check(d, why, sizeof why), 0, "%s", why);
    function_desc_free(d);
}

Test(function_json, parses_an_image_function_with_image_config)
{
    function_desc *d =
        parse_ok("{\"FunctionName\":\"img\",\"PackageType\":\"Image\","
                 "\"Code\":{\"RepositoryType\":\"ECR\",\"ImageUri\":\"repo/img:1\"},"
                 "\"ImageConfigResponse\":{\"ImageConfig\":{\"EntryPoint\":[\"/bin/sh\",\"-c\"],"
                 "\"Command\":[\"app.handler\"],\"WorkingDirectory\":\"/app\"}}}");
    cr_expect_eq(d->fn.package_type, FCB_PACKAGE_IMAGE);
    cr_expect_str_eq(d->fn.image_uri, "repo/img:1");
    cr_assert_eq(d->fn.n_image_entry_point, 2);
    cr_expect_str_eq(d->fn.image_entry_point[1], "-c");
    cr_assert_eq(d->fn.n_image_command, 1);
    cr_expect_str_eq(d->fn.image_command[0], "app.handler");
    cr_expect_str_eq(d->fn.image_working_directory, "/app");
    char why[256];
    cr_expect_eq(function_desc_check(d, why, sizeof why), 0, "%s", why);
    function_desc_free(d);
}

Test(function_json, accepts_a_top_level_image_uri_and_the_override)
{
    function_desc *d =
        parse_ok("{\"FunctionName\":\"img\",\"PackageType\":\"Image\",\"ImageUri\":\"a:1\"}");
    cr_expect_str_eq(d->fn.image_uri, "a:1");
    cr_assert_eq(function_desc_set_image_uri(d, "b:2"), 0);
    cr_expect_str_eq(d->fn.image_uri, "b:2");
    function_desc_free(d);
}

Test(function_json, accepts_the_get_function_shape)
{
    function_desc *d =
        parse_ok("{\"Configuration\":{\"FunctionName\":\"f\",\"PackageType\":\"Image\"},"
                 "\"Code\":{\"ImageUri\":\"x/y:z\",\"ResolvedImageUri\":\"x/y@sha256:0\"},"
                 "\"Tags\":{\"team\":\"a\"}}");
    cr_expect_str_eq(d->fn.image_uri, "x/y:z");
    cr_assert_eq(d->fn.n_tags, 1, "Tags reach the plugin (ABI 1.1 fcb_function.tags)");
    cr_expect_str_eq(d->fn.tags[0].key, "team");
    cr_expect_str_eq(d->fn.tags[0].value, "a");
    function_desc_free(d);
}

Test(function_json, tags_are_validated_like_tag_resource)
{
    function_desc *d = parse_ok("{\"FunctionName\":\"f\",\"Tags\":{\"\u00e9t\u00e9\":\"\",\"k\":\"v\"}}");
    cr_expect_eq(d->fn.n_tags, 2);
    cr_expect_eq(d->fn.tags, d->tags);
    function_desc_free(d);
    char key[200], want[256];
    snprintf(key, sizeof key, "{\"FunctionName\":\"f\",\"Tags\":{\"%0129d\":\"v\"}}", 0);
    snprintf(want, sizeof want, "Tags.%0129d: tag key of 129 characters (AWS allows 1 to 128)", 0);
    expect_error(key, want);
    expect_error("{\"FunctionName\":\"f\",\"Tags\":[]}", "Tags: expected an object, got array");
    expect_error("{\"FunctionName\":\"f\",\"Tags\":{\"AWS:x\":\"v\"}}",
                 "Tags.AWS:x: tag keys starting with \"aws:\" are reserved by AWS");
}

/* Parses TEXT and expects exactly the warnings listed (NULL-terminated), in order. */
static void expect_warnings(const char *text, const char *const *want)
{
    function_desc *d = parse_ok(text);
    size_t n = 0;
    for (; want[n] != NULL; n++) {
        cr_assert_lt(n, d->n_warnings, "warning %zu (%s) missing for %s", n, want[n], text);
        cr_expect_str_eq(d->warnings[n], want[n], "for %s", text);
    }
    cr_expect_eq(d->n_warnings, n, "for %s", text);
    function_desc_free(d);
}

#define WARNS(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(function_json, an_unknown_top_level_field_is_a_warning)
{
    expect_warnings("{\"FunctionName\":\"f\",\"Fooo\":1}", WARNS("unknown field \"Fooo\" ignored"));
}

Test(function_json, fields_aws_added_later_are_warnings_not_errors)
{
    expect_warnings("{\"FunctionName\":\"f\",\"ConfigSha256\":\"x\",\"DurableConfig\":{},"
                    "\"CapacityProviderConfig\":{\"A\":1},\"TenancyConfig\":{\"Mode\":\"x\"}}",
                    WARNS("unknown field \"ConfigSha256\" ignored",
                          "unknown field \"DurableConfig\" ignored",
                          "unknown field \"CapacityProviderConfig\" ignored",
                          "unknown field \"TenancyConfig\" ignored"));
}

Test(function_json, an_unknown_nested_field_is_a_warning_with_its_path)
{
    expect_warnings("{\"FunctionName\":\"f\",\"Environment\":{\"Vars\":{}}}",
                    WARNS("Environment: unknown field \"Vars\" ignored"));
    expect_warnings("{\"FunctionName\":\"f\",\"Layers\":[{\"Arn\":\"a\",\"Size\":1}]}",
                    WARNS("Layers[0]: unknown field \"Size\" ignored"));
    expect_warnings(
        "{\"Configuration\":{\"FunctionName\":\"f\",\"Bad\":true},\"More\":1}",
        WARNS("Configuration: unknown field \"Bad\" ignored", "unknown field \"More\" ignored"));
    expect_warnings(
        "{\"FunctionName\":\"f\",\"EphemeralStorage\":{\"Size\":512,\"X\":1},"
        "\"Code\":{\"Y\":1},\"ImageConfigResponse\":{\"Z\":1,\"ImageConfig\":{\"W\":1}}}",
        WARNS("EphemeralStorage: unknown field \"X\" ignored", "Code: unknown field \"Y\" ignored",
              "ImageConfigResponse: unknown field \"Z\" ignored",
              "ImageConfigResponse.ImageConfig: unknown field \"W\" ignored"));
}

Test(function_json, names_an_ill_typed_field_and_both_types)
{
    expect_error("{\"FunctionName\":\"f\",\"Timeout\":\"3\"}",
                 "Timeout: expected an integer, got string");
    expect_error("{\"FunctionName\":\"f\",\"MemorySize\":128.5}",
                 "MemorySize: expected an integer, got double");
    expect_error("{\"FunctionName\":7}", "FunctionName: expected a string, got int");
    expect_error("{\"FunctionName\":\"f\",\"Environment\":{\"Variables\":{\"A\":1}}}",
                 "Environment.Variables.A: expected a string, got int");
    expect_error("{\"FunctionName\":\"f\",\"ImageConfigResponse\":{\"ImageConfig\":"
                 "{\"Command\":[\"a\",2]}}}",
                 "ImageConfigResponse.ImageConfig.Command[1]: expected a string, got int");
    expect_error("{\"FunctionName\":\"f\",\"Handler\":null}",
                 "Handler: expected a string, got null");
}

Test(function_json, checks_ranges_and_enumerations)
{
    expect_error("{\"FunctionName\":\"f\",\"Timeout\":901}",
                 "Timeout: must be between 1 and 900, got 901");
    expect_error("{\"FunctionName\":\"f\",\"MemorySize\":64}",
                 "MemorySize: must be between 128 and 10240, got 64");
    expect_error("{\"FunctionName\":\"f\",\"EphemeralStorage\":{\"Size\":100}}",
                 "EphemeralStorage.Size: must be between 512 and 10240, got 100");
    expect_error("{\"FunctionName\":\"f\",\"PackageType\":\"Jar\"}",
                 "PackageType: expected \"Zip\" or \"Image\", got \"Jar\"");
    expect_error("{\"FunctionName\":\"f\",\"Architectures\":[\"sparc\"]}",
                 "Architectures: expected \"x86_64\" or \"arm64\", got \"sparc\"");
    expect_error("{\"FunctionName\":\"f\",\"Architectures\":[]}",
                 "Architectures: expected exactly one architecture, got 0");
}

Test(function_json, requires_a_function_name)
{
    expect_error("{\"Runtime\":\"python3.12\"}", "FunctionName: required (a non-empty string)");
    expect_error("{\"FunctionName\":\"\"}", "FunctionName: required (a non-empty string)");
}

Test(function_json, rejects_an_arn_whose_account_is_not_twelve_digits)
{
    expect_error("{\"FunctionName\":\"f\",\"FunctionArn\":\"arn:aws:lambda:r:12:function:f\"}",
                 "FunctionArn: account (5th field) is not 12 digits in "
                 "\"arn:aws:lambda:r:12:function:f\"");
}

Test(function_json, reports_invalid_json_and_trailing_data)
{
    function_desc *d = NULL;
    char why[FUNCTION_JSON_WHY_MAX];
    cr_expect_eq(function_json_parse("{\"FunctionName\":", 16, &d, why, sizeof why), -1);
    cr_expect(strstr(why, "invalid JSON") != NULL, "%s", why);
    cr_expect_eq(function_json_parse("{} x", 4, &d, why, sizeof why), -1);
    cr_expect(strstr(why, "byte 3") != NULL, "names where the document goes wrong: %s", why);
    expect_error("[1]", "expected a JSON object (GetFunctionConfiguration output), got array");
    cr_expect_eq(function_json_parse("", 0, &d, why, sizeof why), -1);
}

Test(function_json, check_requires_runtime_and_handler_for_zip_and_uri_for_image)
{
    char why[256];
    function_desc *d = parse_ok("{\"FunctionName\":\"f\",\"Handler\":\"h\"}");
    cr_expect_eq(function_desc_check(d, why, sizeof why), -1);
    cr_expect_str_eq(why, "Runtime: required for PackageType Zip");
    function_desc_free(d);
    d = parse_ok("{\"FunctionName\":\"f\",\"PackageType\":\"Image\"}");
    cr_expect_eq(function_desc_check(d, why, sizeof why), -1);
    cr_expect(strncmp(why, "ImageUri: required", 18) == 0, "%s", why);
    function_desc_free(d);
}

Test(function_json, survives_deep_nesting_and_nul_bytes)
{
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    function_desc *d = NULL;
    char why[FUNCTION_JSON_WHY_MAX];
    cr_expect_eq(function_json_parse(deep, sizeof deep, &d, why, sizeof why), -1);
    static const char nul[] = "{\"FunctionName\":\"a\\u0000b\"}";
    cr_expect_eq(function_json_parse(nul, sizeof nul - 1, &d, why, sizeof why), -1);
    cr_expect_str_eq(why, "FunctionName: contains a NUL character");
}

Test(function_json, escapes_control_characters_from_the_document_in_messages)
{
    expect_warnings("{\"FunctionName\":\"f\",\"Fo\\no\\u007f\":1}",
                    WARNS("unknown field \"Fo\\x0ao\\x7f\" ignored"));
    expect_error("{\"FunctionName\":\"f\",\"PackageType\":\"Z\\tip\"}",
                 "PackageType: expected \"Zip\" or \"Image\", got \"Z\\x09ip\"");
}

static function_desc *parse_region(const char *text, const char *region)
{
    function_desc *d = NULL;
    char why[FUNCTION_JSON_WHY_MAX] = "";
    cr_assert_eq(function_json_parse_region(text, strlen(text), region, &d, why, sizeof why), 0,
                 "%s", why);
    return d;
}

#define ARN "arn:aws:lambda:eu-west-1:123456789012:function:my-fn"

Test(function_json, version_qualifies_the_function_arn)
{
    function_desc *d =
        parse_ok("{\"FunctionName\":\"my-fn\",\"FunctionArn\":\"" ARN "\",\"Version\":\"7\"}");
    cr_expect_str_eq(d->fn.function_arn, ARN ":7");
    function_desc_free(d);
    d = parse_ok("{\"FunctionName\":\"my-fn\",\"FunctionArn\":\"" ARN ":7\",\"Version\":\"7\"}");
    cr_expect_str_eq(d->fn.function_arn, ARN ":7", "an agreeing qualifier is kept once");
    function_desc_free(d);
    d = parse_ok("{\"FunctionName\":\"my-fn\",\"FunctionArn\":\"" ARN
                 "\",\"Version\":\"$LATEST\"}");
    cr_expect_str_eq(d->fn.function_arn, ARN, "$LATEST stays unqualified");
    function_desc_free(d);
    d = parse_ok("{\"FunctionName\":\"f\",\"Version\":\"12\"}");
    cr_expect_str_eq(d->fn.function_arn, "arn:aws:lambda:us-east-1:000000000000:function:f:12");
    function_desc_free(d);
    d = parse_region("{\"FunctionName\":\"f\",\"Version\":\"3\"}", "ap-south-2");
    cr_expect_str_eq(d->fn.function_arn, "arn:aws:lambda:ap-south-2:000000000000:function:f:3");
    function_desc_free(d);
    d = parse_ok("{\"FunctionName\":\"f\"}");
    cr_expect_null(d->fn.function_arn, "no Version, no FunctionArn: none built");
    function_desc_free(d);
}

Test(function_json, a_qualifier_that_contradicts_version_is_an_error_naming_both)
{
    expect_error("{\"FunctionName\":\"my-fn\",\"FunctionArn\":\"" ARN ":6\",\"Version\":\"7\"}",
                 "FunctionArn: qualifier \"6\" contradicts Version \"7\"");
    expect_error("{\"FunctionName\":\"my-fn\",\"FunctionArn\":\"" ARN
                 ":6\",\"Version\":\"$LATEST\"}",
                 "FunctionArn: qualifier \"6\" contradicts Version \"$LATEST\"");
    expect_error("{\"FunctionName\":\"f\",\"Version\":\"beta\"}",
                 "Version: expected \"$LATEST\" or a version number, got \"beta\"");
    expect_error("{\"FunctionName\":\"f\",\"Version\":7}", "Version: expected a string, got int");
}

Test(function_json, function_name_is_a_name_or_a_function_arn)
{
    const char *msg = "FunctionName: expected 1 to 64 of [A-Za-z0-9_-] or a function ARN "
                      "(arn:aws:lambda:REGION:ACCOUNT:function:NAME), got ";
    char want[512];
    snprintf(want, sizeof want, "%s\"my fn\"", msg);
    expect_error("{\"FunctionName\":\"my fn\"}", want);
    snprintf(want, sizeof want, "%s\"a/b\"", msg);
    expect_error("{\"FunctionName\":\"a/b\"}", want);
    char long_name[80], text[200];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    snprintf(text, sizeof text, "{\"FunctionName\":\"%s\"}", long_name);
    snprintf(want, sizeof want, "%s\"%s\"", msg, long_name);
    expect_error(text, want);
    long_name[64] = '\0';
    snprintf(text, sizeof text, "{\"FunctionName\":\"%s\"}", long_name);
    function_desc *d = parse_ok(text);
    function_desc_free(d);
    d = parse_ok("{\"FunctionName\":\"" ARN "\"}");
    cr_expect_str_eq(d->fn.function_name, "my-fn");
    cr_expect_str_eq(d->fn.function_arn, ARN);
    cr_expect_str_eq(d->account, "123456789012");
    function_desc_free(d);
    d = parse_ok("{\"FunctionName\":\"" ARN ":4\"}");
    cr_expect_str_eq(d->fn.function_name, "my-fn");
    cr_expect_str_eq(d->fn.function_arn, ARN ":4");
    function_desc_free(d);
    snprintf(want, sizeof want, "%s\"%s\"", msg, "arn:aws:lambda:eu-west-1:123456789012:layer:x");
    expect_error("{\"FunctionName\":\"arn:aws:lambda:eu-west-1:123456789012:layer:x\"}", want);
}

Test(function_json, environment_is_limited_to_4_kb_like_aws)
{
    /* 4096 bytes of names and values: "A" + 4095 bytes of value. */
    static char text[6000];
    char value[4200];
    memset(value, 'v', 4095);
    value[4095] = '\0';
    snprintf(text, sizeof text,
             "{\"FunctionName\":\"f\",\"Environment\":{\"Variables\":{\"A\":\"%s\"}}}", value);
    function_desc *d = parse_ok(text);
    function_desc_free(d);
    snprintf(text, sizeof text,
             "{\"FunctionName\":\"f\",\"Environment\":{\"Variables\":{\"AB\":\"%s\"}}}", value);
    expect_error(text, "Environment.Variables: 4097 bytes (names and values) exceed AWS's 4096");
}

Test(function_json, runtime_must_be_one_aws_knows)
{
    expect_error("{\"FunctionName\":\"f\",\"Runtime\":\"cobol1\"}",
                 "Runtime: \"cobol1\" is not an AWS Lambda runtime (e.g. python3.13, nodejs22.x, "
                 "java21, provided.al2023)");
    const char *known[] = {"python3.12", "python3.14", "nodejs24.x",      "java25", "dotnet10",
                           "ruby4.0",    "provided",   "provided.al2023", "go1.x",  NULL};
    for (size_t i = 0; known[i] != NULL; i++) {
        char text[200];
        snprintf(text, sizeof text, "{\"FunctionName\":\"f\",\"Runtime\":\"%s\"}", known[i]);
        function_desc_free(parse_ok(text));
    }
}

Test(function_json, invalid_utf8_in_any_string_is_refused_naming_the_field)
{
    expect_error("{\"FunctionName\":\"f\",\"Description\":\"ok \xff\"}",
                 "Description: invalid UTF-8 at byte 3");
    expect_error("{\"FunctionName\":\"f\",\"Environment\":{\"Variables\":{\"A\":\"\xc0\xaf\"}}}",
                 "Environment.Variables.A: invalid UTF-8 at byte 0");
    expect_error("{\"FunctionName\":\"f\",\"Layers\":[{\"Arn\":\"\xed\xa0\x80\"}]}",
                 "Layers[0].Arn: invalid UTF-8 at byte 0");
    expect_error("{\"FunctionName\":\"f\",\"X\xe2\x82\":1}",
                 "a field name: invalid UTF-8 at byte 1");
    expect_error("{\"FunctionName\":\"f\",\"TracingConfig\":{\"Mode\":[\"\xf8\x88\x80\x80\x80\"]}}",
                 "TracingConfig.Mode[0]: invalid UTF-8 at byte 0");
    function_desc *d = parse_ok("{\"FunctionName\":\"f\",\"Description\":\"h\xc3\xa9 \xe2\x82\xac "
                                "\xf0\x9f\x98\x80\"}");
    function_desc_free(d);
}
