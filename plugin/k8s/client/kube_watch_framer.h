/*
 * kube_watch_framer: split a Kubernetes watch stream into events.
 *
 * A watch response is a stream of JSON objects ({"type":..,"object":..}),
 * newline-delimited, arriving in arbitrary chunks: an event may be split
 * across reads and one read may carry many events. The framer feeds the
 * bytes, one line at a time, to an incremental strict json_tokener and
 * hands out every complete event (events must be newline-delimited, as every
 * API server sends them; strict JSON so the result never depends on where
 * the stream was split), without copying the stream. An event is handed out
 * when its line ends: a complete object followed by anything but blanks on
 * the same line is an error, whichever read the garbage arrives in. Each event is bounded in size
 * (a hostile server cannot make it buffer without limit). Pure (no I/O): fuzzable. One framer per
 * stream; not thread-safe.
 */
#ifndef FCB_KUBE_WATCH_FRAMER_H
#define FCB_KUBE_WATCH_FRAMER_H

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

#include <stddef.h>

typedef struct kube_watch_framer kube_watch_framer;

/*
 * Called for each complete event; EVENT is borrowed for the call
 * (json_object_get to keep it). Return 0 to continue; any other value stops
 * feeding and is returned by kube_watch_framer_feed.
 */
typedef int (*kube_watch_framer_fn)(void *ctx, json_object *event);

/* New framer accepting events up to MAX_EVENT_BYTES. NULL when out of memory. */
kube_watch_framer *kube_watch_framer_new(const fcb_host_services *host, size_t max_event_bytes);
void kube_watch_framer_free(kube_watch_framer *framer);
/* Drop any partial event (a new stream starts). */
void kube_watch_framer_reset(kube_watch_framer *framer);

/*
 * Feed LEN bytes. Returns FCB_OK; the callback's non-zero value; or
 * FCB_ERR_BACKEND with err saying "watch stream: invalid JSON at byte N",
 * "... event larger than N bytes" or "... event is not an object". After an
 * error the framer must be reset before reuse.
 */
int kube_watch_framer_feed(kube_watch_framer *framer, const char *data, size_t len,
                           kube_watch_framer_fn fn, void *ctx, fcb_error *err);

/* Bytes of the current partial event (0 between events, whitespace aside). */
size_t kube_watch_framer_pending(const kube_watch_framer *framer);

/* One decoded event; pointers borrowed from the event object. */
typedef struct kube_watch_event {
    const char *type;             /* ADDED MODIFIED DELETED BOOKMARK ERROR */
    json_object *object;          /* the object (a Status for ERROR) */
    const char *resource_version; /* object.metadata.resourceVersion or NULL */
    long error_code;              /* Status.code of an ERROR event, else 0 */
} kube_watch_event;

/* Decode EVENT; FCB_ERR_BACKEND when type or object is missing. */
int kube_watch_event_decode(json_object *event, kube_watch_event *out, fcb_error *err);

#endif
