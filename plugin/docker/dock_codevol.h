/*
 * dock_codevol: a deploy's code in volumes, uploaded once per backend
 * instance (docs/docker.md, "Code volumes").
 *
 * A launch of a Zip function (or one with layers) needs its code tar at
 * /var/task (and /var/runtime for provided runtimes, /opt for layers).
 * Instead of a PUT /containers/{id}/archive into every new container, the
 * first launch of a deploy creates one labelled local volume per target
 * directory, fills them through a short-lived helper container created
 * (never started) from the runtime image with the volumes mounted, and
 * removes the helper; every instance of that deploy then mounts the volumes
 * read-only (as AWS mounts /var/task). An empty volume mounted over a
 * directory of the image gets the image's files first (the engine's
 * copy-up), so an instance sees what the per-container copy gave it.
 *
 * The deploy key is a hash of deploy_id, the image, the target directories
 * and the code and layer bytes, so a deploy_id reused for other code never
 * mounts stale code. Volume names carry this backend's instance id and the
 * key; labels: fakecloud-managed-by, fakecloud-instance and
 * DOCK_CODE_LABEL = deploy_id. reap_stale removes a dead instance's code
 * volumes like its containers; close() removes this instance's.
 *
 * Single flight: dock_codevols is the in-memory ready set. The first launch
 * of a key becomes its filler, later ones wait until it is ready (or take
 * over when the fill failed); a volume is mounted only after its fill
 * completed in this process, so none is ever used half-filled. Kept until
 * close (no eviction); beyond DOCK_CODEVOL_MAX deploys a launch copies its
 * code into the container as before, with a WARN log. Thread-safe.
 */
#ifndef FCB_DOCK_CODEVOL_H
#define FCB_DOCK_CODEVOL_H

#include "dock_engine.h"

#include <fakecloud/backend_plugin.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOCK_CODE_LABEL  "fakecloud-code-deploy"
#define DOCK_CODE_PREFIX "fakecloud-code-"
#define DOCK_CODEVOL_MAX 256

/* Target directories a deploy's tar fills (bit mask). */
enum { DOCK_CODE_TASK = 1u, DOCK_CODE_RUNTIME = 2u, DOCK_CODE_OPT = 4u };

typedef enum dock_codevol_state {
    DOCK_CODEVOL_FREE = 0, /* never filled, or the last fill failed */
    DOCK_CODEVOL_FILLING,
    DOCK_CODEVOL_READY
} dock_codevol_state;

typedef struct dock_codevol_entry {
    uint64_t key;
    unsigned dirs;
    dock_codevol_state state;
    bool created; /* volumes may exist on the engine: close() deletes them */
} dock_codevol_entry;

typedef struct dock_codevols {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ok; /* initialised */
    dock_codevol_entry e[DOCK_CODEVOL_MAX];
    size_t n;
} dock_codevols;

int dock_codevols_init(dock_codevols *c, fcb_error *err);
void dock_codevols_destroy(dock_codevols *c);

/* What the launch is to do with its deploy's code. */
typedef enum dock_codevol_verdict {
    DOCK_CODEVOL_MOUNT, /* volumes ready: mount them, copy nothing */
    DOCK_CODEVOL_FILL,  /* the caller fills (dock_codevol_fill), then dock_codevol_done */
    DOCK_CODEVOL_COPY,  /* table full: copy into the container as before */
    DOCK_CODEVOL_WAIT   /* another launch is filling: call again (after waiting) */
} dock_codevol_verdict;

/* The deploy key (FNV-1a 64) of a launch's code. */
uint64_t dock_codevol_key(const char *deploy_id, const char *image, unsigned dirs,
                          const fcb_launch_request *req);

/* Whether KEY is ready, without waiting (the tar need not be built then). */
bool dock_codevol_ready(dock_codevols *c, uint64_t key);

/*
 * The verdict for KEY; on WAIT it first waits up to WAIT_MS for the filler
 * (the caller loops, checking its own cancel token and deadline).
 */
dock_codevol_verdict dock_codevol_acquire(dock_codevols *c, uint64_t key, unsigned dirs,
                                          uint32_t wait_ms);

/* The filler of KEY is done: READY when OK, else FREE (the next launch fills). */
void dock_codevol_done(dock_codevols *c, uint64_t key, bool ok);

/* What a fill needs. */
typedef struct dock_codevol_fill_in {
    const char *instance_id;
    const char *deploy_id;
    uint64_t key;
    unsigned dirs;
    const char *image;
    const char *platform; /* create's platform= or NULL */
    const void *tar;
    size_t tar_len;
    uint32_t timeout_ms; /* per Engine call; 0 = defaults */
    const fcb_cancel *cancel;
} dock_codevol_fill_in;

/*
 * Create the volumes (deleting leftovers of a failed fill first), create
 * the helper container with them mounted, PUT the tar, remove the helper.
 * On failure nothing of it is left (best effort; the helper and volumes
 * carry our instance label, so reap_stale finds them after a crash).
 */
int dock_codevol_fill(dock_engine *engine, const dock_codevol_fill_in *in, fcb_error *err);

/* Add the read-only mounts of KEY's volumes to the create BODY (replaced; host allocator). */
int dock_codevol_mount(const fcb_host_services *host, char **body, const char *instance_id,
                       uint64_t key, unsigned dirs, fcb_error *err);

/*
 * close(): delete every code volume of this instance (not cancellable). A
 * volume a live container still mounts stays (logged) for reap_stale.
 */
void dock_codevols_remove_all(dock_codevols *c, dock_engine *engine, const char *instance_id);

#endif
