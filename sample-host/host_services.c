/* host_services: counting allocator, stderr logger, environment snapshot. */
#include "host_services.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HS_BLOCK_MAGIC  0x66636268616c6c63ull /* "fcbhallc" */
#define HS_MAX_DEFAULTS 16
#define HS_MAX_FIELDS   16

typedef struct hs_block {
    uint64_t magic;
    uint64_t size;
} hs_block; /* 16 bytes: keeps malloc's alignment for the caller's part */

typedef struct hs_entry {
    char *key;
    char *value;
} hs_entry;

struct host_services {
    fcb_host_services table;
    pthread_mutex_t lock; /* counters, defaults, log stream */
    size_t outstanding_bytes;
    size_t outstanding_blocks;
    hs_entry *env; /* sorted by key */
    size_t n_env;
    hs_entry defaults[HS_MAX_DEFAULTS];
    size_t n_defaults;
    FILE *log_stream;
    host_log_format log_format;
    fcb_log_level min_level;
};

/* ---- allocator -------------------------------------------------------- */

static void *hs_alloc(void *ctx, size_t size)
{
    host_services *hs = ctx;
    if (size > SIZE_MAX - sizeof(hs_block))
        return NULL;
    hs_block *b = malloc(sizeof *b + size);
    if (b == NULL)
        return NULL;
    b->magic = HS_BLOCK_MAGIC;
    b->size = size;
    pthread_mutex_lock(&hs->lock);
    hs->outstanding_bytes += size;
    hs->outstanding_blocks++;
    pthread_mutex_unlock(&hs->lock);
    return b + 1;
}

static hs_block *hs_block_of(void *ptr)
{
    hs_block *b = (hs_block *)ptr - 1;
    if (b->magic != HS_BLOCK_MAGIC) {
        fprintf(stderr,
                "fakecloud-lambda-host: plugin freed a pointer the host did not "
                "allocate (%p)\n",
                ptr);
        abort();
    }
    return b;
}

static void hs_free(void *ctx, void *ptr)
{
    host_services *hs = ctx;
    if (ptr == NULL)
        return;
    hs_block *b = hs_block_of(ptr);
    pthread_mutex_lock(&hs->lock);
    hs->outstanding_bytes -= b->size;
    hs->outstanding_blocks--;
    pthread_mutex_unlock(&hs->lock);
    b->magic = 0;
    free(b);
}

static void *hs_realloc(void *ctx, void *ptr, size_t size)
{
    host_services *hs = ctx;
    if (ptr == NULL)
        return hs_alloc(ctx, size);
    if (size > SIZE_MAX - sizeof(hs_block))
        return NULL;
    hs_block *b = hs_block_of(ptr);
    size_t old = b->size;
    hs_block *n = realloc(b, sizeof *n + size);
    if (n == NULL)
        return NULL;
    n->size = size;
    pthread_mutex_lock(&hs->lock);
    hs->outstanding_bytes = hs->outstanding_bytes - old + size;
    pthread_mutex_unlock(&hs->lock);
    return n + 1;
}

size_t host_services_outstanding_bytes(host_services *hs)
{
    pthread_mutex_lock(&hs->lock);
    size_t v = hs->outstanding_bytes;
    pthread_mutex_unlock(&hs->lock);
    return v;
}

size_t host_services_outstanding_blocks(host_services *hs)
{
    pthread_mutex_lock(&hs->lock);
    size_t v = hs->outstanding_blocks;
    pthread_mutex_unlock(&hs->lock);
    return v;
}

/* ---- logger ----------------------------------------------------------- */

static const char *const hs_level_names[] = {"trace", "debug", "info", "warn", "error"};

int host_log_level_parse(const char *name)
{
    for (int i = 0; i < 5; i++) {
        if (name != NULL && strcmp(name, hs_level_names[i]) == 0)
            return i;
    }
    return -1;
}

static const char *hs_level_name(fcb_log_level level)
{
    return (unsigned)level < 5 ? hs_level_names[level] : "?";
}

static int hs_log_enabled(void *ctx, fcb_log_level level)
{
    host_services *hs = ctx;
    return level >= hs->min_level;
}

