/*
 * k8s_lease: this backend instance's coordination.k8s.io/v1 Lease
 * (docs/leases.md): created with the first launch or prepull, before the
 * token Secret and any Pod; renewed by PUT on its own thread every D/3 with
 * jitter (lease_schedule_*: never more than one request per period, a failed
 * renewal retried at the next slot); deleted by close after the Pods and the
 * Secret. While no renewal has succeeded for a whole duration the lease is
 * lost and launches fail with FCB_ERR_UNAVAILABLE, since another host's
 * reap_stale may be removing this instance's objects.
 */
#include "k8s_internal.h"

#include "clockx.h"
#include "kube_leases.h"
#include "svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int k8s_lease_init(fcb_backend *b, fcb_error *err)
{
    pthread_mutex_init(&b->lease_mu, NULL);
    pthread_mutex_init(&b->reap_mu, NULL);
    lease_observer_init(&b->reap_obs);
    if (clockx_cond_init(&b->lease_cond) != 0) {
        pthread_mutex_destroy(&b->lease_mu);
        pthread_mutex_destroy(&b->reap_mu);
        return err_set(err, FCB_ERR_INTERNAL, "cannot initialise a condition variable");
    }
    return FCB_OK;
}

void k8s_lease_destroy(fcb_backend *b)
{
    pthread_cond_destroy(&b->lease_cond);
    pthread_mutex_destroy(&b->lease_mu);
    pthread_mutex_destroy(&b->reap_mu);
}

/* Serialise our Lease with renewTime RENEW_US (and RV for an update) into *text (svc). */
static int k8s_lease_body(fcb_backend *b, int64_t renew_us, const char *rv, char **text,
                          size_t *len, fcb_error *err)
{
    json_object *lease = NULL;
    *text = NULL;
    int rc = k8s_lease_build(b->ns, b->instance_id, b->cfg->lease_seconds, b->lease_acquire_us,
                             renew_us, rv, &lease, err);
    if (rc != FCB_OK)
        return rc;
    const char *s = json_object_to_json_string_ext(lease, JSON_C_TO_STRING_PLAIN);
    *text = s != NULL ? svc_strdup(b->host, s) : NULL;
    json_object_put(lease);
    if (*text == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory building the Lease");
    *len = strlen(*text);
    return FCB_OK;
}

/* A Lease named like ours exists: it is ours when its holder is us (our retried create). */
static int k8s_lease_adopt(fcb_backend *b, kube_client *client, unsigned deadline_ms,
                           fcb_error *err)
{
    kube_lease got;
    int rc = kube_leases_get(client, b->ns, b->lease_name, deadline_ms, &got, err);
    if (rc == FCB_OK && strcmp(got.holder, b->instance_id) != 0)
        rc = err_set(err, FCB_ERR_BACKEND, "Lease %s/%s exists and is held by \"%s\", not by us",
                     b->ns, b->lease_name, got.holder);
    if (rc == FCB_OK)
        snprintf(b->lease_rv, sizeof b->lease_rv, "%s", got.rv);
    return rc;
}

/* POST our Lease (acquireTime = renewTime = now); a 409 is resolved by a GET. */
static int k8s_lease_create(fcb_backend *b, kube_client *client, lease_clock now,
                            unsigned deadline_ms, fcb_error *err)
{
    char *body = NULL;
    size_t len = 0;
    kube_create_result res;

    b->lease_acquire_us = now.wall_us;
    int rc = k8s_lease_body(b, now.wall_us, NULL, &body, &len, err);
    if (rc != FCB_OK)
        return rc;
    b->lease_maybe = true;
    rc = kube_leases_create(client, b->ns, body, len, deadline_ms, &res, err);
    svc_free(b->host, body);
    if (rc == FCB_OK)
        snprintf(b->lease_rv, sizeof b->lease_rv, "%s", res.object.resource_version);
    else if (res.conflict)
        rc = k8s_lease_adopt(b, client, deadline_ms, err);
    return rc;
}

static void *k8s_lease_main(void *arg);

int k8s_lease_ensure(fcb_backend *b, uint64_t deadline, fcb_error *err)
{
    if (!b->lease_created) {
        k8s_lease_name(b->instance_id, b->lease_name);
        lease_clock started = lease_clock_now();
        int rc = k8s_lease_create(b, b->client, started, clockx_remaining_ms(deadline), err);
        if (rc != FCB_OK) {
            err_prefix(err, "k8s backend: cannot create Lease %s in namespace %s", b->lease_name,
                       b->ns);
            return rc;
        }
        uint64_t seed = strtoull(b->instance_id, NULL, 16);
        rc =
            lease_schedule_init(&b->lease_sched, b->cfg->lease_seconds, started.mono_us, seed, err);
        if (rc == FCB_OK && pthread_create(&b->lease_thread, NULL, k8s_lease_main, b) != 0)
            rc = err_set(err, FCB_ERR_INTERNAL, "cannot start the lease renewal thread");
        if (rc != FCB_OK)
            return rc; /* the Lease exists (lease_maybe): close deletes it */
        b->lease_thread_started = true;
        b->lease_created = true;
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "Lease created", "lease", b->lease_name,
                "namespace", b->ns, NULL);
        return FCB_OK;
    }
    int rc = FCB_OK;
    pthread_mutex_lock(&b->lease_mu);
    if (!lease_schedule_held(&b->lease_sched, lease_clock_now().mono_us))
        rc = err_set(err, FCB_ERR_UNAVAILABLE,
                     "lease %s lost: no renewal succeeded for %d s (last error: %s); another "
                     "host may be reaping this instance's Pods, so nothing is launched until a "
                     "renewal succeeds",
                     b->lease_name, (int)b->cfg->lease_seconds,
                     b->lease_error[0] != '\0' ? b->lease_error : "none");
    pthread_mutex_unlock(&b->lease_mu);
    return rc;
}

