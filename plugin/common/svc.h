/*
 * svc: the host's services as seen from inside a plugin.
 *
 * Thin, NULL-safe wrappers over fcb_host_services (allocator, logger, config
 * getter), the error helper every plugin function uses to fill a caller's
 * fcb_error, and a growable string buffer on the host allocator. Every
 * allocation a plugin makes goes through these so the host can count it.
 * All functions are thread-safe as long as the host's callbacks are.
 */
#ifndef FCB_PLUGIN_SVC_H
#define FCB_PLUGIN_SVC_H

#include <fakecloud/backend_plugin.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__)
#define SVC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
/* The compiler checks the variadic list ends in a NULL pointer (glibc's NULL
 * is a pointer, so the sentinel is well-defined). */
#define SVC_SENTINEL __attribute__((sentinel))
#else
#define SVC_PRINTF(fmt, args)
#define SVC_SENTINEL
#endif

/*
 * The check every backend_plugin_init starts with: HOST is non-NULL, of this
 * ABI major, large enough to hold every service of ABI 1.0, and has an
 * allocator, a logger and a config getter. Returns FCB_OK, or
 * FCB_ERR_UNSUPPORTED with err saying "<plugin> backend: ..." what is wrong.
 */
int svc_check_host(const fcb_host_services *host, const char *plugin, fcb_error *err);

/* Allocation through the host. Each returns NULL on failure. */
void *svc_alloc(const fcb_host_services *host, size_t size);
/* Zeroed array of count*size bytes; NULL on failure or overflow. */
void *svc_calloc(const fcb_host_services *host, size_t count, size_t size);
void *svc_realloc(const fcb_host_services *host, void *ptr, size_t size);
void svc_free(const fcb_host_services *host, void *ptr);
/* Copies of strings; caller frees with svc_free. NULL in -> NULL out. */
char *svc_strdup(const fcb_host_services *host, const char *s);
char *svc_strndup(const fcb_host_services *host, const char *s, size_t n);
char *svc_memdup(const fcb_host_services *host, const void *p, size_t n);
/* printf into a new string; caller frees with svc_free. */
char *svc_sprintf(const fcb_host_services *host, const char *fmt, ...) SVC_PRINTF(2, 3);
char *svc_vsprintf(const fcb_host_services *host, const char *fmt, va_list ap);

/*
 * Configuration value of KEY, or NULL when unset. Empty values count as set
 * (callers decide); svc_config_nonempty treats "" as unset. The string is
 * the host's: never freed or modified.
 */
const char *svc_config(const fcb_host_services *host, const char *key);
const char *svc_config_nonempty(const fcb_host_services *host, const char *key);

/*
 * Structured log line. Variadic part: key, value, key, value, ..., NULL
 * (at most 16 pairs; a NULL value is logged as "(null)"). Never pass
 * secrets. `plugin` is the plugin's short name.
 */
void svc_log(const fcb_host_services *host, fcb_log_level level, const char *plugin,
             const char *message, ...) SVC_SENTINEL;
bool svc_log_enabled(const fcb_host_services *host, fcb_log_level level);

/*
 * Fill *err (may be NULL) with CODE and a formatted message; returns CODE so
 * callers can `return err_set(err, FCB_ERR_CONFIG, "...")`.
 */
int err_set(fcb_error *err, int code, const char *fmt, ...) SVC_PRINTF(3, 4);
/* Prepend "prefix: " to err->message (keeps err->code); returns err->code. */
int err_prefix(fcb_error *err, const char *fmt, ...) SVC_PRINTF(2, 3);

/*
 * Growable NUL-terminated byte buffer on the host allocator. After a failed
 * append the buffer is marked failed, later appends are no-ops and
 * sbuf_failed() is true; check once at the end. Never holds more than
 * `limit` bytes when limit > 0 (exceeding it fails the buffer).
 */
typedef struct sbuf {
    const fcb_host_services *host;
    char *data;
    size_t len;
    size_t cap;
    size_t limit;
    bool failed;
} sbuf;

void sbuf_init(sbuf *b, const fcb_host_services *host, size_t limit);
bool sbuf_append(sbuf *b, const void *data, size_t len);
bool sbuf_puts(sbuf *b, const char *s);
bool sbuf_printf(sbuf *b, const char *fmt, ...) SVC_PRINTF(2, 3);
bool sbuf_failed(const sbuf *b);
/* Take ownership of the data (never NULL unless failed); buffer resets. */
char *sbuf_steal(sbuf *b, size_t *len);
void sbuf_free(sbuf *b);

#endif
