/* function_json: AWS GetFunctionConfiguration JSON -> fcb_function. */
#include "function_json.h"

#include <criterion/criterion.h>

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
    function_desc_free(d);
}

Test(function_json, names_an_unknown_top_level_field)
{
    expect_error("{\"FunctionName\":\"f\",\"Fooo\":1}", "unknown field \"Fooo\"");
}

Test(function_json, names_an_unknown_nested_field_with_its_path)
{
    expect_error("{\"FunctionName\":\"f\",\"Environment\":{\"Vars\":{}}}",
                 "Environment: unknown field \"Vars\"");
    expect_error("{\"FunctionName\":\"f\",\"Layers\":[{\"Arn\":\"a\",\"Size\":1}]}",
                 "Layers[0]: unknown field \"Size\"");
    expect_error("{\"Configuration\":{\"FunctionName\":\"f\",\"Bad\":true}}",
                 "Configuration: unknown field \"Bad\"");
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
    expect_error("{\"FunctionName\":\"f\",\"Fo\\no\\u007f\":1}", "unknown field \"Fo\\x0ao\\x7f\"");
    expect_error("{\"FunctionName\":\"f\",\"PackageType\":\"Z\\tip\"}",
                 "PackageType: expected \"Zip\" or \"Image\", got \"Z\\x09ip\"");
}
