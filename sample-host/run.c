/* run: failure reporting and the steps every command shares (load, open, release). */
#include "run.h"

#include "code_bundle.h"
#include "output.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int run_fail(run *r, int exit_code, int status, const char *fmt, ...)
{
    char message[HOST_WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fprintf(stderr, HOST_PROG ": %s\n", message);
    if (r->opt.json) {
        output_json_error(exit_code, fcb_status_name(status), message);
        json_object_put(r->out);
        r->out = NULL; /* printed: nothing more goes to stdout */
    }
    return exit_code;
}

bool run_interrupted(run *r)
{
    return signals_interrupted(&r->sig) != 0;
}

void run_default_dirs(const char *dirs[3])
{
    size_t n = 0;
    if (FCB_HOST_PLUGIN_BUILD_DIR[0] != '\0')
        dirs[n++] = FCB_HOST_PLUGIN_BUILD_DIR;
    dirs[n++] = FCB_HOST_PLUGIN_INSTALL_DIR;
    dirs[n] = NULL;
}

/*
 * Exit status for a plugin's failure STATUS: retry may help (75), bad
 * configuration (3), bad input (2), else OTHERWISE.
 */
int run_exit_for(int status, int otherwise)
{
    switch (status) {
    case FCB_ERR_UNAVAILABLE:
    case FCB_ERR_TIMEOUT: return HOST_EXIT_TEMPFAIL;
    case FCB_ERR_CONFIG: return HOST_EXIT_LOAD;
    case FCB_ERR_INVALID_ARGUMENT: return HOST_EXIT_USAGE;
    default: return otherwise;
    }
}

static bool report_memory(run *r)
{
    return r->opt.verbose || host_services_min_level(r->hs) <= FCB_LOG_DEBUG;
}

/* Resolve and load the backend; returns an exit code. */
int run_backend_load(run *r)
{
    char why[LOADER_WHY_MAX];
    const char *name = r->opt.backend;
    if (name == NULL)
        name = host_services_config(r->hs, "FAKECLOUD_LAMBDA_BACKEND");
    if (name == NULL || name[0] == '\0')
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_CONFIG,
                        "no backend chosen: set FAKECLOUD_LAMBDA_BACKEND or pass --backend "
                        "(see `backends`)");
    const char *defaults[3];
    run_default_dirs(defaults);
    char *path = NULL;
    if (loader_resolve(name, host_services_config(r->hs, "FAKECLOUD_BACKEND_PATH"), defaults, &path,
                       why) != 0)
        return run_fail(r, HOST_EXIT_LOAD, FCB_ERR_NOT_FOUND, "%s", why);
    int rc = loader_load(path, host_services_table(r->hs), &r->plugin, why);
    if (rc != FCB_OK) {
        int ret = run_fail(r, HOST_EXIT_LOAD, rc, "%s", why);
        free(path);
        return ret;
    }
    host_log(r->hs, FCB_LOG_DEBUG, "backend loaded", "file", path, "name",
             r->plugin->descriptor->name, "version", r->plugin->descriptor->version, NULL);
    free(path);
    return HOST_EXIT_OK;
}

int run_backend_open(run *r)
{
    fcb_open_params params = {sizeof params, r->token};
    fcb_error err = FCB_ERROR_INIT;
    signals_set_phase(&r->sig,
                      "the backend's open cannot be cancelled (ABI 1.0) and was abandoned; it "
                      "creates nothing, so nothing is left behind");
    int rc = r->plugin->ops->open(host_services_table(r->hs), &params, &r->backend, &err);
    signals_set_phase(&r->sig, NULL);
    if (rc != FCB_OK) {
        r->backend = NULL;
        int exit = rc == FCB_ERR_UNAVAILABLE || rc == FCB_ERR_TIMEOUT ? HOST_EXIT_TEMPFAIL
                                                                      : HOST_EXIT_LOAD;
        if (run_interrupted(r))
            exit = HOST_EXIT_INTERRUPTED;
        return run_fail(r, exit, rc, "backend %s: open failed: %s (%s)", r->plugin->ops->name,
                        err.message[0] ? err.message : "no reason given", fcb_status_name(rc));
    }
    if (run_interrupted(r))
        return run_fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED, "interrupted during open");
    return HOST_EXIT_OK;
}

