/*
 * k8s_observe: the k8s backend's read-only 1.1 operations (status, logs)
 * and the Pod-to-fcb_instance_status mapping they use. Thread-safe; close()
 * cancels them.
 */
#ifndef FCB_K8S_OBSERVE_H
#define FCB_K8S_OBSERVE_H

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

/*
 * The state of our Pod POD: the runtime container terminated = EXITED with
 * its exitCode and reason; phase Failed/Succeeded without that = EXITED
 * with the Pod's reason (or the phase); the container running in phase
 * Running = RUNNING; anything else = STARTING. Pure.
 */
void k8s_instance_status_read(json_object *pod, fcb_instance_status *out);

/*
 * status: one GET of the handle's Pod. 404, another namespace, or a Pod
 * without our managed-by label is GONE (FCB_OK); API failures are errors.
 */
int k8s_backend_status(fcb_backend *b, const char *handle, fcb_instance_status *out,
                       fcb_error *err);

/*
 * logs: pods/log of the runtime container of our Pod HANDLE, chunk by
 * chunk to req->on_data as FCB_LOG_COMBINED (tailLines, sinceTime from
 * since_unix_ms rounded down to the second, limitBytes and a total of at
 * most max_bytes, 1 MiB when 0; follow streams until the container ends).
 * Stops with FCB_OK when on_data returns non-zero or max_bytes was
 * delivered; FCB_ERR_CANCELLED when req->cancel fires (polled every 50 ms)
 * or close() is called. FCB_ERR_NOT_FOUND for a Pod that is gone, in
 * another namespace or not ours (never read).
 */
int k8s_backend_logs(fcb_backend *b, const char *handle, const fcb_logs_request *req,
                     fcb_error *err);

/*
 * Parse HANDLE ("pod/NS/NAME", else FCB_ERR_INVALID_ARGUMENT prefixed with
 * OP) and enter the in-flight set (FCB_ERR_CANCELLED once closing). *name
 * is "" (and FCB_OK) when the handle is in another namespace: not ours. On
 * FCB_OK the caller ends with inflight_leave(&b->ops).
 */
int k8s_instance_enter(fcb_backend *b, const char *handle, const char *op, char name[254],
                       fcb_error *err);

/*
 * GET Pod NAME of the backend's namespace; *pod (the caller's to put) is
 * NULL, with FCB_OK, when it is gone or lacks our managed-by label.
 */
int k8s_pod_get_ours(fcb_backend *b, const char *name, json_object **pod, fcb_error *err);

#endif
