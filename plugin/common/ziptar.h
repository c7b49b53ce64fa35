/*
 * ziptar: Lambda code and layer zips turned into one in-memory tar stream.
 *
 * A backend that delivers code by copying a tar into a container (Docker's
 * PUT /containers/{id}/archive) builds one tar from several zips: the code
 * zip under "var/task", layer zips under "opt", ... Every zip entry is
 * checked before it is written: absolute names, ".." components and
 * symlinks or hard links that point outside the target directory are
 * refused (zip-slip), as are archives whose total uncompressed size passes
 * a limit or whose compression ratio looks like a zip bomb. Entries are
 * owned by root, keep their zip permissions (at least owner-readable) and
 * are written as POSIX pax tar.
 *
 * (Named ziptar, not archive, so that <archive.h> keeps meaning libarchive
 * for every file compiled with plugin/common on the include path.)
 *
 * Built on libarchive (which allocates on its own heap); the tar bytes
 * themselves live in an sbuf on the host allocator. One ziptar is used
 * by one thread at a time; distinct ones are independent.
 */
#ifndef FCB_ZIPTAR_H
#define FCB_ZIPTAR_H

#include "svc.h"

#include <stdint.h>

/* Defaults for ziptar_limits (see ziptar_limits_default). */
#define ZIPTAR_DEFAULT_MAX_TOTAL_BYTES (512ull * 1024 * 1024)
#define ZIPTAR_DEFAULT_MAX_RATIO       200u
#define ZIPTAR_DEFAULT_RATIO_MIN_BYTES (1024ull * 1024)
#define ZIPTAR_DEFAULT_MAX_ENTRIES     100000u

typedef struct ziptar_limits {
    /* Sum of uncompressed sizes over every zip added to one tar. */
    uint64_t max_total_bytes;
    /*
     * A zip whose uncompressed size is more than max_ratio times its own
     * size, and more than ratio_min_bytes, is refused as a zip bomb.
     */
    uint64_t max_ratio;
    uint64_t ratio_min_bytes;
    /* Entries over every zip added to one tar. */
    uint64_t max_entries;
} ziptar_limits;

/* The defaults above. */
ziptar_limits ziptar_limits_default(void);

/* What the zips checked so far (one launch) add up to. */
typedef struct ziptar_totals {
    uint64_t bytes;   /* uncompressed bytes */
    uint64_t entries; /* entries of every kind */
} ziptar_totals;

/*
 * The one safety check of a code or layer zip, used by every backend
 * before it creates anything. Streams ZIP[0..SIZE) with libarchive in
 * bounded memory (one fixed buffer; no entry is ever held whole) and
 * refuses, with FCB_ERR_INVALID_ARGUMENT and a message naming WHAT ("code",
 * "layer 2") and the entry:
 *   - absolute names, ".." components, backslashes (zip-slip);
 *   - symlinks or hard links whose target leaves the zip's tree;
 *   - device files, FIFOs, sockets;
 *   - more than limits->max_entries entries, more than max_total_bytes
 *     uncompressed, or a ratio above max_ratio (zip bombs): counted over
 *     TOTALS (earlier zips of the launch) plus this zip, as declared and as
 *     inflated, stopping at the first byte over a limit;
 *   - a regular entry whose data differs from its declared size;
 *   - an empty blob or corrupted zip.
 * LIMITS NULL = defaults. On success TOTALS grows by this zip. Also
 * FCB_ERR_NO_MEMORY. Thread-safe (no shared state).
 */
int ziptar_check_zip(const ziptar_limits *limits, ziptar_totals *totals, const void *zip,
                     size_t size, const char *what, fcb_error *err);

/*
 * ziptar_check_zip over everything a launch ships: the code zip (a Zip
 * function's non-empty CODE, as "code") then every layer ("layer 1"..,
 * each must be a non-empty zip), with one running total. FCB_OK or the
 * first refusal.
 */
int ziptar_check_launch(const ziptar_limits *limits, const fcb_function *fn, const fcb_blob *code,
                        const fcb_blob *layers, size_t n_layers, fcb_error *err);

typedef struct ziptar ziptar;

/*
 * New, empty tar writer. `limits` is copied (NULL = defaults). Returns
 * FCB_OK and *out (free with ziptar_free), or FCB_ERR_NO_MEMORY /
 * FCB_ERR_INTERNAL with err filled.
 */
int ziptar_new(const fcb_host_services *host, const ziptar_limits *limits, ziptar **out,
               fcb_error *err);

/*
 * Append every entry of the zip ZIP[0..SIZE) under DEST_DIR (relative,
 * e.g. "var/task"; its parent directories are written too), after
 * ziptar_check_zip with the tar's limits and totals; entry data is streamed
 * in chunks. WHAT names the zip in error messages ("code", "layer 2").
 * Errors:
 *   FCB_ERR_INVALID_ARGUMENT  corrupted zip, unsafe entry (message names
 *                             the entry), limits exceeded;
 *   FCB_ERR_NO_MEMORY, FCB_ERR_INTERNAL.
 * After a failure the tar is unusable (only ziptar_free).
 */
int ziptar_add_zip(ziptar *tar, const void *zip, size_t size, const char *dest_dir,
                   const char *what, fcb_error *err);

/*
 * Finish the tar and hand its bytes over: *data is on the host allocator,
 * the caller frees it with svc_free; *len its length. The tar is then
 * empty and must still be freed.
 */
int ziptar_finish(ziptar *tar, char **data, size_t *len, fcb_error *err);

/* Uncompressed bytes and entries added so far. */
uint64_t ziptar_total_bytes(const ziptar *tar);
uint64_t ziptar_entries(const ziptar *tar);

/* NULL is a no-op. */
void ziptar_free(ziptar *tar);

/*
 * Pure check of a zip entry name: returns NULL when NAME is a safe relative
 * path, else a static reason ("absolute path", "'..' component", ...).
 */
const char *ziptar_unsafe_name(const char *name);

/*
 * Pure check of a symlink or hard link target LINK found in the entry
 * named ENTRY (both relative to the zip root): NULL when the target stays
 * inside the root, else a static reason.
 */
const char *ziptar_unsafe_link(const char *entry, const char *link, int is_hardlink);

#endif
