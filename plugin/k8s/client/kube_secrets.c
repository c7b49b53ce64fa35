/* kube_secrets: the Secret table over kube_resource. */
#include "kube_secrets.h"

static const kube_kind kube_secret_kind = {.plural = "secrets", .singular = "secret"};

int kube_secrets_create(kube_client *client, const char *ns, const char *body, size_t body_len,
                        unsigned deadline_ms, kube_create_result *out, fcb_error *err)
{
    return kube_resource_create(client, &kube_secret_kind, ns, body, body_len, deadline_ms, out,
                                err);
}

int kube_secrets_delete_owned(kube_client *client, const char *ns, const char *name,
                              const kube_delete_opts *opts, kube_delete_result *out, fcb_error *err)
{
    return kube_resource_delete_owned(client, &kube_secret_kind, ns, name, opts, out, err);
}

int kube_secrets_delete_collection(kube_client *client, const char *ns,
                                   const kube_delete_opts *opts, kube_delete_result *out,
                                   fcb_error *err)
{
    return kube_resource_delete_collection(client, &kube_secret_kind, ns, NULL, opts, out, err);
}
