/* svc: host-service wrappers, error filling and string buffers. */
#include "svc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int svc_check_host(const fcb_host_services *host, const char *plugin, fcb_error *err)
{
    if (host == NULL)
        return err_set(err, FCB_ERR_UNSUPPORTED, "%s backend: host services are NULL", plugin);
    if (host->abi_major != FCB_ABI_MAJOR)
        return err_set(err, FCB_ERR_UNSUPPORTED, "%s backend: host ABI major %u, plugin needs %d",
                       plugin, (unsigned)host->abi_major, FCB_ABI_MAJOR);
    if (host->size < offsetof(fcb_host_services, config_get) + sizeof host->config_get)
        return err_set(err, FCB_ERR_UNSUPPORTED,
                       "%s backend: host services table too small (%u bytes)", plugin,
                       (unsigned)host->size);
    if (host->alloc == NULL || host->realloc == NULL || host->free == NULL || host->log == NULL ||
        host->config_get == NULL)
        return err_set(err, FCB_ERR_UNSUPPORTED,
                       "%s backend: the host services lack an allocator, a logger or a config "
                       "getter",
                       plugin);
    return FCB_OK;
}

void *svc_alloc(const fcb_host_services *host, size_t size)
{
    return host->alloc(host->alloc_ctx, size == 0 ? 1 : size);
}

void *svc_calloc(const fcb_host_services *host, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    void *p = svc_alloc(host, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

void *svc_realloc(const fcb_host_services *host, void *ptr, size_t size)
{
    return host->realloc(host->alloc_ctx, ptr, size == 0 ? 1 : size);
}

void svc_free(const fcb_host_services *host, void *ptr)
{
    if (ptr != NULL)
        host->free(host->alloc_ctx, ptr);
}

char *svc_memdup(const fcb_host_services *host, const void *p, size_t n)
{
    char *copy = svc_alloc(host, n + 1);
    if (copy == NULL)
        return NULL;
    if (n > 0)
        memcpy(copy, p, n);
    copy[n] = '\0';
    return copy;
}

char *svc_strdup(const fcb_host_services *host, const char *s)
{
    return s == NULL ? NULL : svc_memdup(host, s, strlen(s));
}

char *svc_strndup(const fcb_host_services *host, const char *s, size_t n)
{
    return s == NULL ? NULL : svc_memdup(host, s, strnlen(s, n));
}

char *svc_vsprintf(const fcb_host_services *host, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return NULL;
    char *s = svc_alloc(host, (size_t)n + 1);
    if (s == NULL)
        return NULL;
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *svc_sprintf(const fcb_host_services *host, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = svc_vsprintf(host, fmt, ap);
    va_end(ap);
    return s;
}

const char *svc_config(const fcb_host_services *host, const char *key)
{
    if (host->config_get == NULL)
        return NULL;
    return host->config_get(host->config_ctx, key);
}

const char *svc_config_nonempty(const fcb_host_services *host, const char *key)
{
    const char *v = svc_config(host, key);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

bool svc_log_enabled(const fcb_host_services *host, fcb_log_level level)
{
    if (host->log == NULL)
        return false;
    if (host->log_enabled == NULL)
        return true;
    return host->log_enabled(host->log_ctx, level) != 0;
}

#define SVC_LOG_MAX_FIELDS 16

void svc_log(const fcb_host_services *host, fcb_log_level level, const char *plugin,
             const char *message, ...)
{
    if (!svc_log_enabled(host, level))
        return;
    fcb_log_field fields[SVC_LOG_MAX_FIELDS];
    size_t n = 0;
    va_list ap;
    va_start(ap, message);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *value = va_arg(ap, const char *);
        if (n < SVC_LOG_MAX_FIELDS) {
            fields[n].key = key;
            fields[n].value = value != NULL ? value : "(null)";
            n++;
        }
    }
    va_end(ap);
    host->log(host->log_ctx, level, plugin, message, n > 0 ? fields : NULL, n);
}

int err_set(fcb_error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

int err_prefix(fcb_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return FCB_ERR_INTERNAL;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->message];
    memcpy(old, err->message, sizeof old);
    snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
    return err->code;
}

void sbuf_init(sbuf *b, const fcb_host_services *host, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->host = host;
    b->limit = limit;
}

bool sbuf_append(sbuf *b, const void *data, size_t len)
{
    if (b->failed)
        return false;
    if (len > SIZE_MAX - b->len - 1 || (b->limit > 0 && b->len + len > b->limit)) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + len + 1;
    if (need > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        /* Never reserve past the limit: a hostile peer must not make us
         * double into memory we will refuse to fill anyway. */
        if (b->limit > 0 && cap > b->limit + 1)
            cap = b->limit + 1;
        char *p = svc_realloc(b->host, b->data, cap);
        if (p == NULL) {
            b->failed = true;
            return false;
        }
        b->data = p;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return true;
}

bool sbuf_puts(sbuf *b, const char *s)
{
    return sbuf_append(b, s, strlen(s));
}

bool sbuf_printf(sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return false;
    va_list ap;
    va_start(ap, fmt);
    char *s = svc_vsprintf(b->host, fmt, ap);
    va_end(ap);
    if (s == NULL) {
        b->failed = true;
        return false;
    }
    bool ok = sbuf_puts(b, s);
    svc_free(b->host, s);
    return ok;
}

bool sbuf_failed(const sbuf *b)
{
    return b->failed;
}

char *sbuf_steal(sbuf *b, size_t *len)
{
    if (b->failed)
        return NULL;
    if (b->data == NULL && !sbuf_append(b, "", 0))
        return NULL;
    char *d = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void sbuf_free(sbuf *b)
{
    svc_free(b->host, b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
