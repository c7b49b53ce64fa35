/*
 * kube_base64: standard base64 (RFC 4648, with padding) for kubeconfig
 * *-data fields and the exec plugin's KUBERNETES_EXEC_INFO. Pure; thread-safe.
 */
#ifndef FCB_KUBE_BASE64_H
#define FCB_KUBE_BASE64_H

#include <fakecloud/backend_plugin.h>

#include <stddef.h>

/*
 * Decode TEXT (whitespace ignored, padding optional) into a new buffer from
 * the host allocator (NUL-terminated for convenience, *out_len excludes the
 * NUL); caller frees with svc_free. Returns 0, FCB_ERR_INVALID_ARGUMENT on a
 * character outside the alphabet or a bad length, FCB_ERR_NO_MEMORY.
 */
int kube_base64_decode(const fcb_host_services *host, const char *text, char **out,
                       size_t *out_len);
/* Encode LEN bytes; host-allocated NUL-terminated text or NULL (no memory). */
char *kube_base64_encode(const fcb_host_services *host, const void *data, size_t len);

#endif
