/* bench_plugin: loader + mock host + open, timed. */
#include "bench_plugin.h"

#include "bench_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bplug_open(bplug *p, const char *path, const char *const *config, const char *internal_token,
               char err[BPLUG_ERR_MAX])
{
    char why[LOADER_WHY_MAX];
    fcb_error ferr = FCB_ERROR_INIT;
    memset(p, 0, sizeof(*p));
    p->mh = mock_host_new();
    if (p->mh == NULL) {
        snprintf(err, BPLUG_ERR_MAX, "mock host: out of memory");
        return -1;
    }
    /*
     * Keep warnings and errors only: captured lines would count in our RSS.
     * BENCH_PLUGIN_LOG=info|debug (with MOCK_HOST_ECHO=1 to print them) shows
     * the plugin's own phase logs when a figure needs explaining.
     */
    const char *lvl = getenv("BENCH_PLUGIN_LOG");
    fcb_log_level level = FCB_LOG_WARN;
    if (lvl && strcmp(lvl, "debug") == 0)
        level = FCB_LOG_DEBUG;
    else if (lvl && strcmp(lvl, "info") == 0)
        level = FCB_LOG_INFO;
    mock_host_set_log_level(p->mh, level);
    for (size_t i = 0; config && config[i] && config[i + 1]; i += 2)
        mock_host_set_config(p->mh, config[i], config[i + 1]);

    int64_t t0 = bench_now_ns();
    int rc = loader_load(path, mock_host_services(p->mh), &p->plugin, why);
    int64_t t1 = bench_now_ns();
    if (rc != 0) {
        snprintf(err, BPLUG_ERR_MAX, "load: %s", why);
        goto fail;
    }
    fcb_open_params params = {(uint32_t)sizeof(params), internal_token};
    rc = p->plugin->ops->open(mock_host_services(p->mh), &params, &p->backend, &ferr);
    int64_t t2 = bench_now_ns();
    if (rc != FCB_OK) {
        snprintf(err, BPLUG_ERR_MAX, "open %s: %s: %s", path, fcb_status_name(rc), ferr.message);
        goto fail;
    }
    p->load_ms = (double)(t1 - t0) / 1e6;
    p->open_ms = (double)(t2 - t1) / 1e6;
    return 0;
fail:
    bplug_close(p, NULL);
    return -1;
}

void bplug_close(bplug *p, size_t *leaked_bytes)
{
    if (p->backend && p->plugin)
        p->plugin->ops->close(p->backend);
    p->backend = NULL;
    if (leaked_bytes)
        *leaked_bytes = p->mh ? mock_host_outstanding_bytes(p->mh) : 0;
    if (p->plugin)
        loader_unload(p->plugin);
    p->plugin = NULL;
    if (p->mh)
        mock_host_free(p->mh);
    p->mh = NULL;
}

void bplug_image_function(fcb_function *fn, const char *name, const char *image)
{
    memset(fn, 0, sizeof(*fn));
    fn->size = (uint32_t)sizeof(*fn);
    fn->function_name = name;
    fn->package_type = FCB_PACKAGE_IMAGE;
    fn->image_uri = image;
    fn->memory_mb = 128;
    fn->timeout_seconds = 3;
}

void bplug_zip_function(fcb_function *fn, const char *name, const char *runtime,
                        const char *handler)
{
    memset(fn, 0, sizeof(*fn));
    fn->size = (uint32_t)sizeof(*fn);
    fn->function_name = name;
    fn->package_type = FCB_PACKAGE_ZIP;
    fn->runtime = runtime;
    fn->handler = handler;
    fn->memory_mb = 128;
    fn->timeout_seconds = 3;
}
