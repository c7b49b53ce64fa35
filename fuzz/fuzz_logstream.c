/*
 * fuzz_logstream: property test of plugin/common/logstream.c (and the REPORT
 * line parser of rie_report.c over what it decodes).
 *
 * The input is a Docker multiplexed log stream. It is fed once in one piece
 * and once in chunks whose sizes come from the input itself (1..64 bytes).
 * Properties:
 *   - both feeds end with the same result and the same finish result, and
 *     give each stream the same bytes (whatever the piece boundaries);
 *   - an error leaves a clean fcb_error; the decoder's byte counter matches
 *     what the sink received; no frame over the cap is passed through;
 *   - a 64-byte tail of stdout fed piecewise equals the one fed whole, and is
 *     a suffix of stdout (with and without a line limit);
 *   - every stdout line either parses as a REPORT line, is "not found", or
 *     fails with a clean message; a parsed one has a NUL-terminated id.
 */
#include "fuzz_common.h"
#include "fuzz_targets.h"

#include <logstream.h>
#include <rie_report.h>

#include <string.h>

#define FRAME_CAP 4096
#define TAIL_CAP  64

typedef struct collected {
    uint8_t *bytes[3];
    size_t len[3];
    size_t cap;
    size_t calls;
    char tail_storage[TAIL_CAP];
    logtail tail;
} collected;

static int collect(void *ctx, logstream_kind stream, const char *data, size_t len)
{
    collected *c = ctx;
    FUZZ_REQUIRE((unsigned)stream <= 2, "stream %d", (int)stream);
    FUZZ_REQUIRE(len > 0 && len <= FRAME_CAP, "piece of %zu bytes", len);
    FUZZ_REQUIRE(c->len[stream] + len <= c->cap, "more payload than input");
    memcpy(c->bytes[stream] + c->len[stream], data, len);
    c->len[stream] += len;
    if (stream == LOGSTREAM_STDOUT)
        logtail_append(&c->tail, data, len);
    c->calls++;
    return 0;
}

static void collected_init(collected *c, size_t cap)
{
    memset(c, 0, sizeof *c);
    c->cap = cap;
    for (int i = 0; i < 3; i++) {
        c->bytes[i] = malloc(cap + 1);
        if (c->bytes[i] == NULL)
            abort();
    }
    logtail_init(&c->tail, c->tail_storage, sizeof c->tail_storage);
}

static void collected_free(collected *c)
{
    for (int i = 0; i < 3; i++)
        free(c->bytes[i]);
}

static int feed(logstream_decoder *d, const uint8_t *data, size_t size, uint32_t seed, collected *c,
                fcb_error *err)
{
    size_t off = 0;
    uint32_t step = seed;
    while (off < size) {
        size_t n = fuzz_next_chunk(&step, size - off);
        int rc = logstream_decoder_feed(d, data + off, n, collect, c, err);
        if (rc != FCB_OK)
            return rc;
        off += n;
    }
    return FCB_OK;
}

static void check_tail(const collected *c, size_t max_lines)
{
    char out[TAIL_CAP + 1];
    size_t n = logtail_copy(&c->tail, max_lines, out, sizeof out);
    const uint8_t *all = c->bytes[LOGSTREAM_STDOUT];
    size_t len = c->len[LOGSTREAM_STDOUT];
    FUZZ_REQUIRE(n <= TAIL_CAP && n <= len, "tail of %zu bytes from %zu", n, len);
    FUZZ_REQUIRE(memcmp(out, all + (len - n), n) == 0, "tail is not a suffix of stdout");
    FUZZ_REQUIRE(out[n] == '\0', "tail not terminated");
}

static void check_reports(const collected *c)
{
    const char *p = (const char *)c->bytes[LOGSTREAM_STDOUT];
    size_t len = c->len[LOGSTREAM_STDOUT];
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - p) + 1 : len;
        rie_report r;
        fcb_error err = FCB_ERROR_INIT;
        int rc = rie_report_parse(p, n, &r, &err);
        if (rc == FCB_OK)
            FUZZ_REQUIRE(r.has_duration && memchr(r.request_id, '\0', sizeof r.request_id),
                         "parsed REPORT without duration or id");
        else
            FUZZ_REQUIRE(err.code == rc && err.message[0] != '\0' && r.request_id[0] == '\0',
                         "unclean REPORT error");
        p += n;
        len -= n;
    }
}

int fuzz_logstream(const uint8_t *data, size_t size)
{
    collected whole, chunked;
    collected_init(&whole, size);
    collected_init(&chunked, size);
    logstream_decoder d1, d2;
    logstream_decoder_init(&d1, FRAME_CAP);
    logstream_decoder_init(&d2, FRAME_CAP);
    fcb_error e1 = FCB_ERROR_INIT, e2 = FCB_ERROR_INIT, f1 = FCB_ERROR_INIT, f2 = FCB_ERROR_INIT;
    int rc1 = feed(&d1, data, size, 0, &whole, &e1);
    uint32_t seed = 1;
    for (size_t i = 0; i < size && i < 8; i++)
        seed = seed * 31u + data[i];
    int rc2 = feed(&d2, data, size, seed | 1u, &chunked, &e2);
    FUZZ_REQUIRE(rc1 == rc2, "whole -> %d (%s), chunked -> %d (%s)", rc1, e1.message, rc2,
                 e2.message);
    if (rc1 != FCB_OK)
        FUZZ_REQUIRE(e1.code == rc1 && e1.message[0] != '\0' && strcmp(e1.message, e2.message) == 0,
                     "unclean or chunking-dependent error: %s / %s", e1.message, e2.message);
    int fin1 = logstream_decoder_finish(&d1, &f1), fin2 = logstream_decoder_finish(&d2, &f2);
    FUZZ_REQUIRE(fin1 == fin2, "finish %d vs %d", fin1, fin2);
    size_t sum = 0;
    for (int s = 0; s < 3; s++) {
        FUZZ_REQUIRE(whole.len[s] == chunked.len[s] &&
                         memcmp(whole.bytes[s], chunked.bytes[s], whole.len[s]) == 0,
                     "stream %d differs with chunking", s);
        sum += whole.len[s];
    }
    FUZZ_REQUIRE(sum == d1.payload_bytes && d1.payload_bytes == d2.payload_bytes,
                 "payload counter %llu vs %zu", (unsigned long long)d1.payload_bytes, sum);
    FUZZ_REQUIRE(d1.frames == d2.frames, "frame counts differ");
    check_tail(&whole, 0);
    check_tail(&chunked, 0);
    check_tail(&chunked, 2);
    char t1[TAIL_CAP + 1], t2[TAIL_CAP + 1];
    logtail_copy(&whole.tail, 3, t1, sizeof t1);
    logtail_copy(&chunked.tail, 3, t2, sizeof t2);
    FUZZ_REQUIRE(strcmp(t1, t2) == 0, "tails differ with chunking");
    check_reports(&whole);
    collected_free(&whole);
    collected_free(&chunked);
    return 0;
}
