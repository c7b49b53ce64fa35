/*
 * dock_lease: create, renew and release this instance's lease volumes.
 */
#include "dock_lease.h"

#include "clockx.h"
#include "dock_backend.h"
#include "dock_volumes.h"
#include "labels.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define DOCK_LEASE_MIN_CALL_MS   1000u
#define DOCK_LEASE_CLOSE_CALL_MS 5000u
#define DOCK_LEASE_LIST_MAX      1024

int dock_lease_init(dock_lease *l, const fcb_host_services *host, dock_engine *engine,
                    inflight *ops, const char *instance_id, int32_t seconds, fcb_error *err)
{
    memset(l, 0, sizeof *l);
    l->host = host;
    l->engine = engine;
    l->ops = ops;
    l->instance_id = instance_id;
    l->seconds = seconds;
    if (pthread_mutex_init(&l->acquire_mu, NULL) != 0)
        return err_set(err, FCB_ERR_INTERNAL, "docker backend: cannot create the lease mutex");
    if (clockx_cond_init(&l->cv) != 0) {
        pthread_mutex_destroy(&l->acquire_mu);
        return err_set(err, FCB_ERR_INTERNAL, "docker backend: cannot create the lease condition");
    }
    l->mutexes_ok = true;
    return FCB_OK;
}

void dock_lease_destroy(dock_lease *l)
{
    if (!l->mutexes_ok)
        return;
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->acquire_mu);
    l->mutexes_ok = false;
}

/* Bound of one renewal call: half a period, at least DOCK_LEASE_MIN_CALL_MS. */
static uint32_t dock_lease_call_ms(const dock_lease *l)
{
    uint32_t ms = (uint32_t)(l->seconds * 1000 / 6);
    return ms > DOCK_LEASE_MIN_CALL_MS ? ms : DOCK_LEASE_MIN_CALL_MS;
}

/* Create the volume of sequence SEQ into NAME; whether it may exist after a failure. */
static int dock_lease_create(dock_lease *l, unsigned long long seq, char name[DOCK_NAME_MAX],
                             bool *maybe, fcb_error *err)
{
    char seq_text[24], seconds[16];
    snprintf(seq_text, sizeof seq_text, "%llu", seq);
    snprintf(seconds, sizeof seconds, "%d", (int)l->seconds);
    snprintf(name, DOCK_NAME_MAX, DOCK_LEASE_PREFIX "%s-%llu", l->instance_id, seq);
    const dock_label labels[] = {{LABEL_MANAGED_BY, LABEL_MANAGED_BY_VALUE},
                                 {LABEL_SERVICE, LABEL_SERVICE_VALUE},
                                 {DOCK_LEASE_LABEL, l->instance_id},
                                 {DOCK_LEASE_SECONDS, seconds},
                                 {DOCK_LEASE_SEQ_LABEL, seq_text}};
    int rc = dock_volume_create(l->engine, name, labels, sizeof labels / sizeof labels[0],
                                dock_lease_call_ms(l), true, err);
    *maybe = rc == FCB_ERR_UNAVAILABLE || rc == FCB_ERR_TIMEOUT || rc == FCB_ERR_CANCELLED ||
             rc == FCB_ERR_NO_MEMORY;
    return rc;
}

/* Remember NAME as ours to delete (ops' lock held); dropped when full (release lists). */
static void dock_lease_stale_add(dock_lease *l, const char *name)
{
    if (name[0] != '\0' && l->n_stale < DOCK_LEASE_STALE_MAX)
        snprintf(l->stale[l->n_stale++], DOCK_NAME_MAX, "%s", name);
}

/* Delete the stale volumes; keep those that fail for the next renewal. */
static void dock_lease_delete_stale(dock_lease *l)
{
    char names[DOCK_LEASE_STALE_MAX][DOCK_NAME_MAX];
    inflight_lock(l->ops);
    unsigned n = l->n_stale;
    memcpy(names, l->stale, sizeof names[0] * n);
    l->n_stale = 0;
    inflight_unlock(l->ops);
    for (unsigned i = 0; i < n; i++) {
        fcb_error e2 = FCB_ERROR_INIT;
        if (dock_volume_delete(l->engine, names[i], dock_lease_call_ms(l), true, &e2) != FCB_OK) {
            inflight_lock(l->ops);
            dock_lease_stale_add(l, names[i]);
            inflight_unlock(l->ops);
        }
    }
}

/* Record the outcome of the attempt that started at STARTED (ops' lock held). */
static void dock_lease_done(dock_lease *l, int64_t started, bool ok, const char *name, bool maybe,
                            const fcb_error *e)
{
    lease_schedule_done(&l->sched, started, ok);
    if (ok) {
        dock_lease_stale_add(l, l->current);
        snprintf(l->current, sizeof l->current, "%s", name);
        l->renewals++;
        if (l->lost_logged)
            svc_log(l->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "lease held again", "lease", name,
                    NULL);
        l->lost_logged = false;
        return;
    }
    l->failures++;
    if (maybe)
        dock_lease_stale_add(l, name);
    snprintf(l->last_error, sizeof l->last_error, "%s", e->message);
    bool held = lease_schedule_held(&l->sched, lease_clock_now().mono_us);
    svc_log(l->host, held || l->lost_logged ? FCB_LOG_DEBUG : FCB_LOG_WARN, DOCK_PLUGIN_NAME,
            held ? "lease renewal failed; retrying next period"
                 : "lease lost: no renewal succeeded for the lease duration; launches fail "
                   "until one does",
            "lease", name, "error", e->message, NULL);
    if (!held)
        l->lost_logged = true;
}

