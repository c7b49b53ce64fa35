/*
 * kube_pool: waiters are nodes on their own stacks in a FIFO; a released
 * slot goes straight to the head waiter, so no thread can overtake one that
 * waits longer. Waits re-check flags at least every POOL_POLL_MS.
 */
#include "kube_pool.h"

#include "http.h"
#include "svc.h"

#include <string.h>
#include <time.h>

/* A slot waiter re-checks cancel / stop flags at least this often. */
#define POOL_POLL_MS 50u

/* A thread waiting for a slot: FIFO queue node on its stack. */
struct kube_pool_waiter {
    pthread_cond_t cond;
    kube_conn *granted; /* set by release when handing a slot over */
    bool wake;          /* re-check flags / capacity */
    struct kube_pool_waiter *next;
};

kube_conn *kube_conn_new(const fcb_host_services *host)
{
    kube_conn *k = svc_calloc(host, 1, sizeof *k);
    if (k == NULL)
        return NULL;
    k->multi = curl_multi_init();
    k->easy = curl_easy_init();
    if (k->multi == NULL || k->easy == NULL) {
        kube_conn_free(host, k);
        return NULL;
    }
    /* One keep-alive connection per slot: the pool's size is the connection cap. */
    curl_multi_setopt(k->multi, CURLMOPT_MAXCONNECTS, 1L);
    return k;
}

void kube_conn_free(const fcb_host_services *host, kube_conn *conn)
{
    if (conn == NULL)
        return;
    curl_easy_cleanup(conn->easy);
    curl_multi_cleanup(conn->multi);
    svc_free(host, conn);
}

void kube_pool_init(kube_pool *pool, const fcb_host_services *host, unsigned max,
                    const atomic_bool *cancelled)
{
    memset(pool, 0, sizeof *pool);
    pool->host = host;
    pool->max = max;
    pool->cancelled = cancelled;
    pthread_mutex_init(&pool->lock, NULL);
    atomic_init(&pool->waits, 0);
}

void kube_pool_destroy(kube_pool *pool)
{
    for (kube_conn *k = pool->idle, *next; k != NULL; k = next) {
        next = k->next;
        kube_conn_free(pool->host, k);
    }
    pool->idle = NULL;
    pthread_mutex_destroy(&pool->lock);
}

/* Under the lock: unlink W from the waiter queue (if queued). */
static void waiter_unlink(kube_pool *pool, kube_pool_waiter *w)
{
    kube_pool_waiter *prev = NULL;
    for (kube_pool_waiter *p = pool->wait_head; p != NULL; prev = p, p = p->next) {
        if (p != w)
            continue;
        if (prev != NULL)
            prev->next = p->next;
        else
            pool->wait_head = p->next;
        if (pool->wait_tail == p)
            pool->wait_tail = prev;
        p->next = NULL;
        return;
    }
}

/* Under the lock: the first waiter re-checks (a slot may be creatable again). */
static void wake_head_locked(kube_pool *pool)
{
    if (pool->wait_head != NULL) {
        pool->wait_head->wake = true;
        pthread_cond_signal(&pool->wait_head->cond);
    }
}

void kube_pool_release(kube_pool *pool, kube_conn *conn)
{
    pthread_mutex_lock(&pool->lock);
    kube_pool_waiter *w = pool->wait_head;
    if (w != NULL) {
        pool->wait_head = w->next;
        if (pool->wait_tail == w)
            pool->wait_tail = NULL;
        w->next = NULL;
        w->granted = conn;
        pthread_cond_signal(&w->cond);
    } else {
        conn->next = pool->idle;
        pool->idle = conn;
    }
    pthread_mutex_unlock(&pool->lock);
}

void kube_pool_wake(kube_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    for (kube_pool_waiter *w = pool->wait_head; w != NULL; w = w->next) {
        w->wake = true;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&pool->lock);
}

