/*
 * The host binary as a user runs it: help texts, exit codes, function JSON
 * errors, `backends --json` with refused plugins, invoke end to end with the
 * test plugins, swapping backends without a rebuild, the artifact server
 * seen from a plugin, leak detection.
 */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <json-c/json.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HOST_EXE
#error "HOST_EXE must be defined by meson"
#endif
#ifndef TEST_PLUGINS_DIR
#error "TEST_PLUGINS_DIR must be defined by meson"
#endif

static char dir[256];

typedef struct result {
    int exit_code; /* -1 = killed/timeout */
    char *out;
    char *err;
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *data = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&data, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, m);
    fclose(m);
    fclose(f);
    return data;
}

static void write_file(const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fwrite(data, 1, len, f);
    fclose(f);
}

static void write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}

static void write_zip(const char *name, const char *entry, const char *content)
{
    unsigned char buf[4096];
    size_t used = 0;
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    cr_assert_eq(archive_write_open_memory(a, buf, sizeof buf, &used), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, entry);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)strlen(content));
    archive_write_header(a, e);
    archive_write_data(a, content, strlen(content));
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    write_file(name, buf, used);
}

/*
 * Run the host in `dir` with ARGS (NULL-terminated) and extra environment
 * ENV ("K=V" strings, NULL-terminated; may be NULL), stdin from STDIN_FILE
 * (relative to dir) or /dev/null. At most 30 s.
 */
static result run_host(const char *const *env, const char *stdin_file, const char *const *args)
{
    result r = {-1, NULL, NULL};
    char out_path[512], err_path[512], in_path[512];
    snprintf(out_path, sizeof out_path, "%s/.stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/.stderr", dir);
    if (stdin_file != NULL)
        snprintf(in_path, sizeof in_path, "%s/%s", dir, stdin_file);
    else
        snprintf(in_path, sizeof in_path, "/dev/null");
    char *argv[32];
    size_t argc = 0;
    argv[argc++] = (char *)HOST_EXE;
    for (size_t i = 0; args[i] != NULL && argc < 31; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    char *envp[32];
    size_t envc = 0;
    /* The test's own variables first: the first of duplicates wins (getenv). */
    for (size_t i = 0; env != NULL && env[i] != NULL && envc < 24; i++)
        envp[envc++] = (char *)env[i];
    envp[envc++] = (char *)"PATH=/usr/bin:/bin";
    envp[envc++] = (char *)"FAKECLOUD_BACKEND_PATH=" TEST_PLUGINS_DIR;
    const char *asan = getenv("ASAN_OPTIONS");
    static char asan_env[512];
    if (asan != NULL) {
        snprintf(asan_env, sizeof asan_env, "ASAN_OPTIONS=%s", asan);
        envp[envc++] = asan_env;
    }
    envp[envc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 0, in_path, O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, HOST_EXE, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "spawn %s: %s", HOST_EXE, strerror(rc));
    int status = 0;
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 3000; i++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        nanosleep(&tick, NULL);
    }
    if (r.exit_code == -1 && waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...)  ((const char *const[]){__VA_ARGS__, NULL})

static const char fn_json[] =
    "{\"FunctionName\":\"my-fn\","
    "\"FunctionArn\":\"arn:aws:lambda:us-east-1:123456789012:function:my-fn\","
    "\"Runtime\":\"python3.12\",\"Handler\":\"app.handler\",\"Timeout\":3,"
    "\"MemorySize\":128,\"Role\":\"arn:aws:iam::123456789012:role/r\","
    "\"PackageType\":\"Zip\",\"Architectures\":[\"x86_64\"],"
    "\"Environment\":{\"Variables\":{\"A\":\"b\"}}}";

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/fcb-host-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    write_text("fn.json", fn_json);
    write_zip("code.zip", "app.py", "def handler(event, context):\n    return event\n");
    write_zip("layer.zip", "python/lib.py", "X = 1\n");
    write_text("code.txt", "not a zip");
}

