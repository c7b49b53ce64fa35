/* Unit tests of plugin/common/lambda_env: the reserved Lambda environment of a launch. */
#include "lambda_env.h"

#include <mock_host.h>

#include <criterion/criterion.h>
#include <string.h>

#define HEXID "0123456789abcdef0123456789ABCDEF"
/* 2026-12-03T14:00:00Z */
#define NOW INT64_C(1796306400)

static lambda_env_input base(void)
{
    return (lambda_env_input){.function_name = "orders",
                              .runtime = "python3.12",
                              .handler = "app.handler",
                              .memory_mb = 128,
                              .timeout_s = 3,
                              .region = "eu-west-1",
                              .instance_id = HEXID,
                              .now_unix_s = NOW};
}

static mock_host *mh;
static const fcb_host_services *svc;

static void setup(void)
{
    mh = mock_host_new();
    svc = mock_host_services(mh);
}

static void teardown(void)
{
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "leaked %zu bytes",
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
}

TestSuite(lambda_env, .init = setup, .fini = teardown);

static const lambda_env_var *var(const lambda_env *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->vars[i].name, name) == 0)
            return &e->vars[i];
    return NULL;
}

Test(lambda_env, a_zip_function_gets_every_reserved_variable_in_order)
{
    lambda_env_input in = base();
    lambda_env e;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(lambda_env_build(svc, &in, &e, &err), FCB_OK, "%s", err.message);
    static const char *const want[][2] = {
        {"_HANDLER", "app.handler"},
        {"AWS_REGION", "eu-west-1"},
        {"AWS_DEFAULT_REGION", "eu-west-1"},
        {"AWS_EXECUTION_ENV", "AWS_Lambda_python3.12"},
        {"AWS_LAMBDA_FUNCTION_NAME", "orders"},
        {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"},
        {"AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"},
        {"AWS_LAMBDA_FUNCTION_TIMEOUT", "3"},
        {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
        {"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/orders"},
        {"AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/03/[$LATEST]0123456789abcdef0123456789abcdef"},
        {"LAMBDA_TASK_ROOT", "/var/task"},
        {"LAMBDA_RUNTIME_DIR", "/var/runtime"},
        {"TZ", ":UTC"},
        {"AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"},
    };
    cr_assert_eq(e.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < e.n; i++) {
        cr_assert_str_eq(e.vars[i].name, want[i][0], "%zu", i);
        cr_assert_str_eq(e.vars[i].value, want[i][1], "%s", want[i][0]);
        /* AWS lets a function set TZ and the X-Ray variables (the documented
         * unreserved list): those are defaults the function's own value replaces. */
        bool overridable =
            strcmp(want[i][0], "TZ") == 0 || strncmp(want[i][0], "AWS_XRAY_", 9) == 0;
        cr_assert(!e.vars[i].secret, "%s", want[i][0]);
        cr_assert_eq(e.vars[i].reserved, !overridable, "%s reserved", want[i][0]);
    }
    lambda_env_free(svc, &e);
    cr_assert_eq(e.n, 0);
    lambda_env_free(svc, &e);
}

Test(lambda_env, options_credentials_and_runtime_rules)
{
    static const struct {
        const char *runtime, *version, *trace;
        bool exec_env, trace_set;
        const char *stream_prefix;
    } cases[] = {
        {"nodejs20.x", "7", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", true, true,
         "2026/12/03/[7]"},
        {"provided.al2023", NULL, "Root=1-5759e988-bd862e3fe1be46a994272793", false, false,
         "2026/12/03/[$LATEST]"},
        {NULL, "", NULL, false, false, "2026/12/03/[$LATEST]"}, /* image function */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lambda_env_input in = base();
        in.runtime = cases[i].runtime;
        in.version = cases[i].version;
        in.trace_header = cases[i].trace;
        in.handler = NULL;
        in.timeout_s = 0;
        in.endpoint_url = "http://127.0.0.1:4566";
        in.access_key_id = "AKIDEXAMPLE";
        in.secret_access_key = "wJalrXUtnFEMI/K7MDENG";
        in.session_token = i == 0 ? "FwoGZXIvYXdzE//token" : NULL;
        in.region_overridable = true;
        lambda_env e;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(lambda_env_build(svc, &in, &e, &err), FCB_OK, "%s", err.message);
        cr_assert_null(var(&e, "_HANDLER"));
        cr_assert_null(var(&e, "AWS_LAMBDA_FUNCTION_TIMEOUT"));
        cr_assert_eq(var(&e, "AWS_EXECUTION_ENV") != NULL, cases[i].exec_env, "%zu", i);
        cr_assert_eq(var(&e, "_X_AMZN_TRACE_ID") != NULL, cases[i].trace_set, "%zu", i);
        cr_assert(strncmp(lambda_env_get(&e, "AWS_LAMBDA_LOG_STREAM_NAME"), cases[i].stream_prefix,
                          strlen(cases[i].stream_prefix)) == 0);
        cr_assert_str_eq(lambda_env_get(&e, "AWS_ENDPOINT_URL"), "http://127.0.0.1:4566");
        cr_assert(!var(&e, "AWS_ENDPOINT_URL")->secret);
        cr_assert(!var(&e, "AWS_REGION")->reserved, "the function may choose its region");
        const lambda_env_var *key = var(&e, "AWS_ACCESS_KEY_ID");
        const lambda_env_var *secret = var(&e, "AWS_SECRET_ACCESS_KEY");
        cr_assert(key != NULL && key->secret && secret != NULL && secret->secret);
        cr_assert_str_eq(secret->value, "wJalrXUtnFEMI/K7MDENG");
        const lambda_env_var *token = var(&e, "AWS_SESSION_TOKEN");
        cr_assert_eq(token != NULL, i == 0);
        if (token != NULL)
            cr_assert(token->secret);
        lambda_env_free(svc, &e);
    }
}

Test(lambda_env, log_stream_date_is_the_utc_day_of_the_launch)
{
    static const struct {
        int64_t now;
        const char *day;
    } cases[] = {
        {0, "1970/01/01/"},          {86399, "1970/01/01/"},      {951782400, "2000/02/29/"},
        {4107542399, "2100/02/28/"}, {1767225599, "2025/12/31/"}, {1767225600, "2026/01/01/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lambda_env_input in = base();
        in.now_unix_s = cases[i].now;
        lambda_env e;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(lambda_env_build(svc, &in, &e, &err), FCB_OK, "%s", err.message);
        const char *s = lambda_env_get(&e, "AWS_LAMBDA_LOG_STREAM_NAME");
        cr_assert(strncmp(s, cases[i].day, strlen(cases[i].day)) == 0, "%lld -> %s",
                  (long long)cases[i].now, s);
        lambda_env_free(svc, &e);
    }
}

Test(lambda_env, bad_input_names_the_field)
{
    static const struct {
        const char *field;
        const char *message;
    } cases[] = {
        {"function_name", "lambda environment: function_name is missing"},
        {"region", "lambda environment: region is missing"},
        {"memory", "lambda environment: memory_mb 64 is outside 128..10240"},
        {"now", "lambda environment: now_unix_s -1 is before 1970"},
        {"id-short", "lambda environment: instance_id must be 32 hex digits"},
        {"id-nonhex", "lambda environment: instance_id must be 32 hex digits"},
        {"half-creds", "lambda environment: credentials need both access_key_id and "
                       "secret_access_key (got only access_key_id)"},
        {"token-alone", "lambda environment: session_token given without access_key_id and "
                        "secret_access_key"},
        {"newline", "lambda environment: handler has a control character at byte 3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lambda_env_input in = base();
        const char *f = cases[i].field;
        if (strcmp(f, "function_name") == 0)
            in.function_name = "";
        else if (strcmp(f, "region") == 0)
            in.region = NULL;
        else if (strcmp(f, "memory") == 0)
            in.memory_mb = 64;
        else if (strcmp(f, "now") == 0)
            in.now_unix_s = -1;
        else if (strcmp(f, "id-short") == 0)
            in.instance_id = "abc";
        else if (strcmp(f, "id-nonhex") == 0)
            in.instance_id = "0123456789abcdef0123456789abcdeg";
        else if (strcmp(f, "half-creds") == 0)
            in.access_key_id = "AKID";
        else if (strcmp(f, "token-alone") == 0)
            in.session_token = "tok";
        else
            in.handler = "app\n.handler";
        lambda_env e;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(lambda_env_build(svc, &in, &e, &err), FCB_ERR_INVALID_ARGUMENT, "%s", f);
        cr_assert_str_eq(err.message, cases[i].message);
        cr_assert_eq(e.n, 0);
    }
    lambda_env e;
    cr_assert_eq(lambda_env_build(svc, NULL, &e, NULL), FCB_ERR_INVALID_ARGUMENT);
    char big[LAMBDA_ENV_VALUE_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lambda_env_input in = base();
    in.session_token = big;
    in.access_key_id = "a";
    in.secret_access_key = "b";
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(lambda_env_build(svc, &in, &e, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert_str_eq(err.message, "lambda environment: session_token is longer than 8192 bytes");
}

Test(lambda_env, every_allocation_failure_is_clean)
{
    lambda_env_input in = base();
    in.access_key_id = "a";
    in.secret_access_key = "b";
    in.session_token = "c";
    in.endpoint_url = "http://127.0.0.1:1";
    size_t calls = 0;
    {
        lambda_env e;
        mock_host_fail_alloc(mh, 0); /* resets the count */
        cr_assert_eq(lambda_env_build(svc, &in, &e, NULL), FCB_OK);
        calls = mock_host_alloc_calls(mh);
        lambda_env_free(svc, &e);
    }
    cr_assert_gt(calls, 10);
    for (size_t k = 1; k <= calls; k++) {
        mock_host_fail_alloc(mh, k);
        lambda_env e;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(lambda_env_build(svc, &in, &e, &err), FCB_ERR_NO_MEMORY, "alloc %zu", k);
        cr_assert_str_eq(err.message, "lambda environment: out of memory");
        cr_assert_eq(e.n, 0);
        cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "alloc %zu leaked", k);
        mock_host_fail_alloc(mh, 0);
    }
}
