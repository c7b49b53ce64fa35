/*
 * k8s_plugin: the exported entry points of fakecloud-backend-k8s.so (the
 * descriptor and backend_plugin_init). Everything else is hidden.
 */
#include "k8s_backend.h"
#include "k8s_invoke.h"
#include "k8s_observe.h"
#include "k8s_stats.h"

#include "svc.h"

#include <curl/curl.h>

/* Architectures become a kubernetes.io/arch node selector (k8s_pod.c); credentials go
 * through a per-launch Secret, tags become Pod placement (k8s_tags.c). */
#define K8S_CAPS_ENV (FCB_CAP_CREDENTIALS | FCB_CAP_TAGS)
FCB_PLUGIN_DESCRIPTOR_EX("k8s", "0.1.0", "Runs Lambda runtimes as Kubernetes Pods", FCB_ABI_MINOR,
                         FCB_CAP_IMAGE_FUNCTIONS | FCB_CAP_LAYERS | FCB_CAP_PREPULL |
                             FCB_CAP_STATUS | FCB_CAP_LOGS | FCB_CAP_LOGS_FOLLOW | FCB_CAP_STATS |
                             FCB_CAP_ARCH_X86_64 | FCB_CAP_ARCH_ARM64 | FCB_CAP_CANCEL |
                             FCB_CAP_INVOKE | K8S_CAPS_ENV);

static const fcb_backend_ops k8s_ops = {
    .size = sizeof(fcb_backend_ops),
    .name = K8S_PLUGIN_NAME,
    .open = k8s_backend_open,
    .close = k8s_backend_close,
    .launch = k8s_backend_launch,
    .terminate = k8s_backend_terminate,
    .reap_stale = k8s_backend_reap_stale,
    .prepull = k8s_backend_prepull,
    .logs = k8s_backend_logs,
    .status = k8s_backend_status,
    .invoke = k8s_backend_invoke,
    .stats = k8s_backend_stats,
};

const fcb_backend_ops *backend_plugin_init(const fcb_host_services *host, fcb_error *err)
{
    if (svc_check_host(host, K8S_PLUGIN_NAME, err) != FCB_OK)
        return NULL;
    /* Needed for the URL API and thread-safe transfers. */
    curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (v == NULL || v->version_num < 0x074e00) {
        err_set(err, FCB_ERR_UNSUPPORTED, "k8s backend: libcurl >= 7.78 required, found %s",
                v != NULL ? v->version : "none");
        return NULL;
    }
    return &k8s_ops;
}
