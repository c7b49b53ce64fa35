/*
 * loader: find, check and load backend plugins.
 *
 * The host side of the ABI's loading sequence (see backend_plugin.h): resolve
 * a backend name to a file, dlopen it, read and check its descriptor before
 * calling any plugin function, then call the versioned init and validate the
 * operations table. Every refusal is reported as "<file>: <reason>".
 * Used by the sample host and by the tests; thread-compatible (no globals).
 */
#ifndef FCB_LOADER_H
#define FCB_LOADER_H

#include <fakecloud/backend_plugin.h>

#include <stddef.h>

#define LOADER_WHY_MAX 1024

typedef struct loader_plugin {
    char *path;                              /* as opened; malloc'd */
    void *dl;                                /* dlopen handle */
    const fcb_plugin_descriptor *descriptor; /* inside the plugin */
    const fcb_backend_ops *ops;              /* inside the plugin */
    size_t ops_size;                         /* bytes of ops the host may read */
} loader_plugin;

/*
 * Resolve NAME to a plugin file. A NAME containing '/' or ending in ".so" is
 * a path used as is (it must exist). Otherwise "fakecloud-backend-NAME.so" is
 * searched in each directory of SEARCH_PATH (':'-separated, may be NULL),
 * then in each of DEFAULT_DIRS (NULL-terminated, may be NULL). Returns 0 and
 * a malloc'd *out_path, or -1 with `why` saying where it looked.
 */
int loader_resolve(const char *name, const char *search_path, const char *const *default_dirs,
                   char **out_path, char why[LOADER_WHY_MAX]);

/*
 * dlopen PATH and check its descriptor against this host's ABI without
 * calling any plugin function (the versioned entry point must exist too;
 * looking it up runs no code). On success *out holds dl + descriptor (ops is
 * NULL). On refusal returns a negative fcb_status and `why` says
 * "<path>: <reason>"; nothing stays loaded.
 */
int loader_inspect(const char *path, loader_plugin **out, char why[LOADER_WHY_MAX]);

/*
 * loader_inspect, then call backend_plugin_init(host) and validate the
 * returned operations table (name and the required operations present).
 * `host` must outlive the plugin. Returns 0 or a negative fcb_status with
 * `why` filled.
 */
int loader_load(const char *path, const fcb_host_services *host, loader_plugin **out,
                char why[LOADER_WHY_MAX]);

/* dlclose and free. The caller has closed every backend instance. NULL ok. */
void loader_unload(loader_plugin *plugin);

#endif
