/*
 * broken plugins: one source, one deliberate defect per BROKEN_* define.
 *
 *   BROKEN_MAGIC      descriptor with a wrong magic number
 *   BROKEN_MAJOR      descriptor for ABI 2.0
 *   BROKEN_MINOR      descriptor for ABI 1.99 (the host is 1.0)
 *   BROKEN_NOINIT     descriptor only, no backend_plugin_init
 *   BROKEN_NOVERSION  good descriptor and init, linked without plugin.map
 *   BROKEN_INITFAIL   init returns NULL with a message
 *   BROKEN_NOLAUNCH   operations table without launch
 *
 * The host must refuse the first five without running any plugin code: their
 * init writes the file named by the config key FAKECLOUD_TEST_INIT_MARKER
 * and aborts, so a test sees both a crash and the marker if it ever runs.
 */
#include <fakecloud/backend_plugin.h>

#include <stdio.h>
#include <stdlib.h>

#define BROKEN_STR2(x) #x
#define BROKEN_STR(x)  BROKEN_STR2(x)

#if defined(BROKEN_MAGIC) || defined(BROKEN_MAJOR) || defined(BROKEN_MINOR)
#if defined(BROKEN_MAGIC)
#define BP_MAGIC 0xdeadbeefu
#define BP_MAJOR FCB_ABI_MAJOR
#define BP_MINOR FCB_ABI_MINOR
#elif defined(BROKEN_MAJOR)
#define BP_MAGIC FCB_PLUGIN_MAGIC
#define BP_MAJOR 2
#define BP_MINOR 0
#else
#define BP_MAGIC FCB_PLUGIN_MAGIC
#define BP_MAJOR 1
#define BP_MINOR 99
#endif
FCB_EXPORT extern const fcb_plugin_descriptor backend_plugin_descriptor;
const fcb_plugin_descriptor backend_plugin_descriptor = {
    BP_MAGIC, (uint32_t)sizeof(fcb_plugin_descriptor), BP_MAJOR, BP_MINOR, BROKEN_STR(BROKEN_NAME),
    "0.0.1",  "deliberately broken test plugin", 0};
#else
FCB_PLUGIN_DESCRIPTOR(BROKEN_STR(BROKEN_NAME), "0.0.1", "deliberately broken test plugin");
#endif

#if !defined(BROKEN_NOINIT)

#if defined(BROKEN_NOLAUNCH)
static int bp_open(const fcb_host_services *host, const fcb_open_params *params, fcb_backend **out,
                   fcb_error *err)
{
    (void)host;
    (void)params;
    (void)err;
    *out = NULL;
    return FCB_ERR_UNSUPPORTED;
}
static void bp_close(fcb_backend *backend)
{
    (void)backend;
}
static int bp_terminate(fcb_backend *backend, const char *handle, fcb_error *err)
{
    (void)backend;
    (void)handle;
    (void)err;
    return FCB_OK;
}
static int bp_reap(fcb_backend *backend, size_t *reaped, fcb_error *err)
{
    (void)backend;
    (void)err;
    if (reaped != NULL)
        *reaped = 0;
    return FCB_OK;
}
static const fcb_backend_ops bp_ops = {
    .size = sizeof(fcb_backend_ops),
    .name = BROKEN_STR(BROKEN_NAME),
    .open = bp_open,
    .close = bp_close,
    .launch = NULL,
    .terminate = bp_terminate,
    .reap_stale = bp_reap,
    .prepull = NULL,
};
#endif

const fcb_backend_ops *backend_plugin_init(const fcb_host_services *host, fcb_error *err)
{
#if defined(BROKEN_INITFAIL)
    (void)host;
    err->code = FCB_ERR_UNSUPPORTED;
    snprintf(err->message, sizeof err->message,
             "broken-initfail: refusing to initialise (deliberate test failure)");
    return NULL;
#elif defined(BROKEN_NOLAUNCH)
    (void)host;
    (void)err;
    return &bp_ops;
#else
    /* Must never run: the descriptor (or the missing version) says no. */
    const char *marker = host != NULL && host->config_get != NULL
                             ? host->config_get(host->config_ctx, "FAKECLOUD_TEST_INIT_MARKER")
                             : NULL;
    if (marker != NULL) {
        FILE *f = fopen(marker, "w");
        if (f != NULL) {
            fputs("init ran\n", f);
            fclose(f);
        }
    }
    (void)err;
    abort();
#endif
}
#endif