static void teardown(void)
{
    const char *files[] = {"fn.json",    "code.zip", "layer.zip", "code.txt",   "bad.json",
                           "event.json", ".stdout",  ".stderr",   "marker",     "creds.json",
                           "tags.json",  NULL};
    for (size_t i = 0; files[i] != NULL; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

TestSuite(host_cli, .init = setup, .fini = teardown, .timeout = 60);

Test(host_cli, every_subcommand_has_a_help_text_that_names_it)
{
    const char *cmds[] = {"backends", "launch",  "invoke", "terminate", "reap",
                          "prepull",  "logs",    "status", "help"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char usage[128];
        snprintf(usage, sizeof usage, "Usage: fakecloud-lambda-host %s", cmds[i]);
        result r = run_host(NULL, NULL, ARGS(cmds[i], "--help"));
        cr_expect_eq(r.exit_code, 0, "%s --help", cmds[i]);
        cr_expect(strncmp(r.out, usage, strlen(usage)) == 0, "%s --help: %s", cmds[i], r.out);
        result h = run_host(NULL, NULL, ARGS("help", cmds[i]));
        cr_expect_eq(h.exit_code, 0);
        cr_expect_str_eq(h.out, r.out, "`help %s` equals `%s --help`", cmds[i], cmds[i]);
        result_free(&r);
        result_free(&h);
    }
    result r = run_host(NULL, NULL, ARGS("--help"));
    cr_expect_eq(r.exit_code, 0);
    cr_expect(strstr(r.out, "Exit status:") != NULL && strstr(r.out, "  4  ") != NULL);
    cr_expect(strstr(r.out, "  5  invoke") != NULL && strstr(r.out, "  75  temporary") != NULL,
              "%s", r.out);
    cr_expect(strstr(r.out, "prepull IMAGE") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "logs HANDLE") != NULL && strstr(r.out, "status HANDLE") != NULL &&
                  strstr(r.out, "--stats") != NULL,
              "%s", r.out);
    cr_expect(strstr(r.out, "FAKECLOUD_LAMBDA_BACKEND") != NULL);
    result_free(&r);
}

Test(host_cli, usage_errors_exit_with_2_and_say_what_is_wrong)
{
    struct {
        const char *const *args;
        const char *message;
    } cases[] = {
        {ARGS("frobnicate"), "unknown command \"frobnicate\""},
        {ARGS("backends", "--nope"), "unknown option --nope"},
        {ARGS("backends", "--payload", "{}"), "--payload: not an option of `backends`"},
        {ARGS("terminate"), "terminate: HANDLE required"},
        {ARGS("reap", "extra"), "unexpected argument \"extra\""},
        {ARGS("invoke", "--backend", "test"), "invoke: --function FILE required"},
        {ARGS("invoke", "--function", "fn.json", "--backend", "test"),
         "--code ZIP: required for a Zip function"},
        {ARGS("invoke", "--function", "fn.json", "--code", "code.txt", "--backend", "test"),
         "--code: code.txt: not a zip archive"},
        {ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--payload", "{bad",
              "--backend", "test"),
         "--payload: not valid JSON"},
        {ARGS("invoke", "--function", "missing.json", "--code", "code.zip", "--backend", "test"),
         "--function: missing.json: cannot open"},
        {ARGS("launch", "--function", "fn.json", "--code", "code.zip", "--artifact-listen",
              "nowhere", "--backend", "test"),
         "--artifact-listen: expected IPV4:PORT"},
        {ARGS("logs", "--backend", "test"), "logs: HANDLE required"},
        {ARGS("status", "--backend", "test"), "status: HANDLE required"},
        {ARGS("logs", "test/1", "--tail", "ten"), "--tail: expected a positive whole number"},
        {ARGS("logs", "test/1", "--tail", "100001"), "--tail: \"100001\" is larger than 100000"},
        {ARGS("logs", "test/1", "--since", "5d"), "--since: expected a duration such as 90s"},
        {ARGS("logs", "test/1", "--since", "721h"), "--since: \"721h\" is longer than 30 days"},
        {ARGS("status", "test/1", "--follow"), "--follow: not an option of `status`"},
        {ARGS("launch", "--function", "fn.json", "--log-tail"),
         "--log-tail: not an option of `launch`"},
        {ARGS("reap", "--role-credentials", "creds.json"),
         "--role-credentials: not an option of `reap`"},
        {ARGS("backends", "--stats"), "--stats: not an option of `backends`"},
        {ARGS("launch", "--function", "fn.json", "--aws-endpoint-url", "localhost:4566"),
         "--aws-endpoint-url: expected an http:// or https:// URL"},
        {ARGS("launch", "--function", "fn.json", "--aws-endpoint-url", "http://a b"),
         "--aws-endpoint-url: byte 8 (0x20) is not printable ASCII"},
        {ARGS("launch", "--function", "fn.json", "--code-dir", "src", "--backend", "test"),
         "--code-dir: an absolute directory, got \"src\""},
        {ARGS("launch", "--function", "fn.json", "--code-dir", "/tmp", "--code", "code.zip",
              "--backend", "test"),
         "--code and --code-dir: give one, not both"},
        {ARGS("reap", "--code-dir", "/tmp"), "--code-dir: not an option of `reap`"},
        {ARGS("invoke", "--function", "fn.json", "--code-dir", "/tmp", "--backend", "test"),
         "--code-dir: backend test does not declare the hot-reload capability"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result r = run_host(NULL, NULL, cases[i].args);
        cr_expect_eq(r.exit_code, 2, "case %zu: %s", i, r.err);
        cr_expect(strstr(r.err, cases[i].message) != NULL, "case %zu wants '%s' in: %s", i,
                  cases[i].message, r.err);
        result_free(&r);
    }
    result r = run_host(NULL, NULL, ARGS("--json", "invoke", "--backend", "test"));
    cr_expect_eq(r.exit_code, 2);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LOG_LEVEL=loud"), NULL, ARGS("backends"));
    cr_expect_eq(r.exit_code, 2);
    cr_expect(strstr(r.err, "FAKECLOUD_LOG_LEVEL: unknown level \"loud\"") != NULL, "%s", r.err);
    result_free(&r);
}

Test(host_cli, bad_function_json_names_the_file_and_the_field)
{
    write_text("bad.json", "{\"FunctionName\":\"f\",\"Timeout\":\"3\"}");
    result r = run_host(NULL, NULL,
                        ARGS("launch", "--function", "bad.json", "--code", "code.zip", "--backend",
                             "test", "--json"));
    cr_expect_eq(r.exit_code, 2);
    cr_expect(strstr(r.err, "bad.json: Timeout: expected an integer, got string") != NULL, "%s",
              r.err);
    json_object *o = json_tokener_parse(r.out);
    cr_assert_not_null(o, "--json error output is JSON: %s", r.out);
    json_object *e, *m;
    cr_assert(json_object_object_get_ex(o, "error", &e));
    cr_assert(json_object_object_get_ex(e, "message", &m));
    cr_expect(strstr(json_object_get_string(m), "Timeout: expected an integer") != NULL);
    json_object_put(o);
    result_free(&r);
}

Test(host_cli, unknown_function_fields_are_warnings_and_the_invoke_runs)
{
    write_text("bad.json", "{\"FunctionName\":\"my-fn\",\"Runtime\":\"python3.12\","
                           "\"Handler\":\"app.handler\",\"Fooo\":1,\"ConfigSha256\":\"x\","
                           "\"TenancyConfig\":{\"Mode\":\"y\"}}");
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                        ARGS("invoke", "--function", "bad.json", "--code", "code.zip"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.err, "warn  host: unknown field \"Fooo\" ignored file=bad.json") != NULL,
              "%s", r.err);
    cr_expect(strstr(r.err, "unknown field \"TenancyConfig\" ignored file=bad.json") != NULL, "%s",
              r.err);
    cr_expect(strstr(r.out, "\"function\":\"my-fn\"") != NULL, "%s", r.out);
    result_free(&r);
}

Test(host_cli, version_reaches_the_plugin_as_a_qualified_function_arn)
{
    write_text("bad.json", "{\"FunctionName\":\"my-fn\",\"Runtime\":\"python3.12\","
                           "\"Handler\":\"app.handler\",\"Version\":\"7\"}");
    result r = run_host(
        ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_LOG_LEVEL=info", "AWS_REGION=eu-central-1"),
        NULL, ARGS("invoke", "--function", "bad.json", "--code", "code.zip"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(
        strstr(r.err, "function_arn=arn:aws:lambda:eu-central-1:000000000000:function:my-fn:7") !=
            NULL,
        "%s", r.err);
    result_free(&r);
}

Test(host_cli, function_validation_like_aws_exits_2_before_any_backend_call)
{
    static char big_env[6000];
    char value[4200];
    memset(value, 'v', 4100);
    value[4100] = '\0';
    snprintf(big_env, sizeof big_env,
             "{\"FunctionName\":\"f\",\"Runtime\":\"python3.12\",\"Handler\":\"h\","
             "\"Environment\":{\"Variables\":{\"A\":\"%s\"}}}",
             value);
    struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"{\"FunctionName\":\"my fn\",\"Runtime\":\"python3.12\",\"Handler\":\"h\"}",
         "bad.json: FunctionName: expected 1 to 64 of [A-Za-z0-9_-] or a function ARN"},
        {big_env,
         "bad.json: Environment.Variables: 4101 bytes (names and values) exceed AWS's 4096"},
        {"{\"FunctionName\":\"f\",\"Runtime\":\"cobol1\",\"Handler\":\"h\"}",
         "bad.json: Runtime: \"cobol1\" is not an AWS Lambda runtime"},
        {"{\"FunctionName\":\"f\",\"Runtime\":\"python3.12\",\"Handler\":\"h\xff\"}",
         "bad.json: Handler: invalid UTF-8 at byte 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text("bad.json", cases[i].json);
        /* A backend that cannot even load: 2 (not 3) proves no backend call came first. */
        result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=nosuch"), NULL,
                            ARGS("invoke", "--function", "bad.json", "--code", "code.zip"));
        cr_expect_eq(r.exit_code, 2, "case %zu: %s", i, r.err);
        cr_expect(strstr(r.err, cases[i].message) != NULL, "case %zu wants '%s' in: %s", i,
                  cases[i].message, r.err);
        result_free(&r);
    }
}

static json_object *find_backend(json_object *list, const char *name)
{
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *item = json_object_array_get_idx(list, i), *n;
        if (json_object_object_get_ex(item, "name", &n) &&
            strcmp(json_object_get_string(n), name) == 0)
            return item;
    }
    return NULL;
}