/* One renewal: create seq+1, then delete the older volumes. */
static void dock_lease_renew(dock_lease *l)
{
    int64_t started = lease_clock_now().mono_us;
    inflight_lock(l->ops);
    unsigned long long seq = ++l->seq;
    inflight_unlock(l->ops);
    char name[DOCK_NAME_MAX];
    bool maybe = false;
    fcb_error e = FCB_ERROR_INIT;
    int rc = dock_lease_create(l, seq, name, &maybe, &e);
    inflight_lock(l->ops);
    dock_lease_done(l, started, rc == FCB_OK, name, maybe, &e);
    inflight_unlock(l->ops);
    if (rc == FCB_OK)
        dock_lease_delete_stale(l);
}

/* Sleep until the next renewal slot; false once closing. */
static bool dock_lease_wait_slot(dock_lease *l)
{
    bool go = false;
    inflight_lock(l->ops);
    while (!inflight_closing(l->ops)) {
        int64_t left_us = lease_schedule_next(&l->sched) - lease_clock_now().mono_us;
        if (left_us <= 0) {
            go = true;
            break;
        }
        inflight_wait(l->ops, &l->cv, clockx_after_ms((uint64_t)(left_us + 999) / 1000));
    }
    inflight_unlock(l->ops);
    return go;
}

static void *dock_lease_thread(void *arg)
{
    dock_lease *l = arg;
    while (dock_lease_wait_slot(l))
        dock_lease_renew(l);
    return NULL;
}

/* The first volume and the renewal thread (acquire_mu held). */
static int dock_lease_acquire(dock_lease *l, fcb_error *err)
{
    uint64_t seed = 0;
    int64_t started = lease_clock_now().mono_us;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)started;
    inflight_lock(l->ops);
    unsigned long long seq = ++l->seq;
    inflight_unlock(l->ops);
    char name[DOCK_NAME_MAX];
    bool maybe = false;
    l->attempted = true;
    int rc = dock_lease_create(l, seq, name, &maybe, err);
    if (rc != FCB_OK)
        return err_prefix(err, "docker backend: cannot create its lease");
    inflight_lock(l->ops);
    rc = lease_schedule_init(&l->sched, l->seconds, started, seed, err);
    snprintf(l->current, sizeof l->current, "%s", name);
    inflight_unlock(l->ops);
    if (rc == FCB_OK && pthread_create(&l->thread, NULL, dock_lease_thread, l) != 0)
        rc = err_set(err, FCB_ERR_INTERNAL, "docker backend: cannot start the lease thread");
    if (rc != FCB_OK)
        return rc; /* the volume is deleted by dock_lease_release */
    l->acquired = true;
    svc_log(l->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "lease created", "lease", name, NULL);
    return FCB_OK;
}

int dock_lease_ensure(dock_lease *l, fcb_error *err)
{
    pthread_mutex_lock(&l->acquire_mu);
    int rc = l->acquired ? FCB_OK : dock_lease_acquire(l, err);
    pthread_mutex_unlock(&l->acquire_mu);
    if (rc != FCB_OK)
        return rc;
    inflight_lock(l->ops);
    bool held = lease_schedule_held(&l->sched, lease_clock_now().mono_us);
    char last[sizeof l->last_error];
    snprintf(last, sizeof last, "%s", l->last_error);
    inflight_unlock(l->ops);
    if (held)
        return FCB_OK;
    return err_set(err, FCB_ERR_UNAVAILABLE,
                   "lease " DOCK_LEASE_PREFIX "%s lost: no renewal succeeded for %d s (last "
                   "error: %s); another host may be reaping this instance's containers",
                   l->instance_id, (int)l->seconds, last[0] != '\0' ? last : "none");
}

void dock_lease_wake(void *lease)
{
    dock_lease *l = lease;
    pthread_cond_broadcast(&l->cv);
}

/* Delete one listed volume of ours. */
static int dock_lease_release_one(void *ctx, const dock_volume_info *v)
{
    dock_lease *l = ctx;
    const char *owner = dock_volume_label(v, DOCK_LEASE_LABEL);
    fcb_error e2 = FCB_ERROR_INIT;
    if (owner != NULL && strcmp(owner, l->instance_id) == 0 &&
        dock_volume_delete(l->engine, v->name, DOCK_LEASE_CLOSE_CALL_MS, false, &e2) != FCB_OK)
        svc_log(l->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME, "could not delete a lease volume",
                "volume", v->name, "error", e2.message, NULL);
    return FCB_OK;
}

void dock_lease_release(dock_lease *l)
{
    if (l->acquired)
        pthread_join(l->thread, NULL);
    if (!l->attempted)
        return;
    char filter[DOCK_NAME_MAX];
    snprintf(filter, sizeof filter, DOCK_LEASE_LABEL "=%s", l->instance_id);
    fcb_error e2 = FCB_ERROR_INIT;
    int rc = dock_volume_list(l->engine, filter, DOCK_LEASE_LIST_MAX, dock_lease_release_one, l,
                              NULL, DOCK_LEASE_CLOSE_CALL_MS, false, &e2);
    if (rc != FCB_OK) { /* e.g. out of memory: delete the names we know of directly */
        dock_lease_stale_add(l, l->current);
        rc = FCB_OK;
        for (unsigned i = 0; i < l->n_stale; i++)
            if (dock_volume_delete(l->engine, l->stale[i], DOCK_LEASE_CLOSE_CALL_MS, false,
                                   &e2) != FCB_OK)
                rc = e2.code;
    }
    if (rc != FCB_OK)
        svc_log(l->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME,
                "could not delete the lease: other hosts reap this instance's containers once "
                "its lease has been silent for the lease duration",
                "error", e2.message, NULL);
    else
        svc_log(l->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "lease released", "lease", l->current,
                NULL);
}
