/*
 * credentials: role credentials for a launch, read from the JSON that
 * `aws sts assume-role` (or get-session-token) prints:
 *   {"Credentials": {"AccessKeyId": "...", "SecretAccessKey": "...",
 *                    "SessionToken": "...", "Expiration": "2026-12-03T15:00:00Z"}}
 * AccessKeyId and SecretAccessKey are required; SessionToken and Expiration
 * (ISO 8601, "Z" or a +hh:mm offset, optional fraction) are optional.
 * Error messages name the field and never quote a secret.
 * Pure (no I/O), thread-safe.
 */
#ifndef FCB_HOST_CREDENTIALS_H
#define FCB_HOST_CREDENTIALS_H

#include <fakecloud/backend_plugin.h>

#include <stddef.h>
#include <stdint.h>

/* Owned strings (malloc'd); `fcb` points into them, ready for a launch. */
typedef struct host_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    int64_t expiration_unix_s; /* 0 = none given */
    fcb_credentials fcb;
} host_credentials;

/*
 * Parse LEN bytes of TEXT into *OUT (zeroed first). Returns 0, or -1 with
 * `why` such as "Credentials.SecretAccessKey: required" (callers prefix the
 * file name) and nothing to free.
 */
int credentials_parse(const char *text, size_t len, host_credentials *out, char *why,
                      size_t why_size);

/* Wipe the secrets and free; *C is zeroed. NULL-safe. */
void credentials_free(host_credentials *c);

#endif
