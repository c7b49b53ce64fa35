/*
 * k8s_reap: reap_stale under the lease rule (docs/leases.md). A handful of
 * requests whatever the number of objects: list other instances' Pods and
 * Secrets (metadata only), then the Leases; lease_decide; per dead instance
 * delete its Lease with a resourceVersion precondition (409: it renewed,
 * skip it); then one deletecollection per kind with
 * "fakecloud-instance in (...)" (at most K8S_REAP_IDS_PER_SELECTOR ids).
 * Managed objects without an instance label (no instance can hold a lease
 * for them) go once older than one lease duration.
 */
#include "k8s_internal.h"

#include "kube_leases.h"
#include "kube_pods.h"
#include "kube_secrets.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

#define K8S_REAP_INSTANCES        1024
#define K8S_REAP_DEAD             K8S_REAP_INSTANCES
#define K8S_REAP_IDS_PER_SELECTOR 50
/* Longest selector text (before percent-encoding: 2 more bytes per id), to fit KUBE_PATH_MAX. */
#define K8S_REAP_SELECTOR_MAX 1400

/* One reap's inputs, on the host allocator (~200 KB). */
typedef struct k8s_reap {
    lease_instance inst[K8S_REAP_INSTANCES];
    char ids[K8S_REAP_INSTANCES + 1][LEASE_ID_MAX]; /* inst[i].instance points here */
    size_t n_inst;
    int64_t anon_newest; /* newest unlabelled object, LEASE_TIME_NONE = unknown */
    bool anon_seen;
    kube_lease leases[LEASE_OBSERVED_MAX];
    lease_record records[LEASE_OBSERVED_MAX];
    size_t n_leases;
    lease_verdict dead[K8S_REAP_DEAD];
    size_t n_dead;
    bool skip[K8S_REAP_DEAD]; /* its Lease renewed meanwhile */
} k8s_reap;

static int k8s_reap_object(void *ctx, const char *label, int64_t created_us, fcb_error *err)
{
    (void)err;
    k8s_reap *r = ctx;
    if (label == NULL || label[0] == '\0') {
        /* Unknown times win: such objects are never reaped by age. */
        if (!r->anon_seen)
            r->anon_newest = created_us;
        else if (r->anon_newest != LEASE_TIME_NONE &&
                 (created_us == LEASE_TIME_NONE || created_us > r->anon_newest))
            r->anon_newest = created_us;
        r->anon_seen = true;
        return FCB_OK;
    }
    if (strlen(label) >= LEASE_ID_MAX)
        return FCB_OK; /* not an instance id of ours: never reaped */
    /* Copied into the next free slot: kept only when it makes a new entry. */
    snprintf(r->ids[r->n_inst], LEASE_ID_MAX, "%s", label);
    (void)lease_instances_add(r->inst, &r->n_inst, K8S_REAP_INSTANCES, r->ids[r->n_inst],
                              created_us);
    return FCB_OK;
}

static int k8s_reap_lease(void *ctx, const kube_lease *lease, fcb_error *err)
{
    k8s_reap *r = ctx;
    if (r->n_leases == LEASE_OBSERVED_MAX)
        return err_set(err, FCB_ERR_BACKEND,
                       "more than %d fakecloud Leases in the namespace: nothing reaped",
                       LEASE_OBSERVED_MAX);
    r->leases[r->n_leases] = *lease;
    r->records[r->n_leases] = kube_lease_record(&r->leases[r->n_leases]);
    r->n_leases++;
    return FCB_OK;
}

/* Steps 1-3: objects first, then Leases (the order the rule needs). */
static int k8s_reap_list(fcb_backend *b, k8s_reap *r, fcb_error *err)
{
    char selector[128];
    k8s_selector_foreign(b->instance_id, selector, sizeof selector);
    int rc = kube_pods_list_meta(b->client, b->ns, selector, LABEL_INSTANCE,
                                 K8S_REQUEST_DEADLINE_MS, k8s_reap_object, r, err);
    if (rc == FCB_OK)
        rc = kube_secrets_list_meta(b->client, b->ns, selector, LABEL_INSTANCE,
                                    K8S_REQUEST_DEADLINE_MS, k8s_reap_object, r, err);
    if (rc == FCB_OK)
        rc = kube_leases_list(b->client, b->ns, LABEL_MANAGED_BY_SELECTOR, K8S_REQUEST_DEADLINE_MS,
                              k8s_reap_lease, r, err);
    return rc;
}

