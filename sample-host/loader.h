/*
 * loader: find, check and load backend plugins.
 *
 * The host side of the ABI's loading sequence (see backend_plugin.h): resolve
 * a backend name to a file, dlopen it, read and check its descriptor before
 * calling any plugin function, then call the versioned init and validate the
 * operations table. Every refusal is reported as "<file>: <reason>".
 * The loader alone walks the search path: loader_resolve (one name) and
 * loader_discover (every plugin, for `backends`) share one walk.
 * Used by the sample host and by the tests; thread-compatible (no globals).
 */
#ifndef FCB_LOADER_H
#define FCB_LOADER_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
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

/*
 * One fakecloud-backend-*.so found by loader_discover: what its descriptor
 * says (copied: the plugin is unloaded again) or why this host refuses it.
 * Every string is malloc'd and owned by the loader_discovery holding it.
 */
typedef struct loader_candidate {
    char *name;                    /* the descriptor's; from the file name when refused */
    char *file;                    /* DIR/fakecloud-backend-NAME.so */
    char *dir;                     /* the search directory as given */
    bool accepted;                 /* descriptor and versioned symbols pass loader_inspect */
    unsigned abi_major, abi_minor; /* accepted only */
    char *version;                 /* accepted only */
    char *summary;                 /* accepted only; NULL when the plugin's descriptor has none */
    uint64_t capabilities;         /* accepted only; FCB_CAP_* (0 for a 1.0 descriptor) */
    char *reason;                  /* refused only: "<file>: <reason>" */
} loader_candidate;

typedef struct loader_discovery {
    char **dirs; /* every directory searched, in order (duplicates included) */
    size_t n_dirs;
    loader_candidate *candidates; /* in search order, then by file name */
    size_t n_candidates;
} loader_discovery;

/*
 * List every plugin file in the directories loader_resolve searches, in the
 * same order (SEARCH_PATH's non-empty components, then DEFAULT_DIRS'
 * non-empty entries), and inspect each (loader_inspect: no plugin function
 * runs; its ELF constructors do, as with any dlopen). A directory reached
 * twice (same realpath) is listed once; a missing one is skipped. Returns
 * 0, or FCB_ERR_NO_MEMORY with `why` and *out empty. Free with
 * loader_discovery_free.
 */
int loader_discover(const char *search_path, const char *const *default_dirs, loader_discovery *out,
                    char why[LOADER_WHY_MAX]);

/* Free everything loader_discover put in D (D itself is the caller's). */
void loader_discovery_free(loader_discovery *d);

#endif
