/*
 * logstream: Docker's multiplexed attach/logs stream, decoded incrementally,
 * and a bounded tail of a log (the last N bytes, optionally the last N lines)
 * for `LogType=Tail` answers (Lambda returns the last 4 KiB of an invocation's
 * log).
 *
 * Docker frames a non-TTY container's output: an 8-byte header (stream type
 * 0 stdin, 1 stdout, 2 stderr; three zero bytes; the payload length as a
 * big-endian uint32) followed by the payload. The decoder takes the stream in
 * chunks split anywhere (inside a header or a payload) and hands each piece of
 * payload to a sink as it arrives, so a frame may reach the sink in several
 * calls; the concatenation of what one stream receives never depends on the
 * chunking. A frame longer than the decoder's cap, a stream type other than
 * 0/1/2 or non-zero padding is an error (the stream is not multiplexed, e.g.
 * a TTY container, or is corrupt); the decoder then stays failed until reset.
 *
 * Pure logic: no allocation, no I/O. Thread safety: none; a decoder or tail
 * belongs to one thread at a time.
 */
#ifndef FCB_PLUGIN_LOGSTREAM_H
#define FCB_PLUGIN_LOGSTREAM_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGSTREAM_HEADER_SIZE 8
/* A sensible cap: dockerd writes frames of at most 32 KiB (its copy buffer). */
#define LOGSTREAM_FRAME_MAX_DEFAULT (1u << 20)
/* Lambda's LogType=Tail: the last 4 KiB of the log. */
#define LOGTAIL_LAMBDA_BYTES 4096

typedef enum logstream_kind {
    LOGSTREAM_STDIN = 0,
    LOGSTREAM_STDOUT = 1,
    LOGSTREAM_STDERR = 2,
} logstream_kind;

/*
 * Receives `len` (> 0) payload bytes of `stream`. Return 0 to go on, anything
 * else to stop: logstream_decoder_feed then returns FCB_ERR_CANCELLED.
 */
typedef int (*logstream_sink)(void *ctx, logstream_kind stream, const char *data, size_t len);

typedef struct logstream_decoder {
    uint32_t max_frame;                    /* payload cap of one frame */
    uint8_t header[LOGSTREAM_HEADER_SIZE]; /* header bytes gathered so far */
    size_t header_len;
    uint32_t remaining; /* payload bytes of the current frame still to come */
    logstream_kind kind;
    int failed;      /* FCB_OK or the error code that stopped the decoder */
    uint64_t offset; /* stream bytes consumed (error messages name it) */
    uint64_t frames; /* complete frames decoded (counters for metrics/tests) */
    uint64_t payload_bytes;
} logstream_decoder;

/* Ready to decode a stream from its first byte; max_frame 0 = the default. */
void logstream_decoder_init(logstream_decoder *d, uint32_t max_frame);

/*
 * Decode `len` more bytes (data may be NULL when len is 0). Returns FCB_OK, or
 * FCB_ERR_BACKEND with a message naming the offset and the problem (bad
 * stream type, non-zero padding, frame over the cap), or FCB_ERR_CANCELLED
 * when the sink stopped. After an error every later feed returns the same code.
 */
int logstream_decoder_feed(logstream_decoder *d, const void *data, size_t len, logstream_sink sink,
                           void *ctx, fcb_error *err);

/*
 * The stream ended: FCB_OK when it ended on a frame boundary, FCB_ERR_BACKEND
 * ("truncated") when inside a header or a payload, or the earlier error.
 */
int logstream_decoder_finish(const logstream_decoder *d, fcb_error *err);

/*
 * The last `cap` bytes written to a log, in caller-owned storage. Append any
 * bytes (a sink can append each piece it receives); read the tail with
 * logtail_copy. No allocation; never fails.
 */
typedef struct logtail {
    char *buf; /* caller's storage, cap bytes */
    size_t cap;
    size_t start;   /* index of the oldest byte kept */
    size_t len;     /* bytes kept (<= cap) */
    uint64_t total; /* bytes ever appended */
} logtail;

void logtail_init(logtail *t, char *storage, size_t cap);
void logtail_append(logtail *t, const void *data, size_t len);

/*
 * Copy the tail into out (NUL-terminated, at most out_size - 1 bytes): the kept
 * bytes, restricted to the last max_lines lines when max_lines > 0 (a final
 * newline ends the last line, it does not start another). When older bytes
 * were dropped, the partial UTF-8 sequence at the cut is skipped so the copy
 * stays valid UTF-8 when the log was. When out is too small the newest bytes
 * win. Returns the length copied.
 */
size_t logtail_copy(const logtail *t, size_t max_lines, char *out, size_t out_size);

#endif
