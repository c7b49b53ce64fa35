/*
 * logstream: a two-state machine (gathering a header / passing a payload
 * through) over arbitrary chunks, and a byte ring for the tail.
 */
#include "logstream.h"

#include "svc.h"

#include <string.h>

void logstream_decoder_init(logstream_decoder *d, uint32_t max_frame)
{
    memset(d, 0, sizeof *d);
    d->max_frame = max_frame != 0 ? max_frame : LOGSTREAM_FRAME_MAX_DEFAULT;
}

/* Validate a complete header; start its frame. */
static int header_take(logstream_decoder *d, uint64_t offset, fcb_error *err)
{
    const uint8_t *h = d->header;
    if (h[0] > LOGSTREAM_STDERR)
        return err_set(err, FCB_ERR_BACKEND,
                       "log stream: frame header at byte %llu has stream type %u (expected 0, "
                       "1 or 2; is the container a TTY?)",
                       (unsigned long long)offset, (unsigned)h[0]);
    if (h[1] != 0 || h[2] != 0 || h[3] != 0)
        return err_set(err, FCB_ERR_BACKEND,
                       "log stream: frame header at byte %llu has non-zero padding",
                       (unsigned long long)offset);
    uint32_t n = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
    if (n > d->max_frame)
        return err_set(err, FCB_ERR_BACKEND,
                       "log stream: frame at byte %llu has %u bytes, over the limit of %u",
                       (unsigned long long)offset, n, d->max_frame);
    d->kind = (logstream_kind)h[0];
    d->remaining = n;
    d->header_len = 0;
    if (n == 0)
        d->frames++;
    return FCB_OK;
}

int logstream_decoder_feed(logstream_decoder *d, const void *data, size_t len, logstream_sink sink,
                           void *ctx, fcb_error *err)
{
    if (d->failed != FCB_OK)
        return err_set(err, d->failed, "log stream: decoder already failed");
    const uint8_t *p = data;
    size_t i = 0;
    while (i < len) {
        if (d->remaining == 0) {
            size_t want = LOGSTREAM_HEADER_SIZE - d->header_len;
            size_t n = len - i < want ? len - i : want;
            memcpy(d->header + d->header_len, p + i, n);
            d->header_len += n;
            d->offset += n;
            i += n;
            if (d->header_len < LOGSTREAM_HEADER_SIZE)
                break;
            int rc = header_take(d, d->offset - LOGSTREAM_HEADER_SIZE, err);
            if (rc != FCB_OK) {
                d->failed = rc;
                return rc;
            }
            continue;
        }
        size_t n = len - i < d->remaining ? len - i : d->remaining;
        d->remaining -= (uint32_t)n;
        d->payload_bytes += n;
        d->offset += n;
        if (d->remaining == 0)
            d->frames++;
        int stop = sink != NULL ? sink(ctx, d->kind, (const char *)p + i, n) : 0;
        i += n;
        if (stop != 0) {
            d->failed = FCB_ERR_CANCELLED;
            return err_set(err, FCB_ERR_CANCELLED, "log stream: stopped by the consumer");
        }
    }
    return FCB_OK;
}

int logstream_decoder_finish(const logstream_decoder *d, fcb_error *err)
{
    if (d->failed != FCB_OK)
        return err_set(err, d->failed, "log stream: decoder already failed");
    if (d->header_len != 0)
        return err_set(err, FCB_ERR_BACKEND,
                       "log stream: truncated inside a frame header (%zu of 8 bytes)",
                       d->header_len);
    if (d->remaining != 0)
        return err_set(err, FCB_ERR_BACKEND,
                       "log stream: truncated inside a frame (%u payload bytes missing)",
                       d->remaining);
    return FCB_OK;
}

void logtail_init(logtail *t, char *storage, size_t cap)
{
    memset(t, 0, sizeof *t);
    t->buf = storage;
    t->cap = storage != NULL ? cap : 0;
}

void logtail_append(logtail *t, const void *data, size_t len)
{
    const char *p = data;
    t->total += len;
    if (t->cap == 0 || len == 0)
        return;
    if (len >= t->cap) {
        memcpy(t->buf, p + (len - t->cap), t->cap);
        t->start = 0;
        t->len = t->cap;
        return;
    }
    /* write [end, end + len) modulo cap, overwriting the oldest bytes if full */
    size_t end = (t->start + t->len) % t->cap;
    size_t first = len < t->cap - end ? len : t->cap - end;
    memcpy(t->buf + end, p, first);
    memcpy(t->buf, p + first, len - first);
    size_t kept = t->len + len;
    if (kept > t->cap) {
        t->start = (t->start + (kept - t->cap)) % t->cap;
        kept = t->cap;
    }
    t->len = kept;
}

static char tail_at(const logtail *t, size_t i)
{
    return t->buf[(t->start + i) % t->cap];
}

static bool utf8_continuation(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

size_t logtail_copy(const logtail *t, size_t max_lines, char *out, size_t out_size)
{
    if (out == NULL || out_size == 0)
        return 0;
    size_t from = 0; /* first kept index to copy */
    bool cut = t->total > t->len;
    if (max_lines > 0 && t->len > 0) {
        size_t lines = 0;
        size_t i = t->len - 1; /* a final newline ends the last line */
        while (i > 0) {
            if (tail_at(t, i - 1) == '\n' && ++lines == max_lines) {
                from = i;
                cut = true;
                break;
            }
            i--;
        }
    }
    if (t->len - from > out_size - 1) {
        from = t->len - (out_size - 1);
        cut = true;
    }
    if (cut && from > 0 && tail_at(t, from - 1) == '\n')
        cut = false; /* the copy starts on a line boundary: nothing partial */
    while (cut && from < t->len && utf8_continuation(tail_at(t, from)))
        from++;
    size_t n = 0;
    for (size_t i = from; i < t->len; i++)
        out[n++] = tail_at(t, i);
    out[n] = '\0';
    return n;
}
