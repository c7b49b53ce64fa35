/*
 * kube_status: turn a failed API response into a message a user can act on.
 *
 * The API server answers errors with a `Status` object (kind Status, code,
 * reason, message, details.causes). This module formats
 *   "k8s POST /api/v1/namespaces/ns/pods: 422 Invalid: Pod \"x\" is invalid: ..."
 * from the method, the request path (query dropped), the HTTP status and the
 * body (a Status, other JSON, or text, which is quoted, truncated and
 * stripped of control characters). Pure; thread-safe.
 */
#ifndef FCB_KUBE_STATUS_H
#define FCB_KUBE_STATUS_H

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

#include <stddef.h>

/*
 * The Kubernetes reason for a response: Status.reason when BODY is a Status
 * with one, else the conventional reason for HTTP_STATUS ("NotFound",
 * "AlreadyExists" is never guessed: 409 reads "Conflict"), else "". Copied
 * into OUT (size OUT_SIZE, always NUL-terminated).
 */
void kube_status_reason(long http_status, json_object *body, char *out, size_t out_size);

/*
 * Fill ERR with CODE and the message described above. RAW/RAW_LEN is the
 * body text used when BODY is NULL (may be NULL). Returns CODE.
 */
int kube_status_error(fcb_error *err, int code, const char *method, const char *path,
                      long http_status, json_object *body, const char *raw, size_t raw_len);

/* The fcb_status for an HTTP status (404 -> NOT_FOUND, else BACKEND; 2xx -> OK). */
int kube_status_code(long http_status);

#endif
