/*
 * run: one command of the sample host, and the steps commands share.
 *
 * A `run` owns everything one command acquires (host services, the loaded
 * plugin and its backend, the function, its code and layers, the artifact
 * server, the --json document, the signal thread); main.c creates it and
 * releases it with run_cleanup. The run_* steps return a host exit status
 * (enum host_exit) and report their own failure (run_fail): a command chains
 * them and stops at the first one that is not HOST_EXIT_OK.
 * Used from the main thread only (the signal thread touches `sig` alone).
 */
#ifndef FCB_HOST_RUN_H
#define FCB_HOST_RUN_H

#include "artifact_server.h"
#include "cli.h"
#include "credentials.h"
#include "function_json.h"
#include "host_services.h"
#include "loader.h"
#include "signals.h"

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

#include <stddef.h>

enum host_exit {
    HOST_EXIT_OK = 0,
    HOST_EXIT_FAILED = 1,         /* the operation failed (plugin error, invoke failed) */
    HOST_EXIT_USAGE = 2,          /* bad command line, function JSON, zip or payload */
    HOST_EXIT_LOAD = 3,           /* backend not found, refused, init or open failed */
    HOST_EXIT_LEAK = 4,           /* everything worked but the plugin leaked memory */
    HOST_EXIT_NOT_TERMINATED = 5, /* invoke answered, but terminating the instance failed */
    HOST_EXIT_TEMPFAIL = 75,      /* unreachable, throttled or timed out: retry may help */
    HOST_EXIT_INTERRUPTED = HOST_SIGNALS_EXIT, /* SIGINT, SIGTERM or SIGHUP */
};

#define HOST_WHY_MAX 2048

typedef struct run {
    cli_options opt;
    host_services *hs;
    loader_plugin *plugin;
    fcb_backend *backend;
    function_desc *desc;
    unsigned char *code;
    size_t code_len;
    unsigned char *layers[CLI_MAX_LAYERS];
    size_t layer_lens[CLI_MAX_LAYERS];
    unsigned char *layers_tar;
    size_t layers_tar_len;
    char deploy_id[17];
    char token[65];
    artifact_server *artifacts;
    host_credentials creds; /* --role-credentials; creds.access_key_id NULL = none */
    json_object *out; /* the --json document; NULL once a failure document is printed */
    host_signals sig;
} run;

/*
 * Report a failure: a line on stderr always, and with --json a failure
 * document on stdout (r->out is dropped: nothing more goes to stdout).
 * Returns EXIT_CODE. STATUS is the fcb_status named in the document.
 */
int run_fail(run *r, int exit_code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Exit status for a plugin's failure STATUS: retry may help (75), bad
 * configuration (3), bad input (2), else OTHERWISE.
 */
int run_exit_for(int status, int otherwise);

/* Whether a signal came (SIGINT, SIGTERM, SIGHUP). */
bool run_interrupted(run *r);

/*
 * The compiled-in plugin directories searched after FAKECLOUD_BACKEND_PATH:
 * the build tree's (when known), then the install directory; NULL-terminated.
 */
void run_default_dirs(const char *dirs[3]);

/* Resolve (--backend or FAKECLOUD_LAMBDA_BACKEND) and load the backend plugin. */
int run_backend_load(run *r);

/* Open the loaded backend with the internal token. */
int run_backend_open(run *r);

/*
 * Close the backend, unload the plugin and check the plugin's memory.
 * Returns EXIT, or HOST_EXIT_LEAK when EXIT was OK and the plugin leaked.
 */
int run_backend_release(run *r, int exit);

/*
 * Generate the internal token and start the artifact server; answer
 * FAKECLOUD_K8S_SELF_URL with its URL when the environment does not. Every
 * command that opens a backend does this, so a backend that needs both at
 * open (k8s) also works for terminate and reap.
 */
int run_start_artifacts(run *r);

/*
 * Terminate HANDLE. Returns FCB_OK or the plugin's status with `why` filled
 * (not reported: the exit status depends on the command).
 */
int run_terminate_handle(run *r, const char *handle, char *why, size_t why_size);

/* Terminate HANDLE and report a failure; returns an exit status. */
int run_terminate(run *r, const char *handle);

/*
 * Whether the loaded plugin's operation table has OP (within the size the
 * plugin wrote, and not NULL): the check before any optional or 1.1 op.
 */
#define RUN_HAS_OP(r, op)                                                                     \
    ((r)->plugin->ops_size >= offsetof(fcb_backend_ops, op) + sizeof((r)->plugin->ops->op) && \
     (r)->plugin->ops->op != NULL)

/* The FCB_CAP_* bits of the loaded plugin's descriptor (0 for a 1.0 one). */
uint64_t run_capabilities(const run *r);

/*
 * --stats: hand the backend's metrics (its stats op) to stderr as one JSON
 * object, or to the --json document as "stats". A backend without the op:
 * a warning. Never changes the exit status.
 */
void run_print_stats(run *r);

/*
 * The last LIMIT bytes of HANDLE's log through the logs op, malloc'd and
 * NUL-terminated in *TEXT (*LEN bytes). Returns FCB_OK, or the plugin's
 * status (FCB_ERR_UNSUPPORTED without the op) with `why` filled.
 */
int run_log_tail(run *r, const char *handle, size_t limit, char **text, size_t *len, char *why,
                 size_t why_size);

#endif
