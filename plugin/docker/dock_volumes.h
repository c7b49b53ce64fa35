/*
 * dock_volumes: typed verbs on the Engine API's /volumes resource.
 *
 * The docker backend's lease (docs/leases.md, "Docker") is one labelled
 * local volume per renewal; these verbs are the only place in plugin/docker
 * that knows volume URL paths and the JSON of their answers. Each verb is
 * one Engine call over dock_engine; errors name the volume and carry the
 * engine's message. Thread-safe (dock_engine calls are).
 *
 * TIMEOUT_MS bounds the call (0 = the Engine default, 30 s). CANCELLABLE
 * calls end promptly with FCB_ERR_CANCELLED once the engine's cancel flag
 * is set (backend closing); close() itself deletes with cancellable false.
 */
#ifndef FCB_DOCK_VOLUMES_H
#define FCB_DOCK_VOLUMES_H

#include "dock_engine.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One label of a volume to create. */
typedef struct dock_label {
    const char *key;
    const char *value;
} dock_label;

/*
 * POST /volumes/create {"Name": NAME, "Driver": "local", "Labels": LABELS}.
 * The engine answers an existing volume of that name as if it had created
 * it; the answer's labels are therefore compared with LABELS, and a volume
 * that carries other labels is FCB_ERR_BACKEND ("volume NAME already exists
 * with other labels"), never taken over. On a transport failure
 * (FCB_ERR_UNAVAILABLE, FCB_ERR_TIMEOUT, FCB_ERR_CANCELLED) the volume may
 * exist anyway.
 */
int dock_volume_create(dock_engine *engine, const char *name, const dock_label *labels,
                       size_t n_labels, uint32_t timeout_ms, bool cancellable, fcb_error *err);

/* DELETE /volumes/NAME; 404 (already gone) is success. */
int dock_volume_delete(dock_engine *engine, const char *name, uint32_t timeout_ms, bool cancellable,
                       fcb_error *err);

/* One listed volume; every pointer is valid during the callback only. */
typedef struct dock_volume_info {
    const char *name;
    const char *created_at; /* CreatedAt as the engine wrote it (RFC 3339), or NULL */
    const void *labels_;    /* private: read with dock_volume_label */
} dock_volume_info;

/* The value of label KEY of V, or NULL. */
const char *dock_volume_label(const dock_volume_info *v, const char *key);

/*
 * GET /volumes?filters={"label":[LABEL_FILTER]} ("key" or "key=value"),
 * calling EACH(CTX, volume) for at most MAX volumes; a non-zero return from
 * EACH stops and is returned. *DATE_US (may be NULL) gets the engine's clock
 * from the answer's Date header, or LEASE-style "unknown" INT64_MIN.
 */
int dock_volume_list(dock_engine *engine, const char *label_filter, size_t max,
                     int (*each)(void *ctx, const dock_volume_info *v), void *ctx, int64_t *date_us,
                     uint32_t timeout_ms, bool cancellable, fcb_error *err);

#endif