Test(host_cli, backends_json_lists_good_and_refused_plugins_without_running_them)
{
    char marker_env[600];
    snprintf(marker_env, sizeof marker_env, "FAKECLOUD_TEST_INIT_MARKER=%s/marker", dir);
    result r = run_host(ENV(marker_env), NULL, ARGS("backends", "--json"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    json_object *o = json_tokener_parse(r.out);
    cr_assert_not_null(o, "%s", r.out);
    json_object *list;
    cr_assert(json_object_object_get_ex(o, "backends", &list));
    json_object *good = find_backend(list, "test"), *v;
    cr_assert_not_null(good);
    cr_expect(json_object_object_get_ex(good, "accepted", &v) && json_object_get_boolean(v));
    cr_expect(json_object_object_get_ex(good, "version", &v) &&
              strcmp(json_object_get_string(v), "1.0.0") == 0);
    cr_expect(json_object_object_get_ex(good, "abi", &v) &&
              strcmp(json_object_get_string(v), "1.1") == 0);
    /* Capabilities come from the descriptor: listed without running init. */
    cr_assert(json_object_object_get_ex(good, "capabilities", &v));
    static const char *const caps[] = {"image-functions", "layers", "prepull",     "logs",
                                       "logs-follow",     "invoke", "cancel",      "status",
                                       "stats",           "credentials", "tags"};
    cr_expect_eq(json_object_array_length(v), sizeof caps / sizeof caps[0]);
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(v, i)), caps[i]);
    json_object *good2 = find_backend(list, "test2");
    cr_assert_not_null(good2);
    cr_assert(json_object_object_get_ex(good2, "capabilities", &v));
    cr_expect_eq(json_object_array_length(v), 2,
                 "test2 has no prepull and no 1.1 op and declares none of them");
    cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(v, 0)), "image-functions");
    cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(v, 1)), "layers");
    struct {
        const char *name;
        const char *reason;
    } refused[] = {{"broken-magic", "wrong magic number"},
                   {"broken-major", "plugin ABI 2.0, host ABI 1.1"},
                   {"broken-minor", "plugin ABI 1.99, host ABI 1.1"},
                   {"broken-noinit", "no symbol backend_plugin_init"},
                   {"broken-noversion", "without the symbol version"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        json_object *b = find_backend(list, refused[i].name);
        cr_assert_not_null(b, "%s listed", refused[i].name);
        cr_expect(json_object_object_get_ex(b, "accepted", &v) && !json_object_get_boolean(v));
        cr_assert(json_object_object_get_ex(b, "reason", &v));
        cr_expect(strstr(json_object_get_string(v), refused[i].reason) != NULL, "%s: %s",
                  refused[i].name, json_object_get_string(v));
        cr_expect(strstr(json_object_get_string(v), "fakecloud-backend-") != NULL,
                  "names the file");
    }
    json_object_put(o);
    char marker[600];
    snprintf(marker, sizeof marker, "%s/marker", dir);
    cr_expect_neq(access(marker, F_OK), 0, "no refused plugin's init ran");
    result_free(&r);
    r = run_host(NULL, NULL, ARGS("backends"));
    cr_expect_eq(r.exit_code, 0);
    cr_expect(strstr(r.out, "broken-major") != NULL && strstr(r.out, "REFUSED") != NULL);
    result_free(&r);
}

Test(host_cli, invoke_prints_the_runtime_response_end_to_end)
{
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                        ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--payload",
                             "{\"k\":\"v\"}"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "{\"backend\":\"test\",\"event\":{\"k\":\"v\"},\"function\":\"my-fn\","
                            "\"handler\":\"app.handler\"}\n");
    result_free(&r);
}

Test(host_cli, invoke_json_reports_endpoint_status_response_and_termination)
{
    write_text("event.json", "[1, 2, 3]\n");
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                        ARGS("--json", "invoke", "--function", "fn.json", "--code", "code.zip",
                             "--payload-file", "event.json"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    json_object *o = json_tokener_parse(r.out), *v, *resp, *ev;
    cr_assert_not_null(o, "%s", r.out);
    cr_expect(json_object_object_get_ex(o, "status", &v) && json_object_get_int(v) == 200);
    cr_expect(json_object_object_get_ex(o, "terminated", &v) && json_object_get_boolean(v));
    cr_expect(json_object_object_get_ex(o, "ok", &v) && json_object_get_boolean(v));
    cr_expect(json_object_object_get_ex(o, "handle", &v) &&
              strcmp(json_object_get_string(v), "test/1") == 0);
    cr_expect(json_object_object_get_ex(o, "deploy_id", &v) &&
              strlen(json_object_get_string(v)) == 16);
    cr_assert(json_object_object_get_ex(o, "response", &resp));
    cr_assert(json_object_object_get_ex(resp, "event", &ev));
    cr_expect_eq(json_object_array_length(ev), 3);
    json_object_put(o);
    result_free(&r);
}

Test(host_cli, swapping_the_backend_needs_only_the_environment)
{
    const char *const *args = ARGS("invoke", "--function", "fn.json", "--code", "code.zip");
    result a = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL, args);
    result b = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test2"), NULL, args);
    cr_expect_eq(a.exit_code, 0, "%s", a.err);
    cr_expect_eq(b.exit_code, 0, "%s", b.err);
    cr_expect(strstr(a.out, "\"backend\":\"test\"") != NULL, "%s", a.out);
    cr_expect(strstr(a.out, "variant") == NULL, "%s", a.out);
    cr_expect(strstr(b.out, "\"backend\":\"test2\"") != NULL, "%s", b.out);
    cr_expect(strstr(b.out, "\"variant\":2") != NULL, "%s", b.out);
    result_free(&a);
    result_free(&b);
    /* --backend wins over the environment, and a path works too. */
    result c = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                        ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--backend",
                             TEST_PLUGINS_DIR "/fakecloud-backend-test2.so"));
    cr_expect_eq(c.exit_code, 0, "%s", c.err);
    cr_expect(strstr(c.out, "\"variant\":2") != NULL, "%s", c.out);
    result_free(&c);
}

