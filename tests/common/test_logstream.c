/* Unit tests of plugin/common/logstream: Docker's multiplexed stream decoder, the log tail. */
#include "logstream.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

typedef struct got {
    char out[4096], err[4096], in[64];
    size_t n_out, n_err, n_in, calls;
    size_t stop_after; /* stop on this call (1-based), 0 = never */
} got;

static int sink(void *ctx, logstream_kind stream, const char *data, size_t len)
{
    got *g = ctx;
    char *dst = stream == LOGSTREAM_STDOUT ? g->out : stream == LOGSTREAM_STDERR ? g->err : g->in;
    size_t *n = stream == LOGSTREAM_STDOUT   ? &g->n_out
                : stream == LOGSTREAM_STDERR ? &g->n_err
                                             : &g->n_in;
    size_t cap = stream == LOGSTREAM_STDIN ? sizeof g->in : sizeof g->out;
    cr_assert(len > 0, "the sink never gets empty pieces");
    cr_assert(*n + len < cap);
    memcpy(dst + *n, data, len);
    *n += len;
    dst[*n] = '\0';
    return ++g->calls == g->stop_after;
}

/* Append one frame to buf at *len. */
static void frame(unsigned char *buf, size_t *len, unsigned kind, const char *payload)
{
    size_t n = strlen(payload);
    unsigned char h[8] = {(unsigned char)kind,
                          0,
                          0,
                          0,
                          (unsigned char)(n >> 24),
                          (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8),
                          (unsigned char)n};
    memcpy(buf + *len, h, 8);
    memcpy(buf + *len + 8, payload, n);
    *len += 8 + n;
}

static size_t sample(unsigned char *buf)
{
    size_t len = 0;
    frame(buf, &len, 1, "START RequestId: 1\n");
    frame(buf, &len, 2, "warning: x\n");
    frame(buf, &len, 1, "");
    frame(buf, &len, 1, "END RequestId: 1\n");
    frame(buf, &len, 0, "in");
    return len;
}

Test(logstream_decoder, splits_stdout_stderr_whatever_the_chunking)
{
    unsigned char buf[256];
    size_t len = sample(buf);
    for (size_t chunk = 1; chunk <= len; chunk++) {
        logstream_decoder d;
        logstream_decoder_init(&d, 0);
        got g = {0};
        fcb_error err = FCB_ERROR_INIT;
        for (size_t off = 0; off < len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            cr_assert_eq(logstream_decoder_feed(&d, buf + off, n, sink, &g, &err), FCB_OK,
                         "chunk %zu: %s", chunk, err.message);
        }
        cr_assert_eq(logstream_decoder_finish(&d, &err), FCB_OK, "%s", err.message);
        cr_assert_str_eq(g.out, "START RequestId: 1\nEND RequestId: 1\n", "chunk %zu", chunk);
        cr_assert_str_eq(g.err, "warning: x\n");
        cr_assert_str_eq(g.in, "in");
        cr_assert_eq(d.frames, 5);
        cr_assert_eq(d.payload_bytes,
                     strlen("START RequestId: 1\nwarning: x\nEND RequestId: 1\nin"));
    }
}

