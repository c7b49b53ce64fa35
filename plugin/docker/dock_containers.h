/*
 * dock_containers: typed verbs on the Engine API's /containers resource.
 *
 * The only place in plugin/docker that knows container URL paths and the
 * JSON of the engine's answers; the lifecycle (dock_backend.c) calls these
 * and reads C structs. Each verb is one Engine call (start: a few, see
 * there) over dock_engine; errors name the container and carry the
 * engine's message. Thread-safe (dock_engine calls are).
 *
 * TIMEOUT_MS bounds the whole call (0 = the verb's default); cancellable
 * verbs also end promptly with FCB_ERR_CANCELLED once the engine's cancel
 * flag is set (backend closing).
 */
#ifndef FCB_DOCK_CONTAINERS_H
#define FCB_DOCK_CONTAINERS_H

#include "dock_engine.h"

#include <stdbool.h>
#include <stdint.h>

/* Engine container ids are 64 hex digits; DOCK_NAME_MAX holds one or a name. */
#define DOCK_ID_MAX DOCK_NAME_MAX

/*
 * POST /containers/create?name=NAME[&platform=PLATFORM] with BODY
 * (dock_spec_create_body); PLATFORM ("linux/arm64", API >= 1.41, NULL =
 * the engine's own) makes the engine use that variant of the image.
 * Not cancellable: an aborted create may still create the container and we
 * would not know its id. On success ID gets the engine's id. On failure
 * *MAYBE_CREATED says whether the container may exist anyway (no answer,
 * or a 201 without a readable Id): the caller removes it by NAME.
 * FCB_ERR_START_FAILED when the engine answers 404 (image gone).
 */
int dock_container_create(dock_engine *engine, const char *name, const char *platform,
                          const char *body, uint32_t timeout_ms, char id[DOCK_ID_MAX],
                          bool *maybe_created, fcb_error *err);

/*
 * PUT /containers/ID/archive?path=/ of a tar (code and layers). Cancellable,
 * also by CANCEL (a host's token, may be NULL) within ~100 ms; default 300 s.
 */
int dock_container_archive_put(dock_engine *engine, const char *id, const void *tar, size_t len,
                               uint32_t timeout_ms, const fcb_cancel *cancel, fcb_error *err);

/*
 * POST /containers/ID/start (204 and 304 are success). dockerd picks the
 * ephemeral host port from its own bookkeeping; when another process holds
 * it docker-proxy fails to bind ("address already in use") and starting
 * again picks the next port: up to 5 attempts. Cancellable.
 * FCB_ERR_START_FAILED with the engine's message otherwise.
 */
int dock_container_start(dock_engine *engine, const char *id, uint32_t timeout_ms, fcb_error *err);

/* What the readiness loop needs from GET /containers/ID/json. */
typedef struct dock_container_state {
    bool running;
    char status[32]; /* "created", "running", "exited", ... */
    long exit_code;
    char error[256];    /* State.Error */
    unsigned host_port; /* host port published for the RIE port (IPv4 preferred), 0 = none */
} dock_container_state;

/* GET /containers/ID/json. Cancellable. 404 is FCB_ERR_START_FAILED (it vanished). */
int dock_container_inspect(dock_engine *engine, const char *id, dock_container_state *st,
                           fcb_error *err);

/*
 * Whether container ID (an id or a name) carries our managed-by label, by
 * one inspect. FCB_OK with *gone true when it does not exist, FCB_OK with
 * the engine's full id in FULL_ID when it is ours, FCB_ERR_NOT_FOUND when it
 * exists but is not ours (another manager's or no label), or the engine
 * error. Cancellable.
 */
int dock_container_owned(dock_engine *engine, const char *id, bool *gone, char full_id[DOCK_ID_MAX],
                         fcb_error *err);

/*
 * The last log lines of ID (stdout and stderr, at most MAX_BYTES of text)
 * as one line "a | b | c" into OUT (SIZE bytes); "" when unavailable.
 * Best effort, never fails, bounded to 5 s.
 */
void dock_container_logs_tail(dock_engine *engine, const char *id, size_t max_bytes, char *out,
                              size_t size);

/* DELETE /containers/ID?force=1&v=1; 404 and "removal already in progress" are success. */
int dock_container_remove(dock_engine *engine, const char *id, bool cancellable, fcb_error *err);

/* Created of a listed container when the answer has none. */
#define DOCK_CREATED_UNKNOWN INT64_MIN

/* One listed container: engine id, instance label ("" when none), Created (s, engine clock). */
typedef int (*dock_list_fn)(void *ctx, const char *id, const char *instance, int64_t created_s);

/*
 * GET /containers/json?all=1 filtered by our managed-by label (checked again
 * on each answer), calling EACH(CTX, id, instance, created) for at most MAX
 * containers; a non-zero return from EACH stops and is returned.
 * Cancellable.
 */
int dock_container_list_managed(dock_engine *engine, size_t max, dock_list_fn each, void *ctx,
                                fcb_error *err);

/* What status(), invoke() and a launch's platform check need from one inspect. */
typedef struct dock_container_life {
    bool gone;       /* 404, or not carrying our managed-by label */
    bool foreign;    /* gone because it exists without our managed-by label */
    char status[32]; /* State.Status: "created", "running", "exited", ... */
    long exit_code;
    bool oom_killed;
    char error[200];         /* State.Error */
    unsigned host_port;      /* host port published for the RIE port, 0 = none */
    uint32_t timeout_s;      /* AWS_LAMBDA_FUNCTION_TIMEOUT of its Config.Env, 0 = unset */
    char image[DOCK_ID_MAX]; /* Image: the id of the image it was created from */
} dock_container_life;

/*
 * GET /containers/ID/json: a container that does not exist or lacks our
 * managed-by label is LIFE->gone (never an error). Cancellable.
 */
int dock_container_life_get(dock_engine *engine, const char *id, dock_container_life *life,
                            fcb_error *err);

/* What GET /containers/ID/logs sends (stdout and stderr, no timestamps). */
typedef struct dock_logs_query {
    uint32_t tail_lines;   /* 0 = all */
    int64_t since_unix_ms; /* 0 = from the start */
    bool follow;
    uint32_t timeout_ms;  /* whole call */
    dock_data_fn on_data; /* the raw (multiplexed) stream, in pieces */
    void *data_ctx;
    int (*stop)(void *ctx); /* polled every <= 100 ms; non-zero cancels */
    void *stop_ctx;
} dock_logs_query;

/*
 * Stream ID's logs to Q->on_data. FCB_OK when the stream ended or on_data
 * stopped it; FCB_ERR_NOT_FOUND on 404; FCB_ERR_CANCELLED on stop or close.
 */
int dock_container_logs_stream(dock_engine *engine, const char *id, const dock_logs_query *q,
                               fcb_error *err);

#endif
