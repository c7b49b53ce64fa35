/* mock_host: counting, failing allocator; capturing logger; table config. */
#include "mock_host.h"

#include <execinfo.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOCK_MAGIC 0x6d6f636b686f7374ull /* "mockhost" */

#define MOCK_TRACE_FRAMES 10

/*
 * Header in front of every block (a multiple of 16 bytes keeps malloc's
 * alignment). Live blocks are linked so a test can list what a plugin still
 * holds; with MOCK_HOST_TRACE=1 each also records where it was allocated.
 */
typedef struct block_header {
    uint64_t magic;
    uint64_t size;
    uint64_t generation;
    struct block_header *prev;
    struct block_header *next;
    void *frames[MOCK_TRACE_FRAMES];
    int n_frames;
    int pad;
} block_header;

_Static_assert(sizeof(block_header) % 16 == 0, "block header keeps 16-byte alignment");

typedef struct config_entry {
    char *key;
    char *value; /* NULL = unset */
    struct config_entry *next;
} config_entry;

typedef struct retired_value {
    char *value;
    struct retired_value *next;
} retired_value;

struct mock_host {
    fcb_host_services services;
    pthread_mutex_t lock;
    size_t calls;
    size_t fail_at;
    size_t fail_from;
    size_t failed;
    size_t outstanding_bytes;
    size_t outstanding_blocks;
    size_t peak_bytes;
    size_t total_allocs;
    config_entry *config;
    retired_value *retired;
    char **lines;
    size_t n_lines;
    size_t cap_lines;
    fcb_log_level min_level;
    bool echo;
    bool trace;
    uint64_t generation; /* bumped by mock_host_mark */
    block_header live;   /* sentinel of the list of live blocks */
    bool cancel_fired;
    size_t cancel_polls;
    size_t cancel_after; /* 0 = never by itself */
};

/* Under lock. */
static void block_link(mock_host *mh, block_header *h)
{
    h->generation = mh->generation;
    h->prev = &mh->live;
    h->next = mh->live.next;
    mh->live.next->prev = h;
    mh->live.next = h;
}

static void block_unlink(block_header *h)
{
    h->prev->next = h->next;
    h->next->prev = h->prev;
}

static bool should_fail_locked(mock_host *mh)
{
    mh->calls++;
    if ((mh->fail_at != 0 && mh->calls == mh->fail_at) ||
        (mh->fail_from != 0 && mh->calls >= mh->fail_from)) {
        mh->failed++;
        return true;
    }
    return false;
}

static void *mock_alloc(void *ctx, size_t size)
{
    mock_host *mh = ctx;
    pthread_mutex_lock(&mh->lock);
    bool fail = should_fail_locked(mh);
    pthread_mutex_unlock(&mh->lock);
    if (fail || size > SIZE_MAX - sizeof(block_header))
        return NULL;
    block_header *h = malloc(sizeof *h + size);
    if (h == NULL)
        return NULL;
    h->magic = MOCK_MAGIC;
    h->size = size;
    h->n_frames = mh->trace ? backtrace(h->frames, MOCK_TRACE_FRAMES) : 0;
    pthread_mutex_lock(&mh->lock);
    block_link(mh, h);
    mh->outstanding_bytes += size;
    mh->outstanding_blocks++;
    mh->total_allocs++;
    if (mh->outstanding_bytes > mh->peak_bytes)
        mh->peak_bytes = mh->outstanding_bytes;
    pthread_mutex_unlock(&mh->lock);
    return h + 1;
}

static block_header *header_of(void *ptr)
{
    block_header *h = (block_header *)ptr - 1;
    if (h->magic != MOCK_MAGIC) {
        fprintf(stderr, "mock_host: free/realloc of a pointer it did not allocate: %p\n", ptr);
        abort();
    }
    return h;
}

static void mock_free(void *ctx, void *ptr)
{
    mock_host *mh = ctx;
    if (ptr == NULL)
        return;
    block_header *h = header_of(ptr);
    pthread_mutex_lock(&mh->lock);
    block_unlink(h);
    mh->outstanding_bytes -= h->size;
    mh->outstanding_blocks--;
    pthread_mutex_unlock(&mh->lock);
    h->magic = 0;
    free(h);
}

static void *mock_realloc(void *ctx, void *ptr, size_t size)
{
    mock_host *mh = ctx;
    if (ptr == NULL)
        return mock_alloc(ctx, size);
    block_header *h = header_of(ptr);
    size_t old = h->size;
    if (size > old) {
        pthread_mutex_lock(&mh->lock);
        bool fail = should_fail_locked(mh);
        pthread_mutex_unlock(&mh->lock);
        if (fail)
            return NULL;
    }
    if (size > SIZE_MAX - sizeof(block_header))
        return NULL;
    /* The list holds the old address: unlink while realloc may move it. */
    uint64_t generation = h->generation;
    pthread_mutex_lock(&mh->lock);
    block_unlink(h);
    block_header *n = realloc(h, sizeof *n + size);
    if (n == NULL) {
        block_link(mh, h);
        h->generation = generation;
        pthread_mutex_unlock(&mh->lock);
        return NULL;
    }
    n->size = size;
    block_link(mh, n);
    n->generation = generation;
    mh->outstanding_bytes = mh->outstanding_bytes - old + size;
    if (mh->outstanding_bytes > mh->peak_bytes)
        mh->peak_bytes = mh->outstanding_bytes;
    pthread_mutex_unlock(&mh->lock);
    return n + 1;
}

