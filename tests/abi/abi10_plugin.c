/*
 * A backend built against the ABI 1.0 header (tests/abi/abi-1.0, a verbatim
 * copy of the header as released): what an out-of-tree plugin compiled before
 * 1.1 looks like. Its descriptor says 1.0, its ops table ends at prepull, and
 * it reads only the 1.0 members of what the host passes. Instances are
 * bookkeeping only (no runtime): launch hands back a fixed endpoint and a
 * numbered handle, terminate forgets it.
 */
#include <fakecloud/backend_plugin.h>

#include <stdio.h>
#include <string.h>

#if FCB_ABI_MINOR != 0
#error "abi10_plugin must be built against the ABI 1.0 header"
#endif

FCB_PLUGIN_DESCRIPTOR("abi10", "1.0.0", "Built against the ABI 1.0 header");

struct fcb_backend {
    const fcb_host_services *host;
    unsigned launched;
    unsigned live;
};

static int a_open(const fcb_host_services *host, const fcb_open_params *params, fcb_backend **out,
                  fcb_error *err)
{
    (void)params;
    fcb_backend *b = host->alloc(host->alloc_ctx, sizeof *b);
    if (b == NULL) {
        err->code = FCB_ERR_NO_MEMORY;
        snprintf(err->message, sizeof err->message, "abi10: out of memory");
        return FCB_ERR_NO_MEMORY;
    }
    memset(b, 0, sizeof *b);
    b->host = host;
    *out = b;
    return FCB_OK;
}

static void a_close(fcb_backend *b)
{
    if (b != NULL)
        b->host->free(b->host->alloc_ctx, b);
}

static int a_launch(fcb_backend *b, const fcb_launch_request *req, fcb_instance *out,
                    fcb_error *err)
{
    /* Only 1.0 members exist for this plugin: it never looks past deadline_ms. */
    if (req == NULL || req->size < offsetof(fcb_launch_request, deadline_ms) + sizeof(uint32_t) ||
        req->function == NULL || out == NULL || out->size < sizeof *out) {
        err->code = FCB_ERR_INVALID_ARGUMENT;
        snprintf(err->message, sizeof err->message, "abi10: launch: request or out too small");
        return FCB_ERR_INVALID_ARGUMENT;
    }
    b->launched++;
    b->live++;
    snprintf(out->endpoint, sizeof out->endpoint, "127.0.0.1:9");
    snprintf(out->handle, sizeof out->handle, "abi10/%u", b->launched);
    return FCB_OK;
}

static int a_terminate(fcb_backend *b, const char *handle, fcb_error *err)
{
    (void)err;
    if (handle != NULL && strncmp(handle, "abi10/", 6) == 0 && b->live > 0)
        b->live--;
    return FCB_OK;
}

static int a_reap(fcb_backend *b, size_t *reaped, fcb_error *err)
{
    (void)b, (void)err;
    if (reaped != NULL)
        *reaped = 0;
    return FCB_OK;
}

static const fcb_backend_ops a_ops = {
    .size = sizeof(fcb_backend_ops),
    .name = "abi10",
    .open = a_open,
    .close = a_close,
    .launch = a_launch,
    .terminate = a_terminate,
    .reap_stale = a_reap,
};

FCB_EXPORT const fcb_backend_ops *backend_plugin_init(const fcb_host_services *host, fcb_error *err)
{
    (void)host, (void)err;
    return &a_ops;
}
