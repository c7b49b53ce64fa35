/*
 * sim_ctl: start, query and stop the simulated cluster (tests/kubesim/kubesim.py)
 * from a benchmark program. One simulator per simctl; not thread-safe except
 * simctl_get/simctl_post, which may be called from any thread.
 *
 * The simulator runs as a child process with --exit-with-parent, in its own
 * process group, and is stopped (SIGTERM, then SIGKILL after 5 s) by
 * simctl_stop, so a crashed benchmark never leaves it behind.
 */
#ifndef SIM_CTL_H
#define SIM_CTL_H

#include "bench_http.h"

#include <json-c/json.h>
#include <sys/types.h>

#define SIMCTL_ERR_MAX 1024

typedef struct simctl {
    pid_t pid;
    char dir[512];
    char url[256];
    char kubeconfig[768];      /* client-certificate kubeconfig */
    char ca[768];
    char client_cert[768];
    char client_key[768];
    char token[256];
    bhttp_client *admin;       /* for the admin paths under /_sim */
} simctl;

/*
 * Start `PYTHON [LAUNCHER] SCRIPT --dir DIR --exit-with-parent EXTRA_ARGS...`
 * and wait (at most 60 s) for its ready line. LAUNCHER (may be NULL) is a
 * wrapper script that runs SCRIPT (e.g. one that patches the simulator). extra_args is
 * NULL-terminated (may be NULL). Returns 0, or -1 with err.
 */
int simctl_start(simctl *sim, const char *python, const char *launcher, const char *script,
                 const char *dir, const char *const *extra_args, char err[SIMCTL_ERR_MAX]);
/* Stop the simulator and free the controller's resources. Safe to call twice. */
void simctl_stop(simctl *sim);

/*
 * GET or POST (JSON body) an API path or a kubesim admin path (/_sim/...); returns the parsed JSON body
 * (caller puts it) or NULL with err. Any non-2xx status is an error.
 */
json_object *simctl_get(simctl *sim, const char *path, char err[SIMCTL_ERR_MAX]);
json_object *simctl_post(simctl *sim, const char *method, const char *path, const char *body,
                         char err[SIMCTL_ERR_MAX]);

/* Shortcuts on a /_sim/stats document (0 when absent). */
long simctl_stat_long(json_object *stats, const char *key);

#endif
