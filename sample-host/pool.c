/*
 * pool: groups of warm instances under one lock and condition; backend
 * calls outside it. A "slot" is one unit of the account limit: taken when a
 * launch starts, given back only once the instance is terminated, so the
 * orchestrator never holds more than max_instances of ours.
 */
#include "pool.h"

#include "invoker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The call is bounded this long above the function's timeout (the RIE answers first). */
#define POOL_TIMEOUT_MARGIN_MS 2000L
/* Instances tried for one call: only a refused connection moves on. */
#define POOL_ATTEMPTS_MAX 3
/* Threads terminating a batch of instances at once (shutdown, retire, keep-alive). */
#define POOL_END_THREADS 8
/* Bounds of the wait loops (each round waits on the condition). */
#define POOL_ROUNDS_MAX 1000000u

typedef struct pool_group pool_group;

typedef struct pool_instance {
    struct pool_instance *next; /* in the group's idle list */
    pool_group *group;
    fcb_instance inst;
    int64_t idle_since_ms;
} pool_instance;

struct pool_group {
    pool_group *next;
    char *key;
    char *function;
    pool_instance *idle; /* most recently used first */
    unsigned n_idle, n_busy, n_launching;
    unsigned holders; /* pool_hold calls not yet matched by pool_retire */
    bool retired;
};

struct pool {
    pool_backend be;
    pool_config cfg;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* an instance or slot freed up, a call ended, closing */
    pthread_cond_t reaper_wake;
    pool_group *groups;
    unsigned slots;   /* instances launching, busy, idle or being terminated */
    unsigned calls;   /* pool_invoke calls in flight */
    unsigned waiting; /* of which waiting for an instance */
    bool closing;
    bool reaper_stop;
    pthread_t reaper;
    atomic_bool cancelled; /* pool_shutdown: cancel tokens of calls in flight fire */
    uint64_t launches, terminations, evictions, throttles, retries;
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static double elapsed_ms(const struct timespec *since)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - since->tv_sec) * 1e3 + (double)(t.tv_nsec - since->tv_nsec) / 1e6;
}