/* ------------------------------------------------------------ the renewal thread */

/*
 * One renewal started at NOW: PUT our Lease with renewTime = now and the last
 * resourceVersion. 409: GET it; still ours -> retry with its version at the
 * next slot (not renewed); someone else's or gone (404, a reaper removed it
 * after D of silence) -> create it again, which renews it.
 */
static int k8s_lease_renew(fcb_backend *b, lease_clock now, unsigned deadline_ms, fcb_error *err)
{
    char *body = NULL;
    size_t len = 0;
    bool conflict = false;
    kube_lease got;

    int rc = k8s_lease_body(b, now.wall_us, b->lease_rv, &body, &len, err);
    if (rc != FCB_OK)
        return rc;
    rc = kube_leases_update(b->client, b->ns, b->lease_name, body, len, deadline_ms, &got,
                            &conflict, err);
    svc_free(b->host, body);
    if (rc == FCB_OK) {
        snprintf(b->lease_rv, sizeof b->lease_rv, "%s", got.rv);
        return FCB_OK;
    }
    if (conflict) {
        fcb_error why = FCB_ERROR_INIT;
        int grc = kube_leases_get(b->client, b->ns, b->lease_name, deadline_ms, &got, &why);
        if (grc == FCB_OK && strcmp(got.holder, b->instance_id) == 0)
            snprintf(b->lease_rv, sizeof b->lease_rv, "%s", got.rv); /* next slot */
        else if (grc == FCB_OK)
            err_set(err, FCB_ERR_BACKEND, "Lease %s/%s is held by \"%s\", not by us", b->ns,
                    b->lease_name, got.holder);
        if (grc != FCB_ERR_NOT_FOUND)
            return rc;
        rc = FCB_ERR_NOT_FOUND;
    }
    if (rc == FCB_ERR_NOT_FOUND) {
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "our Lease is gone (a reaper saw no renewal for its duration); creating it again",
                "lease", b->lease_name, "namespace", b->ns, NULL);
        rc = k8s_lease_create(b, b->client, now, deadline_ms, err);
    }
    return rc;
}

