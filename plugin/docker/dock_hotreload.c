/* dock_hotreload: code_dir checked against the allow-listed roots, symlinks resolved. */
#include "dock_hotreload.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DOCK_HOTRELOAD_ROOTS_MAX 64

int dock_hotreload_roots_check(const char *roots, fcb_error *err)
{
    if (roots == NULL || roots[0] == '\0')
        return FCB_OK;
    const char *p = roots;
    for (unsigned i = 0; i < DOCK_HOTRELOAD_ROOTS_MAX; i++) {
        const char *end = strchr(p, ':');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == 0 || p[0] != '/' || len >= PATH_MAX)
            return err_set(err, FCB_ERR_CONFIG,
                           "%s is not a list of absolute directories: entry %u (\"%.*s\") is %s "
                           "(got \"%.200s\")",
                           DOCK_HOTRELOAD_KEY, i + 1, (int)(len < 200 ? len : 200), p,
                           len == 0      ? "empty"
                           : p[0] != '/' ? "relative"
                                         : "too long",
                           roots);
        if (end == NULL)
            return FCB_OK;
        p = end + 1;
    }
    return err_set(err, FCB_ERR_CONFIG, "%s: more than %d directories", DOCK_HOTRELOAD_KEY,
                   DOCK_HOTRELOAD_ROOTS_MAX);
}

/* Whether the canonical PATH is ROOT (canonical) or lies below it. */
static bool dock_hotreload_below(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (n == 1) /* "/" */
        return true;
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Whether the canonical DIR lies inside one of ROOTS (each resolved; missing ones skipped). */
static bool dock_hotreload_allowed(const char *roots, const char *dir)
{
    char entry[PATH_MAX], root[PATH_MAX];
    const char *p = roots;
    for (unsigned i = 0; i < DOCK_HOTRELOAD_ROOTS_MAX && p != NULL; i++) {
        const char *end = strchr(p, ':');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *start = p;
        p = end != NULL ? end + 1 : NULL;
        if (len == 0 || len >= sizeof entry)
            continue;
        memcpy(entry, start, len);
        entry[len] = '\0';
        if (realpath(entry, root) != NULL && dock_hotreload_below(dir, root))
            return true;
    }
    return false;
}

int dock_hotreload_resolve(const fcb_host_services *host, const char *roots, const char *code_dir,
                           char **resolved, fcb_error *err)
{
    char real[PATH_MAX];
    struct stat st;
    *resolved = NULL;
    if (roots == NULL || roots[0] == '\0')
        return err_set(err, FCB_ERR_UNSUPPORTED,
                       "code_dir: hot reload is off: set %s to the host directories functions may "
                       "mount",
                       DOCK_HOTRELOAD_KEY);
    if (code_dir == NULL || code_dir[0] != '/')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "code_dir: must be an absolute host directory (got \"%.200s\")",
                       code_dir != NULL ? code_dir : "");
    if (strlen(code_dir) >= PATH_MAX)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "code_dir: longer than %d bytes", PATH_MAX);
    if (realpath(code_dir, real) == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "code_dir %.200s: %s", code_dir,
                       strerror(errno));
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "code_dir %.200s: not a directory", code_dir);
    if (!dock_hotreload_allowed(roots, real))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "code_dir %.200s (resolved %.200s): outside the allowed roots of %s",
                       code_dir, real, DOCK_HOTRELOAD_KEY);
    *resolved = svc_strdup(host, real);
    return *resolved != NULL ? FCB_OK : err_set(err, FCB_ERR_NO_MEMORY, "code_dir: out of memory");
}

int dock_hotreload_check_launch(const fcb_host_services *host, const char *roots,
                                const fcb_function *fn, const char *code_dir,
                                const char *remote_host, char **resolved, fcb_error *err)
{
    *resolved = NULL;
    if (fn->package_type != FCB_PACKAGE_ZIP)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "code_dir: hot reload is for Zip functions, not PackageType Image");
    if (remote_host != NULL)
        return err_set(err, FCB_ERR_UNSUPPORTED,
                       "code_dir: hot reload needs the engine on this machine, but DOCKER_HOST is "
                       "tcp://%.200s (the directory is on this host, not the engine's)",
                       remote_host);
    return dock_hotreload_resolve(host, roots, code_dir, resolved, err);
}
