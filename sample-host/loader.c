/* loader: resolve, dlopen, check the descriptor, init, validate ops. */
#include "loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int file_readable(const char *path)
{
    return access(path, R_OK) == 0;
}

static size_t ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static int try_dir(const char *dir, size_t dir_len, const char *name, char **out_path)
{
    if (dir_len == 0)
        return 0;
    char *path = NULL;
    if (asprintf(&path, "%.*s/%s%s%s", (int)dir_len, dir, FCB_PLUGIN_FILE_PREFIX, name,
                 FCB_PLUGIN_FILE_SUFFIX) < 0)
        return 0;
    if (file_readable(path)) {
        *out_path = path;
        return 1;
    }
    free(path);
    return 0;
}

int loader_resolve(const char *name, const char *search_path, const char *const *default_dirs,
                   char **out_path, char why[LOADER_WHY_MAX])
{
    *out_path = NULL;
    if (name == NULL || name[0] == '\0') {
        snprintf(why, LOADER_WHY_MAX,
                 "no backend named (set FAKECLOUD_LAMBDA_BACKEND or --backend)");
        return -1;
    }
    if (strchr(name, '/') != NULL || ends_with(name, ".so")) {
        if (!file_readable(name)) {
            snprintf(why, LOADER_WHY_MAX, "%s: no such readable plugin file", name);
            return -1;
        }
        *out_path = strdup(name);
        return *out_path ? 0 : -1;
    }
    for (const char *c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_')) {
            snprintf(why, LOADER_WHY_MAX,
                     "backend name '%s' is invalid: use [a-z0-9_-] or a path to a .so", name);
            return -1;
        }
    }
    const char *p = search_path;
    while (p != NULL && *p != '\0') {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (try_dir(p, len, name, out_path))
            return 0;
        p = colon ? colon + 1 : NULL;
    }
    for (size_t i = 0; default_dirs != NULL && default_dirs[i] != NULL; i++) {
        if (try_dir(default_dirs[i], strlen(default_dirs[i]), name, out_path))
            return 0;
    }
    int n = snprintf(why, LOADER_WHY_MAX, "backend '%s': no %s%s%s in FAKECLOUD_BACKEND_PATH (%s)",
                     name, FCB_PLUGIN_FILE_PREFIX, name, FCB_PLUGIN_FILE_SUFFIX,
                     search_path && *search_path ? search_path : "unset");
    for (size_t i = 0;
         default_dirs != NULL && default_dirs[i] != NULL && n > 0 && (size_t)n < LOADER_WHY_MAX;
         i++)
        n += snprintf(why + n, LOADER_WHY_MAX - (size_t)n, "%s%s", i == 0 ? " nor in " : ", ",
                      default_dirs[i]);
    return -1;
}

