/* rel_inputs: the hostile input table and its driver. */
#include "rel_inputs.h"

#include <loader.h>

#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct hostile_input {
    const char *what;
    const char *name;    /* function name (NULL = default) */
    const char *env_key; /* one extra variable (NULL = none) */
    const char *env_value;
    int zip; /* 0 default, 1 bomb, 2 slip, 3 huge */
} hostile_input;

static char long_name[4097];
static char long_value[4097];

/* zip with one entry NAME of SIZE bytes of FILL, deflated (bomb) or stored. */
static unsigned char *make_zip(const char *name, size_t size, char fill, bool deflate, size_t *len)
{
    size_t cap = size + 1024 * 1024;
    unsigned char *buf = malloc(cap);
    cr_assert_not_null(buf);
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    if (!deflate)
        archive_write_set_format_option(a, "zip", "compression", "store");
    cr_assert_eq(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_write_header(a, e);
    char chunk[65536];
    memset(chunk, fill, sizeof chunk);
    for (size_t done = 0; done < size;) {
        size_t n = size - done < sizeof chunk ? size - done : sizeof chunk;
        archive_write_data(a, chunk, n);
        done += n;
    }
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    return buf;
}

size_t rel_inputs_run(const rel_target *t)
{
    memset(long_name, 'n', 4096);
    memset(long_value, 'v', 4096);
    const hostile_input inputs[] = {
        {"name with newline", "fn\nname", NULL, NULL, 0},
        {"name with quotes and shell", "fn\"'`$(touch /tmp/pwned)`;", NULL, NULL, 0},
        {"unicode name", "fn-\xe2\x9c\x93-\xce\xbb-\xf0\x9f\x98\x80", NULL, NULL, 0},
        {"4 KiB name", long_name, NULL, NULL, 0},
        {"path traversal name", "../../etc/passwd", NULL, NULL, 0},
        {"env value with newline and quotes", NULL, "V", "a\nb\"c'd`e$(f)\\", 0},
        {"unicode env value", NULL, "V", "\xe2\x9c\x93 \xce\xbb \xf0\x9f\x98\x80", 0},
        {"4 KiB env value", NULL, "V", long_value, 0},
        {"env key with space", NULL, "BAD KEY", "x", 0},
        {"env key starting with a digit", NULL, "1START", "x", 0},
        {"env key with '='", NULL, "A=B", "x", 0},
        {"env key with newline", NULL, "A\nB", "x", 0},
        {"empty env key", NULL, "", "x", 0},
        {"unicode env key", NULL, "\xc3\xbc", "x", 0},
        {"zip bomb (64 MiB of zeros)", NULL, NULL, NULL, 1},
        {"zip-slip entry ../../evil", NULL, NULL, NULL, 2},
        {"20 MiB code zip", NULL, NULL, NULL, 3},
    };
    size_t n_inputs = sizeof inputs / sizeof inputs[0];
    mock_host *mh = mock_host_new();
    if (t->configure != NULL)
        t->configure(t->ctx, mh);
    const fcb_host_services *svc = mock_host_services(mh);
    char why[LOADER_WHY_MAX] = "";
    loader_plugin *p = NULL;
    cr_assert_eq(loader_load(t->plugin_path, svc, &p, why), 0, "%s", why);
    fcb_open_params params = {sizeof params, t->internal_token};
    fcb_backend *b = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(p->ops->open(svc, &params, &b, &err), FCB_OK, "open: %s", err.message);
    size_t ok = 0, refused = 0;
    for (size_t i = 0; i < n_inputs; i++) {
        const hostile_input *in = &inputs[i];
        fcb_function fn;
        fcb_launch_request req;
        *(&req) = *t->request;
        fn = *t->request->function;
        req.function = &fn;
        if (in->name != NULL)
            fn.function_name = in->name;
        fcb_env_var env = {in->env_key, in->env_value};
        if (in->env_key != NULL) {
            fn.environment = &env;
            fn.n_environment = 1;
        }
        unsigned char *zip = NULL;
        size_t zip_len = 0;
        if (in->zip == 1)
            zip = make_zip("zeros.bin", 64u * 1024 * 1024, '\0', true, &zip_len);
        else if (in->zip == 2)
            zip = make_zip("../../evil.sh", 16, 'x', false, &zip_len);
        else if (in->zip == 3)
            zip = make_zip("big.bin", 20u * 1024 * 1024, 'r', false, &zip_len);
        if (zip != NULL && fn.package_type == FCB_PACKAGE_ZIP) {
            req.code.data = zip;
            req.code.size = zip_len;
        }
        fcb_instance inst = {.size = sizeof inst};
        fcb_error lerr = FCB_ERROR_INIT;
        /* Per input: a backend may create shared objects on its first launch (k8s: the
         * token Secret), which a later refused input must not be blamed for. */
        long base = t->count_objects != NULL ? t->count_objects(t->ctx) : 0;
        double t0 = rel_now_ms();
        int rc = p->ops->launch(b, &req, &inst, &lerr);
        double took = rel_now_ms() - t0;
        long objects = t->count_objects != NULL ? t->count_objects(t->ctx) : 0;
        printf("hostile input %-36s -> %-24s %6.0f ms  %s\n", in->what, fcb_status_name(rc), took,
               rc == FCB_OK ? inst.endpoint : lerr.message);
        fflush(stdout);
        if (rc == FCB_OK) {
            ok++;
            fcb_error terr = FCB_ERROR_INIT;
            cr_assert_eq(p->ops->terminate(b, inst.handle, &terr), FCB_OK, "%s: terminate: %s",
                         in->what, terr.message);
        } else {
            refused++;
            rel_assert_clean_error(rc, &lerr, in->what);
            cr_assert_eq(objects, base, "%s: refused, but %ld objects exist (baseline %ld)",
                         in->what, objects, base);
        }
        cr_assert(access("/tmp/pwned", F_OK) != 0, "%s: shell injection ran", in->what);
        free(zip);
    }
    p->ops->close(b);
    loader_unload(p);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "%zu bytes leaked",
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
    long left = t->count_objects != NULL ? t->count_objects(t->ctx) : 0;
    printf("hostile inputs: plugin %s, %zu inputs tried: %zu launched and terminated, %zu refused "
           "with a clean error; %ld objects left\n",
           t->name, n_inputs, ok, refused, left);
    fflush(stdout);
    return n_inputs;
}
