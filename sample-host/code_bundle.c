/*
 * code_bundle: zip validation (libarchive), SHA-256 (GnuTLS), layers tar.
 *
 * The layers tar is built in two passes per layer, both in bounded memory:
 * a check (names, link targets, types, entry count, uncompressed size and
 * ratio counted while inflating into a fixed buffer, nothing kept), then
 * the copy, streaming each entry's data into the tar in 64 KiB chunks. So
 * a small zip that inflates to gigabytes is refused after reading at most
 * the limits' worth into one buffer, never into the tar.
 */
#include "code_bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The layer merge's own limits (sample-host and the plugins share no code):
 * the same values as the plugins' ziptar defaults.
 */
#define BUNDLE_ENTRIES_MAX     100000
#define BUNDLE_MAX_BYTES       ((uint64_t)512 * 1024 * 1024)
#define BUNDLE_MAX_RATIO       200
#define BUNDLE_RATIO_MIN_BYTES ((uint64_t)1024 * 1024)
#define BUNDLE_TAR_MAX         ((size_t)1024 * 1024 * 1024)

static const char *aerr(struct archive *a)
{
    const char *s = archive_error_string(a);
    return s != NULL ? s : "unknown libarchive error";
}

int bundle_check_zip(const void *data, size_t len, const char *what, char *why, size_t why_size)
{
    int rc = -1;
    struct archive *a = archive_read_new();
    if (a == NULL) {
        snprintf(why, why_size, "%s: out of memory", what);
        return -1;
    }
    archive_read_support_format_zip(a);
    if (len < 4 || archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
        snprintf(why, why_size, "%s: not a zip archive%s%s", what, len < 4 ? "" : ": ",
                 len < 4 ? " (too short)" : aerr(a));
        goto out;
    }
    struct archive_entry *e;
    for (size_t i = 0; i < BUNDLE_ENTRIES_MAX; i++) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) {
            rc = 0;
            goto out;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            snprintf(why, why_size, "%s: not a valid zip archive: %s", what, aerr(a));
            goto out;
        }
    }
    snprintf(why, why_size, "%s: more than %d entries", what, BUNDLE_ENTRIES_MAX);
out:
    archive_read_free(a);
    return rc;
}

int bundle_read_zip(const char *path, unsigned char **data, size_t *len, char *why, size_t why_size)
{
    *data = NULL;
    *len = 0;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        snprintf(why, why_size, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "%s: not a regular file", path);
        goto fail;
    }
    if ((size_t)st.st_size > BUNDLE_ZIP_MAX) {
        snprintf(why, why_size, "%s: larger than %zu MiB", path, BUNDLE_ZIP_MAX >> 20);
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        snprintf(why, why_size, "%s: out of memory", path);
        goto fail;
    }
    if (size > 0 && fread(buf, 1, size, f) != size) {
        snprintf(why, why_size, "%s: short read", path);
        goto fail;
    }
    fclose(f);
    f = NULL;
    if (bundle_check_zip(buf, size, path, why, why_size) != 0)
        goto fail;
    *data = buf;
    *len = size;
    return 0;
fail:
    if (f != NULL)
        fclose(f);
    free(buf);
    return -1;
}

int bundle_deploy_id(const void *data, size_t len, char out[17])
{
    unsigned char digest[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, digest) != 0)
        return -1;
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

int bundle_token_new(char out[65])
{
    unsigned char raw[32];
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof raw) != 0)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

typedef struct tar_buffer {
    unsigned char *data;
    size_t len;
    size_t cap;
    bool too_big;
} tar_buffer;

static la_ssize_t tar_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
    tar_buffer *t = ctx;
    if (t->len + n > BUNDLE_TAR_MAX) {
        t->too_big = true;
        archive_set_error(a, EFBIG, "layers tar larger than %zu MiB", BUNDLE_TAR_MAX >> 20);
        return -1;
    }
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap : 64 * 1024;
        while (cap < t->len + n)
            cap *= 2;
        unsigned char *p = realloc(t->data, cap);
        if (p == NULL) {
            archive_set_error(a, ENOMEM, "out of memory");
            return -1;
        }
        t->data = p;
        t->cap = cap;
    }
    memcpy(t->data + t->len, buf, n);
    t->len += n;
    return (la_ssize_t)n;
}

/* A path that would land outside the extraction directory. */
static bool path_escapes(const char *p)
{
    if (p == NULL || p[0] == '/' || p[0] == '\0')
        return true;
    for (const char *s = p; s != NULL; s = strchr(s, '/')) {
        if (*s == '/')
            s++;
        if (strncmp(s, "..", 2) == 0 && (s[2] == '/' || s[2] == '\0'))
            return true;
    }
    return false;
}