void kube_pool_stats(kube_pool *pool, unsigned long *connections, unsigned long *waits)
{
    pthread_mutex_lock(&pool->lock);
    *connections = pool->n_slots;
    pthread_mutex_unlock(&pool->lock);
    *waits = atomic_load(&pool->waits);
}

/* Under the lock: an idle slot, or the right to create one (*create). */
static kube_conn *take_locked(kube_pool *pool, bool *create)
{
    *create = false;
    kube_conn *k = pool->idle;
    if (k != NULL) {
        pool->idle = k->next;
        k->next = NULL;
        return k;
    }
    if (pool->n_slots < pool->max) {
        pool->n_slots++;
        *create = true;
    }
    return NULL;
}

static void timespec_at(struct timespec *ts, uint64_t wait_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(wait_ms / 1000);
    ts->tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/*
 * Under the lock: queue W and wait until it is granted a slot, may take or
 * create one at the head of the queue, or gives up (cancel, stop, deadline).
 * Bounded by DEADLINE; every wait is at most POOL_POLL_MS.
 */
static int wait_locked(kube_pool *pool, kube_pool_waiter *w, const atomic_bool *stop,
                       uint64_t deadline, kube_conn **k, bool *create)
{
    if (pool->wait_tail != NULL)
        pool->wait_tail->next = w;
    else
        pool->wait_head = w;
    pool->wait_tail = w;
    atomic_fetch_add(&pool->waits, 1);
    for (;;) {
        if (w->granted != NULL) {
            *k = w->granted;
            return FCB_OK;
        }
        if (atomic_load(pool->cancelled) || (stop != NULL && atomic_load(stop)))
            return FCB_ERR_CANCELLED;
        uint64_t now = http_now_ms();
        if (deadline != 0 && now >= deadline)
            return FCB_ERR_TIMEOUT;
        if (pool->wait_head == w && (*k = take_locked(pool, create)) != NULL)
            return FCB_OK;
        if (*create)
            return FCB_OK;
        uint64_t wait = POOL_POLL_MS;
        if (deadline != 0 && deadline - now < wait)
            wait = deadline - now;
        struct timespec ts;
        timespec_at(&ts, wait);
        w->wake = false;
        /* Spurious wakeups and timeouts only re-run the checks above. */
        while (w->granted == NULL && !w->wake &&
               pthread_cond_timedwait(&w->cond, &pool->lock, &ts) == 0)
            ;
    }
}

int kube_pool_acquire(kube_pool *pool, const atomic_bool *stop, uint64_t deadline, kube_conn **out)
{
    bool create = false;
    int rc = FCB_OK;
    *out = NULL;
    pthread_mutex_lock(&pool->lock);
    kube_conn *k = pool->wait_head == NULL ? take_locked(pool, &create) : NULL;
    if (k == NULL && !create) {
        kube_pool_waiter w = {.granted = NULL, .wake = false, .next = NULL};
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&w.cond, &attr);
        pthread_condattr_destroy(&attr);
        /* W lives on this stack frame only while queued: every way out of
         * wait_locked leaves it unlinked here (or the releaser did). */
        rc = wait_locked(pool, &w, stop, deadline, &k, &create);
        if (w.granted == NULL)
            waiter_unlink(pool, &w);
        /* Whoever queues behind us may now be first and able to take a slot. */
        wake_head_locked(pool);
        pthread_cond_destroy(&w.cond);
    }
    pthread_mutex_unlock(&pool->lock);
    if (rc != FCB_OK)
        return rc;
    if (create) {
        k = kube_conn_new(pool->host);
        if (k == NULL) {
            pthread_mutex_lock(&pool->lock);
            pool->n_slots--;
            wake_head_locked(pool);
            pthread_mutex_unlock(&pool->lock);
            return FCB_ERR_NO_MEMORY;
        }
        *out = k;
        return FCB_OK;
    }
    curl_easy_reset(k->easy);
    *out = k;
    return FCB_OK;
}
