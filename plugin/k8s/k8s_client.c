/* k8s_client: options from the configuration, then the client. */
#include "k8s_client.h"

#include "k8s_config.h"

int kube_client_new_ex(const fcb_host_services *host, unsigned flags, kube_client **out,
                       fcb_error *err)
{
    kube_client_options opts;
    *out = NULL;
    kube_client_options_init(&opts);
    int rc = k8s_config_client_options(host, &opts, err);
    if (rc != FCB_OK)
        return rc;
    opts.flags = flags;
    return kube_client_open(host, &opts, out, err);
}

int kube_client_new(const fcb_host_services *host, kube_client **out, fcb_error *err)
{
    return kube_client_new_ex(host, 0, out, err);
}
