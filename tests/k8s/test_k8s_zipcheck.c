/*
 * Integration test of the k8s backend's zip vetting on kubesim: a launch
 * whose code or any layer zip is hostile (zip-slip, absolute path, symlink
 * out of the tree, device file, zip bomb) is refused with an error naming
 * the zip and the entry, before anything is created (no Pod, no Secret
 * beyond open's), and the init container's unzip never sees it.
 */
#include "k8s_itest.h"
#include "zip_fixture.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

typedef struct hostile_zip {
    const char *what;
    zip_fixture_entry entry;
    const char *needle; /* in the error: the entry */
    const char *why;    /* in the error: the problem */
} hostile_zip;

static const hostile_zip hostile[] = {
    {"zip-slip", {.name = "../../etc/cron.d/evil", .data = "x"}, "../../etc/cron.d/evil", "'..'"},
    {"absolute path", {.name = "/etc/passwd", .data = "x"}, "/etc/passwd", "absolute"},
    {"symlink out",
     {.name = "lib/l", .data = "../../../etc/shadow", .symlink = 1},
     "lib/l",
     "outside"},
    {"device file", {.name = "dev/sda", .data = "x", .device = 1}, "dev/sda", "device"},
};

static int secrets_before;

static void open_backend(const char *name)
{
    itest_start(&t, name, NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    secrets_before = itest_count(&t, "secrets", "default", NULL);
}

/* Launch with CODE and LAYERS; expect a refusal naming WHAT, NEEDLE and WHY, nothing created. */
static void expect_refused(fcb_blob code, const fcb_blob *layers, size_t n_layers,
                           const char *zip_name, const char *needle, const char *why)
{
    fcb_function fn = itest_zip_function("vetted");
    fcb_launch_request req = itest_request(&fn, "deploy-1");
    req.code = code;
    req.layers = layers;
    req.n_layers = n_layers;
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_ERR_INVALID_ARGUMENT, "%s: %s",
                 needle, err.message);
    cr_expect(strstr(err.message, zip_name) != NULL, "'%s' lacks '%s'", err.message, zip_name);
    cr_expect(strstr(err.message, needle) != NULL, "'%s' lacks '%s'", err.message, needle);
    cr_expect(strstr(err.message, why) != NULL, "'%s' lacks '%s'", err.message, why);
    cr_expect_eq(itest_count(&t, "pods", "default", NULL), 0, "%s: a Pod was created", needle);
    cr_expect_eq(itest_count(&t, "secrets", "default", NULL), secrets_before,
                 "%s: a Secret was created", needle);
    cr_expect_eq(atomic_load(&t.code_hits), 0);
}

Test(k8s_zipcheck, refuses_every_hostile_code_zip_before_creating_anything, .fini = stop,
     .timeout = 60)
{
    open_backend("zipcheck_code");
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        zip_fixture_entry e[] = {{.name = "app.py", .data = "def handler(e, c):\n    return e\n"},
                                 hostile[i].entry};
        size_t len;
        void *zip = zip_fixture_make(e, 2, &len);
        cr_assert_not_null(zip, "%s", hostile[i].what);
        expect_refused((fcb_blob){zip, len}, NULL, 0, "code zip", hostile[i].needle,
                       hostile[i].why);
        zip_fixture_free(zip);
    }
    itest_close(&t);
}

Test(k8s_zipcheck, refuses_every_hostile_layer_naming_its_number, .fini = stop, .timeout = 60)
{
    open_backend("zipcheck_layers");
    fcb_blob code = {t.zip, t.zip_len};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        zip_fixture_entry ok[] = {{.name = "python/ok.py", .data = "Y = 2\n"}};
        size_t ok_len, bad_len;
        void *good = zip_fixture_make(ok, 1, &ok_len);
        void *bad = zip_fixture_make(&hostile[i].entry, 1, &bad_len);
        cr_assert(good != NULL && bad != NULL);
        fcb_blob layers[] = {{good, ok_len}, {bad, bad_len}};
        expect_refused(code, layers, 2, "layer 2 zip", hostile[i].needle, hostile[i].why);
        zip_fixture_free(good);
        zip_fixture_free(bad);
    }
    itest_close(&t);
}

Test(k8s_zipcheck, refuses_a_1_gib_layer_bomb_and_an_empty_layer, .fini = stop, .timeout = 60)
{
    open_backend("zipcheck_bomb");
    size_t len;
    void *bomb = zip_fixture_zeros("zeros.bin", (size_t)1 << 30, &len);
    cr_assert_not_null(bomb);
    fcb_blob code = {t.zip, t.zip_len};
    fcb_blob layers[] = {{bomb, len}};
    expect_refused(code, layers, 1, "layer 1 zip", "zeros.bin", "uncompressed size exceeds");
    fcb_blob empty[] = {{t.zip, t.zip_len}, {NULL, 0}};
    expect_refused(code, empty, 2, "layer 2 zip", "empty", "0 bytes");
    zip_fixture_free(bomb);
    itest_close(&t);
}

Test(k8s_zipcheck, launches_with_safe_code_and_layers, .fini = stop, .timeout = 60)
{
    open_backend("zipcheck_ok");
    fcb_function fn = itest_zip_function("vetted");
    fcb_launch_request req = itest_request(&fn, "deploy-1");
    fcb_blob layers[] = {{t.zip, t.zip_len}};
    req.code = (fcb_blob){t.zip, t.zip_len};
    req.layers = layers;
    req.n_layers = 1;
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
}