/* Step 5: delete each dead instance's Lease if unchanged since we listed it. */
static int k8s_reap_leases(fcb_backend *b, k8s_reap *r, fcb_error *err)
{
    for (size_t i = 0; i < r->n_dead; i++) {
        const lease_record *l = r->dead[i].lease;
        bool conflict = false;
        if (l == NULL)
            continue;
        const kube_lease *kl = &r->leases[l - r->records];
        int rc = kube_leases_delete(b->client, b->ns, kl->name, l->version, K8S_REQUEST_DEADLINE_MS,
                                    &conflict, err);
        if (conflict) {
            r->skip[i] = true;
            svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME,
                    "reap_stale: a Lease was renewed while we reaped; its instance is kept",
                    "lease", kl->name, NULL);
        } else if (rc != FCB_OK && rc != FCB_ERR_NOT_FOUND) {
            return rc;
        }
    }
    return FCB_OK;
}

/* Step 6: one deletecollection per kind per K8S_REAP_IDS_PER_SELECTOR dead instances. */
static int k8s_reap_delete(fcb_backend *b, const char *selector, size_t *pods, size_t *secrets,
                           fcb_error *err)
{
    kube_delete_result res;
    kube_delete_opts opts = {.label_selector = selector, .deadline_ms = K8S_REQUEST_DEADLINE_MS};
    int rc = kube_pods_delete_collection(b->client, b->ns, &opts, &res, err);
    *pods += res.deleted;
    if (rc == FCB_OK) {
        rc = kube_secrets_delete_collection(b->client, b->ns, &opts, &res, err);
        *secrets += res.deleted;
    }
    return rc;
}

static int k8s_reap_objects(fcb_backend *b, k8s_reap *r, size_t *pods, size_t *secrets,
                            fcb_error *err)
{
    char selector[K8S_REAP_SELECTOR_MAX + LEASE_ID_MAX + 8];
    size_t i = 0;
    while (i < r->n_dead) {
        int len = snprintf(selector, sizeof selector, "%s,%s in (", LABEL_MANAGED_BY_SELECTOR,
                           LABEL_INSTANCE);
        size_t ids = 0;
        for (; i < r->n_dead && ids < K8S_REAP_IDS_PER_SELECTOR && len < K8S_REAP_SELECTOR_MAX;
             i++) {
            if (r->skip[i] || !r->dead[i].has_objects)
                continue;
            len += snprintf(selector + len, sizeof selector - (size_t)len, "%s%s",
                            ids > 0 ? "," : "", r->dead[i].instance);
            ids++;
        }
        snprintf(selector + len, sizeof selector - (size_t)len, ")");
        int rc = ids > 0 ? k8s_reap_delete(b, selector, pods, secrets, err) : FCB_OK;
        if (rc != FCB_OK)
            return rc;
    }
    return FCB_OK;
}

/* Managed objects without an instance label, once all are older than one duration. */
static int k8s_reap_unlabelled(fcb_backend *b, k8s_reap *r, lease_clock now, size_t *pods,
                               size_t *secrets, fcb_error *err)
{
    if (!r->anon_seen || r->anon_newest == LEASE_TIME_NONE ||
        now.wall_us - r->anon_newest < (int64_t)b->cfg->lease_seconds * 1000000)
        return FCB_OK;
    return k8s_reap_delete(b, LABEL_MANAGED_BY_SELECTOR ",!" LABEL_INSTANCE, pods, secrets, err);
}

static void k8s_reap_log(fcb_backend *b, const k8s_reap *r)
{
    for (size_t i = 0; i < r->n_dead; i++)
        if (!r->skip[i])
            svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "reap_stale: instance is dead",
                    "instance", r->dead[i].instance, "lease", lease_state_name(r->dead[i].state),
                    NULL);
}

int k8s_reap_dead(fcb_backend *b, size_t *pods, size_t *secrets, fcb_error *err)
{
    *pods = *secrets = 0;
    k8s_reap *r = svc_calloc(b->host, 1, sizeof *r);
    if (r == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory in reap_stale");
    pthread_mutex_lock(&b->reap_mu);
    int rc = k8s_reap_list(b, r, err);
    lease_clock now = lease_clock_now();
    if (rc == FCB_OK)
        r->n_dead = lease_decide(&b->reap_obs, b->instance_id, r->records, r->n_leases, r->inst,
                                 r->n_inst, b->cfg->lease_seconds, now, r->dead, K8S_REAP_DEAD);
    if (rc == FCB_OK)
        rc = k8s_reap_leases(b, r, err);
    if (rc == FCB_OK)
        k8s_reap_log(b, r);
    if (rc == FCB_OK)
        rc = k8s_reap_objects(b, r, pods, secrets, err);
    if (rc == FCB_OK)
        rc = k8s_reap_unlabelled(b, r, now, pods, secrets, err);
    pthread_mutex_unlock(&b->reap_mu);
    svc_free(b->host, r);
    return rc;
}
