/*
 * Loader tests: every refusal is a readable message naming the file and the
 * reason, no crash, and init never ran when the descriptor says no; the good
 * test plugin runs open/launch/invoke (HTTP POST)/terminate/close through
 * the mock host with zero outstanding bytes.
 */
#include "invoker.h"
#include "loader.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <curl/curl.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TEST_PLUGINS_DIR
#error "TEST_PLUGINS_DIR must be defined by meson"
#endif

static char marker[256];
static mock_host *mh;

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(marker, sizeof marker, "/tmp/fcb-loader-marker-%ld", (long)getpid());
    unlink(marker);
    mh = mock_host_new();
    mock_host_set_config(mh, "FAKECLOUD_TEST_INIT_MARKER", marker);
}

static void teardown(void)
{
    mock_host_free(mh);
    unlink(marker);
    curl_global_cleanup();
}

static char *plugin_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/fakecloud-backend-%s.so", TEST_PLUGINS_DIR, name);
    return path;
}

/* Load NAME, expect a refusal whose message has the file and REASON. */
static void expect_refused(const char *name, const char *reason)
{
    loader_plugin *p = NULL;
    char why[LOADER_WHY_MAX] = "";
    const char *path = plugin_path(name);
    int rc = loader_load(path, mock_host_services(mh), &p, why);
    cr_expect_neq(rc, FCB_OK, "%s must be refused", name);
    cr_expect_null(p);
    cr_expect(strstr(why, path) != NULL, "message names the file: %s", why);
    cr_expect(strstr(why, reason) != NULL, "message gives the reason '%s': %s", reason, why);
    cr_expect_neq(access(marker, F_OK), 0, "init of %s must not have run", name);
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0);
}

TestSuite(loader, .init = setup, .fini = teardown, .timeout = 30);

Test(loader, refuses_a_plugin_with_a_wrong_magic_number_without_running_init)
{
    expect_refused("broken-magic", "wrong magic number");
}

Test(loader, refuses_a_plugin_built_for_abi_major_2_naming_both_versions)
{
    expect_refused("broken-major", "ABI major version differs");
    expect_refused("broken-major", "plugin ABI 2.0, host ABI 1.1");
}

Test(loader, refuses_a_plugin_needing_abi_minor_99_when_the_host_has_minor_1)
{
    expect_refused("broken-minor", "newer ABI minor");
    expect_refused("broken-minor", "plugin ABI 1.99, host ABI 1.1");
}

Test(loader, refuses_a_plugin_with_a_descriptor_but_no_init_symbol)
{
    expect_refused("broken-noinit", "no symbol backend_plugin_init@FAKECLOUD_BACKEND_1");
}

Test(loader, refuses_a_plugin_linked_without_the_version_script)
{
    expect_refused("broken-noversion", "without the symbol version FAKECLOUD_BACKEND_1");
}

Test(loader, inspect_refuses_the_same_plugins_without_running_code)
{
    const char *names[] = {"broken-magic", "broken-major", "broken-minor", "broken-noinit",
                           "broken-noversion"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        loader_plugin *p = NULL;
        char why[LOADER_WHY_MAX] = "";
        cr_expect_neq(loader_inspect(plugin_path(names[i]), &p, why), FCB_OK, "%s", names[i]);
        cr_expect_null(p);
        cr_expect(strstr(why, plugin_path(names[i])) != NULL, "%s", why);
    }
    cr_expect_neq(access(marker, F_OK), 0, "no init ran");
}

Test(loader, reports_the_message_of_an_init_that_fails)
{
    expect_refused("broken-initfail", "backend_plugin_init() failed");
    expect_refused("broken-initfail", "refusing to initialise (deliberate test failure)");
}

Test(loader, refuses_an_operations_table_without_launch)
{
    expect_refused("broken-nolaunch", "lacks name, open, close, launch");
}

Test(loader, refuses_a_file_that_is_not_a_shared_object)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/fcb-loader-notso-%ld.so", (long)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("not an ELF file\n", f);
    fclose(f);
    loader_plugin *p = NULL;
    char why[LOADER_WHY_MAX] = "";
    int rc = loader_load(path, mock_host_services(mh), &p, why);
    unlink(path);
    cr_expect_neq(rc, FCB_OK);
    cr_expect(strstr(why, path) != NULL && strstr(why, "cannot load") != NULL, "%s", why);
}

Test(loader, resolves_a_short_name_in_the_search_path_before_default_dirs)
{
    char *path = NULL;
    char why[LOADER_WHY_MAX] = "";
    const char *defaults[] = {"/nonexistent-dir", NULL};
    cr_assert_eq(loader_resolve("test", "/also-missing:" TEST_PLUGINS_DIR, defaults, &path, why), 0,
                 "%s", why);
    cr_expect_str_eq(path, plugin_path("test"));
    free(path);
}

Test(loader, says_where_it_looked_when_a_backend_is_missing)
{
    char *path = NULL;
    char why[LOADER_WHY_MAX] = "";
    const char *defaults[] = {"/default-dir", NULL};
    cr_assert_neq(loader_resolve("nosuch", "/search-dir", defaults, &path, why), 0);
    cr_expect_null(path);
    cr_expect(strstr(why, "fakecloud-backend-nosuch.so") != NULL, "%s", why);
    cr_expect(strstr(why, "/search-dir") != NULL && strstr(why, "/default-dir") != NULL, "%s", why);
}

