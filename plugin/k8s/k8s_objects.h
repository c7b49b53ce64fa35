/*
 * k8s_objects: the API objects the lifecycle creates and deletes, with the
 * ownership rules around them.
 *
 * Over the typed layer (kube_pods.h, kube_secrets.h). Creates resolve a 409
 * and an unknown outcome (we chose the name, so an object that may exist is
 * deleted by name); every delete is "owned": restricted to the object's
 * name and our labels, so a handle or a name can never delete an object
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

/* The kinds of object the lifecycle creates. */
typedef enum k8s_object { K8S_OBJECT_POD, K8S_OBJECT_SECRET } k8s_object;

/*
 * Delete KIND/NAME, which this instance created (owned: only if it still
 * carries our instance's labels); gone is success. NAME NULL (Secrets only):
 * every Secret of this instance. A transient allocation failure is retried:
 * deleting is how we avoid leaks.
 */
int k8s_delete_ours(fcb_backend *b, kube_client *client, k8s_object kind, const char *name,
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
 * Create the token Secret before DEADLINE (called with setup_lock held). An
 * unknown outcome (unreadable 2xx, 5xx, no answer, our deadline) deletes it
 * by name at once; as the create may still land after that, the Secret stays
 * "maybe there": a 409 on the next attempt is our own Secret, and close()
 * deletes it.
 */
int k8s_secret_create(fcb_backend *b, uint64_t deadline, fcb_error *err);

/*
 * close(): delete the token Secret if it was created (or may have been) with
 * CLIENT; when a launch's credentials Secret may remain (b->secrets_left),
 * every Secret of this instance instead, in one owned deletecollection.
 */
void k8s_secret_delete(fcb_backend *b, kube_client *client);

/*
 * Create a launch's credentials Secret NAME (JSON text BODY) before
 * DEADLINE. A 409 after our own retry is ours; another 409 is someone
 * else's object (*collision: the caller picks a new name). *state says
 * whether it exists (K8S_MAYBE_CREATED after an unknown outcome), also on
 * failure; k8s_credentials_delete takes it from there.
 */
int k8s_credentials_create(fcb_backend *b, const char *name, const char *body, uint64_t deadline,
                           bool *collision, k8s_create_result *state, fcb_error *err);

/*
 * Delete the credentials Secret NAME when *state says it may exist (the
 * runtime read it when its container started, so a launch deletes it as it
 * ends, success or not). A failed or cancelled delete sets b->secrets_left
 * for close(). *state is K8S_NOT_CREATED after. Never logs a value.
 */
void k8s_credentials_delete(fcb_backend *b, const char *name, k8s_create_result *state);

/*
 * Append "; last log lines of CONTAINER: ..." of POD to err. Best effort: a
 * failed log request adds why logs are missing instead.
 */
void k8s_append_logs(fcb_backend *b, const char *pod, const char *container, fcb_error *err);

#endif
