/* loader: resolve, dlopen, check the descriptor, init, validate ops. */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
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

/*
 * The search path, walked the same way by loader_resolve and loader_discover:
 * each non-empty ':'-separated component of SEARCH_PATH, then each non-empty
 * entry of DEFAULT_DIRS (NULL-terminated, may be NULL).
 */
typedef struct dir_walk {
    const char *next;                /* rest of the search path, NULL when done */
    const char *const *default_dirs; /* may be NULL */
    size_t default_index;
} dir_walk;

static void dir_walk_init(dir_walk *w, const char *search_path, const char *const *default_dirs)
{
    w->next = search_path;
    w->default_dirs = default_dirs;
    w->default_index = 0;
}

/* Next directory as (*dir, *len), not NUL-terminated; false when done. */
static bool dir_walk_next(dir_walk *w, const char **dir, size_t *len)
{
    while (w->next != NULL && *w->next != '\0') {
        const char *colon = strchr(w->next, ':');
        *dir = w->next;
        *len = colon ? (size_t)(colon - w->next) : strlen(w->next);
        w->next = colon ? colon + 1 : NULL;
        if (*len > 0)
            return true;
    }
    w->next = NULL;
    while (w->default_dirs != NULL && w->default_dirs[w->default_index] != NULL) {
        *dir = w->default_dirs[w->default_index++];
        *len = strlen(*dir);
        if (*len > 0)
            return true;
    }
    return false;
}

static int try_dir(const char *dir, size_t dir_len, const char *name, char **out_path)
{
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
    dir_walk walk;
    dir_walk_init(&walk, search_path, default_dirs);
    const char *dir;
    size_t len;
    while (dir_walk_next(&walk, &dir, &len)) {
        if (try_dir(dir, len, name, out_path))
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

/* ---- discovery (`backends`) ------------------------------------------- */

static int is_plugin_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    size_t lp = strlen(FCB_PLUGIN_FILE_PREFIX), ls = strlen(FCB_PLUGIN_FILE_SUFFIX);
    return n > lp + ls && strncmp(d->d_name, FCB_PLUGIN_FILE_PREFIX, lp) == 0 &&
           strcmp(d->d_name + n - ls, FCB_PLUGIN_FILE_SUFFIX) == 0;
}

/* Append one zeroed element to *ARRAY of *N elements of SIZE bytes. */
static void *grow(void *array_ptr, size_t *n, size_t size)
{
    void **array = array_ptr;
    void *bigger = realloc(*array, (*n + 1) * size);
    if (bigger == NULL)
        return NULL;
    *array = bigger;
    void *slot = (char *)bigger + *n * size;
    memset(slot, 0, size);
    (*n)++;
    return slot;
}

static void candidate_free(loader_candidate *c)
{
    free(c->name);
    free(c->file);
    free(c->dir);
    free(c->version);
    free(c->summary);
    free(c->reason);
}

/* Copy what the accepted plugin's descriptor says. */
static int candidate_accept(loader_candidate *c, const fcb_plugin_descriptor *d)
{
    /* summary is the last field: read it only if the plugin's size covers it. */
    const char *summary =
        d->size >= offsetof(fcb_plugin_descriptor, summary) + sizeof d->summary ? d->summary : NULL;
    c->accepted = true;
    c->abi_major = d->abi_major;
    c->abi_minor = d->abi_minor;
    c->name = strdup(d->name);
    c->version = strdup(d->version);
    c->summary = summary != NULL ? strdup(summary) : NULL;
    c->capabilities = FCB_HAS_MEMBER(d, fcb_plugin_descriptor, capabilities) ? d->capabilities : 0;
    return c->name && c->version && (summary == NULL || c->summary) ? 0 : -1;
}

/* A refused plugin: its file name is the only trustworthy name. */
static int candidate_refuse(loader_candidate *c, const char *file_name, const char *why)
{
    size_t lp = strlen(FCB_PLUGIN_FILE_PREFIX), ls = strlen(FCB_PLUGIN_FILE_SUFFIX);
    c->name = strndup(file_name + lp, strlen(file_name) - lp - ls);
    c->reason = strdup(why);
    return c->name && c->reason ? 0 : -1;
}

static int candidate_add(loader_discovery *d, const char *dir, const char *file_name)
{
    size_t n = d->n_candidates;
    loader_candidate *c = grow(&d->candidates, &n, sizeof *c);
    if (c == NULL)
        return -1;
    int rc = -1;
    loader_plugin *p = NULL;
    char why[LOADER_WHY_MAX];
    c->dir = strdup(dir);
    if (c->dir == NULL || asprintf(&c->file, "%s/%s", dir, file_name) < 0) {
        c->file = NULL;
        goto out;
    }
    if (loader_inspect(c->file, &p, why) == FCB_OK)
        rc = candidate_accept(c, p->descriptor);
    else
        rc = candidate_refuse(c, file_name, why);
    loader_unload(p);
out:
    if (rc == 0)
        d->n_candidates = n;
    else
        candidate_free(c);
    return rc;
}

/* Inspect every plugin file of DIR unless its realpath is in SEEN already. */
static int discover_dir(loader_discovery *d, char ***seen, size_t *n_seen, const char *dir)
{
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL)
        return 0;
    for (size_t i = 0; i < *n_seen; i++) {
        if (strcmp((*seen)[i], real) == 0)
            return 0;
    }
    size_t n = *n_seen;
    char **slot = grow(seen, &n, sizeof **seen);
    if (slot == NULL || (*slot = strdup(real)) == NULL)
        return -1;
    *n_seen = n;
    struct dirent **entries = NULL;
    int count = scandir(dir, &entries, is_plugin_file, alphasort);
    int rc = 0;
    for (int i = 0; i < count; i++) {
        if (rc == 0)
            rc = candidate_add(d, dir, entries[i]->d_name);
        free(entries[i]);
    }
    free(entries);
    return rc;
}

int loader_discover(const char *search_path, const char *const *default_dirs, loader_discovery *out,
                    char why[LOADER_WHY_MAX])
{
    memset(out, 0, sizeof *out);
    char **seen = NULL;
    size_t n_seen = 0;
    int rc = 0;
    dir_walk walk;
    dir_walk_init(&walk, search_path, default_dirs);
    const char *dir;
    size_t len;
    while (rc == 0 && dir_walk_next(&walk, &dir, &len)) {
        size_t n = out->n_dirs;
        char **slot = grow(&out->dirs, &n, sizeof *out->dirs);
        if (slot == NULL || (*slot = strndup(dir, len)) == NULL) {
            rc = -1;
            break;
        }
        out->n_dirs = n;
        rc = discover_dir(out, &seen, &n_seen, *slot);
    }
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    if (rc != 0) {
        loader_discovery_free(out);
        snprintf(why, LOADER_WHY_MAX, "listing the backend plugins: out of memory");
        return FCB_ERR_NO_MEMORY;
    }
    return FCB_OK;
}

void loader_discovery_free(loader_discovery *d)
{
    for (size_t i = 0; i < d->n_candidates; i++)
        candidate_free(&d->candidates[i]);
    free(d->candidates);
    for (size_t i = 0; i < d->n_dirs; i++)
        free(d->dirs[i]);
    free(d->dirs);
    memset(d, 0, sizeof *d);
}
