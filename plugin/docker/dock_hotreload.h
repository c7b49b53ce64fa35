/*
 * dock_hotreload: which host directories a hot-reload function may mount.
 *
 * A launch with fcb_launch_request.code_dir (ABI 1.1) bind-mounts that host
 * directory read-only at /var/task instead of copying the code. The host
 * running the plugin decides which directories an API caller may name:
 * FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS, colon-separated absolute directories
 * (empty = hot reload refused). A directory is accepted only when, with
 * every symlink and ".." resolved (realpath), it lies inside a root (itself
 * resolved), so a link or ".." cannot reach outside. No engine I/O; reads
 * the file system (realpath, stat); thread-safe.
 */
#ifndef FCB_DOCK_HOTRELOAD_H
#define FCB_DOCK_HOTRELOAD_H

#include "svc.h"

#include <stddef.h>

#define DOCK_HOTRELOAD_KEY "FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS"

/*
 * Check ROOTS (the key's value; NULL or "" = none) as the config parser
 * does: every entry absolute and without ':' trouble (empty entries
 * refused). FCB_ERR_CONFIG naming the key otherwise.
 */
int dock_hotreload_roots_check(const char *roots, fcb_error *err);

/*
 * Resolve CODE_DIR against ROOTS: absolute, exists, a directory, its
 * realpath inside the realpath of one root. On FCB_OK *RESOLVED is the
 * canonical path (host allocator; caller frees with svc_free). Otherwise
 * FCB_ERR_INVALID_ARGUMENT naming code_dir and the problem, or
 * FCB_ERR_UNSUPPORTED naming the key when ROOTS is empty; *RESOLVED NULL.
 */
int dock_hotreload_resolve(const fcb_host_services *host, const char *roots, const char *code_dir,
                           char **resolved, fcb_error *err);

/*
 * The whole check of a launch's code_dir: FN a Zip function (else
 * FCB_ERR_INVALID_ARGUMENT), the engine on this machine (REMOTE_HOST, the
 * tcp:// host of a non-loopback DOCKER_HOST, NULL when local; else
 * FCB_ERR_UNSUPPORTED: the directory is on this host, not the engine's),
 * then dock_hotreload_resolve.
 */
int dock_hotreload_check_launch(const fcb_host_services *host, const char *roots,
                                const fcb_function *fn, const char *code_dir,
                                const char *remote_host, char **resolved, fcb_error *err);

#endif
