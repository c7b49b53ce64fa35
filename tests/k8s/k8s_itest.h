/*
 * k8s_itest: harness of the k8s backend's integration tests.
 *
 * One harness = a kubesim, a bearer-protected artifact server (libmicrohttpd
 * on 127.0.0.1, serving a code zip and a layers tar built with libarchive),
 * a mock host configured with only KUBECONFIG (kubesim's token kubeconfig),
 * HOME and FAKECLOUD_K8S_SELF_URL, and the plugin loaded from the build dir
 * with the loader, exactly as a host loads it. itest_close() checks that the
 * plugin leaked nothing and records the API verbs the plugin used (requests
 * made with the token; the test itself uses the client certificate) in
 * K8S_RBAC_DIR for the RBAC test (apart for the api-proxy and auto endpoint
 * modes, which need pods/proxy).
 */
#ifndef K8S_ITEST_H
#define K8S_ITEST_H

#include "kubesim_ctl.h"
#include "loader.h"
#include "mock_host.h"

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#define ITEST_TOKEN "itest-internal-token-0123456789"

typedef struct itest {
    kubesim *sim;
    mock_host *mh;
    loader_plugin *plugin;
    const fcb_backend_ops *ops;
    fcb_backend *backend;
    struct MHD_Daemon *artifacts;
    unsigned artifact_port;
    char self_url[64];
    char *zip;
    size_t zip_len;
    char *tar;
    size_t tar_len;
    atomic_uint code_hits;
    atomic_uint layer_hits;
    atomic_uint auth_failures;
    char last_path[512];
    const char *test_name;
} itest;

/* Start kubesim (extra args may be NULL) and the artifact server; configure the mock host. */
void itest_start(itest *t, const char *test_name, const char *const *kubesim_args);
/* Load the plugin and open a backend with TOKEN (NULL = no token). Returns open's rc. */
int itest_open(itest *t, const char *token, fcb_error *err);
/* Close the backend, assert zero outstanding bytes, record the plugin's verbs. */
void itest_close(itest *t);
/* Unload, stop servers, free. Safe after a failed start/open. */
void itest_stop(itest *t);

/* A Zip python3.12 function named NAME with handler app.handler. */
fcb_function itest_zip_function(const char *name);
fcb_launch_request itest_request(const fcb_function *fn, const char *deploy_id);

/* POST an event to the RIE; returns the HTTP status, *out the parsed body. */
long itest_invoke(const char *endpoint, const char *event, json_object **out);

/* Number of pods (or secrets, leases) in NS matching SELECTOR (NULL = all). */
int itest_count(itest *t, const char *kind, const char *ns, const char *selector);
/* Create a Pod directly (test's own credentials) with the given labels JSON. */
void itest_create_pod(itest *t, const char *ns, const char *name, const char *labels_json);
void itest_create_secret(itest *t, const char *ns, const char *name, const char *labels_json);

/* Requests the plugin made (token auth) in kubesim's log; with VERB ("get pods/log") only those. */
int itest_plugin_requests(itest *t, const char *verb);

/* Set kubesim's faults (a JSON object, see tests/kubesim); asserts it was accepted. */
void itest_set_faults(itest *t, const char *json);
/*
 * A host process that dies without close: fork a child that opens a backend
 * of its own (T's mock host and config, as inherited), launches a function
 * FN_NAME, writes the handle into *HANDLE (256 bytes) through a pipe, then
 * waits to be killed (SIGKILL: no close, no cleanup). Returns the child's pid
 * once it launched; asserts on failure. The caller kills and reaps it.
 */
pid_t itest_fork_host(itest *t, const char *fn_name, char *handle);
/*
 * A host's cancel token (fcb_cancel) that a thread fires FIRE_AFTER_MS after
 * itest_cancel_start; without a start it never fires unless `fired` is set.
 * `polls` counts the plugin's checks; `fired_at_ms` is itest_now_ms() at firing.
 */
typedef struct itest_cancel {
    atomic_int fired;
    atomic_uint polls;
    unsigned fire_after_ms;
    double fired_at_ms;
    bool started;
    pthread_t thread;
} itest_cancel;
/* The token for a request's `cancel` member. */
fcb_cancel itest_cancel_token(itest_cancel *c);
void itest_cancel_start(itest_cancel *c, unsigned fire_after_ms);
/* Join the firing thread (no-op without a start). */
void itest_cancel_join(itest_cancel *c);

/* SIGKILL PID and wait for it. */
void itest_kill_host(pid_t pid);
/* Sleep MS milliseconds. */
void itest_sleep_ms(unsigned ms);
/* Milliseconds of CLOCK_MONOTONIC, for "does not hang" bounds. */
double itest_now_ms(void);

#endif
