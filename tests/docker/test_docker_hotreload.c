/*
 * Integration tests of hot reload in the docker backend (ABI 1.1
 * fcb_launch_request.code_dir) against the private dockerd (run under
 * with-dockerd.sh): the directory is bind-mounted read-only at /var/task, an
 * edit is seen by the next invoke of the same warm container, and every
 * directory outside FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS (another directory, a
 * symlink or ".." leading out, a relative path, no key at all) is refused
 * naming the field, with no container created and no byte left allocated.
 */
#include "docker_fixture.h"
#include "engine_http.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static docker_fixture fx;
static char root[PATH_MAX];    /* the allowed root */
static char outside[PATH_MAX]; /* a directory outside it */

static void make_dir(const char *path)
{
    cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "fopen %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* Open the backend with FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS = ROOTS (NULL: unset). */
static void open_with_roots(const char *roots)
{
    memset(&fx, 0, sizeof fx);
    fx.mh = mock_host_new();
    mock_host_set_config(fx.mh, "DOCKER_HOST", getenv("DOCKER_HOST"));
    if (roots != NULL)
        mock_host_set_config(fx.mh, "FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS", roots);
    docker_fixture_load(&fx);
    fcb_open_params params = {.size = sizeof params};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->open(mock_host_services(fx.mh), &params, &fx.backend, &err), FCB_OK,
                 "open: %s", err.message);
}

static void make_dirs(void)
{
    char tmpl[] = "/tmp/fcb-hotreload-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    snprintf(root, sizeof root, "%s/root", tmpl);
    snprintf(outside, sizeof outside, "%s/outside", tmpl);
    make_dir(root);
    make_dir(outside);
    char app[PATH_MAX];
    snprintf(app, sizeof app, "%s/app", root);
    make_dir(app);
    write_file(app, "app.sh", "echo v1\n");
    write_file(outside, "app.sh", "echo secret\n");
}

static void remove_dirs(void)
{
    if (root[0] == '\0')
        return;
    char cmd[PATH_MAX + 16], *slash = strrchr(root, '/');
    *slash = '\0'; /* the mkdtemp directory */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", root);
    root[0] = '\0';
}

static void setup(void)
{
    make_dirs();
    open_with_roots(root);
}

static void teardown(void)
{
    docker_fixture_teardown(&fx);
    remove_dirs();
}

TestSuite(docker_hotreload, .init = setup, .fini = teardown, .timeout = 60);

static fcb_function zip_function(const char *name)
{
    return docker_fixture_zip_function(name);
}

/* launch FN with code_dir DIR (no zip); the handle in HANDLE on FCB_OK. */
static int launch_dir(const fcb_function *fn, const char *dir, char handle[FCB_HANDLE_MAX],
                      fcb_error *err)
{
    fcb_launch_request req = {
        .size = sizeof req, .function = fn, .deploy_id = "hot", .code_dir = dir};
    fcb_instance inst = {.size = sizeof inst};
    *err = (fcb_error)FCB_ERROR_INIT;
    int rc = fx.ops->launch(fx.backend, &req, &inst, err);
    if (rc == FCB_OK)
        snprintf(handle, FCB_HANDLE_MAX, "%s", inst.handle);
    return rc;
}

typedef struct body_text {
    char data[4096];
    size_t len;
} body_text;

static int body_collect(void *ctx, const void *data, size_t len)
{
    body_text *b = ctx;
    size_t k = len < sizeof b->data - 1 - b->len ? len : sizeof b->data - 1 - b->len;
    memcpy(b->data + b->len, data, k);
    b->len += k;
    b->data[b->len] = '\0';
    return 0;
}

/* The body of one invoke of HANDLE (asserts it succeeds). */
static void invoke_text(const char *handle, body_text *out)
{
    memset(out, 0, sizeof *out);
    fcb_invoke_request req = {.size = sizeof req,
                              .payload = {"{}", 2},
                              .timeout_ms = 10000,
                              .sink_ctx = out,
                              .on_body = body_collect};
    fcb_invoke_result res = {.size = sizeof res};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->invoke(fx.backend, handle, &req, &res, &err), FCB_OK, "invoke: %s",
                 err.message);
    cr_assert_eq(res.http_status, 200, "%s", out->data);
}

static size_t containers_of(const char *function_label)
{
    char label[160];
    snprintf(label, sizeof label, "fakecloud-lambda=%s", function_label);
    return engine_http_count_containers(docker_fixture_socket(), label);
}

static void terminate_ok(const char *handle)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->terminate(fx.backend, handle, &err), FCB_OK, "terminate: %s", err.message);
}

Test(docker_hotreload, the_descriptor_declares_hot_reload)
{
    cr_expect(fx.plugin->descriptor->capabilities & FCB_CAP_HOT_RELOAD,
              "the docker backend does not declare hot-reload");
}