Test(host_cli, backend_problems_exit_with_3_and_the_reason)
{
    const char *const *args = ARGS("invoke", "--function", "fn.json", "--code", "code.zip");
    struct {
        const char *env;
        const char *message;
    } cases[] = {
        {"FAKECLOUD_LAMBDA_BACKEND=nosuch", "no fakecloud-backend-nosuch.so in"},
        {"FAKECLOUD_LAMBDA_BACKEND=broken-major", "plugin ABI 2.0, host ABI 1.1"},
        {"FAKECLOUD_LAMBDA_BACKEND=broken-initfail", "refusing to initialise"},
        {"FAKECLOUD_LAMBDA_BACKEND=broken-nolaunch", "lacks name, open, close, launch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result r = run_host(ENV(cases[i].env), NULL, args);
        cr_expect_eq(r.exit_code, 3, "%s: %s", cases[i].env, r.err);
        cr_expect(strstr(r.err, cases[i].message) != NULL, "'%s' in: %s", cases[i].message, r.err);
        result_free(&r);
    }
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_FAIL_OPEN=please"),
                        NULL, args);
    cr_expect_eq(r.exit_code, 3, "%s", r.err);
    cr_expect(strstr(r.err, "open failed: FAKECLOUD_TEST_FAIL_OPEN") != NULL, "%s", r.err);
    result_free(&r);
    r = run_host(NULL, NULL, ARGS("reap"));
    cr_expect_eq(r.exit_code, 2, "no backend chosen is a usage error: %s", r.err);
    cr_expect(strstr(r.err, "set FAKECLOUD_LAMBDA_BACKEND or pass --backend") != NULL);
    result_free(&r);
}

Test(host_cli, a_runtime_that_does_not_answer_exits_with_1)
{
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_ENDPOINT=127.0.0.1:1"),
                        NULL, ARGS("invoke", "--function", "fn.json", "--code", "code.zip"));
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    cr_expect(strstr(r.err,
                     "invoke http://127.0.0.1:1/2015-03-31/functions/function/invocations") != NULL,
              "%s", r.err);
    result_free(&r);
}

Test(host_cli, a_plugin_that_leaks_makes_the_host_exit_with_4)
{
    /* The leak is deliberate: keep LeakSanitizer (ASan builds) from adding its verdict. */
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_LEAK=1",
                            "ASAN_OPTIONS=detect_leaks=0"),
                        NULL, ARGS("invoke", "--function", "fn.json", "--code", "code.zip"));
    cr_expect_eq(r.exit_code, 4, "%s", r.err);
    cr_expect(strstr(r.err, "plugin test leaked 42 bytes in 1 blocks") != NULL, "%s", r.err);
    result_free(&r);
}

Test(host_cli, the_plugin_fetches_code_and_layers_from_the_artifact_server)
{
    result r = run_host(
        ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_FETCH=1",
            "FAKECLOUD_TEST_REQUIRE_TOKEN=1"),
        NULL,
        ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--layer", "layer.zip"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    struct stat st;
    char code_path[512];
    snprintf(code_path, sizeof code_path, "%s/code.zip", dir);
    cr_assert_eq(stat(code_path, &st), 0);
    char want[64];
    snprintf(want, sizeof want, "\"code_bytes\":%lld,", (long long)st.st_size);
    cr_expect(strstr(r.out, want) != NULL, "%s in %s", want, r.out);
    cr_expect(strstr(r.out, "\"layers_bytes\":0") == NULL, "the layers tar is not empty: %s",
              r.out);
    cr_expect(strstr(r.err, "FAKECLOUD_K8S_SELF_URL not set") != NULL, "%s", r.err);
    result_free(&r);
    /* The environment's FAKECLOUD_K8S_SELF_URL wins over the host's default. */
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_FETCH=1",
                     "FAKECLOUD_K8S_SELF_URL=http://127.0.0.1:1"),
                 NULL, ARGS("invoke", "--function", "fn.json", "--code", "code.zip"));
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    cr_expect(strstr(r.err, "fetch http://127.0.0.1:1/_fakecloud/lambda/_internal/code/"
                            "123456789012/my-fn/") != NULL,
              "%s", r.err);
    result_free(&r);
}

Test(host_cli, launch_prints_endpoint_and_handle_and_terminate_and_reap_work)
{
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                        ARGS("launch", "--function", "fn.json", "--code", "code.zip"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strncmp(r.out, "endpoint 127.0.0.1:", 19) == 0, "%s", r.out);
    cr_expect(strstr(r.out, "\nhandle test/1\n") != NULL, "%s", r.out);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL, ARGS("terminate", "test/1"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "terminated test/1\n");
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL, ARGS("reap", "--json"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "\"reaped\":0") != NULL, "%s", r.out);
    result_free(&r);
}

Test(host_cli, reads_the_function_from_stdin_and_logs_json_lines)
{
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_LOG_FORMAT=json",
                            "FAKECLOUD_LOG_LEVEL=debug"),
                        "fn.json", ARGS("invoke", "--function", "-", "--code", "code.zip"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(r.err, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_object *o = json_tokener_parse(line), *v;
        cr_assert_not_null(o, "log line is JSON: %s", line);
        cr_expect(json_object_object_get_ex(o, "ts", &v) &&
                      json_object_object_get_ex(o, "level", &v) &&
                      json_object_object_get_ex(o, "plugin", &v) &&
                      json_object_object_get_ex(o, "msg", &v),
                  "%s", line);
        json_object_put(o);
        lines++;
    }
    cr_expect_gt(lines, 3);
    result_free(&r);
}

/* Start the host in the background; returns its pid. Output goes to .stdout/.stderr. */
static pid_t spawn_host(const char *const *env, const char *const *args)
{
    char out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "%s/.stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/.stderr", dir);
    char *argv[32];
    size_t argc = 0;
    argv[argc++] = (char *)HOST_EXE;
    for (size_t i = 0; args[i] != NULL && argc < 31; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    char *envp[32];
    size_t envc = 0;
    for (size_t i = 0; env[i] != NULL && envc < 28; i++)
        envp[envc++] = (char *)env[i];
    envp[envc++] = (char *)"PATH=/usr/bin:/bin";
    envp[envc++] = (char *)"FAKECLOUD_BACKEND_PATH=" TEST_PLUGINS_DIR;
    envp[envc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, HOST_EXE, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0);
    return pid;
}

/* Wait (at most 10 s) until the host's stderr contains NEEDLE. */
static bool wait_for_log(const char *needle)
{
    char path[512];
    snprintf(path, sizeof path, "%s/.stderr", dir);
    struct timespec tick = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 500; i++) {
        char *text = slurp(path);
        bool found = strstr(text, needle) != NULL;
        free(text);
        if (found)
            return true;
        nanosleep(&tick, NULL);
    }
    return false;
}

static int wait_exit(pid_t pid, int max_ms)
{
    struct timespec tick = {0, 10 * 1000 * 1000};
    int status = 0;
    for (int i = 0; i < max_ms / 10; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        nanosleep(&tick, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -2;
}

Test(host_cli, sigint_during_launch_cancels_it_promptly_with_exit_130)
{
    pid_t pid = spawn_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test",
                               "FAKECLOUD_TEST_LAUNCH_DELAY_MS=20000", "FAKECLOUD_LOG_LEVEL=info"),
                           ARGS("invoke", "--function", "fn.json", "--code", "code.zip"));
    cr_assert(wait_for_log("backend opened"), "the host reached the launch");
    kill(pid, SIGINT);
    int code = wait_exit(pid, 5000);
    char path[512];
    snprintf(path, sizeof path, "%s/.stderr", dir);
    char *err = slurp(path);
    cr_expect_eq(code, 130, "exit %d, stderr: %s", code, err);
    cr_expect(strstr(err, "interrupted: launch of my-fn cancelled") != NULL, "%s", err);
    cr_expect(strstr(err, "leaked") == NULL, "close() freed everything: %s", err);
    free(err);
}

