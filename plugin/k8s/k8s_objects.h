/*
 * k8s_objects: the API objects the lifecycle creates and deletes, with the
 * ownership rules around them.
 *
 * Creates resolve a 409 and an unknown outcome (we chose the name, so an
 * object that may exist is deleted by name); every delete is "owned": one
 * deletecollection restricted to the object's name (fieldSelector) and our
 * labels (labelSelector), so a handle or a name can never delete an object
 * fakecloud did not create (kube-apiserver's DELETE preconditions know only
 * uid and resourceVersion). Thread-safe unless stated.
 */
#ifndef FCB_K8S_OBJECTS_H
#define FCB_K8S_OBJECTS_H

#include "k8s_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum k8s_create_result {
    K8S_CREATED,      /* the Pod exists and is ours */
    K8S_NOT_CREATED,  /* it certainly does not exist */
    K8S_MAYBE_CREATED /* unknown outcome: delete it to be sure */
} k8s_create_result;

/*
 * Owned delete: one deletecollection of KIND ("pods" or "secrets") in the
 * backend's namespace restricted to NAME (field selector, when not NULL)
 * and the labels of SELECTOR; pods get gracePeriodSeconds=GRACE. *count =
 * the objects the answer lists (asked as metadata only and counted without
 * building a tree). FLAGS are added to the request's (e.g.
 * KUBE_REQ_UNTIL_DEADLINE); *status is the last HTTP status.
 */
int k8s_delete_collection(fcb_backend *b, kube_client *client, const char *kind, const char *name,
                          const char *selector, unsigned grace, unsigned flags,
                          unsigned deadline_ms, size_t *count, long *status, fcb_error *err);

/*
 * Delete KIND/NAME, which this instance created (owned: only if it still
 * carries our instance's labels); gone is success. A transient allocation
 * failure is retried: deleting is how we avoid leaks.
 */
int k8s_delete_ours(fcb_backend *b, kube_client *client, const char *kind, const char *name,
                    fcb_error *err);

/*
 * POST the Pod BODY named NAME (annotated with NONCE) before DEADLINE. A 409
 * (our own retry of an unknown outcome, or a fault) is resolved with a GET:
 * ours -> created; absent -> create again; someone else's -> *collision
 * (the caller picks a new name). Bounded attempts. *result says whether the
 * Pod exists, also on failure.
 */
int k8s_create_pod(fcb_backend *b, const char *name, const char *nonce, const char *body,
                   uint64_t deadline, bool *collision, k8s_create_result *result, fcb_error *err);

/*
 * Create the token Secret (called with setup_lock held). An unknown outcome
 * (unreadable 2xx, 5xx, no answer) deletes it by name at once; if that fails
 * too, close() deletes it, and a 409 on the next attempt is our own Secret.
 */
int k8s_secret_create(fcb_backend *b, fcb_error *err);

/* Delete the token Secret if it was created (or may have been) with CLIENT. */
void k8s_secret_delete(fcb_backend *b, kube_client *client);

/*
 * Append "; last log lines of CONTAINER: ..." of POD to err. Best effort: a
 * failed log request adds why logs are missing instead.
 */
void k8s_append_logs(fcb_backend *b, const char *pod, const char *container, fcb_error *err);

/* "/api/v1/namespaces/<ns>/pods/<name><suffix>" into OUT; FCB_ERR_INVALID_ARGUMENT if too long. */
int k8s_pod_path(const char *ns, const char *name, const char *suffix, char out[K8S_PATH_MAX]);

#endif