/* Request deadline of a renewal: P/2, but no later than when the lease is lost (>= 100 ms). */
static unsigned k8s_lease_deadline_ms(const lease_schedule *s, int64_t now_us)
{
    int64_t ms = s->period_us / 2000;
    int64_t until_lost = (lease_schedule_lost_at(s) - now_us) / 1000;
    if (until_lost < ms)
        ms = until_lost;
    return ms < 100 ? 100u : (unsigned)ms;
}

/* Log the transitions held -> lost -> held once each (called with lease_mu held). */
static void k8s_lease_log_state(fcb_backend *b, int64_t now_us)
{
    bool held = lease_schedule_held(&b->lease_sched, now_us);
    if (held == !b->lease_lost)
        return;
    b->lease_lost = !held;
    if (held)
        svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "Lease renewed again: launches resume",
                "lease", b->lease_name, NULL);
    else
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "Lease lost: no renewal succeeded for its whole duration; launches fail until "
                "one does",
                "lease", b->lease_name, "error", b->lease_error, NULL);
}

/* Wait until the next slot or close (lease_mu held). False when stopping. */
static bool k8s_lease_wait(fcb_backend *b)
{
    while (!b->lease_stop) {
        int64_t next = lease_schedule_next(&b->lease_sched);
        int64_t now = lease_clock_now().mono_us;
        if (now >= next)
            return true;
        k8s_lease_log_state(b, now);
        struct timespec ts = clockx_timespec((uint64_t)(next / 1000) + 1);
        pthread_cond_timedwait(&b->lease_cond, &b->lease_mu, &ts);
    }
    return false;
}

static void *k8s_lease_main(void *arg)
{
    fcb_backend *b = arg;

    pthread_mutex_lock(&b->lease_mu);
    while (k8s_lease_wait(b)) {
        lease_clock started = lease_clock_now();
        unsigned deadline_ms = k8s_lease_deadline_ms(&b->lease_sched, started.mono_us);
        pthread_mutex_unlock(&b->lease_mu);
        fcb_error err = FCB_ERROR_INIT;
        int rc = k8s_lease_renew(b, started, deadline_ms, &err);
        pthread_mutex_lock(&b->lease_mu);
        lease_schedule_done(&b->lease_sched, started.mono_us, rc == FCB_OK);
        if (rc != FCB_OK && rc != FCB_ERR_CANCELLED) {
            snprintf(b->lease_error, sizeof b->lease_error, "%s", err.message);
            svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "Lease renewal failed", "lease",
                    b->lease_name, "error", err.message, NULL);
        }
        k8s_lease_log_state(b, lease_clock_now().mono_us);
    }
    pthread_mutex_unlock(&b->lease_mu);
    return NULL;
}

void k8s_lease_stop(fcb_backend *b)
{
    if (!b->lease_thread_started)
        return;
    pthread_mutex_lock(&b->lease_mu);
    b->lease_stop = true;
    pthread_cond_broadcast(&b->lease_cond);
    pthread_mutex_unlock(&b->lease_mu);
    pthread_join(b->lease_thread, NULL);
    b->lease_thread_started = false;
}

void k8s_lease_release(fcb_backend *b, kube_client *client)
{
    fcb_error err = FCB_ERROR_INIT;
    bool conflict = false;

    if (!b->lease_maybe)
        return;
    int rc = kube_leases_delete(client, b->ns, b->lease_name, NULL, K8S_CLEANUP_DEADLINE_MS,
                                &conflict, &err);
    if (rc != FCB_OK && rc != FCB_ERR_NOT_FOUND)
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "close: could not delete our Lease; it expires and other hosts' reap_stale "
                "removes it",
                "lease", b->lease_name, "namespace", b->ns, "error", err.message, NULL);
    b->lease_maybe = false;
}
