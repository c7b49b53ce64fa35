/*
 * host_services: the services the sample host lends a plugin.
 *
 * - counting allocator (outstanding bytes and blocks, thread-safe) so the
 *   host can tell whether a plugin leaked after close();
 * - structured logger to a stream (stderr by default), text or JSON lines,
 *   level filter; control characters are escaped in both formats;
 * - configuration getter over a snapshot of the environment taken at
 *   creation (immutable, so returned strings stay valid as the ABI requires),
 *   plus host-provided defaults answered only for keys the environment lacks
 *   (e.g. FAKECLOUD_K8S_SELF_URL pointing at the artifact server).
 * All callbacks are thread-safe. The host's own bookkeeping uses libc malloc.
 */
#ifndef FCB_HOST_SERVICES_H
#define FCB_HOST_SERVICES_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum host_log_format {
    HOST_LOG_TEXT = 0,
    HOST_LOG_JSON = 1,
} host_log_format;

typedef struct host_services host_services;

/*
 * Snapshot ENVP (NULL-terminated "KEY=VALUE" strings, e.g. `environ`) and
 * configure the logger from FAKECLOUD_LOG_LEVEL / FAKECLOUD_LOG_FORMAT in it.
 * LOG_STREAM NULL means stderr. Returns 0, or -1 with `why` naming the bad
 * variable (an unknown level or format) or "out of memory"; *out is then NULL.
 * Free with host_services_free.
 */
int host_services_new(char *const *envp, FILE *log_stream, host_services **out, char *why,
                      size_t why_size);
void host_services_free(host_services *hs);

/* The table to hand to backend_plugin_init/open; valid until free. */
const fcb_host_services *host_services_table(host_services *hs);

/*
 * Answer KEY with VALUE (copied) when the environment snapshot has no KEY.
 * Call before handing the table to a plugin. Returns 0 or -1 (no memory, or
 * more than 16 defaults).
 */
int host_services_set_default(host_services *hs, const char *key, const char *value);

/* The configuration value the plugin would see (environment, then defaults). */
const char *host_services_config(host_services *hs, const char *key);

/* Lower the log threshold (e.g. --verbose); never raises it. */
void host_services_set_min_level(host_services *hs, fcb_log_level level);
fcb_log_level host_services_min_level(host_services *hs);

/*
 * Log a line from the host itself (plugin name "host"). Variadic part: key,
 * value, ..., NULL (at most 16 pairs). Thread-safe.
 */
void host_log(host_services *hs, fcb_log_level level, const char *message, ...);

/* Allocator accounting: what the plugin has not freed yet. */
size_t host_services_outstanding_bytes(host_services *hs);
size_t host_services_outstanding_blocks(host_services *hs);

/* "trace".."error" -> level; returns -1 for anything else. */
int host_log_level_parse(const char *name);

#endif
