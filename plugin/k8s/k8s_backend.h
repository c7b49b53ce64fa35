/*
 * k8s_backend: the k8s backend's operations (open, launch, terminate,
 * reap_stale, close) over kube_client.
 *
 * One backend instance = one random instance id, one token Secret, one
 * shared Pod watch (label selector managed-by + instance) feeding a registry
 * of launch waiters, and two clients: one for normal work (cancelled by
 * close so in-flight calls return promptly) and one close uses afterwards
 * to delete what in-flight launches created. All operations but open/close
 * are thread-safe; see fakecloud/backend_plugin.h for the contracts.
 */
#ifndef FCB_K8S_BACKEND_H
#define FCB_K8S_BACKEND_H

#include <fakecloud/backend_plugin.h>

#define K8S_PLUGIN_NAME "k8s"

int k8s_backend_open(const fcb_host_services *host, const fcb_open_params *params,
                     fcb_backend **out, fcb_error *err);
void k8s_backend_close(fcb_backend *backend);
int k8s_backend_launch(fcb_backend *backend, const fcb_launch_request *request, fcb_instance *out,
                       fcb_error *err);
int k8s_backend_terminate(fcb_backend *backend, const char *handle, fcb_error *err);
int k8s_backend_reap_stale(fcb_backend *backend, size_t *reaped, fcb_error *err);
/*
 * prepull: make IMAGE present on a node ahead of use by creating a
 * short-lived Pod with it (our labels, the configured pull secret, node
 * selector and tolerations) and deleting it once the kubelet has pulled it.
 * Pulls on the one node the Pod is scheduled to. Fails fast with the
 * Kubernetes reason (ErrImagePull, InvalidImageName, Unschedulable, ...).
 * Thread-safe; close() cancels it.
 */
int k8s_backend_prepull(fcb_backend *b, const char *image, fcb_error *err);

/*
 * Parse "pod/<namespace>/<name>" into ns (64 bytes) and name (254 bytes).
 * FCB_ERR_INVALID_ARGUMENT naming the handle otherwise.
 */
int k8s_handle_parse(const char *handle, char ns[64], char name[254], fcb_error *err);

#endif