Test(loader, rejects_a_backend_name_with_path_like_characters)
{
    char *path = NULL;
    char why[LOADER_WHY_MAX] = "";
    cr_assert_neq(loader_resolve("Te$t", NULL, NULL, &path, why), 0);
    cr_expect(strstr(why, "invalid") != NULL, "%s", why);
}

/* ---- the good plugin end to end --------------------------------------- */

static loader_plugin *load_good(const char *name)
{
    loader_plugin *p = NULL;
    char why[LOADER_WHY_MAX] = "";
    cr_assert_eq(loader_load(plugin_path(name), mock_host_services(mh), &p, why), FCB_OK, "%s",
                 why);
    cr_assert_str_eq(p->ops->name, name);
    cr_assert_str_eq(p->descriptor->name, name);
    return p;
}

static const char code_zip[] = "PK\005\006"
                               "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

static fcb_function zip_function(void)
{
    fcb_function fn = {0};
    fn.size = sizeof fn;
    fn.function_name = "my-fn";
    fn.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn";
    fn.runtime = "python3.12";
    fn.handler = "app.handler";
    fn.package_type = FCB_PACKAGE_ZIP;
    return fn;
}

static fcb_launch_request zip_request(const fcb_function *fn)
{
    fcb_launch_request req = {0};
    req.size = sizeof req;
    req.function = fn;
    req.code.data = code_zip;
    req.code.size = sizeof code_zip - 1;
    req.deploy_id = "0123456789abcdef";
    return req;
}

Test(loader, runs_open_launch_invoke_terminate_close_with_zero_outstanding_bytes)
{
    loader_plugin *p = load_good("test");
    fcb_backend *b = NULL;
    fcb_error err = FCB_ERROR_INIT;
    fcb_open_params params = {sizeof params, "0123456789abcdef0123456789abcdef"};
    cr_assert_eq(p->ops->open(mock_host_services(mh), &params, &b, &err), FCB_OK, "%s",
                 err.message);
    fcb_function fn = zip_function();
    fcb_launch_request req = zip_request(&fn);
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(p->ops->launch(b, &req, &inst, &err), FCB_OK, "%s", err.message);
    cr_expect(strncmp(inst.endpoint, "127.0.0.1:", 10) == 0, "%s", inst.endpoint);
    cr_expect_str_eq(inst.handle, "test/1");

    invoker_result res;
    char why[512];
    static const char event[] = "{\"answer\":42}";
    cr_assert_eq(invoker_post(inst.endpoint, event, sizeof event - 1, 5000, &res, why, sizeof why),
                 0, "%s", why);
    cr_expect_eq(res.status, 200);
    cr_expect(strstr(res.body, "\"event\":{\"answer\":42}") != NULL, "%s", res.body);
    cr_expect(strstr(res.body, "\"function\":\"my-fn\"") != NULL, "%s", res.body);
    cr_expect(strstr(res.body, "\"handler\":\"app.handler\"") != NULL, "%s", res.body);
    invoker_result_free(&res);

    cr_expect_eq(p->ops->terminate(b, inst.handle, &err), FCB_OK);
    cr_expect_eq(p->ops->terminate(b, inst.handle, &err), FCB_OK, "terminate is idempotent");
    cr_expect_eq(p->ops->terminate(b, "test/999", &err), FCB_OK, "unknown handle is success");
    size_t reaped = 99;
    cr_expect_eq(p->ops->reap_stale(b, &reaped, &err), FCB_OK);
    cr_expect_eq(reaped, 0);
    cr_assert(p->ops_size > offsetof(fcb_backend_ops, prepull));
    cr_expect_eq(p->ops->prepull(b, "public.ecr.aws/lambda/python:3.12", &err), FCB_OK);
    p->ops->close(b);
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "leaked %zu bytes",
                 mock_host_outstanding_bytes(mh));
    cr_expect_eq(mock_host_outstanding_blocks(mh), 0);
    cr_expect(mock_host_log_contains(mh, "instance launched"));
    loader_unload(p);
}

Test(loader, the_endpoint_stops_answering_after_terminate)
{
    loader_plugin *p = load_good("test");
    fcb_backend *b = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(p->ops->open(mock_host_services(mh), NULL, &b, &err), FCB_OK, "%s", err.message);
    fcb_function fn = zip_function();
    fcb_launch_request req = zip_request(&fn);
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(p->ops->launch(b, &req, &inst, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(p->ops->terminate(b, inst.handle, &err), FCB_OK);
    invoker_result res;
    char why[512];
    cr_expect_neq(invoker_post(inst.endpoint, "{}", 2, 2000, &res, why, sizeof why), 0);
    p->ops->close(b);
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0);
    loader_unload(p);
}

Test(loader, close_joins_instances_still_running)
{
    loader_plugin *p = load_good("test2");
    fcb_backend *b = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(p->ops->open(mock_host_services(mh), NULL, &b, &err), FCB_OK, "%s", err.message);
    fcb_function fn = zip_function();
    fcb_launch_request req = zip_request(&fn);
    for (int i = 0; i < 3; i++) {
        fcb_instance inst = {.size = sizeof inst};
        cr_assert_eq(p->ops->launch(b, &req, &inst, &err), FCB_OK, "%s", err.message);
    }
    p->ops->close(b);
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0);
    loader_unload(p);
}