Test(host_cli, sigterm_during_invoke_terminates_the_instance)
{
    /* A runtime that never answers: a listener in this process that never accepts. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
              listen(fd, 4) == 0 && getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "FAKECLOUD_TEST_ENDPOINT=127.0.0.1:%u",
             (unsigned)ntohs(addr.sin_port));
    pid_t pid =
        spawn_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_LOG_LEVEL=info", endpoint),
                   ARGS("invoke", "--function", "fn.json", "--code", "code.zip"));
    cr_assert(wait_for_log("instance ready"));
    struct timespec pause = {0, 200 * 1000 * 1000}; /* let the POST start */
    nanosleep(&pause, NULL);
    kill(pid, SIGTERM);
    int code = wait_exit(pid, 5000);
    close(fd);
    char path[512];
    snprintf(path, sizeof path, "%s/.stderr", dir);
    char *err = slurp(path);
    cr_expect_eq(code, 130, "exit %d, stderr: %s", code, err);
    cr_expect(strstr(err, "interrupted") != NULL, "%s", err);
    cr_expect(strstr(err, "instance terminated") != NULL, "%s", err);
    free(err);
}

/* The "error" object of a --json failure document: its code (a static buffer). */
static const char *json_error_code(const char *out)
{
    static char code[64];
    code[0] = '\0';
    json_object *o = json_tokener_parse(out), *e, *c;
    if (o != NULL && json_object_object_get_ex(o, "error", &e) &&
        json_object_object_get_ex(e, "code", &c))
        snprintf(code, sizeof code, "%s", json_object_get_string(c));
    json_object_put(o);
    return code;
}

Test(host_cli, exit_statuses_tell_temporary_failures_from_configuration_and_input)
{
    const char *const *invoke =
        ARGS("--json", "invoke", "--function", "fn.json", "--code", "code.zip");
    struct {
        const char *fail;
        const char *const *args;
        int exit_code;
        const char *code;
    } cases[] = {
        {"FAKECLOUD_TEST_FAIL_OPEN=UNAVAILABLE", invoke, 75, "FCB_ERR_UNAVAILABLE"},
        {"FAKECLOUD_TEST_FAIL_OPEN=TIMEOUT", invoke, 75, "FCB_ERR_TIMEOUT"},
        {"FAKECLOUD_TEST_FAIL_OPEN=CONFIG", invoke, 3, "FCB_ERR_CONFIG"},
        {"FAKECLOUD_TEST_FAIL_LAUNCH=UNAVAILABLE", invoke, 75, "FCB_ERR_UNAVAILABLE"},
        {"FAKECLOUD_TEST_FAIL_LAUNCH=TIMEOUT", invoke, 75, "FCB_ERR_TIMEOUT"},
        {"FAKECLOUD_TEST_FAIL_LAUNCH=CONFIG", invoke, 3, "FCB_ERR_CONFIG"},
        {"FAKECLOUD_TEST_FAIL_LAUNCH=INVALID_ARGUMENT", invoke, 2, "FCB_ERR_INVALID_ARGUMENT"},
        {"FAKECLOUD_TEST_FAIL_LAUNCH=BACKEND", invoke, 1, "FCB_ERR_BACKEND"},
        {"FAKECLOUD_TEST_FAIL_LAUNCH=START_FAILED", invoke, 1, "FCB_ERR_START_FAILED"},
        {"FAKECLOUD_TEST_FAIL_TERMINATE=UNAVAILABLE", ARGS("--json", "terminate", "test/1"), 75,
         "FCB_ERR_UNAVAILABLE"},
        {"FAKECLOUD_TEST_FAIL_TERMINATE=BACKEND", ARGS("--json", "terminate", "test/1"), 1,
         "FCB_ERR_BACKEND"},
        {"FAKECLOUD_TEST_FAIL_TERMINATE=INVALID_ARGUMENT", ARGS("--json", "terminate", "x"), 2,
         "FCB_ERR_INVALID_ARGUMENT"},
        {"FAKECLOUD_TEST_FAIL_REAP=TIMEOUT", ARGS("--json", "reap"), 75, "FCB_ERR_TIMEOUT"},
        {"FAKECLOUD_TEST_FAIL_REAP=BACKEND", ARGS("--json", "reap"), 1, "FCB_ERR_BACKEND"},
        {"FAKECLOUD_TEST_FAIL_PREPULL=UNAVAILABLE", ARGS("--json", "prepull", "img:1"), 75,
         "FCB_ERR_UNAVAILABLE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result r =
            run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", cases[i].fail), NULL, cases[i].args);
        cr_expect_eq(r.exit_code, cases[i].exit_code, "%s: exit %d: %s", cases[i].fail, r.exit_code,
                     r.err);
        cr_expect_str_eq(json_error_code(r.out), cases[i].code, "%s: %s", cases[i].fail, r.out);
        char exit_field[32];
        snprintf(exit_field, sizeof exit_field, "\"exit_code\":%d", cases[i].exit_code);
        cr_expect(strstr(r.out, exit_field) != NULL, "%s: %s", cases[i].fail, r.out);
        result_free(&r);
    }
}

Test(host_cli, invoke_prints_the_answer_when_terminate_fails_and_exits_5)
{
    result r = run_host(
        ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_FAIL_TERMINATE=UNAVAILABLE"), NULL,
        ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--payload", "{\"k\":1}"));
    cr_expect_eq(r.exit_code, 5, "%s", r.err);
    cr_expect(strstr(r.out, "\"event\":{\"k\":1}") != NULL, "the answer is printed: %s", r.out);
    cr_expect(strstr(r.err, "terminate test/1 failed") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "FCB_ERR_UNAVAILABLE") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "may still be running: `terminate test/1` or `reap`") != NULL, "%s",
              r.err);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_FAIL_TERMINATE=BACKEND"),
                 NULL, ARGS("--json", "invoke", "--function", "fn.json", "--code", "code.zip"));
    cr_expect_eq(r.exit_code, 5, "%s", r.err);
    json_object *o = json_tokener_parse(r.out), *v, *e;
    cr_assert_not_null(o, "one JSON document: %s", r.out);
    cr_expect(json_object_object_get_ex(o, "response", &v), "%s", r.out);
    cr_expect(json_object_object_get_ex(o, "status", &v) && json_object_get_int(v) == 200);
    cr_expect(json_object_object_get_ex(o, "terminated", &v) && !json_object_get_boolean(v));
    cr_expect(json_object_object_get_ex(o, "ok", &v) && !json_object_get_boolean(v));
    cr_expect(json_object_object_get_ex(o, "exit_code", &v) && json_object_get_int(v) == 5);
    cr_expect(json_object_object_get_ex(o, "terminate_error", &e) &&
                  json_object_object_get_ex(e, "code", &v) &&
                  strcmp(json_object_get_string(v), "FCB_ERR_BACKEND") == 0,
              "%s", r.out);
    json_object_put(o);
    result_free(&r);
    /* A failed invocation keeps its own status (1) when terminate fails too. */
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_FAIL_TERMINATE=BACKEND",
                     "FAKECLOUD_TEST_ENDPOINT=127.0.0.1:1"),
                 NULL, ARGS("invoke", "--function", "fn.json", "--code", "code.zip"));
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    cr_expect(strstr(r.err, "terminate test/1 failed") != NULL, "%s", r.err);
    result_free(&r);
}