/* An absolute CLOCK_MONOTONIC time MS from now (the conditions use that clock). */
static struct timespec deadline_in(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

/* The backend's op OP is within the size it wrote and not NULL (as RUN_HAS_OP). */
#define POOL_HAS_OP(p, op)                                                          \
    ((p)->be.ops_size >= offsetof(fcb_backend_ops, op) + sizeof((p)->be.ops->op) && \
     (p)->be.ops->op != NULL)

static void pool_log(pool *p, fcb_log_level level, const char *msg, const char *k1, const char *v1,
                     const char *k2, const char *v2)
{
    if (p->be.log != NULL)
        host_log(p->be.log, level, msg, k1, v1, k2, v2, NULL);
}

/* ---- groups (lock held) ---------------------------------------------------- */

static pool_group *group_find(pool *p, const char *key)
{
    for (pool_group *g = p->groups; g != NULL; g = g->next)
        if (strcmp(g->key, key) == 0)
            return g;
    return NULL;
}

static pool_group *group_get(pool *p, const char *key, const char *function)
{
    pool_group *g = group_find(p, key);
    if (g != NULL)
        return g;
    g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->key = strdup(key);
    g->function = strdup(function);
    if (g->key == NULL || g->function == NULL) {
        free(g->key);
        free(g->function);
        free(g);
        return NULL;
    }
    g->next = p->groups;
    p->groups = g;
    return g;
}

/* Free G once nothing refers to it. */
static void group_release(pool *p, pool_group *g)
{
    if (g->n_idle + g->n_busy + g->n_launching + g->holders > 0)
        return;
    for (pool_group **pp = &p->groups; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    free(g->key);
    free(g->function);
    free(g);
}

/* Busy and launching instances of FUNCTION, all groups (what reserved concurrency bounds). */
static unsigned function_active(pool *p, const char *function)
{
    unsigned n = 0;
    for (pool_group *g = p->groups; g != NULL; g = g->next)
        if (strcmp(g->function, function) == 0)
            n += g->n_busy + g->n_launching;
    return n;
}

/* Unlink and return the least recently used idle instance of any group but SKIP. */
static pool_instance *take_lru_idle(pool *p, const pool_group *skip)
{
    pool_instance *best = NULL;
    for (pool_group *g = p->groups; g != NULL; g = g->next) {
        if (g == skip)
            continue;
        for (pool_instance *in = g->idle; in != NULL; in = in->next)
            if (in->next == NULL && (best == NULL || in->idle_since_ms < best->idle_since_ms))
                best = in;
    }
    if (best == NULL)
        return NULL;
    pool_group *g = best->group;
    for (pool_instance **pp = &g->idle; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == best) {
            *pp = best->next;
            break;
        }
    }
    g->n_idle--;
    best->next = NULL;
    return best;
}

/* ---- backend calls (lock not held) ------------------------------------------ */

/*
 * Terminate IN and free it; its slot goes back unless KEEP_SLOT (it passes
 * to a launch). The lock is taken briefly.
 */
static void instance_end(pool *p, pool_instance *in, bool evicted, bool keep_slot)
{
    fcb_error err = FCB_ERROR_INIT;
    int rc = p->be.ops->terminate(p->be.backend, in->inst.handle, &err);
    if (rc != FCB_OK)
        pool_log(p, FCB_LOG_WARN, "pool: terminate failed", "handle", in->inst.handle, "error",
                 err.message);
    pthread_mutex_lock(&p->lock);
    if (!keep_slot)
        p->slots--;
    p->terminations++;
    if (evicted)
        p->evictions++;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    free(in);
}

/* The instance is gone or dead according to the backend's status op (no op: alive). */
static bool instance_dead(pool *p, const pool_instance *in)
{
    if (!POOL_HAS_OP(p, status))
        return false;
    fcb_instance_status st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    fcb_error err = FCB_ERROR_INIT;
    if (p->be.ops->status(p->be.backend, in->inst.handle, &st, &err) != FCB_OK)
        return false; /* cannot tell: the call itself will */
    return st.state == FCB_INSTANCE_EXITED || st.state == FCB_INSTANCE_GONE;
}

typedef struct pool_cancel_ctx {
    pool *p;
    const fcb_cancel *caller;
} pool_cancel_ctx;

static int pool_cancelled(void *ctx)
{
    pool_cancel_ctx *c = ctx;
    if (atomic_load(&c->p->cancelled))
        return 1;
    return c->caller != NULL && c->caller->cancelled != NULL &&
           c->caller->cancelled(c->caller->ctx);
}

/* Launch an instance of T into a slot already taken (g->n_launching counted). */
static int instance_launch(pool *p, const pool_target *t, pool_instance **out, pool_result *res,
                           char *why, size_t why_size)
{
    pool_instance *in = calloc(1, sizeof *in);
    if (in == NULL) {
        snprintf(why, why_size, "out of memory");
        res->backend_status = FCB_ERR_NO_MEMORY;
        return POOL_LAUNCH_FAILED;
    }
    pool_cancel_ctx cctx = {p, t->cancel};
    fcb_launch_request req = *t->launch;
    req.size = sizeof req;
    req.cancel = (fcb_cancel){&cctx, pool_cancelled};
    in->inst.size = sizeof in->inst;
    fcb_error err = FCB_ERROR_INIT;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = p->be.ops->launch(p->be.backend, &req, &in->inst, &err);
    res->launch_ms = elapsed_ms(&t0);
    if (rc != FCB_OK) {
        free(in);
        res->backend_status = rc;
        snprintf(why, why_size, "launch of %s failed: %s (%s)", t->function,
                 err.message[0] ? err.message : "no reason given", fcb_status_name(rc));
        if (!atomic_load(&p->cancelled))
            return POOL_LAUNCH_FAILED;
        snprintf(why, why_size, "the host is shutting down (launch of %s cancelled)", t->function);
        return POOL_CLOSING;
    }
    in->inst.endpoint[sizeof in->inst.endpoint - 1] = '\0';
    in->inst.handle[sizeof in->inst.handle - 1] = '\0';
    pool_log(p, FCB_LOG_INFO, "pool: instance launched", "group", t->group, "handle",
             in->inst.handle);
    *out = in;
    return POOL_OK;
}

/* ---- acquire / release ------------------------------------------------------- */

/* The slot taken for G's launch: launch, then count the instance busy or give the slot back. */
static int acquire_launch(pool *p, const pool_target *t, pool_group *g, pool_instance *victim,
                          pool_instance **out, pool_result *res, char *why, size_t why_size)
{
    pthread_mutex_unlock(&p->lock);
    if (victim != NULL)
        instance_end(p, victim, false, true); /* its slot is this launch's */
    int rc = instance_launch(p, t, out, res, why, why_size);
    pthread_mutex_lock(&p->lock);
    g->n_launching--;
    if (rc == POOL_OK) {
        g->n_busy++;
        (*out)->group = g;
        res->cold = true;
        p->launches++;
    } else {
        p->slots--;
        group_release(p, g);
        pthread_cond_broadcast(&p->changed);
    }
    return rc;
}

/* Reuse G's most recently used idle instance; NULL when it proved dead (evicted). */
static pool_instance *acquire_idle(pool *p, pool_group *g)
{
    pool_instance *in = g->idle;
    g->idle = in->next;
    in->next = NULL;
    g->n_idle--;
    g->n_busy++;
    bool check = p->cfg.status_check_idle_ms >= 0 &&
                 now_ms() - in->idle_since_ms >= p->cfg.status_check_idle_ms;
    if (!check)
        return in;
    pthread_mutex_unlock(&p->lock);
    bool dead = instance_dead(p, in);
    if (dead) {
        pool_log(p, FCB_LOG_WARN, "pool: idle instance is dead, evicted", "handle", in->inst.handle,
                 NULL, NULL);
        instance_end(p, in, true, false);
    }
    pthread_mutex_lock(&p->lock);
    if (!dead)
        return in;
    g->n_busy--;
    return NULL;
}

/* Throttle check and waiting; lock held. Returns POOL_OK with *out busy. */
static int acquire(pool *p, const pool_target *t, pool_instance **out, pool_result *res, char *why,
                   size_t why_size)
{
    struct timespec until = deadline_in(t->wait_ms > 0 ? t->wait_ms : 0);
    for (unsigned round = 0; round < POOL_ROUNDS_MAX; round++) {
        if (p->closing) {
            snprintf(why, why_size, "the host is shutting down");
            return POOL_CLOSING;
        }
        if (t->reserved >= 0 && function_active(p, t->function) >= (unsigned)t->reserved) {
            p->throttles++;
            snprintf(why, why_size, "Rate Exceeded. (reserved concurrency of %s: %d)", t->function,
                     t->reserved);
            return POOL_THROTTLED_RESERVED;
        }
        pool_group *g = group_get(p, t->group, t->function);
        if (g == NULL) {
            snprintf(why, why_size, "out of memory");
            return POOL_LAUNCH_FAILED;
        }
        if (g->idle != NULL) {
            pool_instance *in = acquire_idle(p, g);
            if (in != NULL) {
                *out = in;
                return POOL_OK;
            }
            continue; /* evicted: look again */
        }
        pool_instance *victim = NULL;
        if (p->slots >= p->cfg.max_instances)
            victim = take_lru_idle(p, g);
        if (p->slots < p->cfg.max_instances || victim != NULL) {
            if (victim != NULL)
                group_release(p, victim->group);
            else
                p->slots++;
            g->n_launching++;
            return acquire_launch(p, t, g, victim, out, res, why, why_size);
        }
        group_release(p, g);
        p->waiting++;
        int wrc = pthread_cond_timedwait(&p->changed, &p->lock, &until);
        p->waiting--;
        if (wrc == ETIMEDOUT) {
            p->throttles++;
            snprintf(why, why_size,
                     "Rate Exceeded. (all %u instances of the account limit were busy for %ld ms)",
                     p->cfg.max_instances, t->wait_ms);
            return POOL_THROTTLED;
        }
    }
    snprintf(why, why_size, "no instance became free");
    return POOL_THROTTLED;
}

/* The call on IN ended: keep it idle, or terminate it (evicted, retired, keepalive 0). */
static void release(pool *p, pool_instance *in, bool evict)
{
    pthread_mutex_lock(&p->lock);
    pool_group *g = in->group;
    g->n_busy--;
    bool end = evict || g->retired || p->closing || p->cfg.keepalive_ms == 0;
    if (!end) {
        in->idle_since_ms = now_ms();
        in->next = g->idle;
        g->idle = in;
        g->n_idle++;
        pthread_cond_signal(&p->reaper_wake);
    }
    group_release(p, g);
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    if (end)
        instance_end(p, in, evict, false);
}

/* ---- the call ------------------------------------------------------------------ */

/* The invoke op's answer body, kept in the result. */
static int collect_body(void *ctx, const void *data, size_t len)
{
    pool_result *res = ctx;
    if (res->body_len + len > INVOKER_RESPONSE_MAX)
        return 1;
    char *b = realloc(res->body, res->body_len + len + 1);
    if (b == NULL)
        return 1;
    memcpy(b + res->body_len, data, len);
    res->body = b;
    res->body_len += len;
    b[res->body_len] = '\0';
    return 0;
}

/*
 * The event through the backend's invoke op. *NOT_SENT is set when the
 * backend says the instance does not exist (FCB_ERR_NOT_FOUND): the event
 * reached no handler.
 */
static int call_backend(pool *p, const pool_target *t, pool_instance *in, const char *payload,
                        size_t len, pool_cancel_ctx *cctx, pool_result *res, bool *not_sent,
                        char *why, size_t why_size)
{
    fcb_invoke_request req = {
        .size = sizeof req,
        .payload = {payload, len},
        .timeout_ms = (uint32_t)(t->timeout_ms + POOL_TIMEOUT_MARGIN_MS),
        .sink_ctx = res,
        .on_body = collect_body,
        .cancel = {cctx, pool_cancelled},
    };
    fcb_invoke_result out;
    memset(&out, 0, sizeof out);
    out.size = sizeof out;
    fcb_error err = FCB_ERROR_INIT;
    int rc = p->be.ops->invoke(p->be.backend, in->inst.handle, &req, &out, &err);
    if (rc == FCB_OK && out.body_bytes != res->body_len)
        rc = FCB_ERR_INTERNAL;
    if (rc != FCB_OK) {
        *not_sent = rc == FCB_ERR_NOT_FOUND;
        snprintf(why, why_size, "invoke %s: %s (%s)", in->inst.handle,
                 err.message[0] ? err.message : "no reason given", fcb_status_name(rc));
        return rc == FCB_ERR_TIMEOUT     ? POOL_TIMED_OUT
               : rc == FCB_ERR_CANCELLED ? POOL_CLOSING
                                         : POOL_INVOKE_FAILED;
    }
    res->http_status = out.http_status;
    out.function_error[sizeof out.function_error - 1] = '\0';
    snprintf(res->function_error, sizeof res->function_error, "%s", out.function_error);
    return POOL_OK;
}

/* The event POSTed to the instance's endpoint. */
static int call_http(const pool_target *t, pool_instance *in, const char *payload, size_t len,
                     pool_cancel_ctx *cctx, pool_result *res, bool *not_sent, char *why,
                     size_t why_size)
{
    invoker_result ir;
    int rc = invoker_post_cancellable(in->inst.endpoint, payload, len,
                                      t->timeout_ms + POOL_TIMEOUT_MARGIN_MS, pool_cancelled, cctx,
                                      &ir, why, why_size);
    if (rc != 0) {
        *not_sent = ir.failure == INVOKER_NOT_CONNECTED;
        invoker_result_free(&ir);
        return ir.failure == INVOKER_TIMED_OUT   ? POOL_TIMED_OUT
               : ir.failure == INVOKER_CANCELLED ? POOL_CLOSING
                                                 : POOL_INVOKE_FAILED;
    }
    res->http_status = ir.status;
    res->body = ir.body;
    res->body_len = ir.body_len;
    snprintf(res->function_error, sizeof res->function_error, "%s", ir.function_error);
    return POOL_OK;
}

static int call_instance(pool *p, const pool_target *t, pool_instance *in, const char *payload,
                         size_t len, pool_result *res, bool *not_sent, char *why, size_t why_size)
{
    pool_cancel_ctx cctx = {p, t->cancel};
    snprintf(res->handle, sizeof res->handle, "%s", in->inst.handle);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *not_sent = false;
    int rc = POOL_HAS_OP(p, invoke)
                 ? call_backend(p, t, in, payload, len, &cctx, res, not_sent, why, why_size)
                 : call_http(t, in, payload, len, &cctx, res, not_sent, why, why_size);
    res->invoke_ms = elapsed_ms(&t0);
    if (rc == POOL_OK && res->body == NULL) {
        res->body = strdup("");
        if (res->body == NULL) {
            snprintf(why, why_size, "out of memory");
            rc = POOL_INVOKE_FAILED;
        }
    }
    return rc;
}

/* The last `limit` bytes of what logs() delivers. */
typedef struct tail_sink {
    char *data;
    size_t len, limit;
    bool failed;
} tail_sink;

static int tail_data(void *ctx, fcb_log_stream stream, const char *data, size_t len)
{
    (void)stream;
    tail_sink *t = ctx;
    if (len > t->limit) {
        data += len - t->limit;
        len = t->limit;
    }
    size_t keep = t->len + len > t->limit ? t->limit - len : t->len;
    char *b = t->data != NULL ? t->data : malloc(t->limit + 1);
    if (b == NULL) {
        t->failed = true;
        return 1;
    }
    memmove(b, b + t->len - keep, keep);
    memcpy(b + keep, data, len);
    t->data = b;
    t->len = keep + len;
    b[t->len] = '\0';
    return 0;
}

/* T->log_tail: the log of IN (still held by this call) into RES. */
static void read_tail(pool *p, const pool_target *t, pool_instance *in, pool_result *res)
{
    bool wanted = t->log_tail == POOL_TAIL_ALWAYS || (t->log_tail == POOL_TAIL_COLD && res->cold);
    if (!wanted || t->log_tail_bytes == 0 || !POOL_HAS_OP(p, logs))
        return;
    tail_sink sink = {.limit = t->log_tail_bytes};
    pool_cancel_ctx cctx = {p, t->cancel};
    fcb_logs_request req = {.size = sizeof req,
                            .max_bytes = 1024 * 1024,
                            .sink_ctx = &sink,
                            .on_data = tail_data,
                            .cancel = {&cctx, pool_cancelled}};
    fcb_error err = FCB_ERROR_INIT;
    if (p->be.ops->logs(p->be.backend, in->inst.handle, &req, &err) != FCB_OK || sink.failed) {
        pool_log(p, FCB_LOG_WARN, "pool: no log tail", "handle", in->inst.handle, "reason",
                 sink.failed ? "out of memory" : err.message);
        free(sink.data);
        return;
    }
    res->log_tail = sink.data != NULL ? sink.data : strdup("");
    res->log_tail_len = sink.len;
}

int pool_invoke(pool *p, const pool_target *t, const char *payload, size_t payload_len,
                pool_result *res, char *why, size_t why_size)
{
    memset(res, 0, sizeof *res);
    pthread_mutex_lock(&p->lock);
    p->calls++;
    int rc = POOL_INVOKE_FAILED;
    for (unsigned attempt = 0; attempt < POOL_ATTEMPTS_MAX; attempt++) {
        pool_instance *in = NULL;
        res->attempts = attempt + 1;
        rc = acquire(p, t, &in, res, why, why_size);
        if (rc != POOL_OK)
            break;
        pthread_mutex_unlock(&p->lock);
        bool not_sent = false;
        rc = call_instance(p, t, in, payload, payload_len, res, &not_sent, why, why_size);
        if (!not_sent)
            read_tail(p, t, in, res);
        /* A timed-out or broken call leaves the runtime in an unknown state: never reuse it. */
        release(p, in, rc != POOL_OK);
        pthread_mutex_lock(&p->lock);
        res->not_delivered = rc != POOL_OK && not_sent;
        if (rc == POOL_OK || !not_sent || p->closing || attempt + 1 == POOL_ATTEMPTS_MAX)
            break;
        p->retries++;
        pool_log(p, FCB_LOG_WARN, "pool: connection refused, evicted; retrying on another instance",
                 "handle", res->handle, "reason", why);
        pool_result_free(res);
        res->cold = false;
    }
    p->calls--;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void pool_result_free(pool_result *res)
{
    if (res == NULL)
        return;
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
    free(res->log_tail);
    res->log_tail = NULL;
    res->log_tail_len = 0;
}

/* ---- retire, reaper, shutdown ------------------------------------------------------ */

/* Unlink every idle instance of G onto *LIST (lock held). */
static void take_all_idle(pool_group *g, pool_instance **list)
{
    while (g->idle != NULL) {
        pool_instance *in = g->idle;
        g->idle = in->next;
        g->n_idle--;
        in->next = *list;
        *list = in;
    }
}

/* A batch of instances to terminate, shared by a few threads. */
typedef struct end_batch {
    pool *p;
    pthread_mutex_t lock;
    pool_instance *list;
} end_batch;

static void *end_worker(void *arg)
{
    end_batch *b = arg;
    for (unsigned i = 0; i < POOL_ROUNDS_MAX; i++) {
        pthread_mutex_lock(&b->lock);
        pool_instance *in = b->list;
        if (in != NULL)
            b->list = in->next;
        pthread_mutex_unlock(&b->lock);
        if (in == NULL)
            break;
        instance_end(b->p, in, false, false);
    }
    return NULL;
}

/*
 * Terminate every instance of LIST, POOL_END_THREADS at a time (a shutdown
 * with 50 instances must not take 50 terminate round trips in a row); the
 * calling thread is one of them, so a thread that cannot start costs only
 * speed.
 */
static void end_list(pool *p, pool_instance *list)
{
    end_batch b = {.p = p, .list = list};
    pthread_mutex_init(&b.lock, NULL);
    pthread_t threads[POOL_END_THREADS];
    size_t n = 0, count = 0;
    for (pool_instance *in = list; in != NULL && count < POOL_END_THREADS; in = in->next)
        count++;
    for (; n + 1 < count; n++)
        if (pthread_create(&threads[n], NULL, end_worker, &b) != 0)
            break;
    end_worker(&b);
    for (size_t i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&b.lock);
}

int pool_hold(pool *p, const char *group, const char *function)
{
    pthread_mutex_lock(&p->lock);
    pool_group *g = group_get(p, group, function);
    if (g != NULL) {
        g->holders++;
        g->retired = false; /* a deploy equal to a retired one: its instances are right again */
    }
    pthread_mutex_unlock(&p->lock);
    return g != NULL ? 0 : -1;
}

void pool_retire(pool *p, const char *group)
{
    pool_instance *list = NULL;
    pthread_mutex_lock(&p->lock);
    pool_group *g = group_find(p, group);
    if (g != NULL && g->holders > 0)
        g->holders--;
    if (g != NULL && g->holders == 0) {
        g->retired = true;
        take_all_idle(g, &list);
        group_release(p, g);
    }
    pthread_mutex_unlock(&p->lock);
    if (list != NULL)
        pool_log(p, FCB_LOG_INFO, "pool: group retired", "group", group, NULL, NULL);
    end_list(p, list);
}

/* Unlink the idle instances older than keepalive onto *LIST; the next expiry in *NEXT_MS. */
static void take_expired(pool *p, int64_t now, pool_instance **list, int64_t *next_ms)
{
    *next_ms = -1;
    for (pool_group *g = p->groups, *gnext; g != NULL; g = gnext) {
        gnext = g->next;
        for (pool_instance **pp = &g->idle; *pp != NULL;) {
            pool_instance *in = *pp;
            int64_t expiry = in->idle_since_ms + p->cfg.keepalive_ms;
            if (expiry <= now) {
                *pp = in->next;
                g->n_idle--;
                in->next = *list;
                *list = in;
                continue;
            }
            if (*next_ms < 0 || expiry < *next_ms)
                *next_ms = expiry;
            pp = &in->next;
        }
        group_release(p, g);
    }
}

static void *reaper_main(void *arg)
{
    pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (unsigned long round = 0; !p->reaper_stop && round < 100000000ul; round++) {
        pool_instance *list = NULL;
        int64_t next = -1;
        take_expired(p, now_ms(), &list, &next);
        if (list != NULL) {
            pthread_mutex_unlock(&p->lock);
            pool_log(p, FCB_LOG_DEBUG, "pool: idle instances past keepalive terminated", NULL, NULL,
                     NULL, NULL);
            end_list(p, list);
            pthread_mutex_lock(&p->lock);
            continue;
        }
        long wait = next < 0 ? 60000L : (long)(next - now_ms());
        struct timespec until = deadline_in(wait > 0 ? wait : 1);
        pthread_cond_timedwait(&p->reaper_wake, &p->lock, &until);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int init_cond(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

int pool_new(const pool_backend *backend, const pool_config *config, pool **out)
{
    *out = NULL;
    pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -1;
    p->be = *backend;
    p->cfg = *config;
    if (p->cfg.max_instances == 0)
        p->cfg.max_instances = POOL_DEFAULT_MAX_INSTANCES;
    atomic_init(&p->cancelled, false);
    pthread_mutex_init(&p->lock, NULL);
    if (init_cond(&p->changed) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return -1;
    }
    if (init_cond(&p->reaper_wake) != 0 || pthread_create(&p->reaper, NULL, reaper_main, p) != 0) {
        pthread_cond_destroy(&p->changed);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void pool_shutdown(pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->closing = true;
    atomic_store(&p->cancelled, true);
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

void pool_free(pool *p)
{
    if (p == NULL)
        return;
    pool_shutdown(p);
    pool_instance *list = NULL;
    pthread_mutex_lock(&p->lock);
    for (unsigned round = 0; p->calls > 0 && round < POOL_ROUNDS_MAX; round++)
        pthread_cond_wait(&p->changed, &p->lock);
    p->reaper_stop = true;
    pthread_cond_signal(&p->reaper_wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->reaper, NULL);
    pthread_mutex_lock(&p->lock);
    for (pool_group *g = p->groups, *next; g != NULL; g = next) {
        next = g->next;
        take_all_idle(g, &list);
        g->holders = 0;
        group_release(p, g);
    }
    pthread_mutex_unlock(&p->lock);
    end_list(p, list);
    /* every call has returned, so no slot is held by anything else now */
    for (pool_group *g = p->groups, *next; g != NULL; g = next) {
        next = g->next;
        free(g->key);
        free(g->function);
        free(g);
    }
    pthread_cond_destroy(&p->changed);
    pthread_cond_destroy(&p->reaper_wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void add_counts(const pool_group *g, pool_counts *c)
{
    c->idle += g->n_idle;
    c->busy += g->n_busy;
    c->launching += g->n_launching;
}

void pool_get_counts(pool *p, const char *group, pool_counts *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->lock);
    for (pool_group *g = p->groups; g != NULL; g = g->next)
        if (group == NULL || strcmp(g->key, group) == 0)
            add_counts(g, out);
    out->instances = group == NULL ? p->slots : out->idle + out->busy + out->launching;
    out->waiting = p->waiting;
    out->launches = p->launches;
    out->terminations = p->terminations;
    out->evictions = p->evictions;
    out->throttles = p->throttles;
    out->retries = p->retries;
    pthread_mutex_unlock(&p->lock);
}

void pool_foreach_group(pool *p,
                        void (*fn)(void *ctx, const char *group, unsigned instances, unsigned busy),
                        void *ctx)
{
    pthread_mutex_lock(&p->lock);
    for (pool_group *g = p->groups; g != NULL; g = g->next)
        fn(ctx, g->key, g->n_idle + g->n_busy + g->n_launching, g->n_busy);
    pthread_mutex_unlock(&p->lock);
}