Test(logstream_decoder, refuses_bad_stream_type_padding_and_oversize_frames)
{
    static const struct {
        unsigned char h[8];
        const char *want;
    } cases[] = {
        {{3, 0, 0, 0, 0, 0, 0, 1}, "frame header at byte 0 has stream type 3"},
        {{'{', '"', 'a', '"', 0, 0, 0, 1},
         "has stream type 123 (expected 0, 1 or 2; is the container a TTY?)"},
        {{1, 0, 1, 0, 0, 0, 0, 1}, "frame header at byte 0 has non-zero padding"},
        {{1, 0, 0, 0, 0, 0, 0x10, 1}, "frame at byte 0 has 4097 bytes, over the limit of 4096"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        logstream_decoder d;
        logstream_decoder_init(&d, 4096);
        got g = {0};
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(logstream_decoder_feed(&d, cases[i].h, 8, sink, &g, &err), FCB_ERR_BACKEND);
        cr_assert(strstr(err.message, cases[i].want) != NULL, "%zu: %s", i, err.message);
        /* stays failed */
        fcb_error again = FCB_ERROR_INIT;
        cr_assert_eq(logstream_decoder_feed(&d, "x", 1, sink, &g, &again), FCB_ERR_BACKEND);
        cr_assert_eq(logstream_decoder_finish(&d, &again), FCB_ERR_BACKEND);
        cr_assert_eq(g.calls, 0);
    }
}

Test(logstream_decoder, names_the_offset_of_a_bad_later_frame)
{
    unsigned char buf[64];
    size_t len = 0;
    frame(buf, &len, 1, "ok\n");
    memcpy(buf + len, "\x07\0\0\0\0\0\0\0", 8);
    logstream_decoder d;
    logstream_decoder_init(&d, 0);
    got g = {0};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(logstream_decoder_feed(&d, buf, len + 8, sink, &g, &err), FCB_ERR_BACKEND);
    cr_assert(strstr(err.message, "at byte 11 has stream type 7") != NULL, "%s", err.message);
    cr_assert_str_eq(g.out, "ok\n");
}

Test(logstream_decoder, reports_truncation_at_the_end)
{
    unsigned char buf[64];
    size_t len = 0;
    frame(buf, &len, 1, "hello");
    logstream_decoder d;
    fcb_error err = FCB_ERROR_INIT;
    logstream_decoder_init(&d, 0);
    cr_assert_eq(logstream_decoder_feed(&d, buf, 3, sink, &(got){0}, &err), FCB_OK);
    cr_assert_eq(logstream_decoder_finish(&d, &err), FCB_ERR_BACKEND);
    cr_assert_str_eq(err.message, "log stream: truncated inside a frame header (3 of 8 bytes)");
    logstream_decoder_init(&d, 0);
    cr_assert_eq(logstream_decoder_feed(&d, buf, len - 2, sink, &(got){0}, &err), FCB_OK);
    cr_assert_eq(logstream_decoder_finish(&d, &err), FCB_ERR_BACKEND);
    cr_assert_str_eq(err.message, "log stream: truncated inside a frame (2 payload bytes missing)");
    logstream_decoder_init(&d, 0);
    cr_assert_eq(logstream_decoder_finish(&d, &err), FCB_OK, "an empty stream is complete");
}

Test(logstream_decoder, a_sink_can_stop_the_stream)
{
    unsigned char buf[256];
    size_t len = sample(buf);
    logstream_decoder d;
    logstream_decoder_init(&d, 0);
    got g = {.stop_after = 2};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(logstream_decoder_feed(&d, buf, len, sink, &g, &err), FCB_ERR_CANCELLED);
    cr_assert_str_eq(err.message, "log stream: stopped by the consumer");
    cr_assert_eq(g.calls, 2);
    cr_assert_eq(logstream_decoder_feed(&d, buf, len, sink, &g, &err), FCB_ERR_CANCELLED);
    cr_assert_eq(g.calls, 2, "nothing more after a stop");
}

/* ------------------------------------------------------------ tail */

static void tail_of(const char *const *pieces, size_t cap, size_t lines, const char *want)
{
    char storage[64], out[64];
    logtail t;
    logtail_init(&t, storage, cap);
    size_t total = 0;
    for (size_t i = 0; pieces[i] != NULL; i++) {
        logtail_append(&t, pieces[i], strlen(pieces[i]));
        total += strlen(pieces[i]);
    }
    cr_assert_eq(t.total, total);
    size_t n = logtail_copy(&t, lines, out, sizeof out);
    cr_assert_str_eq(out, want, "cap %zu lines %zu", cap, lines);
    cr_assert_eq(n, strlen(want));
}

Test(logtail, keeps_the_last_bytes_and_lines)
{
    static const char *const one[] = {"a\nbb\nccc\n", NULL};
    static const char *const many[] = {"a\n", "bb", "\n", "ccc\n", "dd", NULL};
    static const char *const big[] = {"0123456789", "abcdefghijklmnopqrstuvwxyz\nend\n", NULL};
    tail_of(one, 64, 0, "a\nbb\nccc\n");
    tail_of(one, 64, 1, "ccc\n");
    tail_of(one, 64, 2, "bb\nccc\n");
    tail_of(one, 64, 3, "a\nbb\nccc\n");
    tail_of(one, 64, 9, "a\nbb\nccc\n");
    tail_of(many, 64, 1, "dd");
    tail_of(many, 64, 2, "ccc\ndd");
    tail_of(many, 8, 0, "b\nccc\ndd");
    tail_of(many, 5, 0, "cc\ndd");
    tail_of(big, 8, 0, "xyz\nend\n");
    tail_of(big, 6, 0, "z\nend\n");
    tail_of(big, 12, 1, "end\n");
    tail_of(big, 64, 1, "end\n");
}

Test(logtail, wraps_across_many_small_appends)
{
    char storage[7], out[16];
    logtail t;
    logtail_init(&t, storage, sizeof storage);
    char want[7];
    for (int i = 0; i < 100; i++) {
        char c = (char)('a' + i % 26);
        logtail_append(&t, &c, 1);
        if (i >= 6) {
            for (int k = 0; k < 7; k++)
                want[k] = (char)('a' + (i - 6 + k) % 26);
            cr_assert_eq(logtail_copy(&t, 0, out, sizeof out), 7);
            cr_assert(memcmp(out, want, 7) == 0);
        }
    }
}

Test(logtail, never_starts_inside_a_utf8_sequence_it_cut)
{
    char storage[5], out[16];
    logtail t;
    logtail_init(&t, storage, 4);
    logtail_append(&t, "x\xc3\xa9\xe2\x82\xac", 6); /* x é € : cut inside é */
    cr_assert_eq(logtail_copy(&t, 0, out, sizeof out), 3);
    cr_assert_str_eq(out, "\xe2\x82\xac");
    /* a too small output keeps the newest bytes, whole characters */
    logtail_init(&t, storage, sizeof storage);
    logtail_append(&t, "\xc3\xa9\xe2\x82\xac", 5);
    cr_assert_eq(logtail_copy(&t, 0, out, 3), 0, "half of € is not copied");
    cr_assert_str_eq(out, "");
    cr_assert_eq(logtail_copy(&t, 0, out, 4), 3);
    cr_assert_str_eq(out, "\xe2\x82\xac");
}

Test(logtail, lambda_tail_is_the_last_4_kib)
{
    static char storage[LOGTAIL_LAMBDA_BYTES], out[LOGTAIL_LAMBDA_BYTES + 1];
    logtail t;
    logtail_init(&t, storage, sizeof storage);
    char line[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(line, sizeof line, "line %04d\n", i);
        logtail_append(&t, line, (size_t)n);
    }
    size_t n = logtail_copy(&t, 0, out, sizeof out);
    cr_assert_eq(n, LOGTAIL_LAMBDA_BYTES);
    cr_assert(strcmp(out + n - 10, "line 0999\n") == 0);
    cr_assert_eq(logtail_copy(&t, 0, NULL, 0), 0);
}