Test(loader, launch_names_the_missing_field)
{
    loader_plugin *p = load_good("test");
    fcb_backend *b = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(p->ops->open(mock_host_services(mh), NULL, &b, &err), FCB_OK, "%s", err.message);
    fcb_instance inst = {.size = sizeof inst};
    static const char *const fields[] = {"function.function_name", "function.runtime",
                                         "function.handler",       "request.deploy_id",
                                         "request.code",           "function.image_uri"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        fcb_function fn = zip_function();
        fcb_launch_request req = zip_request(&fn);
        switch (i) {
        case 0: fn.function_name = ""; break;
        case 1: fn.runtime = NULL; break;
        case 2: fn.handler = NULL; break;
        case 3: req.deploy_id = "bad/id"; break;
        case 4: req.code.size = 0; break;
        case 5: fn.package_type = FCB_PACKAGE_IMAGE; break;
        }
        err = (fcb_error)FCB_ERROR_INIT;
        cr_expect_eq(p->ops->launch(b, &req, &inst, &err), FCB_ERR_INVALID_ARGUMENT, "%s",
                     fields[i]);
        cr_expect(strstr(err.message, fields[i]) != NULL, "'%s' in: %s", fields[i], err.message);
    }
    p->ops->close(b);
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0);
    loader_unload(p);
}

Test(loader, open_fails_with_a_config_error_naming_the_key)
{
    loader_plugin *p = load_good("test");
    mock_host_set_config(mh, "FAKECLOUD_TEST_FAIL_OPEN", "yes");
    fcb_backend *b = (fcb_backend *)1;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(p->ops->open(mock_host_services(mh), NULL, &b, &err), FCB_ERR_CONFIG);
    cr_expect_null(b);
    cr_expect(strstr(err.message, "FAKECLOUD_TEST_FAIL_OPEN") != NULL, "%s", err.message);
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0);
    loader_unload(p);
}

typedef struct launcher {
    const fcb_backend_ops *ops;
    fcb_backend *backend;
    int ok;
} launcher;

static void *launch_and_invoke(void *arg)
{
    launcher *l = arg;
    fcb_function fn = zip_function();
    fcb_launch_request req = zip_request(&fn);
    for (int i = 0; i < 5; i++) {
        fcb_instance inst = {.size = sizeof inst};
        fcb_error err = FCB_ERROR_INIT;
        if (l->ops->launch(l->backend, &req, &inst, &err) != FCB_OK)
            return NULL;
        invoker_result res;
        char why[256];
        if (invoker_post(inst.endpoint, "[1]", 3, 5000, &res, why, sizeof why) == 0 &&
            res.status == 200)
            l->ok++;
        invoker_result_free(&res);
        l->ops->terminate(l->backend, inst.handle, &err);
    }
    return NULL;
}

Test(loader, concurrent_launches_and_terminates_are_safe)
{
    loader_plugin *p = load_good("test");
    fcb_backend *b = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(p->ops->open(mock_host_services(mh), NULL, &b, &err), FCB_OK, "%s", err.message);
    pthread_t threads[4];
    launcher ls[4];
    for (int i = 0; i < 4; i++) {
        ls[i] = (launcher){p->ops, b, 0};
        cr_assert_eq(pthread_create(&threads[i], NULL, launch_and_invoke, &ls[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        total += ls[i].ok;
    }
    cr_expect_eq(total, 20);
    p->ops->close(b);
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0);
    loader_unload(p);
}

Test(loader, open_and_launch_leak_nothing_when_allocations_fail)
{
    loader_plugin *p = load_good("test");
    fcb_function fn = zip_function();
    fcb_launch_request req = zip_request(&fn);
    int succeeded = 0;
    for (size_t n = 1; n <= 12; n++) {
        mock_host_fail_alloc(mh, n);
        fcb_backend *b = NULL;
        fcb_error err = FCB_ERROR_INIT;
        if (p->ops->open(mock_host_services(mh), NULL, &b, &err) == FCB_OK) {
            fcb_instance inst = {.size = sizeof inst};
            if (p->ops->launch(b, &req, &inst, &err) == FCB_OK)
                succeeded++;
            else
                cr_expect_eq(err.code, FCB_ERR_NO_MEMORY, "n=%zu: %s", n, err.message);
            p->ops->close(b);
        } else {
            cr_expect_eq(err.code, FCB_ERR_NO_MEMORY, "n=%zu: %s", n, err.message);
        }
        cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "n=%zu", n);
    }
    mock_host_fail_alloc(mh, 0);
    cr_expect_gt(succeeded, 0, "once n passes every allocation, launch succeeds");
    loader_unload(p);
}
