/*
 * kube_secrets: typed verbs on core/v1 Secrets (create, owned delete,
 * deletecollection). Codes, deadlines and checks as in kube_resource.h.
 */
#ifndef FCB_KUBE_SECRETS_H
#define FCB_KUBE_SECRETS_H

#include "kube_client.h"
#include "kube_resource.h"

/* Create the Secret BODY (JSON text of BODY_LEN bytes) in NS; *out always filled. */
int kube_secrets_create(kube_client *client, const char *ns, const char *body, size_t body_len,
                        unsigned deadline_ms, kube_create_result *out, fcb_error *err);

/*
 * Owned delete of Secret NAME (restricted to the name and OPTS->label_selector;
 * OPTS->grace_seconds is ignored). Gone or not ours is FCB_OK, out->deleted 0.
 */
int kube_secrets_delete_owned(kube_client *client, const char *ns, const char *name,
                              const kube_delete_opts *opts, kube_delete_result *out,
                              fcb_error *err);

/* Delete every Secret of NS matching OPTS->label_selector; out->deleted counts them. */
int kube_secrets_delete_collection(kube_client *client, const char *ns,
                                   const kube_delete_opts *opts, kube_delete_result *out,
                                   fcb_error *err);

#endif
