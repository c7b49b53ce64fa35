/*
 * docker_plugin: the docker backend's exported descriptor and entry point.
 * Everything else lives in the dock_* modules (hidden visibility).
 */
#include "dock_backend.h"
#include "dock_invoke.h"
#include "dock_observe.h"
#include "svc.h"

#include <curl/curl.h>
#include <fakecloud/backend_plugin.h>

/*
 * Architectures: the function's platform is asked for on pull and create
 * when it is not the engine's own, and the image a container was created
 * from is checked before it starts (dock_arch.h): another architecture is
 * refused, never run. Whether the engine can execute a foreign one
 * (binfmt/QEMU) is not visible through the API; when it cannot, the launch
 * fails at start. Credentials reach the container's environment (docs/docker.md:
 * visible to whoever controls the engine), never a log line.
 */
FCB_PLUGIN_DESCRIPTOR_EX(DOCK_PLUGIN_NAME, "0.1.0",
                         "Runs Lambda runtimes as Docker containers over the Engine API",
                         FCB_ABI_MINOR,
                         FCB_CAP_IMAGE_FUNCTIONS | FCB_CAP_LAYERS | FCB_CAP_PREPULL |
                             FCB_CAP_STATUS | FCB_CAP_LOGS | FCB_CAP_LOGS_FOLLOW | FCB_CAP_STATS |
                             FCB_CAP_INVOKE | FCB_CAP_CANCEL | FCB_CAP_CREDENTIALS |
                             FCB_CAP_HOT_RELOAD | FCB_CAP_ARCH_X86_64 | FCB_CAP_ARCH_ARM64);

static const fcb_backend_ops dock_ops = {
    .size = sizeof(fcb_backend_ops),
    .name = DOCK_PLUGIN_NAME,
    .open = dock_backend_open,
    .close = dock_backend_close,
    .launch = dock_backend_launch,
    .terminate = dock_backend_terminate,
    .reap_stale = dock_backend_reap_stale,
    .prepull = dock_backend_prepull,
    .logs = dock_backend_logs,
    .status = dock_backend_status,
    .invoke = dock_backend_invoke,
    .stats = dock_backend_stats_emit,
};

const fcb_backend_ops *backend_plugin_init(const fcb_host_services *host, fcb_error *err)
{
    if (svc_check_host(host, DOCK_PLUGIN_NAME, err) != FCB_OK)
        return NULL;
    /* libcurl >= 7.84 makes this thread-safe; once per process is enough. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        err_set(err, FCB_ERR_INTERNAL, "docker backend: curl_global_init failed");
        return NULL;
    }
    curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (v == NULL || (v->features & CURL_VERSION_UNIX_SOCKETS) == 0) {
        err_set(err, FCB_ERR_UNSUPPORTED, "docker backend: libcurl lacks unix socket support");
        return NULL;
    }
    return &dock_ops;
}