static const char *level_name(fcb_log_level level)
{
    switch (level) {
    case FCB_LOG_TRACE: return "TRACE";
    case FCB_LOG_DEBUG: return "DEBUG";
    case FCB_LOG_INFO: return "INFO";
    case FCB_LOG_WARN: return "WARN";
    case FCB_LOG_ERROR: return "ERROR";
    }
    return "?";
}

static int mock_log_enabled(void *ctx, fcb_log_level level)
{
    mock_host *mh = ctx;
    return level >= mh->min_level;
}

static void mock_log(void *ctx, fcb_log_level level, const char *plugin, const char *message,
                     const fcb_log_field *fields, size_t n_fields)
{
    mock_host *mh = ctx;
    if (level < mh->min_level)
        return;
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (f == NULL)
        return;
    fprintf(f, "%s %s: %s", level_name(level), plugin ? plugin : "?", message ? message : "");
    for (size_t i = 0; i < n_fields; i++)
        fprintf(f, " %s=%s", fields[i].key, fields[i].value);
    fclose(f);
    if (mh->echo)
        fprintf(stderr, "[mock] %s\n", line);
    pthread_mutex_lock(&mh->lock);
    if (mh->n_lines == mh->cap_lines) {
        size_t cap = mh->cap_lines ? mh->cap_lines * 2 : 64;
        char **p = realloc(mh->lines, cap * sizeof *p);
        if (p == NULL) {
            pthread_mutex_unlock(&mh->lock);
            free(line);
            return;
        }
        mh->lines = p;
        mh->cap_lines = cap;
    }
    mh->lines[mh->n_lines++] = line;
    pthread_mutex_unlock(&mh->lock);
}

static const char *mock_config_get(void *ctx, const char *key)
{
    mock_host *mh = ctx;
    const char *value = NULL;
    pthread_mutex_lock(&mh->lock);
    for (config_entry *e = mh->config; e != NULL; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            value = e->value;
            break;
        }
    }
    pthread_mutex_unlock(&mh->lock);
    return value;
}

mock_host *mock_host_new(void)
{
    mock_host *mh = calloc(1, sizeof *mh);
    if (mh == NULL)
        abort();
    pthread_mutex_init(&mh->lock, NULL);
    mh->services.size = sizeof mh->services;
    mh->services.abi_major = FCB_ABI_MAJOR;
    mh->services.abi_minor = FCB_ABI_MINOR;
    mh->services.alloc_ctx = mh;
    mh->services.alloc = mock_alloc;
    mh->services.realloc = mock_realloc;
    mh->services.free = mock_free;
    mh->services.log_ctx = mh;
    mh->services.log = mock_log;
    mh->services.log_enabled = mock_log_enabled;
    mh->services.config_ctx = mh;
    mh->services.config_get = mock_config_get;
    const char *echo = getenv("MOCK_HOST_ECHO");
    mh->echo = echo != NULL && echo[0] == '1';
    const char *trace = getenv("MOCK_HOST_TRACE");
    mh->trace = trace != NULL && trace[0] == '1';
    mh->live.next = mh->live.prev = &mh->live;
    return mh;
}

void mock_host_free(mock_host *mh)
{
    if (mh == NULL)
        return;
    for (config_entry *e = mh->config, *next; e != NULL; e = next) {
        next = e->next;
        free(e->key);
        free(e->value);
        free(e);
    }
    for (retired_value *r = mh->retired, *next; r != NULL; r = next) {
        next = r->next;
        free(r->value);
        free(r);
    }
    for (size_t i = 0; i < mh->n_lines; i++)
        free(mh->lines[i]);
    free(mh->lines);
    pthread_mutex_destroy(&mh->lock);
    free(mh);
}

const fcb_host_services *mock_host_services(mock_host *mh)
{
    return &mh->services;
}

void mock_host_set_config(mock_host *mh, const char *key, const char *value)
{
    char *copy = value ? strdup(value) : NULL;
    pthread_mutex_lock(&mh->lock);
    config_entry *e = mh->config;
    while (e != NULL && strcmp(e->key, key) != 0)
        e = e->next;
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        if (e == NULL)
            abort();
        e->key = strdup(key);
        e->next = mh->config;
        mh->config = e;
    } else if (e->value != NULL) {
        /* The plugin may still hold the old string: keep it alive. */
        retired_value *r = calloc(1, sizeof *r);
        if (r == NULL)
            abort();
        r->value = e->value;
        r->next = mh->retired;
        mh->retired = r;
    }
    e->value = copy;
    pthread_mutex_unlock(&mh->lock);
}

