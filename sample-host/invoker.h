/*
 * invoker: POST an event to a runtime's Runtime Interface Emulator
 * (http://ENDPOINT/2015-03-31/functions/function/invocations) with libcurl.
 *
 * Thread-safe once curl_global_init has run (the host calls it at start).
 */
#ifndef FCB_INVOKER_H
#define FCB_INVOKER_H

#include <stddef.h>

#define INVOKER_PATH "/2015-03-31/functions/function/invocations"
/* Largest response kept (Lambda's synchronous payload limit is 6 MB). */
#define INVOKER_RESPONSE_MAX ((size_t)16 * 1024 * 1024)

/* Why no answer came (invoker_result.failure), so a caller knows whether the event was sent. */
typedef enum invoker_failure {
    INVOKER_ANSWERED = 0,      /* an HTTP response arrived */
    INVOKER_NOT_CONNECTED = 1, /* the connection was refused: nothing was sent */
    INVOKER_TIMED_OUT = 2,     /* timeout_ms passed */
    INVOKER_CANCELLED = 3,     /* the cancel callback fired */
    INVOKER_BROKEN = 4,        /* anything else: the event may have been delivered */
} invoker_failure;

typedef struct invoker_result {
    long status; /* HTTP status; 0 when no response arrived */
    char *body;  /* NUL-terminated response body; malloc'd, caller frees */
    size_t body_len;
    invoker_failure failure;
    char function_error[64]; /* the runtime's X-Amz-Function-Error header, else "" */
} invoker_result;

/*
 * POST PAYLOAD (LEN bytes, sent as application/json) to ENDPOINT
 * ("host:port"), waiting at most TIMEOUT_MS in total. Returns 0 when an
 * HTTP response arrived (any status; see result->status), -1 on transport
 * failure with `why` naming the endpoint and the problem.
 */
int invoker_post(const char *endpoint, const char *payload, size_t len, long timeout_ms,
                 invoker_result *result, char *why, size_t why_size);

/*
 * Same, but CANCELLED(CTX) (may be NULL) is polled while waiting; when it
 * returns non-zero the request is abandoned and -1 returned with `why`
 * saying "interrupted".
 */
int invoker_post_cancellable(const char *endpoint, const char *payload, size_t len, long timeout_ms,
                             int (*cancelled)(void *ctx), void *ctx, invoker_result *result,
                             char *why, size_t why_size);

void invoker_result_free(invoker_result *result);

#endif
