/*
 * ids: random identifiers (backend instance ids, name suffixes, nonces).
 *
 * One policy for every backend: the kernel's getrandom() or nothing. Ids
 * must not repeat across processes that share an orchestrator (reap_stale
 * and ownership checks compare them), so when no randomness is available
 * the call fails with a clear error instead of falling back to something
 * guessable. Thread-safe.
 */
#ifndef FCB_PLUGIN_IDS_H
#define FCB_PLUGIN_IDS_H

#include <fakecloud/backend_plugin.h>

#include <stddef.h>

/* Most random bytes one call produces (IDS_HEX_MAX - 1 hex digits). */
#define IDS_BYTES_MAX 32
#define IDS_HEX_MAX   (2 * IDS_BYTES_MAX + 1)

/*
 * Write BYTES random bytes (1..IDS_BYTES_MAX) as 2*BYTES lower-case hex
 * digits and a NUL into OUT (at least 2*BYTES+1 bytes). FCB_OK, or
 * FCB_ERR_INTERNAL with "no randomness for <what>: ..." when getrandom()
 * fails (OUT is then an empty string); FCB_ERR_INVALID_ARGUMENT for a bad
 * BYTES.
 */
int ids_random_hex(char *out, size_t bytes, const char *what, fcb_error *err);

#endif