int loader_inspect(const char *path, loader_plugin **out, char why[LOADER_WHY_MAX])
{
    *out = NULL;
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        snprintf(why, LOADER_WHY_MAX, "%s: cannot load: %s", path, dlerror());
        return FCB_ERR_UNSUPPORTED;
    }
    dlerror();
    const fcb_plugin_descriptor *d = dlvsym(dl, FCB_DESCRIPTOR_SYMBOL, FCB_SYMBOL_VERSION);
    if (d == NULL) {
        if (dlsym(dl, FCB_DESCRIPTOR_SYMBOL) != NULL)
            snprintf(why, LOADER_WHY_MAX,
                     "%s: refused: %s is exported without the symbol version %s (link the "
                     "plugin with plugin.map: -Wl,--version-script)",
                     path, FCB_DESCRIPTOR_SYMBOL, FCB_SYMBOL_VERSION);
        else
            snprintf(why, LOADER_WHY_MAX,
                     "%s: not a fakecloud backend plugin: no symbol %s@%s (was it linked with "
                     "plugin.map?)",
                     path, FCB_DESCRIPTOR_SYMBOL, FCB_SYMBOL_VERSION);
        dlclose(dl);
        return FCB_ERR_UNSUPPORTED;
    }
    const char *reason = NULL;
    if (fcb_descriptor_check(d, FCB_ABI_MAJOR, FCB_ABI_MINOR, &reason) != FCB_OK) {
        if (d->magic == FCB_PLUGIN_MAGIC)
            snprintf(why, LOADER_WHY_MAX, "%s: refused: %s (plugin ABI %u.%u, host ABI %d.%d)",
                     path, reason, (unsigned)d->abi_major, (unsigned)d->abi_minor, FCB_ABI_MAJOR,
                     FCB_ABI_MINOR);
        else
            snprintf(why, LOADER_WHY_MAX, "%s: refused: %s", path, reason);
        dlclose(dl);
        return FCB_ERR_UNSUPPORTED;
    }
    if (d->name == NULL || d->version == NULL) {
        snprintf(why, LOADER_WHY_MAX, "%s: refused: descriptor has no name or version", path);
        dlclose(dl);
        return FCB_ERR_UNSUPPORTED;
    }
    /* Looking the entry point up runs no plugin code; refusing here lets
     * `backends` report a plugin that could never be initialised. */
    if (dlvsym(dl, FCB_INIT_SYMBOL, FCB_SYMBOL_VERSION) == NULL) {
        snprintf(why, LOADER_WHY_MAX, "%s: refused: no symbol %s@%s (descriptor only)", path,
                 FCB_INIT_SYMBOL, FCB_SYMBOL_VERSION);
        dlclose(dl);
        return FCB_ERR_UNSUPPORTED;
    }
    loader_plugin *p = calloc(1, sizeof *p);
    char *copy = strdup(path);
    if (p == NULL || copy == NULL) {
        free(p);
        free(copy);
        dlclose(dl);
        snprintf(why, LOADER_WHY_MAX, "%s: out of memory", path);
        return FCB_ERR_NO_MEMORY;
    }
    p->path = copy;
    p->dl = dl;
    p->descriptor = d;
    *out = p;
    return FCB_OK;
}

int loader_load(const char *path, const fcb_host_services *host, loader_plugin **out,
                char why[LOADER_WHY_MAX])
{
    loader_plugin *p = NULL;
    int rc = loader_inspect(path, &p, why);
    if (rc != FCB_OK)
        return rc;
    dlerror();
    void *sym = dlvsym(p->dl, FCB_INIT_SYMBOL, FCB_SYMBOL_VERSION);
    if (sym == NULL) {
        snprintf(why, LOADER_WHY_MAX, "%s: refused: no symbol %s@%s", path, FCB_INIT_SYMBOL,
                 FCB_SYMBOL_VERSION);
        rc = FCB_ERR_UNSUPPORTED;
        goto fail;
    }
    fcb_plugin_init_fn init;
    memcpy(&init, &sym, sizeof init); /* object pointer -> function pointer (POSIX) */
    fcb_error err = FCB_ERROR_INIT;
    const fcb_backend_ops *ops = init(host, &err);
    if (ops == NULL) {
        snprintf(why, LOADER_WHY_MAX, "%s: %s() failed: %s (%s)", path, FCB_INIT_SYMBOL,
                 err.message[0] ? err.message : "no reason given", fcb_status_name(err.code));
        rc = err.code < 0 ? err.code : FCB_ERR_INTERNAL;
        goto fail;
    }
    size_t need = offsetof(fcb_backend_ops, prepull);
    if (ops->size < need) {
        snprintf(why, LOADER_WHY_MAX,
                 "%s: refused: operations table too small (%u bytes, need %zu)", path,
                 (unsigned)ops->size, need);
        rc = FCB_ERR_UNSUPPORTED;
        goto fail;
    }
    if (ops->name == NULL || ops->open == NULL || ops->close == NULL || ops->launch == NULL ||
        ops->terminate == NULL || ops->reap_stale == NULL) {
        snprintf(why, LOADER_WHY_MAX,
                 "%s: refused: operations table lacks name, open, close, launch, terminate or "
                 "reap_stale",
                 path);
        rc = FCB_ERR_UNSUPPORTED;
        goto fail;
    }
    p->ops = ops;
    p->ops_size = ops->size < sizeof(fcb_backend_ops) ? ops->size : sizeof(fcb_backend_ops);
    *out = p;
    return FCB_OK;
fail:
    loader_unload(p);
    return rc;
}

void loader_unload(loader_plugin *plugin)
{
    if (plugin == NULL)
        return;
    if (plugin->dl != NULL)
        dlclose(plugin->dl);
    free(plugin->path);
    free(plugin);
}
