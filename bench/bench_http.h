/*
 * bench_http: the k8s baseline's API client, and the baselines' TCP probe.
 *
 * Its own code on purpose, neither the plugins' client (a baseline must be
 * independent of the code it is compared with) nor the test support's
 * kubesim_ctl or the host's invoker: it reproduces how the reference talks to
 * the API server, and figure 3 counts its connections. kube-rs sends through
 * hyper's pool, which keeps every idle keep-alive connection, opens a new one
 * whenever none is idle, and resumes TLS sessions; so a bhttp_client holds a
 * base URL, TLS material and a curl share handle that pools connections, TLS
 * sessions and DNS across threads, with no cap on idle connections, and
 * kube-rs' timeouts. Each request uses its own easy handle, so bhttp_request
 * is thread-safe on one client.
 * The probe is one TCP connect, what the reference's tokio TcpStream::connect
 * readiness check does.
 */
#ifndef BENCH_HTTP_H
#define BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define BHTTP_ERR_MAX 512

typedef struct bhttp_tls {
    const char *ca_file;      /* PEM CA bundle, NULL = no TLS verification material */
    const char *cert_file;    /* client certificate (PEM) or NULL */
    const char *key_file;     /* client key (PEM) or NULL */
    const char *bearer_token; /* "Authorization: Bearer ..." or NULL */
} bhttp_tls;

typedef struct bhttp_client bhttp_client;

/*
 * New client for BASE_URL ("https://127.0.0.1:6443"); strings are copied.
 * Returns NULL when out of memory; free with bhttp_client_free.
 */
bhttp_client *bhttp_client_new(const char *base_url, const bhttp_tls *tls);
void bhttp_client_free(bhttp_client *client);

typedef struct bhttp_response {
    long status; /* HTTP status; 0 when the request failed before a response */
    char *body;  /* NUL-terminated body, "" when empty (malloc'd, bhttp_response_free) */
    size_t len;
} bhttp_response;

/*
 * METHOD PATH (path + query, already escaped) with an optional JSON body.
 * Returns 0 when a response arrived (any status), -1 with `err` filled on a
 * transport failure or a body larger than 512 MiB. Connect timeout 30 s;
 * timeout_ms bounds the whole transfer (0 = 295 s); both are kube-rs'
 * defaults, so the baseline gives up when the reference would.
 */
int bhttp_request(bhttp_client *client, const char *method, const char *path, const char *body,
                  long timeout_ms, bhttp_response *resp, char err[BHTTP_ERR_MAX]);
void bhttp_response_free(bhttp_response *resp);

/* Connections opened by this client so far (curl's CURLINFO_NUM_CONNECTS sum). */
long bhttp_client_connects(bhttp_client *client);

/*
 * One TCP connect to ip:port with a timeout (ms). Returns 0 when the
 * connection was accepted (and closes it), -1 otherwise.
 */
int bhttp_tcp_probe(const char *ip, int port, int timeout_ms);

#endif