Test(host_cli, prepull_asks_the_backend_and_refuses_a_backend_without_it)
{
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_LOG_LEVEL=info"), NULL,
                        ARGS("prepull", "public.ecr.aws/lambda/python:3.12"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "prepulled public.ecr.aws/lambda/python:3.12\n");
    cr_expect(strstr(r.err, "image prepulled (a no-op here)") != NULL, "the plugin ran: %s", r.err);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL, ARGS("--json", "prepull", "img:1"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "\"image\":\"img:1\"") != NULL && strstr(r.out, "\"prepulled\":true"),
              "%s", r.out);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test2"), NULL, ARGS("--json", "prepull", "img:1"));
    cr_expect_eq(r.exit_code, 2, "%s", r.err);
    cr_expect(strstr(r.err, "backend test2 has no prepull operation") != NULL, "%s", r.err);
    cr_expect_str_eq(json_error_code(r.out), "FCB_ERR_UNSUPPORTED", "%s", r.out);
    result_free(&r);
    struct {
        const char *const *args;
        const char *message;
    } bad[] = {
        {ARGS("prepull"), "prepull: IMAGE required"},
        {ARGS("prepull", "two words"), "prepull: IMAGE: byte 3 is not a printable"},
        {ARGS("prepull", "img", "--code", "code.zip"), "--code: not an option of `prepull`"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_FAIL_OPEN=never-opened"),
                     NULL, bad[i].args);
        cr_expect_eq(r.exit_code, 2, "case %zu: %s", i, r.err);
        cr_expect(strstr(r.err, bad[i].message) != NULL, "case %zu: %s", i, r.err);
        result_free(&r);
    }
}

/*
 * SIGTERM 300 ms into a plugin call that cannot be cancelled (the test
 * plugin sleeps 20 s): the host exits 130 within 1 s and says what may be
 * left half-done.
 */
static void expect_prompt_130(const char *const *env, const char *const *args, const char *ready,
                              const char *says)
{
    pid_t pid = spawn_host(env, args);
    cr_assert(wait_for_log(ready), "the host reached the call (%s)", ready);
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    kill(pid, SIGTERM);
    int code = wait_exit(pid, 1000);
    char path[512];
    snprintf(path, sizeof path, "%s/.stderr", dir);
    char *err = slurp(path);
    cr_expect_eq(code, 130, "%s: exit %d (-2 = still running after 1 s), stderr: %s", args[0], code,
                 err);
    cr_expect(strstr(err, says) != NULL, "'%s' in: %s", says, err);
    free(err);
}

Test(host_cli, sigterm_during_open_exits_130_within_a_second)
{
    expect_prompt_130(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_LOG_LEVEL=info",
                          "FAKECLOUD_TEST_OPEN_DELAY_MS=20000"),
                      ARGS("invoke", "--function", "fn.json", "--code", "code.zip"),
                      "FAKECLOUD_K8S_SELF_URL not set", "open cannot be cancelled");
}

Test(host_cli, sigterm_during_terminate_reap_or_prepull_exits_130_within_a_second)
{
    const char *const *env = ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_LOG_LEVEL=info",
                                 "FAKECLOUD_TEST_OP_DELAY_MS=20000");
    expect_prompt_130(env, ARGS("terminate", "test/7"), "backend opened",
                      "run `terminate test/7` again");
    expect_prompt_130(env, ARGS("reap"), "backend opened", "reap was in progress");
    expect_prompt_130(env, ARGS("prepull", "img:1"), "backend opened",
                      "prepull img:1 was in progress");
}

/* ---- ABI 1.1: invoke op, --log-tail, credentials, tags, logs, status, --stats, cancel ---- */

static json_object *parse_out(const result *r)
{
    json_object *o = json_tokener_parse(r->out);
    cr_assert_not_null(o, "stdout is one JSON document: %s", r->out);
    return o;
}

static const char *json_str(json_object *o, const char *key)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* Decode base64 TEXT (no line breaks) into a malloc'd NUL-terminated string. */
static char *unbase64(const char *text)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(text), o = 0;
    char *out = calloc(n / 4 * 3 + 1, 1);
    unsigned bits = 0, acc = 0;
    for (size_t i = 0; i < n && text[i] != '='; i++) {
        const char *d = strchr(digits, text[i]);
        cr_assert(d != NULL && text[i] != '\0', "base64 digit at %zu", i);
        acc = acc << 6 | (unsigned)(d - digits);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

Test(host_cli, invoke_log_tail_prints_the_runtime_report_and_its_base64_in_json)
{
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                        ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--log-tail"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "\"function\":\"my-fn\"") != NULL, "the answer alone on stdout: %s",
              r.out);
    cr_expect(strstr(r.out, "REPORT") == NULL, "the tail is not mixed into the answer: %s", r.out);
    cr_expect(strstr(r.err, "START RequestId: ") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "REPORT RequestId: ") != NULL && strstr(r.err, "\tDuration: ") != NULL,
              "%s", r.err);
    result_free(&r);

    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                 ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--log-tail",
                      "--json"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    json_object *o = parse_out(&r);
    const char *tail = json_str(o, "log_tail"), *b64 = json_str(o, "log_result");
    cr_assert_not_null(tail, "%s", r.out);
    cr_assert_not_null(b64, "%s", r.out);
    cr_expect(strstr(tail, "REPORT RequestId: ") != NULL, "%s", tail);
    char *decoded = unbase64(b64);
    cr_expect_str_eq(decoded, tail, "log_result is the base64 of log_tail");
    cr_expect_leq(strlen(decoded), 4096);
    free(decoded);
    json_object_put(o);
    result_free(&r);
}

Test(host_cli, invoke_goes_through_the_backend_invoke_op_and_over_http_without_it)
{
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                        ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--json"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    json_object *o = parse_out(&r);
    cr_expect_str_eq(json_str(o, "invoked_via"), "backend");
    json_object_put(o);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test2"), NULL,
                 ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--json",
                      "--log-tail"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    o = parse_out(&r);
    cr_expect_str_eq(json_str(o, "invoked_via"), "http");
    cr_expect(strstr(r.out, "\"variant\":2") != NULL, "%s", r.out);
    cr_expect_null(json_str(o, "log_tail"), "no logs op, no tail");
    cr_expect(strstr(json_str(o, "log_tail_error"), "has no logs operation") != NULL, "%s", r.out);
    cr_expect(strstr(r.err, "--log-tail: no log tail") != NULL, "a warning: %s", r.err);
    json_object_put(o);
    result_free(&r);
}