static void hs_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Text value: bare when safe, else quoted; control characters always escaped. */
static void hs_text_value(FILE *f, const char *s, bool allow_bare)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    bool bare = allow_bare && *p != '\0';
    for (const unsigned char *q = p; *q && bare; q++)
        bare = *q > 0x20 && *q != 0x7f && *q != '"' && *q != '=' && *q != '\\';
    if (bare) {
        fputs((const char *)p, f);
        return;
    }
    if (allow_bare)
        fputc('"', f);
    for (; *p; p++) {
        if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\r')
            fputs("\\r", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else if (allow_bare && (*p == '"' || *p == '\\'))
            fprintf(f, "\\%c", *p);
        else
            fputc(*p, f);
    }
    if (allow_bare)
        fputc('"', f);
}

static void hs_log(void *ctx, fcb_log_level level, const char *plugin, const char *message,
                   const fcb_log_field *fields, size_t n_fields)
{
    host_services *hs = ctx;
    if (level < hs->min_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[40];
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    /* Build the whole line first so concurrent lines never interleave. */
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (f == NULL)
        return;
    if (hs->log_format == HOST_LOG_JSON) {
        fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"plugin\":", stamp, hs_level_name(level));
        hs_json_string(f, plugin ? plugin : "?");
        fputs(",\"msg\":", f);
        hs_json_string(f, message);
        if (n_fields > 0) {
            fputs(",\"fields\":{", f);
            for (size_t i = 0; i < n_fields; i++) {
                if (i > 0)
                    fputc(',', f);
                hs_json_string(f, fields[i].key);
                fputc(':', f);
                hs_json_string(f, fields[i].value);
            }
            fputc('}', f);
        }
        fputs("}\n", f);
    } else {
        fprintf(f, "%s %-5s ", stamp, hs_level_name(level));
        hs_text_value(f, plugin ? plugin : "?", false);
        fputs(": ", f);
        hs_text_value(f, message, false);
        for (size_t i = 0; i < n_fields; i++) {
            fputc(' ', f);
            hs_text_value(f, fields[i].key, false);
            fputc('=', f);
            hs_text_value(f, fields[i].value, true);
        }
        fputc('\n', f);
    }
    fclose(f);
    pthread_mutex_lock(&hs->lock);
    fwrite(line, 1, len, hs->log_stream);
    fflush(hs->log_stream);
    pthread_mutex_unlock(&hs->lock);
    free(line);
}

void host_log(host_services *hs, fcb_log_level level, const char *message, ...)
{
    if (level < hs->min_level)
        return;
    fcb_log_field fields[HS_MAX_FIELDS];
    size_t n = 0;
    va_list ap;
    va_start(ap, message);
    for (unsigned i = 0; i < 64; i++) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *value = va_arg(ap, const char *);
        if (n < HS_MAX_FIELDS) {
            fields[n].key = key;
            fields[n].value = value != NULL ? value : "(null)";
            n++;
        }
    }
    va_end(ap);
    hs_log(hs, level, "host", message, fields, n);
}

void host_services_set_min_level(host_services *hs, fcb_log_level level)
{
    if (level < hs->min_level)
        hs->min_level = level;
}

fcb_log_level host_services_min_level(host_services *hs)
{
    return hs->min_level;
}

/* ---- configuration ---------------------------------------------------- */

static int hs_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const hs_entry *)a)->key, ((const hs_entry *)b)->key);
}

static const char *hs_env_lookup(const host_services *hs, const char *key)
{
    hs_entry probe = {(char *)key, NULL};
    const hs_entry *e = bsearch(&probe, hs->env, hs->n_env, sizeof *hs->env, hs_entry_cmp);
    return e != NULL ? e->value : NULL;
}

const char *host_services_config(host_services *hs, const char *key)
{
    if (key == NULL)
        return NULL;
    const char *v = hs_env_lookup(hs, key);
    if (v != NULL)
        return v;
    pthread_mutex_lock(&hs->lock);
    for (size_t i = 0; i < hs->n_defaults && v == NULL; i++) {
        if (strcmp(hs->defaults[i].key, key) == 0)
            v = hs->defaults[i].value;
    }
    pthread_mutex_unlock(&hs->lock);
    return v;
}

static const char *hs_config_get(void *ctx, const char *key)
{
    return host_services_config(ctx, key);
}

