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

typedef struct invoker_result {
    long status; /* HTTP status; 0 when no response arrived */
    char *body;  /* NUL-terminated response body; malloc'd, caller frees */
    size_t body_len;
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