/*
 * Close the backend, unload the plugin and check the plugin's memory.
 * Returns EXIT (or HOST_EXIT_LEAK when EXIT was OK and the plugin leaked).
 */
int run_backend_release(run *r, int exit)
{
    if (r->plugin == NULL)
        return exit;
    if (r->backend != NULL)
        r->plugin->ops->close(r->backend);
    r->backend = NULL;
    size_t bytes = host_services_outstanding_bytes(r->hs);
    size_t blocks = host_services_outstanding_blocks(r->hs);
    char name[64];
    snprintf(name, sizeof name, "%s", r->plugin->descriptor->name);
    loader_unload(r->plugin);
    r->plugin = NULL;
    if (bytes != 0 || blocks != 0) {
        fprintf(stderr, HOST_PROG ": plugin %s leaked %zu bytes in %zu blocks after close\n", name,
                bytes, blocks);
        if (exit == HOST_EXIT_OK) {
            if (r->out != NULL) {
                json_object_object_add(r->out, "leaked_bytes",
                                       json_object_new_int64((int64_t)bytes));
                json_object_object_add(r->out, "ok", json_object_new_boolean(0));
            }
            return HOST_EXIT_LEAK;
        }
    } else if (report_memory(r)) {
        char b[32];
        snprintf(b, sizeof b, "%zu", bytes);
        host_log(r->hs, FCB_LOG_DEBUG, "plugin memory after close", "plugin", name,
                 "outstanding_bytes", b, NULL);
    }
    return exit;
}

/*
 * Generate the internal token and start the artifact server; answer
 * FAKECLOUD_K8S_SELF_URL with its URL when the environment does not. Every
 * command that opens a backend does this, so a backend that needs both at
 * open (k8s) also works for terminate and reap.
 */
int run_start_artifacts(run *r)
{
    char why[HOST_WHY_MAX];
    if (bundle_token_new(r->token) != 0)
        return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_INTERNAL, "random token: gnutls_rnd failed");
    const char *listen = r->opt.artifact_listen ? r->opt.artifact_listen : "127.0.0.1:0";
    if (artifact_server_start(listen, r->token, r->hs, &r->artifacts, why, sizeof why) != 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s", why);
    const char *url = artifact_server_url(r->artifacts);
    if (host_services_config(r->hs, "FAKECLOUD_K8S_SELF_URL") == NULL) {
        if (host_services_set_default(r->hs, "FAKECLOUD_K8S_SELF_URL", url) != 0)
            return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "out of memory");
        host_log(r->hs, FCB_LOG_INFO,
                 "FAKECLOUD_K8S_SELF_URL not set: plugins see the artifact server's URL", "url",
                 url, NULL);
    }
    host_log(r->hs, FCB_LOG_DEBUG, "artifact server listening", "url", url, NULL);
    return HOST_EXIT_OK;
}

/*
 * Terminate HANDLE. Returns FCB_OK or the plugin's status with `why` filled
 * (the caller reports it: the exit status depends on the command).
 */
int run_terminate_handle(run *r, const char *handle, char *why, size_t why_size)
{
    fcb_error err = FCB_ERROR_INIT;
    signals_set_phase(&r->sig,
                      "terminate %s was in progress and may not have completed (run `terminate %s` "
                      "again, or `reap`)",
                      handle, handle);
    int rc = r->plugin->ops->terminate(r->backend, handle, &err);
    signals_set_phase(&r->sig, NULL);
    if (rc != FCB_OK) {
        snprintf(why, why_size, "terminate %s failed: %s (%s)", handle,
                 err.message[0] ? err.message : "no reason given", fcb_status_name(rc));
        return rc;
    }
    host_log(r->hs, FCB_LOG_INFO, "instance terminated", "handle", handle, NULL);
    return FCB_OK;
}

int run_terminate(run *r, const char *handle)
{
    char why[HOST_WHY_MAX];
    int rc = run_terminate_handle(r, handle, why, sizeof why);
    if (rc != FCB_OK)
        return run_fail(r, run_exit_for(rc, HOST_EXIT_FAILED), rc, "%s", why);
    return HOST_EXIT_OK;
}

uint64_t run_capabilities(const run *r)
{
    const fcb_plugin_descriptor *d = r->plugin != NULL ? r->plugin->descriptor : NULL;
    return FCB_HAS_MEMBER(d, fcb_plugin_descriptor, capabilities) ? d->capabilities : 0;
}
