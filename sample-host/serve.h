/*
 * serve: `fakecloud-lambda-host serve`, the Lambda REST API over HTTP
 * (libmicrohttpd, a thread per connection) in front of one backend, with a
 * warm pool (pool.h) and the functions in a lambda_store.
 *
 * serve.c owns the daemon, the routing and the lifecycle (start, SIGINT or
 * SIGTERM, graceful stop: every instance terminated); serve_invoke.c runs
 * Invoke (RequestResponse, Event with retries, DryRun) and keeps the
 * figures GET /metrics prints.
 */
#ifndef FCB_HOST_SERVE_H
#define FCB_HOST_SERVE_H

#include "lambda_store.h"
#include "pool.h"
#include "run.h"

#include <microhttpd.h>

#include <pthread.h>
#include <stdatomic.h>

/* Largest request body: a 50 MB zip in base64 and the JSON around it. */
#define SERVE_BODY_MAX ((size_t)70 * 1024 * 1024)
/* Largest Invoke payload (Lambda's synchronous limit). */
#define SERVE_PAYLOAD_MAX ((size_t)6 * 1024 * 1024)
/* Event invocations queued or running at once; more are refused (429). */
#define SERVE_EVENTS_MAX 1000

typedef struct serve_metrics serve_metrics;

typedef struct serve {
    run *r;
    lambda_store *store;
    pool *pool;
    struct MHD_Daemon *daemon;
    char url[96];         /* http://ADDR:PORT once listening */
    long wait_ms;         /* FAKECLOUD_LAMBDA_WAIT_MS */
    long event_retry_ms;  /* FAKECLOUD_LAMBDA_EVENT_RETRY_MS */
    pthread_mutex_t lock; /* events, metrics */
    pthread_cond_t events_done;
    unsigned events;   /* Event invocations in flight */
    unsigned requests; /* HTTP requests from their first byte to their answer sent */
    bool stopping;     /* serve_events_drain began: retries are not waited for */
    serve_metrics *metrics;
} serve;

/* One answer: status, JSON or raw body, and the headers Lambda adds. */
typedef struct serve_answer {
    unsigned status;
    char *body; /* malloc'd; NULL = empty */
    size_t body_len;
    const char *content_type;
    const char *error_type; /* X-Amzn-ErrorType */
    char function_error[64];
    char executed_version[16];
    char *log_result; /* X-Amz-Log-Result, malloc'd */
} serve_answer;

/* Fill A with AWS error TYPE (status STATUS), MESSAGE and REASON (may be NULL). */
void serve_answer_error(serve_answer *a, unsigned status, const char *type, const char *message,
                        const char *reason);

/* The request the handlers see. */
typedef struct serve_call {
    struct MHD_Connection *conn;
    const char *target;    /* {FunctionName}, {Resource} or {LayerName} */
    unsigned long version; /* GetLayerVersion's {VersionNumber} */
    const char *qualifier; /* the code location's {Q} */
    const char *body;
    size_t body_len;
} serve_call;

/* serve_invoke.c */
int serve_metrics_new(serve_metrics **out);
void serve_metrics_free(serve_metrics *m);
void serve_invoke(serve *sv, const serve_call *c, serve_answer *a);
void serve_metrics_text(serve *sv, serve_answer *a);
/* Wait for the Event invocations in flight (they end fast once the pool shuts down). */
void serve_events_drain(serve *sv);

/* commands: `serve` (serve.c) */
int cmd_serve(run *r);

#endif
