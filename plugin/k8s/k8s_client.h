/*
 * k8s_client: the backend's Kubernetes clients from the host configuration:
 * k8s_config_client_options (the FAKECLOUD_K8S_* tuning keys) then
 * kube_client_open (kubeconfig discovery). The client itself reads no key.
 * The functions keep the client's historical kube_client_new names: the
 * client's tests and the backend call them.
 */
#ifndef FCB_K8S_CLIENT_H
#define FCB_K8S_CLIENT_H

#include "kube_client.h"

/*
 * A client configured from HOST's configuration with option FLAGS
 * (KUBE_CLIENT_QUIET for a second client). Errors: a malformed key
 * (FCB_ERR_CONFIG naming it), then kube_client_open's.
 */
int kube_client_new_ex(const fcb_host_services *host, unsigned flags, kube_client **out,
                       fcb_error *err);
/* kube_client_new_ex without flags. */
int kube_client_new(const fcb_host_services *host, kube_client **out, fcb_error *err);

#endif