/* Depth after walking the '/'-separated components of P[0..n) from DEPTH; -1 once it escapes. */
static long walk_depth(const char *p, size_t n, long depth)
{
    size_t i = 0;
    while (i < n) {
        size_t k = 0;
        while (i + k < n && p[i + k] != '/')
            k++;
        if (k == 2 && p[i] == '.' && p[i + 1] == '.') {
            if (--depth < 0)
                return -1;
        } else if (!(k == 0 || (k == 1 && p[i] == '.'))) {
            depth++;
        }
        i += k + 1;
    }
    return depth;
}

/* A symlink TARGET, found in entry NAME, that resolves outside the layer directory. */
static bool link_escapes(const char *name, const char *target)
{
    if (target == NULL || target[0] == '\0' || target[0] == '/')
        return true;
    size_t n = strlen(name);
    while (n > 0 && name[n - 1] == '/')
        n--;
    while (n > 0 && name[n - 1] != '/')
        n--;
    return walk_depth(target, strlen(target), walk_depth(name, n, 0)) < 0;
}

/* Why entry E of a layer must not be extracted, or NULL. */
static const char *entry_problem(struct archive_entry *e)
{
    const char *name = archive_entry_pathname(e);
    mode_t type = archive_entry_filetype(e);
    if (path_escapes(name) || strchr(name, '\\') != NULL)
        return "escapes the layer directory";
    if (archive_entry_hardlink(e) != NULL)
        return "is a hard link";
    if (type == AE_IFLNK || archive_entry_symlink(e) != NULL)
        return link_escapes(name, archive_entry_symlink(e)) ? "is a symlink out of the layer"
                                                            : NULL;
    if (type != AE_IFREG && type != AE_IFDIR)
        return "is a device, FIFO or socket";
    if (type == AE_IFREG && !archive_entry_size_is_set(e))
        return "does not declare its size";
    return NULL;
}

/* The running total BEFORE + BYTES of layer INDEX (LEN bytes) against the limits. */
static int check_sizes(uint64_t before, uint64_t bytes, size_t len, size_t index, const char *name,
                       char *why, size_t why_size)
{
    if (bytes > BUNDLE_MAX_BYTES || before + bytes > BUNDLE_MAX_BYTES) {
        snprintf(why, why_size,
                 "layer %zu: entry \"%.200s\": layers larger than %llu MiB "
                 "uncompressed",
                 index, name, (unsigned long long)(BUNDLE_MAX_BYTES >> 20));
        return -1;
    }
    if (bytes > BUNDLE_RATIO_MIN_BYTES && len > 0 && bytes / len > BUNDLE_MAX_RATIO) {
        snprintf(why, why_size,
                 "layer %zu: entry \"%.200s\": refused as a zip bomb (%llu bytes "
                 "from %zu, ratio above %d)",
                 index, name, (unsigned long long)bytes, len, BUNDLE_MAX_RATIO);
        return -1;
    }
    return 0;
}

/* Inflate the current entry into BUF, counting; it must hold exactly its declared size. */
static int count_entry(struct archive *r, struct archive_entry *e, uint64_t before, uint64_t *read,
                       size_t len, size_t index, char *why, size_t why_size)
{
    const char *name = archive_entry_pathname(e);
    uint64_t declared = (uint64_t)archive_entry_size(e);
    uint64_t got = 0;
    char buf[64 * 1024];
    for (uint64_t rounds = 0; rounds <= declared + 1; rounds++) {
        la_ssize_t n = archive_read_data(r, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            snprintf(why, why_size, "layer %zu: %.200s: %s", index, name, aerr(r));
            return -1;
        }
        got += (uint64_t)n;
        *read += (uint64_t)n;
        if (check_sizes(before, *read, len, index, name, why, why_size) != 0)
            return -1;
        if (got > declared)
            break;
    }
    if (got != declared) {
        snprintf(why, why_size, "layer %zu: entry \"%.200s\" differs from its declared size", index,
                 name);
        return -1;
    }
    return 0;
}

static struct archive *open_layer(const void *zip, size_t len, size_t index, char *why,
                                  size_t why_size)
{
    struct archive *r = archive_read_new();
    if (r == NULL) {
        snprintf(why, why_size, "layer %zu: out of memory", index);
        return NULL;
    }
    archive_read_support_format_zip(r);
    if (archive_read_open_memory(r, zip, len) != ARCHIVE_OK) {
        snprintf(why, why_size, "layer %zu: not a zip archive: %s", index, aerr(r));
        archive_read_free(r);
        return NULL;
    }
    return r;
}

/*
 * First pass over layer INDEX, nothing kept: every entry's name, type and
 * link target, the entry count and the uncompressed size (as declared, then
 * counted while inflating into a fixed buffer) against the limits, on top
 * of *TOTAL and *ENTRIES from earlier layers (both grow).
 */