int host_services_set_default(host_services *hs, const char *key, const char *value)
{
    int rc = -1;
    char *k = strdup(key);
    char *v = strdup(value);
    pthread_mutex_lock(&hs->lock);
    if (k == NULL || v == NULL || hs->n_defaults == HS_MAX_DEFAULTS)
        goto out;
    hs->defaults[hs->n_defaults].key = k;
    hs->defaults[hs->n_defaults].value = v;
    hs->n_defaults++;
    k = v = NULL;
    rc = 0;
out:
    pthread_mutex_unlock(&hs->lock);
    free(k);
    free(v);
    return rc;
}

/* ---- lifecycle -------------------------------------------------------- */

static int hs_snapshot(host_services *hs, char *const *envp)
{
    size_t n = 0;
    while (envp != NULL && envp[n] != NULL)
        n++;
    hs->env = calloc(n > 0 ? n : 1, sizeof *hs->env);
    if (hs->env == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(envp[i], '=');
        if (eq == NULL || eq == envp[i])
            continue;
        hs_entry e = {strndup(envp[i], (size_t)(eq - envp[i])), strdup(eq + 1)};
        if (e.key == NULL || e.value == NULL) {
            free(e.key);
            free(e.value);
            return -1;
        }
        hs->env[hs->n_env++] = e;
    }
    qsort(hs->env, hs->n_env, sizeof *hs->env, hs_entry_cmp);
    /* Keep the first of duplicate keys, as getenv() would. */
    size_t w = 0;
    for (size_t r = 0; r < hs->n_env; r++) {
        if (w > 0 && strcmp(hs->env[w - 1].key, hs->env[r].key) == 0) {
            free(hs->env[r].key);
            free(hs->env[r].value);
            continue;
        }
        hs->env[w++] = hs->env[r];
    }
    hs->n_env = w;
    return 0;
}

int host_services_new(char *const *envp, FILE *log_stream, host_services **out, char *why,
                      size_t why_size)
{
    *out = NULL;
    host_services *hs = calloc(1, sizeof *hs);
    if (hs == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    pthread_mutex_init(&hs->lock, NULL);
    hs->log_stream = log_stream != NULL ? log_stream : stderr;
    hs->min_level = FCB_LOG_INFO;
    if (hs_snapshot(hs, envp) != 0) {
        snprintf(why, why_size, "out of memory");
        goto fail;
    }
    const char *level = hs_env_lookup(hs, "FAKECLOUD_LOG_LEVEL");
    if (level != NULL && level[0] != '\0') {
        int l = host_log_level_parse(level);
        if (l < 0) {
            snprintf(why, why_size,
                     "FAKECLOUD_LOG_LEVEL: unknown level \"%.64s\" (use trace, debug, info, "
                     "warn or error)",
                     level);
            goto fail;
        }
        hs->min_level = (fcb_log_level)l;
    }
    const char *format = hs_env_lookup(hs, "FAKECLOUD_LOG_FORMAT");
    if (format != NULL && format[0] != '\0') {
        if (strcmp(format, "json") == 0) {
            hs->log_format = HOST_LOG_JSON;
        } else if (strcmp(format, "text") != 0) {
            snprintf(why, why_size,
                     "FAKECLOUD_LOG_FORMAT: unknown format \"%.64s\" (use text or json)", format);
            goto fail;
        }
    }
    hs->table.size = sizeof hs->table;
    hs->table.abi_major = FCB_ABI_MAJOR;
    hs->table.abi_minor = FCB_ABI_MINOR;
    hs->table.alloc_ctx = hs;
    hs->table.alloc = hs_alloc;
    hs->table.realloc = hs_realloc;
    hs->table.free = hs_free;
    hs->table.log_ctx = hs;
    hs->table.log = hs_log;
    hs->table.log_enabled = hs_log_enabled;
    hs->table.config_ctx = hs;
    hs->table.config_get = hs_config_get;
    *out = hs;
    return 0;
fail:
    host_services_free(hs);
    return -1;
}

const fcb_host_services *host_services_table(host_services *hs)
{
    return &hs->table;
}

void host_services_free(host_services *hs)
{
    if (hs == NULL)
        return;
    for (size_t i = 0; i < hs->n_env; i++) {
        free(hs->env[i].key);
        free(hs->env[i].value);
    }
    free(hs->env);
    for (size_t i = 0; i < hs->n_defaults; i++) {
        free(hs->defaults[i].key);
        free(hs->defaults[i].value);
    }
    pthread_mutex_destroy(&hs->lock);
    free(hs);
}