static const char creds_json[] =
    "{\"Credentials\":{\"AccessKeyId\":\"AKIAIOSFODNN7EXAMPLE\","
    "\"SecretAccessKey\":\"wJalrXUtnFEMI-never-printed\",\"SessionToken\":\"FwoGZX-token\","
    "\"Expiration\":\"2030-01-02T03:04:05Z\"},\"AssumedRoleUser\":{}}";

Test(host_cli, role_credentials_endpoint_and_tags_reach_the_runtime_without_the_secret)
{
    write_text("creds.json", creds_json);
    write_text("tags.json", "{\"Configuration\":{\"FunctionName\":\"my-fn\","
                            "\"Runtime\":\"python3.12\",\"Handler\":\"app.handler\"},"
                            "\"Tags\":{\"team\":\"blue\",\"cost\":\"\"}}");
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_LOG_LEVEL=trace"), NULL,
                        ARGS("invoke", "--function", "tags.json", "--code", "code.zip",
                             "--role-credentials", "creds.json", "--aws-endpoint-url",
                             "http://127.0.0.1:4566"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "\"credentials\":\"AKIA...(set)\"") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "\"session_token\":\"(set)\"") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "\"credentials_expiration\":1893553445") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "\"aws_endpoint_url\":\"http://127.0.0.1:4566\"") != NULL, "%s",
              r.out);
    cr_expect(strstr(r.out, "\"tags\":{\"team\":\"blue\",\"cost\":\"\"}") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "never-printed") == NULL && strstr(r.err, "never-printed") == NULL,
              "the secret appears nowhere");
    result_free(&r);
}

Test(host_cli, bad_role_credentials_and_tags_exit_2_naming_the_field)
{
    struct {
        const char *creds;
        const char *message;
    } cases[] = {
        {"[]", "expected a JSON object"},
        {"{\"AccessKeyId\":\"A\"}", "Credentials: required"},
        {"{\"Credentials\":{\"SecretAccessKey\":\"s\"}}", "Credentials.AccessKeyId: required"},
        {"{\"Credentials\":{\"AccessKeyId\":\"A\"}}", "Credentials.SecretAccessKey: required"},
        {"{\"Credentials\":{\"AccessKeyId\":\"A\",\"SecretAccessKey\":7}}",
         "Credentials.SecretAccessKey: expected a string"},
        {"{\"Credentials\":{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s e\"}}",
         "Credentials.SecretAccessKey: character 1 is not printable ASCII (value not shown)"},
        {"{\"Credentials\":{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":"
         "\"tomorrow\"}}",
         "Credentials.Expiration: expected an ISO 8601 time"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text("creds.json", cases[i].creds);
        result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                            ARGS("launch", "--function", "fn.json", "--code", "code.zip",
                                 "--role-credentials", "creds.json"));
        cr_expect_eq(r.exit_code, 2, "case %zu: %s", i, r.err);
        cr_expect(strstr(r.err, cases[i].message) != NULL, "case %zu wants '%s' in: %s", i,
                  cases[i].message, r.err);
        cr_expect(strstr(r.err, "--role-credentials creds.json: ") != NULL, "%s", r.err);
        result_free(&r);
    }
    write_text("creds.json", creds_json);
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test2"), NULL,
                        ARGS("launch", "--function", "fn.json", "--code", "code.zip",
                             "--role-credentials", "creds.json"));
    cr_expect_eq(r.exit_code, 2, "%s", r.err);
    cr_expect(strstr(r.err, "does not declare the credentials capability") != NULL, "%s", r.err);
    result_free(&r);

    char many[4096] = "{\"FunctionName\":\"my-fn\",\"Runtime\":\"python3.12\","
                      "\"Handler\":\"h.h\",\"Tags\":{";
    for (int i = 0; i < 51; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"k%d\":\"v\"",
                 i ? "," : "", i);
    strcat(many, "}}");
    char long_value[400];
    snprintf(long_value, sizeof long_value,
             "{\"FunctionName\":\"my-fn\",\"Runtime\":\"python3.12\",\"Handler\":\"h.h\","
             "\"Tags\":{\"k\":\"%0257d\"}}",
             0);
    struct {
        const char *json;
        const char *message;
    } tags[] = {
        {many, "Tags: 51 tags exceed AWS's 50"},
        {long_value, "Tags.k: tag value of 257 characters (AWS allows at most 256)"},
        {"{\"FunctionName\":\"my-fn\",\"Runtime\":\"python3.12\",\"Handler\":\"h.h\","
         "\"Tags\":{\"aws:cloudformation\":\"x\"}}",
         "tag keys starting with \"aws:\" are reserved"},
        {"{\"FunctionName\":\"my-fn\",\"Runtime\":\"python3.12\",\"Handler\":\"h.h\","
         "\"Tags\":{\"\":\"x\"}}",
         "tag key of 0 characters (AWS allows 1 to 128)"},
        {"{\"FunctionName\":\"my-fn\",\"Runtime\":\"python3.12\",\"Handler\":\"h.h\","
         "\"Tags\":{\"k\":1}}",
         "Tags.k: expected a string"},
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        write_text("tags.json", tags[i].json);
        r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                     ARGS("launch", "--function", "tags.json", "--code", "code.zip"));
        cr_expect_eq(r.exit_code, 2, "tags case %zu: %s", i, r.err);
        cr_expect(strstr(r.err, tags[i].message) != NULL, "tags case %zu wants '%s' in: %s", i,
                  tags[i].message, r.err);
        result_free(&r);
    }
}

Test(host_cli, status_and_logs_ask_the_backend_and_refuse_a_backend_without_the_op)
{
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL, ARGS("status", "test/7"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strncmp(r.out, "test/7 gone", 11) == 0, "%s", r.out);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL, ARGS("status", "test/7", "--json"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    json_object *o = parse_out(&r);
    cr_expect_str_eq(json_str(o, "state"), "gone");
    cr_expect_str_eq(json_str(o, "handle"), "test/7");
    json_object_put(o);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                 ARGS("logs", "test/7", "--tail", "5", "--json"));
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    cr_expect_str_eq(json_error_code(r.out), "FCB_ERR_NOT_FOUND", "%s", r.out);
    cr_expect(strstr(r.err, "logs test/7 failed") != NULL, "%s", r.err);
    result_free(&r);
    const char *const *cmds[] = {ARGS("status", "test2/1"), ARGS("logs", "test2/1"),
                                 ARGS("logs", "test2/1", "--follow")};
    const char *const names[] = {"status", "logs", "logs"};
    for (size_t i = 0; i < 3; i++) {
        r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test2"), NULL, cmds[i]);
        cr_expect_eq(r.exit_code, 2, "%s", r.err);
        char want[128];
        snprintf(want, sizeof want, "%s: backend test2 has no %s operation", names[i], names[i]);
        cr_expect(strstr(r.err, want) != NULL, "'%s' in: %s", want, r.err);
        result_free(&r);
    }
}

