/*
 * rel_common: helpers every reliability test shares.
 *
 * Process probes (threads, RSS, open descriptors), a default launch request,
 * a check that an fcb_error is a "clean error", and the plugin target
 * description the sweep and unload tests iterate over. Test code only:
 * failures are Criterion assertions.
 */
#ifndef REL_COMMON_H
#define REL_COMMON_H

#include <fakecloud/backend_plugin.h>
#include <loader.h>
#include <mock_host.h>

#include <stdbool.h>
#include <stddef.h>

/* Threads of this process (entries of /proc/self/task). */
size_t rel_thread_count(void);
/* Wait (at most timeout_ms) until the thread count is at most `want`; returns the last count. */
size_t rel_wait_threads(size_t want, unsigned timeout_ms);
/* Resident set size of this process in KiB (/proc/self/statm). */
size_t rel_rss_kib(void);
/* Open file descriptors of this process. */
size_t rel_fd_count(void);
/* Milliseconds of CLOCK_MONOTONIC. */
double rel_now_ms(void);

/*
 * Assert that (rc, err) is a clean failure: rc a known negative fcb_status,
 * err->code == rc and a non-empty, NUL-terminated message. `what` names the
 * call in the assertion message.
 */
void rel_assert_clean_error(int rc, const fcb_error *err, const char *what);

/* A small valid zip (one file "app.py") for Zip launches. */
extern const unsigned char rel_code_zip[];
extern const size_t rel_code_zip_len;

/*
 * A launchable backend under test: where its plugin is, how to configure the
 * mock host for it, what to launch, and how to count what it left in its
 * orchestrator. Callbacks may be NULL.
 */
typedef struct rel_target {
    const char *name;        /* "test", "k8s", "docker" */
    const char *plugin_path; /* the .so */
    void *ctx;
    void (*configure)(void *ctx, mock_host *mh);
    const fcb_launch_request *request;
    const char *internal_token; /* fcb_open_params.internal_token */
    /* Objects (Pods, Secrets, containers) left behind; < 0 on probe failure. */
    long (*count_objects)(void *ctx);
    /* Create one stale object of another (dead) instance for reap_stale to remove. */
    void (*plant_stale)(void *ctx);
    /* Descriptors the test's own in-process servers may keep open (keep-alive). */
    size_t fd_slack;
    /* Image for the prepull sweep (NULL: not swept). */
    const char *prepull_image;
    /* A launch that must fail cleanly, e.g. an unpullable image (NULL: not swept). */
    const fcb_launch_request *failing_request;
    /* An image whose prepull must fail cleanly (NULL: not swept). */
    const char *failing_prepull_image;
    /* Threads the backend starts with its first launch and keeps until close
     * (a lease renewal thread), and threads one live instance keeps: the sweep
     * waits for the open count plus these before it takes its baseline. */
    size_t launch_threads;
    size_t instance_threads;
} rel_target;

/* Launch request for a Zip function "rel-fn" (python3.12, app.handler, rel_code_zip). */
void rel_default_request(fcb_function *fn, fcb_launch_request *req);

/*
 * A plugin loaded through the host's loader with SVC and one backend opened
 * on it (both asserted to succeed; INTERNAL_TOKEN may be NULL). Close with
 * rel_session_close, which closes the backend and unloads the plugin.
 */
typedef struct rel_session {
    loader_plugin *plugin;
    fcb_backend *backend;
} rel_session;

void rel_session_open(rel_session *s, const fcb_host_services *svc, const char *plugin_path,
                      const char *internal_token);
void rel_session_close(rel_session *s);

/* Open a session, call reap_stale once (asserted to succeed), close; returns
 * how many instances it reaped. */
size_t rel_reap_once(const fcb_host_services *svc, const char *plugin_path,
                     const char *internal_token);

#endif
