/*
 * code_bundle: the bytes a launch ships: code and layer zips read from
 * disk and validated, the deploy id, the merged layers tar, the artifact
 * server's bearer token.
 *
 * Pure apart from bundle_read_zip (reads one file). Thread-safe. Buffers
 * returned through `out` parameters are malloc'd; the caller frees them
 * with free().
 */
#ifndef FCB_CODE_BUNDLE_H
#define FCB_CODE_BUNDLE_H

#include <stddef.h>

/* Largest zip the host reads (Lambda's unzipped limit is 250 MiB). */
#define BUNDLE_ZIP_MAX ((size_t)256 * 1024 * 1024)

/*
 * Read PATH and check it is a readable zip archive (every entry header
 * parses; an empty zip is fine). Returns 0 and a malloc'd *data and *len, or -1
 * with `why` saying "<path>: <problem>".
 */
int bundle_read_zip(const char *path, unsigned char **data, size_t *len, char *why,
                    size_t why_size);

/* Same check on bytes in memory; `what` names them in `why`. */
int bundle_check_zip(const void *data, size_t len, const char *what, char *why, size_t why_size);

/* First 16 hex characters of SHA-256(DATA) into out (17 bytes with NUL). */
int bundle_deploy_id(const void *data, size_t len, char out[17]);

/*
 * Merge the layer zips (in order; a later layer's file replaces an earlier
 * one's when extracted) into one ustar/pax tar. No layers gives an empty
 * (0-byte) result with *tar NULL. Every layer is checked first, in bounded
 * memory: entries escaping the layer directory (absolute, ".."), symlinks
 * out of it, hard links, devices/FIFOs/sockets, more than 100 000 entries,
 * more than 512 MiB uncompressed over all layers, or a layer inflating to
 * more than 200 times its size (above 1 MiB) are refused. Returns 0 or -1
 * with `why` naming the layer index (from 0) and the entry.
 */
int bundle_layers_tar(const void *const *layers, const size_t *layer_sizes, size_t n_layers,
                      unsigned char **tar, size_t *tar_len, char *why, size_t why_size);

/* 32 random bytes (gnutls_rnd, key quality) as 64 lowercase hex characters. */
int bundle_token_new(char out[65]);

#endif
