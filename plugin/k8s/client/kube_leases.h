/*
 * kube_leases: typed verbs on coordination.k8s.io/v1 Leases (create, get,
 * update with optimistic concurrency, delete with a resourceVersion
 * precondition, list), and the metadata-only lists of Pods and Secrets the
 * reaper needs: (instance label, creationTimestamp) per object. Times are
 * parsed with lease.h's parsers. Codes, deadlines and checks as in
 * kube_resource.h. Thread-safe.
 */
#ifndef FCB_KUBE_LEASES_H
#define FCB_KUBE_LEASES_H

#include "kube_client.h"
#include "kube_resource.h"
#include "lease.h"

#include <stdbool.h>
#include <stdint.h>

/* One Lease as read (strings cut to fit; empty when absent). */
typedef struct kube_lease {
    char name[KUBE_NAME_MAX];
    char instance[LEASE_ID_MAX]; /* its fakecloud-instance label */
    char holder[LEASE_ID_MAX];   /* spec.holderIdentity */
    char rv[LEASE_VERSION_MAX];  /* metadata.resourceVersion */
    int64_t renew_us;            /* spec.renewTime, else acquireTime; LEASE_TIME_NONE */
    int64_t acquire_us;          /* spec.acquireTime or LEASE_TIME_NONE */
    int64_t created_us;          /* metadata.creationTimestamp or LEASE_TIME_NONE */
    int32_t duration_s;          /* spec.leaseDurationSeconds, 0 when absent */
} kube_lease;

/* Fill OUT from a Lease object (unparseable times read as LEASE_TIME_NONE). */
void kube_lease_read(json_object *object, kube_lease *out);

/* The record lease_decide takes, borrowing LEASE's strings. */
lease_record kube_lease_record(const kube_lease *lease);

/* POST the Lease BODY in NS; *out always filled (kube_resource_create). */
int kube_leases_create(kube_client *client, const char *ns, const char *body, size_t body_len,
                       unsigned deadline_ms, kube_create_result *out, fcb_error *err);

/* GET Lease NAME into *out. */
int kube_leases_get(kube_client *client, const char *ns, const char *name, unsigned deadline_ms,
                    kube_lease *out, fcb_error *err);

/*
 * PUT the Lease BODY (with metadata.resourceVersion) over NAME; FCB_OK fills
 * *out with the stored Lease. FCB_ERR_NOT_FOUND when gone; *conflict on a
 * 409 (returned as FCB_ERR_BACKEND).
 */
int kube_leases_update(kube_client *client, const char *ns, const char *name, const char *body,
                       size_t body_len, unsigned deadline_ms, kube_lease *out, bool *conflict,
                       fcb_error *err);

/*
 * DELETE Lease NAME, only if its resourceVersion is still RV (NULL: no
 * precondition). FCB_ERR_NOT_FOUND when gone; *conflict on a 409.
 */
int kube_leases_delete(kube_client *client, const char *ns, const char *name, const char *rv,
                       unsigned deadline_ms, bool *conflict, fcb_error *err);

/* One listed Lease, borrowed for the call; return FCB_OK to go on. */
typedef int (*kube_lease_fn)(void *ctx, const kube_lease *lease, fcb_error *err);

/* List the Leases of NS matching SELECTOR (NULL: all), FN per item. */
int kube_leases_list(kube_client *client, const char *ns, const char *selector,
                     unsigned deadline_ms, kube_lease_fn fn, void *ctx, fcb_error *err);

/*
 * One object of a metadata-only list: its label LABEL_KEY (NULL when absent)
 * and creationTimestamp (LEASE_TIME_NONE when absent or unreadable).
 */
typedef int (*kube_meta_fn)(void *ctx, const char *label, int64_t created_us, fcb_error *err);

/*
 * List Pods (kube_pods_list_meta) or Secrets (kube_secrets_list_meta) of NS
 * matching SELECTOR as metadata only (PartialObjectMetadataList), FN per item
 * with its label LABEL_KEY.
 */
int kube_pods_list_meta(kube_client *client, const char *ns, const char *selector,
                        const char *label_key, unsigned deadline_ms, kube_meta_fn fn, void *ctx,
                        fcb_error *err);
int kube_secrets_list_meta(kube_client *client, const char *ns, const char *selector,
                           const char *label_key, unsigned deadline_ms, kube_meta_fn fn, void *ctx,
                           fcb_error *err);

#endif