void mock_host_fail_alloc(mock_host *mh, size_t n)
{
    pthread_mutex_lock(&mh->lock);
    mh->fail_at = n;
    mh->fail_from = 0;
    mh->calls = 0;
    pthread_mutex_unlock(&mh->lock);
}

void mock_host_fail_alloc_from(mock_host *mh, size_t n)
{
    pthread_mutex_lock(&mh->lock);
    mh->fail_from = n;
    mh->fail_at = 0;
    mh->calls = 0;
    pthread_mutex_unlock(&mh->lock);
}

#define MOCK_GETTER(name, field)         \
    size_t name(mock_host *mh)           \
    {                                    \
        pthread_mutex_lock(&mh->lock);   \
        size_t v = mh->field;            \
        pthread_mutex_unlock(&mh->lock); \
        return v;                        \
    }

MOCK_GETTER(mock_host_alloc_calls, calls)
MOCK_GETTER(mock_host_failed_allocs, failed)
MOCK_GETTER(mock_host_outstanding_bytes, outstanding_bytes)
MOCK_GETTER(mock_host_outstanding_blocks, outstanding_blocks)
MOCK_GETTER(mock_host_peak_bytes, peak_bytes)
MOCK_GETTER(mock_host_total_allocs, total_allocs)
MOCK_GETTER(mock_host_log_lines, n_lines)

bool mock_host_log_contains(mock_host *mh, const char *needle)
{
    bool found = false;
    pthread_mutex_lock(&mh->lock);
    for (size_t i = 0; i < mh->n_lines && !found; i++)
        found = strstr(mh->lines[i], needle) != NULL;
    pthread_mutex_unlock(&mh->lock);
    return found;
}

char *mock_host_log_text(mock_host *mh)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        abort();
    pthread_mutex_lock(&mh->lock);
    for (size_t i = 0; i < mh->n_lines; i++)
        fprintf(f, "%s\n", mh->lines[i]);
    pthread_mutex_unlock(&mh->lock);
    fclose(f);
    return text;
}

void mock_host_log_clear(mock_host *mh)
{
    pthread_mutex_lock(&mh->lock);
    for (size_t i = 0; i < mh->n_lines; i++)
        free(mh->lines[i]);
    mh->n_lines = 0;
    pthread_mutex_unlock(&mh->lock);
}

void mock_host_mark(mock_host *mh)
{
    pthread_mutex_lock(&mh->lock);
    mh->generation++;
    pthread_mutex_unlock(&mh->lock);
}

size_t mock_host_dump_since_mark(mock_host *mh, FILE *out)
{
    size_t n = 0;
    pthread_mutex_lock(&mh->lock);
    for (block_header *h = mh->live.next; h != &mh->live; h = h->next) {
        if (h->generation != mh->generation)
            continue;
        n++;
        fprintf(out, "mock_host: block of %llu bytes allocated since the mark%s\n",
                (unsigned long long)h->size,
                h->n_frames > 0 ? ", at:" : " (set MOCK_HOST_TRACE=1 for where)");
        fflush(out);
        if (h->n_frames > 0)
            backtrace_symbols_fd(h->frames, h->n_frames, fileno(out));
    }
    pthread_mutex_unlock(&mh->lock);
    return n;
}

void mock_host_set_log_level(mock_host *mh, fcb_log_level level)
{
    mh->min_level = level;
}

static int cancel_poll(void *ctx)
{
    mock_host *mh = ctx;
    pthread_mutex_lock(&mh->lock);
    mh->cancel_polls++;
    if (mh->cancel_after != 0 && mh->cancel_polls >= mh->cancel_after)
        mh->cancel_fired = true;
    bool fired = mh->cancel_fired;
    pthread_mutex_unlock(&mh->lock);
    return fired;
}

fcb_cancel mock_host_cancel(mock_host *mh)
{
    return (fcb_cancel){mh, cancel_poll};
}

void mock_host_cancel_fire(mock_host *mh)
{
    pthread_mutex_lock(&mh->lock);
    mh->cancel_fired = true;
    pthread_mutex_unlock(&mh->lock);
}

void mock_host_cancel_after(mock_host *mh, size_t after_polls)
{
    pthread_mutex_lock(&mh->lock);
    mh->cancel_after = after_polls;
    pthread_mutex_unlock(&mh->lock);
}

void mock_host_cancel_reset(mock_host *mh)
{
    pthread_mutex_lock(&mh->lock);
    mh->cancel_fired = false;
    mh->cancel_polls = 0;
    mh->cancel_after = 0;
    pthread_mutex_unlock(&mh->lock);
}

size_t mock_host_cancel_polls(mock_host *mh)
{
    pthread_mutex_lock(&mh->lock);
    size_t n = mh->cancel_polls;
    pthread_mutex_unlock(&mh->lock);
    return n;
}