Test(host_cli, stats_prints_the_backend_metrics_as_json)
{
    result r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL,
                        ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--stats"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    const char *line = strstr(r.err, "{\"launches_total\":");
    cr_assert_not_null(line, "%s", r.err);
    json_object *o = json_tokener_parse(line);
    cr_assert_not_null(o, "%s", line);
    json_object *v;
    cr_expect(json_object_object_get_ex(o, "launches_total", &v) && json_object_get_int(v) == 1);
    cr_expect(json_object_object_get_ex(o, "invocations_total", &v) &&
              json_object_get_int(v) == 1);
    cr_expect(json_object_object_get_ex(o, "launch_ms{phase=total}", &v) &&
              json_object_object_get_ex(v, "count", &v) && json_object_get_int(v) == 1);
    json_object_put(o);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_FAIL_LAUNCH=BACKEND"), NULL,
                 ARGS("launch", "--function", "fn.json", "--code", "code.zip", "--stats",
                      "--json"));
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    cr_expect(strstr(r.err, "\"launch_failures_total{reason=FCB_ERR_BACKEND}\":1") != NULL,
              "a failed command's stats go to stderr: %s", r.err);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test"), NULL, ARGS("reap", "--stats", "--json"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    o = parse_out(&r);
    cr_expect(json_object_object_get_ex(o, "stats", &v) &&
                  json_object_object_get_ex(v, "launches_total", &v),
              "%s", r.out);
    json_object_put(o);
    result_free(&r);
    r = run_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test2"), NULL, ARGS("reap", "--stats"));
    cr_expect_eq(r.exit_code, 0, "no stats op is a warning, not a failure: %s", r.err);
    cr_expect(strstr(r.err, "--stats: the backend has no stats operation") != NULL, "%s", r.err);
    result_free(&r);
}

/* SIGINT during a 20-s launch: EXPECT says which way it was cancelled. */
static void expect_launch_cancelled(const char *backend, const char *expect)
{
    pid_t pid = spawn_host(ENV(backend, "FAKECLOUD_TEST_LAUNCH_DELAY_MS=20000",
                               "FAKECLOUD_LOG_LEVEL=info"),
                           ARGS("launch", "--function", "fn.json", "--code", "code.zip"));
    cr_assert(wait_for_log("backend opened"), "the host reached the launch");
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    kill(pid, SIGINT);
    int code = wait_exit(pid, 1000);
    char path[512];
    snprintf(path, sizeof path, "%s/.stderr", dir);
    char *err = slurp(path);
    cr_expect_eq(code, 130, "%s: exit %d (-2 = still running after 1 s), stderr: %s", backend,
                 code, err);
    cr_expect(strstr(err, expect) != NULL, "'%s' in: %s", expect, err);
    cr_expect(strstr(err, "leaked") == NULL, "%s", err);
    free(err);
}

Test(host_cli, sigint_cancels_the_launch_through_its_token_when_the_backend_declares_cancel)
{
    expect_launch_cancelled("FAKECLOUD_LAMBDA_BACKEND=test",
                            "interrupted: launch of my-fn cancelled (launch: cancelled by the "
                            "host)");
    expect_launch_cancelled("FAKECLOUD_LAMBDA_BACKEND=test2",
                            "interrupted: launch of my-fn cancelled (launch: cancelled by "
                            "close())");
}

Test(host_cli, an_abi_1_0_plugin_runs_every_command_and_absent_ops_are_clear_errors)
{
    const char *const *env = ENV("FAKECLOUD_LAMBDA_BACKEND=" ABI10_PLUGIN);
    result r = run_host(env, NULL,
                        ARGS("launch", "--function", "fn.json", "--code", "code.zip", "--stats",
                             "--aws-endpoint-url", "http://127.0.0.1:4566"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "handle abi10/1") != NULL, "%s", r.out);
    cr_expect(strstr(r.err, "--stats: the backend has no stats operation") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "built for ABI 1.0 and ignores it") != NULL, "%s", r.err);
    result_free(&r);
    r = run_host(env, NULL, ARGS("terminate", "abi10/1"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    result_free(&r);
    r = run_host(env, NULL, ARGS("reap"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    result_free(&r);
    struct {
        const char *const *args;
        const char *message;
    } absent[] = {
        {ARGS("status", "abi10/1"), "status: backend abi10 has no status operation"},
        {ARGS("logs", "abi10/1"), "logs: backend abi10 has no logs operation"},
        {ARGS("prepull", "img:1"), "backend abi10 has no prepull operation"},
    };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        r = run_host(env, NULL, absent[i].args);
        cr_expect_eq(r.exit_code, 2, "%s", r.err);
        cr_expect(strstr(r.err, absent[i].message) != NULL, "'%s' in: %s", absent[i].message,
                  r.err);
        result_free(&r);
    }
    write_text("creds.json", creds_json);
    r = run_host(env, NULL,
                 ARGS("launch", "--function", "fn.json", "--code", "code.zip",
                      "--role-credentials", "creds.json"));
    cr_expect_eq(r.exit_code, 2, "%s", r.err);
    cr_expect(strstr(r.err, "does not declare the credentials capability") != NULL, "%s", r.err);
    result_free(&r);
    /* invoke: no invoke op, so HTTP to the fixture's endpoint 127.0.0.1:9 (nothing listens). */
    r = run_host(env, NULL,
                 ARGS("invoke", "--function", "fn.json", "--code", "code.zip", "--json"));
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    cr_expect(strstr(r.err, "127.0.0.1:9") != NULL, "%s", r.err);
    result_free(&r);
}

Test(host_cli, status_and_logs_of_a_live_instance_and_sigint_stops_a_follow)
{
    const char *const *env = ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_RESIDENT=1");
    result r = run_host(env, NULL, ARGS("status", "test/1"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "test/1 running\n");
    result_free(&r);
    r = run_host(env, NULL, ARGS("logs", "test/1", "--tail", "1", "--since", "1h"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strncmp(r.out, "INIT_START Runtime Version: test:", 33) == 0, "%s", r.out);
    result_free(&r);
    r = run_host(env, NULL, ARGS("logs", "test/1", "--json"));
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    json_object *o = parse_out(&r);
    cr_expect(strstr(json_str(o, "logs"), "function resident\n") != NULL, "%s", r.out);
    json_object_put(o);
    result_free(&r);

    pid_t pid = spawn_host(ENV("FAKECLOUD_LAMBDA_BACKEND=test", "FAKECLOUD_TEST_RESIDENT=1",
                               "FAKECLOUD_LOG_LEVEL=info"),
                           ARGS("logs", "test/1", "--follow"));
    cr_assert(wait_for_log("backend opened"), "the host reached the follow");
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    kill(pid, SIGINT);
    int code = wait_exit(pid, 1000);
    char path[512];
    snprintf(path, sizeof path, "%s/.stderr", dir);
    char *err = slurp(path);
    snprintf(path, sizeof path, "%s/.stdout", dir);
    char *out = slurp(path);
    cr_expect_eq(code, 130, "exit %d (-2 = still following after 1 s), stderr: %s", code, err);
    cr_expect(strstr(err, "interrupted: logs test/1 stopped") != NULL, "%s", err);
    cr_expect(strstr(out, "INIT_START") != NULL, "the follow printed the log first: %s", out);
    free(err);
    free(out);
}
