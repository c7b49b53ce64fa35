/* kube_watch_framer: incremental json_tokener over a chunked byte stream. */
#include "kube_watch_framer.h"

#include "jsonx.h"
#include "svc.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

/* Kubernetes objects nest deeper than json-c's default 32 (managedFields). */
#define FRAMER_MAX_DEPTH 128

struct kube_watch_framer {
    const fcb_host_services *host;
    json_tokener *tok;
    size_t max_event_bytes;
    size_t pending;    /* bytes fed since the last complete event */
    size_t offset;     /* bytes fed in total (for messages) */
    json_object *held; /* a complete event whose line has not ended yet */
};

kube_watch_framer *kube_watch_framer_new(const fcb_host_services *host, size_t max_event_bytes)
{
    kube_watch_framer *f = svc_calloc(host, 1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->host = host;
    f->max_event_bytes = max_event_bytes;
    f->tok = json_tokener_new_ex(FRAMER_MAX_DEPTH);
    if (f->tok == NULL) {
        svc_free(host, f);
        return NULL;
    }
    /* Strict: the lenient parser accepts comments and other non-JSON, which
     * makes the events found depend on where the stream was split. Trailing
     * characters after an event are allowed: they start the next event (and
     * fail there if they are not JSON), whether or not they arrived in the
     * same chunk, so the events delivered never depend on the split. */
    json_tokener_set_flags(f->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
    return f;
}

void kube_watch_framer_free(kube_watch_framer *framer)
{
    if (framer == NULL)
        return;
    json_tokener_free(framer->tok);
    json_object_put(framer->held);
    svc_free(framer->host, framer);
}

void kube_watch_framer_reset(kube_watch_framer *framer)
{
    json_tokener_reset(framer->tok);
    json_object_put(framer->held);
    framer->held = NULL;
    framer->pending = 0;
    framer->offset = 0;
}

size_t kube_watch_framer_pending(const kube_watch_framer *framer)
{
    return framer->pending;
}

static bool only_whitespace(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
            return false;
    return true;
}

/* The unread part of a fed buffer. */
typedef struct feed_input {
    const char *data;
    size_t len;
} feed_input;

static void input_skip(kube_watch_framer *framer, feed_input *in, size_t n)
{
    framer->offset += n;
    in->data += n;
    in->len -= n;
}

/*
 * An event is delivered only once the rest of its line is blank, so the
 * events found never depend on where the stream was split (the strict
 * tokener refuses trailing garbage when it sees it in the same buffer; here
 * it may arrive in a later read). Consumes up to the newline; the held
 * event stays held when the input ends first.
 */
static int feed_held(kube_watch_framer *framer, feed_input *in, kube_watch_framer_fn fn, void *ctx,
                     fcb_error *err)
{
    size_t i = 0;
    while (i < in->len && in->data[i] != '\n' && only_whitespace(in->data + i, 1))
        i++;
    if (i < in->len && in->data[i] != '\n') {
        json_object_put(framer->held);
        framer->held = NULL;
        return err_set(err, FCB_ERR_BACKEND,
                       "watch stream: unexpected data after the event at byte %zu",
                       framer->offset + i);
    }
    input_skip(framer, in, i);
    if (in->len == 0)
        return FCB_OK;
    input_skip(framer, in, 1); /* the newline */
    json_object *event = framer->held;
    framer->held = NULL;
    int rc = fn(ctx, event);
    json_object_put(event);
    return rc;
}

/* How much of the input to hand the tokener: at most one line and the room left. */
static size_t parse_chunk(const kube_watch_framer *framer, const feed_input *in)
{
    size_t room = framer->max_event_bytes - framer->pending;
    size_t chunk = in->len < room ? in->len : room;
    /* Events are newline-delimited and strict JSON has no raw newline
     * inside a value: hand the tokener at most one line at a time, so
     * strict mode never sees the next event as trailing garbage. */
    const char *nl = memchr(in->data, '\n', chunk);
    if (nl != NULL)
        chunk = (size_t)(nl - in->data) + 1;
    return chunk > INT_MAX ? INT_MAX : chunk;
}

/* Feed the tokener one chunk; deliver or hold a completed event. */
static int feed_parse(kube_watch_framer *framer, feed_input *in, kube_watch_framer_fn fn, void *ctx,
                      fcb_error *err)
{
    size_t chunk = parse_chunk(framer, in);
    if (chunk == 0)
        return err_set(err, FCB_ERR_BACKEND, "watch stream: event larger than %zu bytes",
                       framer->max_event_bytes);
    json_object *event = json_tokener_parse_ex(framer->tok, in->data, (int)chunk);
    enum json_tokener_error jerr = json_tokener_get_error(framer->tok);
    if (event == NULL && jerr == json_tokener_continue) {
        framer->pending += chunk;
        input_skip(framer, in, chunk);
        if (framer->pending >= framer->max_event_bytes && in->len > 0)
            return err_set(err, FCB_ERR_BACKEND, "watch stream: event larger than %zu bytes",
                           framer->max_event_bytes);
        return FCB_OK;
    }
    if (jerr != json_tokener_success) {
        size_t at = framer->offset + json_tokener_get_parse_end(framer->tok);
        return err_set(err, FCB_ERR_BACKEND, "watch stream: invalid JSON at byte %zu: %s", at,
                       json_tokener_error_desc(jerr));
    }
    size_t used = json_tokener_get_parse_end(framer->tok);
    if (used == 0 || used > chunk)
        used = chunk;
    bool line_ended = memchr(in->data, '\n', used) != NULL;
    input_skip(framer, in, used);
    framer->pending = 0;
    json_tokener_reset(framer->tok);
    if (event == NULL || !json_object_is_type(event, json_type_object)) {
        json_object_put(event);
        return err_set(err, FCB_ERR_BACKEND, "watch stream: event at byte %zu is not a JSON object",
                       framer->offset);
    }
    if (!line_ended) {
        framer->held = event; /* delivered when its line ends */
        return FCB_OK;
    }
    int rc = fn(ctx, event);
    json_object_put(event);
    return rc;
}

int kube_watch_framer_feed(kube_watch_framer *framer, const char *data, size_t len,
                           kube_watch_framer_fn fn, void *ctx, fcb_error *err)
{
    feed_input in = {.data = data, .len = len};
    /* Bounded: each round consumes at least one byte or returns. */
    while (in.len > 0) {
        int rc;
        if (framer->held != NULL) {
            rc = feed_held(framer, &in, fn, ctx, err);
        } else {
            /* Whitespace between events is not part of any event. */
            if (framer->pending == 0) {
                size_t skip = 0;
                while (skip < in.len && only_whitespace(in.data + skip, 1))
                    skip++;
                input_skip(framer, &in, skip);
                if (in.len == 0)
                    break;
            }
            rc = feed_parse(framer, &in, fn, ctx, err);
        }
        if (rc != 0)
            return rc;
    }
    return FCB_OK;
}

int kube_watch_event_decode(json_object *event, kube_watch_event *out, fcb_error *err)
{
    memset(out, 0, sizeof *out);
    out->type = jsonx_get_string(event, "type");
    out->object = jsonx_get(event, "object");
    if (out->type == NULL || out->object == NULL ||
        !json_object_is_type(out->object, json_type_object))
        return err_set(err, FCB_ERR_BACKEND, "watch stream: event without %s",
                       out->type == NULL ? "type" : "object");
    out->resource_version = jsonx_get_string(out->object, "metadata.resourceVersion");
    if (strcmp(out->type, "ERROR") == 0) {
        int64_t code = 0;
        if (jsonx_get_int(out->object, "code", &code))
            out->error_code = (long)code;
    }
    return FCB_OK;
}
