/*
 * bench_plugin: our side of every figure. Loads a backend plugin exactly as
 * the host does (sample-host's loader), with the test suite's mock host as
 * the services (its counting allocator gives the plugin's heap), and opens
 * one backend instance with a given configuration. Times each step.
 * One bplug per benchmark; launch/terminate may then be called from many
 * threads (the plugin is thread-safe). BENCH_PLUGIN_LOG=info|debug in the
 * environment captures the plugin's log at that level (MOCK_HOST_ECHO=1
 * prints it), to explain a figure; the default keeps warnings only.
 */
#ifndef BENCH_PLUGIN_H
#define BENCH_PLUGIN_H

#include <fakecloud/backend_plugin.h>

#include "loader.h"
#include "mock_host.h"

#include <stddef.h>
#include <stdint.h>

#define BPLUG_ERR_MAX 1024

typedef struct bplug {
    mock_host *mh;
    loader_plugin *plugin;
    fcb_backend *backend;
    double load_ms; /* dlopen + descriptor check + init */
    double open_ms; /* ops->open */
} bplug;

/*
 * Load PATH and open a backend with CONFIG (NULL-terminated key, value,
 * key, value, ... list copied into the mock host) and the internal token
 * (may be NULL). Returns 0 or -1 with err; on failure nothing stays loaded.
 */
int bplug_open(bplug *p, const char *path, const char *const *config, const char *internal_token,
               char err[BPLUG_ERR_MAX]);
/*
 * Close the backend, unload, and report the plugin's outstanding bytes
 * after close (a leak when non-zero; may be NULL). Safe on a failed open.
 */
void bplug_close(bplug *p, size_t *leaked_bytes);

/* An image function (no code download) named NAME running IMAGE. */
void bplug_image_function(fcb_function *fn, const char *name, const char *image);
/* A Zip function (init container downloads code and layers). */
void bplug_zip_function(fcb_function *fn, const char *name, const char *runtime,
                        const char *handler);

#endif