Test(docker_hotreload, an_edit_is_seen_by_the_next_invoke_and_the_mount_is_read_only)
{
    char dir[PATH_MAX], handle[FCB_HANDLE_MAX], probe[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/app", root);
    fcb_function fn = zip_function("hot-edit");
    fcb_error err;
    cr_assert_eq(launch_dir(&fn, dir, handle, &err), FCB_OK, "launch: %s", err.message);
    body_text body;
    invoke_text(handle, &body);
    cr_expect_str_eq(body.data, "v1");
    write_file(dir, "app.sh",
               "if echo x 2>/dev/null >/var/task/written; then echo v2 wrote; "
               "else echo v2 read-only; fi\n");
    invoke_text(handle, &body); /* the same container: no redeploy */
    cr_expect_str_eq(body.data, "v2 read-only");
    snprintf(probe, sizeof probe, "%s/written", dir);
    cr_expect_neq(access(probe, F_OK), 0, "the handler wrote %s through the mount", probe);
    terminate_ok(handle);
    cr_expect_eq(containers_of("hot-edit"), 0);
}

/* A launch with code_dir DIR is refused with CODE, its message naming WANT; nothing created. */
static void expect_refused(const char *label, const char *dir, int code, const char *want)
{
    fcb_function fn = zip_function(label);
    char handle[FCB_HANDLE_MAX];
    fcb_error err;
    cr_expect_eq(launch_dir(&fn, dir, handle, &err), code, "%s: rc for %s: %s", label, dir,
                 err.message);
    cr_expect(strstr(err.message, want) != NULL, "%s: \"%s\" does not name %s", label, err.message,
              want);
    cr_log_info("%s: %s", label, err.message);
    cr_expect_eq(containers_of(label), 0, "%s: a container was created", label);
}

Test(docker_hotreload, directories_outside_the_allowed_roots_are_refused)
{
    char path[PATH_MAX + 32], link[PATH_MAX];
    expect_refused("hot-outside", outside, FCB_ERR_INVALID_ARGUMENT, "outside the allowed roots");
    snprintf(path, sizeof path, "%s/../outside", root);
    expect_refused("hot-dotdot", path, FCB_ERR_INVALID_ARGUMENT, "outside the allowed roots");
    snprintf(link, sizeof link, "%s/escape", root);
    cr_assert_eq(symlink(outside, link), 0);
    expect_refused("hot-symlink", link, FCB_ERR_INVALID_ARGUMENT, "outside the allowed roots");
    expect_refused("hot-relative", "app", FCB_ERR_INVALID_ARGUMENT,
                   "code_dir: must be an absolute");
    snprintf(path, sizeof path, "%s/missing", root);
    expect_refused("hot-missing", path, FCB_ERR_INVALID_ARGUMENT, "code_dir");
    snprintf(path, sizeof path, "%s/app/app.sh", root);
    expect_refused("hot-file", path, FCB_ERR_INVALID_ARGUMENT, "not a directory");
}

Test(docker_hotreload, image_functions_cannot_hot_reload)
{
    char dir[PATH_MAX], handle[FCB_HANDLE_MAX];
    snprintf(dir, sizeof dir, "%s/app", root);
    fcb_function fn = zip_function("hot-image");
    fn.package_type = FCB_PACKAGE_IMAGE;
    fn.image_uri = "fcb-test-rie:latest";
    fcb_error err;
    cr_expect_eq(launch_dir(&fn, dir, handle, &err), FCB_ERR_INVALID_ARGUMENT, "%s", err.message);
    cr_expect(strstr(err.message, "code_dir") != NULL, "%s", err.message);
    cr_expect_eq(containers_of("hot-image"), 0);
}

Test(docker_hotreload, without_the_roots_key_hot_reload_is_refused_naming_it)
{
    docker_fixture_teardown(&fx);
    open_with_roots(NULL);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/app", root);
    expect_refused("hot-nokey", dir, FCB_ERR_UNSUPPORTED, "FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS");
}

Test(docker_hotreload, a_relative_root_is_refused_at_open)
{
    docker_fixture_teardown(&fx);
    fx.mh = mock_host_new();
    mock_host_set_config(fx.mh, "DOCKER_HOST", getenv("DOCKER_HOST"));
    mock_host_set_config(fx.mh, "FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS", "/srv:code");
    docker_fixture_load(&fx);
    fcb_open_params params = {.size = sizeof params};
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(fx.ops->open(mock_host_services(fx.mh), &params, &fx.backend, &err),
                 FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS") != NULL, "%s", err.message);
    cr_expect_null(fx.backend);
    cr_expect_eq(mock_host_outstanding_bytes(fx.mh), 0);
}

/* The sample host's `invoke --code-dir`: the runtime answers from the directory. */
Test(docker_hotreload, the_sample_host_invokes_a_code_dir)
{
    const char *exe = getenv("FCB_TEST_HOST_EXE");
    if (exe == NULL || exe[0] == '\0')
        cr_skip_test("sample host not built");
    char app[PATH_MAX], cmd[4 * PATH_MAX], out[16384] = "";
    snprintf(app, sizeof app, "%s/app", root);
    write_file(root, "fn.json",
               "{\"FunctionName\":\"hot-host\",\"Runtime\":\"python3.12\","
               "\"Handler\":\"app.handler\",\"PackageType\":\"Zip\"}");
    write_file(app, "app.sh", "echo \"from the directory: $(cat)\"\n");
    snprintf(cmd, sizeof cmd,
             "FAKECLOUD_LAMBDA_BACKEND=docker FAKECLOUD_BACKEND_PATH=%s "
             "FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS='%s' '%s' invoke --function '%s/fn.json' "
             "--code-dir '%s' --payload '{\"k\":7}' 2>&1",
             FCB_TEST_PLUGIN_DIR, root, exe, root, app);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = 0, k;
    while (n < sizeof out - 1 && (k = fread(out + n, 1, sizeof out - 1 - n, p)) > 0)
        n += k;
    out[n] = '\0';
    int status = pclose(p);
    cr_expect_eq(WEXITSTATUS(status), 0, "host: %s", out);
    cr_expect(strstr(out, "from the directory: {\"k\":7}") != NULL, "%s", out);
    cr_expect_eq(containers_of("hot-host"), 0);
}
