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

#endif
