/*
 * lambda_api: the Lambda REST API's wire format, as botocore's model
 * (lambda/2015-03-31/service-2.json) describes it: which operation a method
 * and path are, the error documents, base64, and how an invocation's answer
 * is classified (X-Amz-Function-Error).
 *
 * Pure (no I/O), thread-safe.
 */
#ifndef FCB_HOST_LAMBDA_API_H
#define FCB_HOST_LAMBDA_API_H

#include <stdbool.h>
#include <stddef.h>

typedef enum lapi_op {
    LAPI_UNKNOWN = 0,
    LAPI_CREATE_FUNCTION,               /* POST /2015-03-31/functions */
    LAPI_LIST_FUNCTIONS,                /* GET /2015-03-31/functions */
    LAPI_GET_FUNCTION,                  /* GET /2015-03-31/functions/{F} */
    LAPI_DELETE_FUNCTION,               /* DELETE /2015-03-31/functions/{F} */
    LAPI_GET_FUNCTION_CONFIGURATION,    /* GET .../{F}/configuration */
    LAPI_UPDATE_FUNCTION_CONFIGURATION, /* PUT .../{F}/configuration */
    LAPI_UPDATE_FUNCTION_CODE,          /* PUT .../{F}/code */
    LAPI_PUBLISH_VERSION,               /* POST .../{F}/versions */
    LAPI_LIST_VERSIONS,                 /* GET .../{F}/versions */
    LAPI_INVOKE,                        /* POST .../{F}/invocations */
    LAPI_PUT_CONCURRENCY,               /* PUT /2017-10-31/functions/{F}/concurrency */
    LAPI_DELETE_CONCURRENCY,            /* DELETE /2017-10-31/functions/{F}/concurrency */
    LAPI_GET_CONCURRENCY,               /* GET /2019-09-30/functions/{F}/concurrency */
    LAPI_TAG_RESOURCE,                  /* POST /2017-03-31/tags/{ARN} */
    LAPI_UNTAG_RESOURCE,                /* DELETE /2017-03-31/tags/{ARN} */
    LAPI_LIST_TAGS,                     /* GET /2017-03-31/tags/{ARN} */
    LAPI_METRICS,                       /* GET /metrics (not AWS: Prometheus text) */
    LAPI_PUBLISH_LAYER_VERSION,         /* POST /2018-10-31/layers/{L}/versions */
    LAPI_GET_LAYER_VERSION,             /* GET /2018-10-31/layers/{L}/versions/{N} */
    LAPI_CREATE_ALIAS,                  /* POST .../{F}/aliases */
    LAPI_LIST_ALIASES,                  /* GET .../{F}/aliases */
    LAPI_GET_ALIAS,                     /* GET .../{F}/aliases/{Name} */
    LAPI_UPDATE_ALIAS,                  /* PUT .../{F}/aliases/{Name} */
    LAPI_DELETE_ALIAS,                  /* DELETE .../{F}/aliases/{Name} */
    LAPI_GET_CODE, /* GET /_fakecloud/lambda/code/{F}/{Q}.zip (not AWS: GetFunction's Code.Location)
                    */
} lapi_op;

#define LAPI_NAME_MAX 256

/* A request's operation and the {FunctionName} or {Resource} of its path (URL-decoded). */
typedef struct lapi_route {
    lapi_op op;
    char target[LAPI_NAME_MAX + 1];
    bool method_not_allowed; /* the path exists, the method does not */
    unsigned long version;   /* LAPI_GET_LAYER_VERSION: {N} */
    char qualifier[129];     /* LAPI_GET_CODE: {Q}; the alias operations: {Name} */
} lapi_route;

/*
 * Route METHOD and PATH (without the query; libmicrohttpd has already
 * percent-decoded it). Returns 0, or -1 when the path is not the API's
 * (route->op LAPI_UNKNOWN) or its name is longer than LAPI_NAME_MAX.
 */
int lapi_route_parse(const char *method, const char *path, lapi_route *route);

/* Where GetFunction's Code.Location points (followed by NAME "/" VERSION ".zip"). */
#define LAPI_CODE_PREFIX "/_fakecloud/lambda/code/"

/*
 * Split a FunctionName as the API takes it: "name", "name:qualifier",
 * "arn:aws:lambda:REGION:ACCOUNT:function:name[:qualifier]" or
 * "ACCOUNT:function:name[:qualifier]". NAME gets the name; QUALIFIER
 * (may stay "") the qualifier. Returns 0, or -1 with `why` naming the
 * problem (a name not [A-Za-z0-9_-]{1,64}, a qualifier not $LATEST or
 * [A-Za-z0-9_-]{1,128}).
 */
int lapi_function_name_split(const char *text, char name[65], char qualifier[129], char *why,
                             size_t why_size);

/*
 * The error document botocore parses: {"Type": "User", "message": MESSAGE}
 * (plus "Reason" when REASON is not NULL), malloc'd; the type goes in the
 * X-Amzn-ErrorType header. NULL without memory.
 */
char *lapi_error_body(const char *type, const char *message, const char *reason);

/* Base64 of DATA, malloc'd and NUL-terminated; NULL without memory. */
char *lapi_base64_encode(const void *data, size_t len);

/*
 * Decode standard base64 (padding required, whitespace refused). Returns 0
 * with a malloc'd *out (*out_len bytes), or -1 with `why` saying at which
 * byte the text stops being base64.
 */
int lapi_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len,
                       char *why, size_t why_size);

/*
 * X-Amz-Function-Error for a runtime's answer: FROM_RUNTIME when the runtime
 * (or the backend) set it; else "Unhandled" for an error envelope (a JSON
 * object with "errorMessage" and "errorType", what the runtime interface
 * answers for an exception or "Task timed out"), a plain-text "Task timed out
 * after N seconds" answer (within its first 64 bytes), or a non-2xx status; else
 * NULL (a success).
 */
const char *lapi_function_error(long http_status, const char *body, size_t len,
                                const char *from_runtime);

/*
 * The "Init Duration: X ms" of the last REPORT line in LOG (LEN bytes; the
 * RIE writes it on an instance's first invocation), in milliseconds; -1
 * when there is none.
 */
double lapi_report_init_ms(const char *log, size_t len);

#endif
