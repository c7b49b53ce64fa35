/*
 * kube_pool: the bounded pool of keep-alive connections a kube_client's
 * requests share.
 *
 * A slot (kube_conn) is an easy handle plus the multi handle whose
 * connection cache (CURLMOPT_MAXCONNECTS 1) keeps its one keep-alive
 * connection; one thread uses a slot at a time. A request takes an idle
 * slot, makes a new one while fewer than `max` exist, else waits in FIFO
 * order for the next one released. A watch owns a dedicated slot outside
 * the pool (kube_conn_new). (libcurl 7.88's shared connection cache,
 * CURL_LOCK_DATA_CONNECT, is not thread-safe: known bug 11.11; the client's
 * share handle only shares TLS sessions and DNS.)
 *
 * One lock (the pool's own); thread-safe.
 */
#ifndef FCB_KUBE_POOL_H
#define FCB_KUBE_POOL_H

#include <fakecloud/backend_plugin.h>

#include <curl/curl.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct kube_conn {
    CURLM *multi;
    CURL *easy;
    struct kube_conn *next;
} kube_conn;

typedef struct kube_pool_waiter kube_pool_waiter;

typedef struct kube_pool {
    const fcb_host_services *host;
    const atomic_bool *cancelled; /* the client's: waiters give up when raised */
    unsigned max;                 /* slots at most */
    pthread_mutex_t lock;
    kube_conn *idle;                         /* idle slots */
    unsigned n_slots;                        /* slots created (<= max) */
    kube_pool_waiter *wait_head, *wait_tail; /* FIFO of threads waiting */
    atomic_ulong waits;                      /* acquisitions that queued */
} kube_pool;

/* A slot outside any pool (a watch stream); NULL without memory. Free with kube_conn_free. */
kube_conn *kube_conn_new(const fcb_host_services *host);
void kube_conn_free(const fcb_host_services *host, kube_conn *conn);

/* Set up an empty pool of at most MAX slots; CANCELLED must outlive it. */
void kube_pool_init(kube_pool *pool, const fcb_host_services *host, unsigned max,
                    const atomic_bool *cancelled);
/* Free every slot; no slot may be in use and no thread waiting. */
void kube_pool_destroy(kube_pool *pool);

/*
 * A slot, reset for a new transfer. Waits until DEADLINE (monotonic ms,
 * http_now_ms; 0 = none) unless the pool's cancel flag or *STOP (may be
 * NULL) is raised. Returns FCB_OK, FCB_ERR_TIMEOUT, FCB_ERR_CANCELLED or
 * FCB_ERR_NO_MEMORY (a new slot could not be made). Give it back with
 * kube_pool_release.
 */
int kube_pool_acquire(kube_pool *pool, const atomic_bool *stop, uint64_t deadline, kube_conn **out);
/* Hand CONN to the longest waiter, else keep it idle. */
void kube_pool_release(kube_pool *pool, kube_conn *conn);
/* Make every waiter re-check its flags (after raising one). */
void kube_pool_wake(kube_pool *pool);
/* Slots created so far and acquisitions that had to queue. */
void kube_pool_stats(kube_pool *pool, unsigned long *connections, unsigned long *waits);

#endif