static int vet_layer(const void *zip, size_t len, size_t index, uint64_t *total, size_t *entries,
                     char *why, size_t why_size)
{
    int rc = -1;
    uint64_t declared = 0, read = 0;
    struct archive *r = open_layer(zip, len, index, why, why_size);
    if (r == NULL)
        return -1;
    struct archive_entry *e;
    while (*entries < BUNDLE_ENTRIES_MAX) {
        int st = archive_read_next_header(r, &e);
        if (st == ARCHIVE_EOF) {
            *total += read;
            rc = 0;
            goto out;
        }
        if (st != ARCHIVE_OK && st != ARCHIVE_WARN) {
            snprintf(why, why_size, "layer %zu: %s", index, aerr(r));
            goto out;
        }
        (*entries)++;
        const char *name = archive_entry_pathname(e);
        const char *problem = entry_problem(e);
        if (problem != NULL) {
            snprintf(why, why_size, "layer %zu: entry \"%.200s\" %s", index, name ? name : "",
                     problem);
            goto out;
        }
        if (archive_entry_filetype(e) != AE_IFREG || archive_entry_symlink(e) != NULL)
            continue;
        declared += (uint64_t)archive_entry_size(e);
        if (check_sizes(*total, declared, len, index, name, why, why_size) != 0 ||
            count_entry(r, e, *total, &read, len, index, why, why_size) != 0)
            goto out;
    }
    snprintf(why, why_size, "layer %zu: more than %d entries over all layers", index,
             BUNDLE_ENTRIES_MAX);
out:
    archive_read_free(r);
    return rc;
}

/* Second pass: entries (vetted) into the tar, data streamed in fixed-size chunks. */
static int copy_layer(struct archive *w, const void *zip, size_t len, size_t index, char *why,
                      size_t why_size)
{
    int rc = -1;
    struct archive *r = open_layer(zip, len, index, why, why_size);
    if (r == NULL)
        return -1;
    struct archive_entry *e;
    for (size_t i = 0; i <= BUNDLE_ENTRIES_MAX; i++) {
        int st = archive_read_next_header(r, &e);
        if (st == ARCHIVE_EOF) {
            rc = 0;
            goto out;
        }
        const char *name = st == ARCHIVE_OK || st == ARCHIVE_WARN ? archive_entry_pathname(e) : "";
        if ((st != ARCHIVE_OK && st != ARCHIVE_WARN) || entry_problem(e) != NULL) {
            snprintf(why, why_size, "layer %zu: changed while copied: %s", index, aerr(r));
            goto out;
        }
        if (archive_write_header(w, e) != ARCHIVE_OK) {
            snprintf(why, why_size, "layer %zu: %.200s: %s", index, name, aerr(w));
            goto out;
        }
        char buf[64 * 1024];
        for (;;) {
            la_ssize_t n = archive_read_data(r, buf, sizeof buf);
            if (n == 0)
                break;
            if (n < 0 || archive_write_data(w, buf, (size_t)n) != n) {
                snprintf(why, why_size, "layer %zu: %.200s: %s", index, name,
                         n < 0 ? aerr(r) : aerr(w));
                goto out;
            }
        }
    }
    snprintf(why, why_size, "layer %zu: more than %d entries", index, BUNDLE_ENTRIES_MAX);
out:
    archive_read_free(r);
    return rc;
}

int bundle_layers_tar(const void *const *layers, const size_t *layer_sizes, size_t n_layers,
                      unsigned char **tar, size_t *tar_len, char *why, size_t why_size)
{
    *tar = NULL;
    *tar_len = 0;
    if (n_layers == 0)
        return 0;
    int rc = -1;
    tar_buffer buf = {0};
    uint64_t total = 0;
    size_t entries = 0;
    struct archive *w = archive_write_new();
    if (w == NULL) {
        snprintf(why, why_size, "layers: out of memory");
        return -1;
    }
    archive_write_set_format_pax_restricted(w);
    archive_write_set_bytes_in_last_block(w, 1);
    if (archive_write_open2(w, &buf, NULL, tar_write, NULL, NULL) != ARCHIVE_OK) {
        snprintf(why, why_size, "layers: %s", aerr(w));
        goto out;
    }
    for (size_t i = 0; i < n_layers; i++) {
        if (vet_layer(layers[i], layer_sizes[i], i, &total, &entries, why, why_size) != 0)
            goto out;
    }
    for (size_t i = 0; i < n_layers; i++) {
        if (copy_layer(w, layers[i], layer_sizes[i], i, why, why_size) != 0)
            goto out;
    }
    if (archive_write_close(w) != ARCHIVE_OK) {
        snprintf(why, why_size, "layers: %s", aerr(w));
        goto out;
    }
    *tar = buf.data;
    *tar_len = buf.len;
    buf.data = NULL;
    rc = 0;
out:
    archive_write_free(w);
    free(buf.data);
    return rc;
}
