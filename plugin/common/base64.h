/*
 * base64: RFC 4648 base64 for every backend: the standard alphabet with
 * padding (kubeconfig *-data fields, the exec plugin's KUBERNETES_EXEC_INFO)
 * and the URL-safe alphabet (Docker's X-Registry-Auth header). Pure;
 * thread-safe; memory from the host allocator.
 */
#ifndef FCB_PLUGIN_BASE64_H
#define FCB_PLUGIN_BASE64_H

#include <fakecloud/backend_plugin.h>

#include <stddef.h>

/*
 * Decode TEXT (standard alphabet; whitespace ignored, padding optional) into
 * a new buffer from the host allocator (NUL-terminated for convenience,
 * *out_len excludes the NUL); caller frees with svc_free. Returns 0,
 * FCB_ERR_INVALID_ARGUMENT on a character outside the alphabet or a bad
 * length, FCB_ERR_NO_MEMORY.
 */
int base64_decode(const fcb_host_services *host, const char *text, char **out, size_t *out_len);

/* Encode LEN bytes, standard alphabet with padding; host-allocated NUL-terminated text or NULL. */
char *base64_encode(const fcb_host_services *host, const void *data, size_t len);

/* Encode LEN bytes, URL-safe alphabet ("-_") with padding; like base64_encode. */
char *base64_encode_url(const fcb_host_services *host, const void *data, size_t len);

#endif
