/* kubesim_ctl: start, drive and stop the kubesim simulator (tests/kubesim/kubesim.py)
 * from C tests and benchmarks.
 *
 * kubesim_start() spawns `python3 KUBESIM_PY --dir <fresh temp dir> --exit-with-parent
 * [extra args]`, waits (at most 10 s) for its ready line and exposes the URL, the two
 * kubeconfigs, the CA / client certificate files and the token file. Requests to the
 * simulator use libcurl with the generated CA and client certificate (client-cert auth).
 * kubesim_stop() sends SIGTERM, waits at most 5 s (then SIGKILL) and removes the temp dir.
 *
 * Thread safety: a kubesim handle may be used from several threads for requests;
 * start/stop are not concurrent with anything else on the same handle.
 * Errors: functions return 0 (or an HTTP status) on success and a negative errno-style
 * value on failure; kubesim_last_error() describes the last failure of this thread.
 */
#ifndef KUBESIM_CTL_H
#define KUBESIM_CTL_H

#include <json-c/json.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kubesim kubesim;

/* Starts kubesim. extra_args: NULL or a NULL-terminated list of extra command-line
 * options (e.g. {"--terminating-seconds", "1", NULL}). On success *out owns the
 * simulator; release with kubesim_stop(). */
int kubesim_start(const char *const *extra_args, kubesim **out);

/* Options of kubesim_start_opts(); zero-initialise and set what you need (a zero field
 * means kubesim_start()'s behaviour). */
typedef struct kubesim_options {
    const char *const *extra_args; /* as for kubesim_start() */
    const char *python;            /* interpreter; NULL: $KUBESIM_PYTHON, else python3 */
    const char *script;            /* kubesim.py; NULL: $KUBESIM_PY, else the build's */
    int ready_timeout_ms;          /* wait for the ready line; 0: 10 s */
    long request_timeout_ms;       /* each kubesim_request(); 0: 15 s */
    int keep_connection;           /* non-zero: every request of this handle goes over one
                                      keep-alive connection (requests serialised), so
                                      after the first they add no connection or TLS
                                      handshake to /_sim/stats (benchmarks count those) */
} kubesim_options;

/* kubesim_start() with options (opts may be NULL = all defaults). Same ownership. */
int kubesim_start_opts(const kubesim_options *opts, kubesim **out);

/* Stops the simulator (SIGTERM, bounded wait, SIGKILL), removes its directory and frees
 * k. NULL is accepted. Returns the simulator's exit status (0 = clean) or -1. */
int kubesim_stop(kubesim *k);

/* Accessors; strings are owned by k and valid until kubesim_stop(). */
const char *kubesim_url(const kubesim *k);              /* https://127.0.0.1:PORT */
const char *kubesim_dir(const kubesim *k);              /* state directory */
const char *kubesim_kubeconfig(const kubesim *k);       /* client-cert kubeconfig */
const char *kubesim_kubeconfig_token(const kubesim *k); /* bearer-token kubeconfig */
const char *kubesim_ca_file(const kubesim *k);
const char *kubesim_client_cert_file(const kubesim *k);
const char *kubesim_client_key_file(const kubesim *k);
const char *kubesim_token_file(const kubesim *k);
pid_t kubesim_pid(const kubesim *k);

/* One HTTP request to the simulator with client-cert auth. body may be NULL;
 * content_type defaults to application/json. On success returns the HTTP status and,
 * if out != NULL, stores the parsed JSON response (NULL if the body is not JSON);
 * the caller frees it with json_object_put(). */
int kubesim_request(kubesim *k, const char *method, const char *path, const char *body,
                    const char *content_type, struct json_object **out);

/* GET path; returns the HTTP status (or < 0) and the parsed body in *out. */
int kubesim_get_json(kubesim *k, const char *path, struct json_object **out);

/* POST body (JSON text) to path; returns the HTTP status (or < 0); *out may be NULL. */
int kubesim_post_json(kubesim *k, const char *path, const char *body, struct json_object **out);

/* Count of requests for a "verb resource" key of /_sim/stats (e.g. "create pods");
 * 0 when absent, < 0 on error. */
long kubesim_stat_count(kubesim *k, const char *key);

/* POST /_sim/faults with a JSON object (e.g. "{\"error_rate\":0.5}"). */
int kubesim_set_faults(kubesim *k, const char *faults_json);

/* POST /_sim/reset: clears request counters and the request log (not objects). */
int kubesim_reset_stats(kubesim *k);

/* Atomically replaces the token file: the old token stops working at once. */
int kubesim_write_token(kubesim *k, const char *token);

/* Reads the current token into buf (NUL-terminated, trailing newline removed). */
int kubesim_read_token(const kubesim *k, char *buf, size_t len);

/* Description of the last failure on the calling thread ("" if none). */
const char *kubesim_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* KUBESIM_CTL_H */
